"""PRIVMSG, NOTICE and TAGMSG to channels, status groups and nicks.

Modern IRC "PRIVMSG message"; IRCv3 message-tags (client-only tags, TAGMSG), echo-message,
server-time, msgid; the client tags ``+draft/reply`` (a message id, at most ``reply_max_length``),
``+draft/react`` (at most ``react_max_bytes``) and ``+typing`` (at most ``typing_burst`` at once,
then ``typing_rate`` a second: more are dropped without a word, as a client would throttle them).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

from hubbub.protocol import Message, is_channel_name, numerics, valid_tag_key
from hubbub.store import account_side

from .. import caps as capmod
from ..delivery import TYPING_TAGS
from ..limits import TokenBucket
from ..services import service_named
from ..world import MODE_OF_SYMBOL, PREFIX_MODES
from .chanserv import CHANSERV
from .nickserv import NICKSERV
from .readmarker import marker_before_direct
from .service_commands import run_command

if TYPE_CHECKING:
    from ..outbox import Epoch
    from ..session import Session
    from ..world import Channel
    from .context import Context


REPLY_TAGS = ("+draft/reply", "+reply")
REACT_TAGS = ("+draft/react", "+react")
# A message id as servers make them (hubbub's are base32, Ergo's too): no spaces, no tag syntax.
_MSGID = re.compile(r"[A-Za-z0-9_.:+/=~-]+")


def bad_client_tag(ctx: Context, tags: dict[str, str]) -> tuple[str, str] | None:
    """The first client tag whose value the specs' format refuses, with why; or None.

    IRCv3 reply: "its value references the server provided ID of another message"; react: "a
    byte limit may be appropriate" (``react_max_bytes``), and a reaction with nothing in it is none.
    """
    if not tags:
        return None
    settings = ctx.settings
    for key in REPLY_TAGS:
        value = tags.get(key)
        if value is not None and (len(value) > settings.reply_max_length or not _MSGID.fullmatch(value)):
            return key, f"{key} must be a message id of at most {settings.reply_max_length} characters"
    for key in REACT_TAGS:
        value = tags.get(key)
        if value is not None and not 0 < len(value.encode()) <= settings.react_max_bytes:
            return key, f"{key} must be 1 to {settings.react_max_bytes} bytes"
    return None


def typing_allowed(ctx: Context, session: Session) -> bool:
    """Spend one of ``session``'s typing notifications (``typing_burst``, ``typing_rate``)."""
    settings = ctx.settings
    now = ctx.clock.monotonic()
    bucket = session.typing_bucket
    if bucket is None:
        bucket = session.typing_bucket = TokenBucket(settings.typing_burst, settings.typing_rate, now)
    else:  # REHASH may have changed them
        bucket.burst, bucket.rate = float(settings.typing_burst), settings.typing_rate
    return bucket.take(now)


def _client_tags(session: Session, msg: Message) -> dict[str, str]:
    if not msg.tags or not session.view & capmod.TAGS:
        return {}
    return {k: v for k, v in msg.tags.items() if k.startswith("+") and valid_tag_key(k)}


def may_speak(ctx: Context, channel: Channel[Session], session: Session) -> bool:
    """Whether ``session`` may send to ``channel`` (+n, +m, bans and mutes).

    A mute (``+b m:<mask>``) silences whoever it matches, member or not, unless voiced or an
    operator (as +m does) or exempted by ``+e m:<mask>``.
    """
    casemapping = ctx.world.casemapping
    modes = channel.members.get(session.primary or session)
    if modes is None:
        if "n" in channel.modes:
            return False
        if "m" in channel.modes:
            return False
    elif modes:  # voice or op
        return True
    elif "m" in channel.modes:
        return False
    if not channel.bans:
        return True  # neither banned nor muted: both need a +b entry
    return not channel.is_banned(session, casemapping) and not channel.is_muted(session, casemapping)


def restricted_ctcp(text: str) -> bool:
    """Whether ``text`` is a CTCP other than ``ACTION`` (what a +C channel refuses)."""
    if not text.startswith("\x01"):
        return False
    verb = text[1:].split(" ", 1)[0].rstrip("\x01")
    return verb != "ACTION"


def _relay(ctx: Context, session: Session, msg: Message) -> None:
    command_name = msg.command
    silent = command_name == "NOTICE"  # RFC 2812 3.3.2: no error replies to NOTICE
    is_tagmsg = command_name == "TAGMSG"
    if not msg.params or not msg.params[0]:
        if not silent:
            session.reply(numerics.ERR_NORECIPIENT, f"No recipient given ({command_name})")
        return
    text = msg.param(1)
    if not is_tagmsg and (len(msg.params) < 2 or text == ""):
        if not silent:
            session.reply(numerics.ERR_NOTEXTTOSEND)
        return
    named = msg.params[0]
    targets = list(dict.fromkeys(t for t in named.split(",") if t)) if "," in named else [named]
    if len(targets) > ctx.settings.max_targets:
        if not silent:
            session.reply(numerics.ERR_TOOMANYTARGETS, msg.params[0])
        return
    client_tags = _client_tags(session, msg)
    if is_tagmsg and not client_tags and not session.view & capmod.TAGS:
        return  # TAGMSG without message-tags carries nothing
    bad = bad_client_tag(ctx, client_tags)
    if bad is not None:
        if not silent:
            tag, why = bad
            session.fail(command_name, "INVALID_TAG", why, tag)
        return
    if is_tagmsg and not TYPING_TAGS.isdisjoint(client_tags) and not typing_allowed(ctx, session):
        return  # too many typing notifications: dropped, never answered (typing is best-effort)
    echo = "echo-message" in session.caps
    for target in targets:
        _to_target(ctx, session, msg, target, text, client_tags, echo, silent)


def _to_target(
    ctx: Context,
    session: Session,
    msg: Message,
    target: str,
    text: str,
    client_tags: dict[str, str],
    echo: bool,
    silent: bool,
) -> None:
    """Deliver to one target: a channel (``@#chan``/``+#chan`` for a status group) or a nick."""
    status = ""
    name = target
    while name and name[0] in MODE_OF_SYMBOL and len(name) > 1 and is_channel_name(name[1:]):
        status += name[0]
        name = name[1:]
    if is_channel_name(name):
        _to_channel(ctx, session, msg, target, name, status, text, client_tags, echo, silent)
    else:
        _to_user(ctx, session, msg, target, text, client_tags, echo, silent)


def _tags(session: Session, client_tags: dict[str, str]) -> dict[str, str]:
    """The tags of a message from ``session`` before it is stamped (publish adds msgid and time)."""
    tags = dict(client_tags)
    if "B" in session.umodes:
        tags["bot"] = ""  # IRCv3 bot-mode: every message of a +B user carries the bot tag
        tags["draft/bot"] = ""  # and its draft spelling, which clients written before ratification read
    return tags


def _to_channel(
    ctx: Context,
    session: Session,
    msg: Message,
    target: str,
    name: str,
    status: str,
    text: str,
    client_tags: dict[str, str],
    echo: bool,
    silent: bool,
) -> None:
    channel = session.find_channel(name, silent=silent)
    if channel is None:
        return
    if not may_speak(ctx, channel, session):
        if not silent:
            session.reply(numerics.ERR_CANNOTSENDTOCHAN, channel.name)
        return
    if "C" in channel.modes and restricted_ctcp(text) and msg.command != "TAGMSG":
        # +C: no CTCP but ACTION, for everyone (as Ergo); a CTCP reply (NOTICE) is dropped quietly
        if not silent:
            session.reply(numerics.ERR_CANNOTSENDTOCHAN, channel.name, text="Cannot send to channel (+C)")
        return
    if not status and msg.command != "TAGMSG" and not channel.persistent:
        # A message kept in history makes the channel durable; its record is written first.
        ctx.history.channel_used(channel)
    params = (target if not status else status[-1] + channel.name,) + (
        (text,) if msg.command != "TAGMSG" else ()
    )
    out = Message(msg.command, params, session.hostmask, _tags(session, client_tags))
    members = channel.members
    if status:
        # STATUSMSG: the lowest prefix named and everything above it
        lowest = max(PREFIX_MODES.index(MODE_OF_SYMBOL[s]) for s in status)
        allowed = set(PREFIX_MODES[: lowest + 1])
        recipients = [s for s, m in members.items() if allowed.intersection(m)]
    else:
        recipients = list(members)
    if msg.command == "TAGMSG":
        recipients = [s for s in recipients if s.view & capmod.TAGS]
    if echo:
        if session not in members or (status and session not in recipients):
            recipients.append(session)
    else:
        recipients = [s for s in recipients if s is not session]
    ctx.delivery.publish(
        out,
        recipients,
        keep=() if status else (channel.key_folded,),  # a status message is for some members only
        sender=session,
        account=session.account,
        named=channel.name,
    )


def _to_user(
    ctx: Context,
    session: Session,
    msg: Message,
    target: str,
    text: str,
    client_tags: dict[str, str],
    echo: bool,
    silent: bool,
) -> None:
    service = service_named(target)
    if service is not None:
        if msg.command == "PRIVMSG":
            run_command(ctx, session, service, NICKSERV if service == "NickServ" else CHANSERV, text)
        return
    peer = ctx.world.find_user(target)
    if peer is None:
        if msg.command != "TAGMSG" and _to_offline_account(
            ctx, session, msg, target, text, client_tags, echo
        ):
            return
        if not silent:
            session.reply(numerics.ERR_NOSUCHNICK, target)
        return
    params = (peer.nick,) + ((text,) if msg.command != "TAGMSG" else ())
    out = Message(msg.command, params, session.hostmask, _tags(session, client_tags))
    delivered = msg.command != "TAGMSG" or bool(peer.view & capmod.TAGS)
    directs = ctx.directs
    key, names = directs.direct(session, directs.dm_side(peer), directs.side_name(peer))
    if echo and peer is session:
        # echo-message to oneself: the delivery and the echo are two messages, and only the echo
        # answers a labelled command (IRCv3 labeled-response)
        out, hold = _publish_direct(ctx, session, out, (), key, names, peer.nick)
        if delivered:
            _write_unlabelled(ctx, session, out, hold)
        ctx.delivery.fanout(out, (session,), hold)
    else:
        receivers = peer.devices if delivered else []
        for device in receivers:
            marker_before_direct(ctx, device, session.nick)
        # The sender's other devices see what it sent, as if echoed (multiple devices).
        siblings = [
            d
            for d in session.devices
            if d is not session and d not in receivers and (msg.command != "TAGMSG" or d.view & capmod.TAGS)
        ]
        audience = [*receivers, *siblings] if delivered else []
        if echo:
            audience.append(session)
        _publish_direct(ctx, session, out, audience, key, names, peer.nick)
    if msg.command == "PRIVMSG" and peer.away is not None:
        session.reply(numerics.RPL_AWAY, peer.nick, peer.away)


def _to_offline_account(
    ctx: Context,
    session: Session,
    msg: Message,
    target: str,
    text: str,
    client_tags: dict[str, str],
    echo: bool,
) -> bool:
    """Keep a message to a registered account that is offline; False if ``target`` is none.

    It goes into the history of the conversation with the account (by its id, not its name),
    which is shown at its next login (History.replay_direct) or found with CHATHISTORY TARGETS.
    """
    if not ctx.settings.offline_messages or ctx.history.store is None:
        return False
    account = ctx.accounts.get(target)
    if account is None:
        return False
    out = Message(msg.command, (account.name, text), session.hostmask, _tags(session, client_tags))
    key, names = ctx.directs.direct(session, account_side(account.id), account.name)
    _publish_direct(ctx, session, out, (session,) if echo else (), key, names, account.name)
    if msg.command == "PRIVMSG":
        session.note("PRIVMSG", "OFFLINE_MESSAGE", "Stored; they will see it when they log in", account.name)
    return True


def _publish_direct(
    ctx: Context,
    session: Session,
    out: Message,
    audience: Iterable[Session],
    key: str,
    names: dict[str, str],
    named: str,
) -> tuple[Message, Epoch | None]:
    return ctx.delivery.publish(
        out, audience, keep=(key,), sender=session, account=session.account, named=named, names=names
    )


def _write_unlabelled(ctx: Context, session: Session, out: Message, hold: Epoch | None) -> None:
    """Queue ``out`` to ``session`` outside the labelled reply being collected."""
    replies, session.replies = session.replies, None
    try:
        ctx.delivery.fanout(out, (session,), hold)
    finally:
        session.replies = replies


def relay_multiline(
    ctx: Context,
    session: Session,
    command: str,
    target: str,
    lines: list[tuple[str, bool]],
    opener_tags: dict[str, str],
) -> None:
    """Deliver a collected ``draft/multiline`` batch to ``target`` as ONE message (IRCv3 multiline).

    It takes the path of a PRIVMSG or NOTICE with the same checks and replies, one stamp (one
    msgid) and one history row: its text is the lines joined by line feeds, and the tag
    :data:`~hubbub.server.caps.MULTILINE_TAG` marks the lines that join the one before directly.
    Rendering makes it a batch for clients with the cap and separate lines for the others.
    ``opener_tags`` are the opening BATCH's tags; its client-only ones belong to the message.
    """
    text = "\n".join(line for line, _ in lines)
    concat = ",".join(str(i) for i, (_, joined) in enumerate(lines) if joined and i)
    msg = Message(command, (target, text), tags=opener_tags)
    client_tags = _client_tags(session, msg)
    client_tags[capmod.MULTILINE_TAG] = concat
    silent = command == "NOTICE"
    _to_target(ctx, session, msg, target, text, client_tags, "echo-message" in session.caps, silent)


def handle_privmsg(ctx: Context, session: Session, msg: Message) -> None:
    """PRIVMSG <target>{,<target>} <text>."""
    _relay(ctx, session, msg)


def handle_notice(ctx: Context, session: Session, msg: Message) -> None:
    """NOTICE <target>{,<target>} <text>: like PRIVMSG, but never answered automatically."""
    _relay(ctx, session, msg)


def handle_tagmsg(ctx: Context, session: Session, msg: Message) -> None:
    """TAGMSG <target>{,<target>}: tags only, for clients with message-tags."""
    _relay(ctx, session, msg)


__all__ = ["bad_client_tag", "may_speak", "relay_multiline", "restricted_ctcp", "typing_allowed"]
