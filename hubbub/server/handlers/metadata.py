"""METADATA (IRCv3 ``draft/metadata-2``): key/value metadata of users and channels.

A user sets its own keys (``avatar``, ``display-name``, ``pronouns``, ``status``, ...), a
channel's operators set the channel's, server operators anybody's. A client subscribes to the
keys it understands (``METADATA * SUB``) and is then told with ``METADATA <target> <key> *
:<value>`` when one of them changes on itself (from another connection), on a channel it is in,
or on anybody who shares a channel with it; subscribing sends the current values of the new keys,
and joining a channel the channel's and its members' (or ``774`` past
``metadata_join_sync_max`` lines: ``METADATA <channel> SYNC`` asks for them).

A logged-in user's values belong to its account and are stored (Accounts.metadata_of); a guest's
last as long as its connection. A channel's are saved with it when it is durable. The limits are
settings and are advertised in the capability's value (``max-subs``, ``max-keys``,
``max-value-bytes``). Errors are standard replies with the codes of the spec.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

from hubbub.protocol import CHANTYPES, Message, numerics

from ..world import Channel

if TYPE_CHECKING:
    from ..session import Session
    from .context import Context


CAP = "draft/metadata-2"
NOTIFY_CAP = "draft/metadata-notify-2"  # also the metadata of the users one MONITORs
BATCH = "metadata"
VISIBLE = "*"  # the visibility of every key here: visible to everyone who may see the target

# draft/metadata-2 "Keys and Values": names are made of a-z, 0-9 and _ . / - (as Ergo checks);
# a key never starts with a colon, so it can stand in the middle of a line.
_KEY = re.compile(r"[a-z0-9_./-]+")

# RPL_METADATASUBOK and the like list keys in one trailing parameter: this many bytes of them a
# line, which leaves room for the nick; a longer key (at most 400 bytes) goes alone.
_KEYS_PER_LINE_BYTES = 300


def valid_key(ctx: Context, key: str) -> bool:
    """Whether ``key`` is a key name the spec allows, within ``metadata_max_key_length``."""
    return len(key) <= ctx.settings.metadata_max_key_length and _KEY.fullmatch(key) is not None


def user_values(ctx: Context, user: Session) -> Mapping[str, str]:
    """The metadata of ``user`` (any of its devices): its account's, or its connection's."""
    return ctx.accounts.metadata_of(user)


def handle_metadata(ctx: Context, session: Session, msg: Message) -> None:
    """METADATA <target> <subcommand> [<param>...]: GET, LIST, SET, CLEAR, SUB, UNSUB, SUBS, SYNC."""
    name, sub, args = msg.params[0], msg.params[1].upper(), msg.params[2:]
    if sub == "SUB":
        _subscribe(ctx, session, args)
        return
    if sub == "UNSUB":
        _unsubscribe(ctx, session, args)
        return
    if sub == "SUBS":
        _send_key_lines(session, numerics.RPL_METADATASUBS, sorted(session.metadata_subs))
        return
    handler = _ON_TARGET.get(sub)
    if handler is None:
        session.fail("METADATA", "SUBCOMMAND_INVALID", "invalid subcommand", msg.params[1])
        return
    target = _target(ctx, session, name)
    if target is None:
        session.fail("METADATA", "INVALID_TARGET", "invalid metadata target", name)
        return
    handler(ctx, session, target, args)


def _target(ctx: Context, session: Session, name: str) -> Session | Channel[Session] | None:
    """The user or channel ``name`` names (``*``: the client itself), if it may see it."""
    if name == "*":
        return session
    if name[:1] in CHANTYPES:
        channel = ctx.world.find_channel(name)
        if channel is None or ("s" in channel.modes and session not in channel.members):
            return None  # a secret channel is not revealed to those outside it
        return channel
    return ctx.world.find_user(name)


def _values(ctx: Context, target: Session | Channel[Session]) -> Mapping[str, str]:
    if isinstance(target, Channel):
        return target.metadata
    return user_values(ctx, target)


def _name(target: Session | Channel[Session]) -> str:
    return target.name if isinstance(target, Channel) else target.nick


def _may_read(session: Session, target: Session | Channel[Session]) -> bool:
    # As Ergo: a user's metadata is public, a channel's is for its members (and operators).
    return not isinstance(target, Channel) or session in target.members or "o" in session.umodes


def _may_write(session: Session, target: Session | Channel[Session]) -> bool:
    # "Clients can set/delete metadata on themselves, and on channels they administer.
    # Privileged users (e.g. network admins) may be able to set certain metadata on other users":
    # server operators may change anybody's, to take down an abusive avatar or status.
    if "o" in session.umodes:
        return True
    if isinstance(target, Channel):
        return target.is_op(session)
    return (target.primary or target) is (session.primary or session)


# subcommands on a target -----------------------------------------------------------------------


def _get(ctx: Context, session: Session, target: Session | Channel[Session], keys: Sequence[str]) -> None:
    name = _name(target)
    if not keys:
        session.reply(numerics.ERR_NEEDMOREPARAMS, "METADATA")
        return
    if not _may_read(session, target):
        session.fail("METADATA", "KEY_NO_PERMISSION", "permission denied", name, "*")
        return
    values = _values(ctx, target)
    ref = session.open_batch(BATCH)
    for key in keys:  # "for every key in order"
        if not valid_key(ctx, key):
            session.fail("METADATA", "KEY_INVALID", "invalid key", key)
        elif key in values:
            session.reply(numerics.RPL_KEYVALUE, name, key, VISIBLE, values[key])
        else:
            session.reply(numerics.RPL_KEYNOTSET, name, key)
    session.close_batch(ref)


def _list(ctx: Context, session: Session, target: Session | Channel[Session], args: Sequence[str]) -> None:
    name = _name(target)
    if not _may_read(session, target):
        session.fail("METADATA", "KEY_NO_PERMISSION", "permission denied", name, "*")
        return
    ref = session.open_batch(BATCH)
    for key, value in sorted(_values(ctx, target).items()):
        session.reply(numerics.RPL_KEYVALUE, name, key, VISIBLE, value)
    session.close_batch(ref)


def _set(ctx: Context, session: Session, target: Session | Channel[Session], args: Sequence[str]) -> None:
    name = _name(target)
    if not args:
        session.reply(numerics.ERR_NEEDMOREPARAMS, "METADATA")
        return
    key = args[0]
    if not valid_key(ctx, key):
        session.fail("METADATA", "KEY_INVALID", "invalid key", key)
        return
    if not _may_write(session, target):
        session.fail("METADATA", "KEY_NO_PERMISSION", "permission denied", name, key)
        return
    values = _values(ctx, target)
    # "If no value is given, the key is removed"; CLEAR is SET with an empty value, so empty too.
    value = args[1] if len(args) > 1 and args[1] else None
    if value is None:
        if key not in values:
            session.fail("METADATA", "KEY_NOT_SET", "key not set", name, key)
            return
        change(ctx, session, target, key, None)
        session.reply(numerics.RPL_KEYNOTSET, name, key)
        return
    if len(value.encode()) > ctx.settings.metadata_max_value_bytes:
        session.fail("METADATA", "VALUE_INVALID", "value is too long or not UTF8")
        return
    if key not in values and len(values) >= ctx.settings.metadata_max_keys:
        session.fail("METADATA", "LIMIT_REACHED", "metadata limit reached", name)
        return
    if values.get(key) != value:  # an unchanged value is answered but not announced
        change(ctx, session, target, key, value)
    session.reply(numerics.RPL_KEYVALUE, name, key, VISIBLE, value)


def _clear(ctx: Context, session: Session, target: Session | Channel[Session], args: Sequence[str]) -> None:
    name = _name(target)
    if not _may_write(session, target):
        session.fail("METADATA", "KEY_NO_PERMISSION", "permission denied", name, "*")
        return
    ref = session.open_batch(BATCH)
    for key in sorted(_values(ctx, target)):
        change(ctx, session, target, key, None)
        session.reply(numerics.RPL_KEYNOTSET, name, key)
    session.close_batch(ref)


def _sync(ctx: Context, session: Session, target: Session | Channel[Session], args: Sequence[str]) -> None:
    if not _may_read(session, target):
        session.fail("METADATA", "KEY_NO_PERMISSION", "permission denied", _name(target), "*")
        return
    ref = session.open_batch(BATCH)
    if isinstance(target, Channel):
        _send_channel(ctx, session, target)
    else:
        for line in _lines(ctx, target.nick, user_values(ctx, target), session.metadata_subs):
            session.send(line)
    session.close_batch(ref)


_ON_TARGET = {"GET": _get, "LIST": _list, "SET": _set, "CLEAR": _clear, "SYNC": _sync}


# changes and who hears of them -------------------------------------------------------------------


def change(
    ctx: Context, session: Session, target: Session | Channel[Session], key: str, value: str | None
) -> None:
    """Set (or, with None, remove) ``key`` on ``target``, keep it, and tell the subscribers.

    ``session`` made the change. A user of another node of a cluster is changed by its node.
    """
    if not isinstance(target, Channel) and ctx.ask_home(target, "meta", session.nick, key, value):
        return
    if isinstance(target, Channel):
        if value is None:
            target.metadata.pop(key, None)
        else:
            target.metadata[key] = value
        ctx.channel_changed(target)  # a durable channel saves it with the rest of its state
        _announce(ctx, session, target.name, key, value, target.members)
        return
    ctx.accounts.set_metadata(target, key, value)
    # An account's metadata is every user logged in to it: each of them (under its own nick)
    # is announced to "all users sharing a channel with that user", and to its own connections.
    holders = {target.primary or target}
    if target.account is not None:
        holders.update(s.primary or s for s in ctx.world.accounts.get(ctx.world.fold(target.account), ()))
    for holder in sorted(holders, key=lambda h: h.nick):
        audience = ctx.world.peers_of(holder) | set(holder.devices) | _watchers(ctx, holder)
        _announce(ctx, session, holder.nick, key, value, audience)


def _watchers(ctx: Context, user: Session) -> set[Session]:
    """Those MONITORing ``user`` with draft/metadata-notify-2 ("If draft/metadata-notify-2 is
    requested, clients also receive metadata updates for the users they are currently
    monitoring")."""
    return {w for w in ctx.world.monitors.get(user.folded, ()) if NOTIFY_CAP in w.caps and not w.gone}


def _announce(
    ctx: Context, session: Session, name: str, key: str, value: str | None, audience: Iterable[Session]
) -> None:
    params = (name, key, VISIBLE) if value is None else (name, key, VISIBLE, value)
    out = Message.build("METADATA", *params, source=session.hostmask)
    # Not to the client that made the change: it has its reply ("excluding changes they make").
    told = [s for s in audience if s is not session and CAP in s.caps and key in s.metadata_subs]
    if told:
        ctx.delivery.publish(out, told, event=True, account=session.account)


# subscriptions ------------------------------------------------------------------------------------


def _subscribe(ctx: Context, session: Session, keys: Sequence[str]) -> None:
    if not keys:
        session.reply(numerics.ERR_NEEDMOREPARAMS, "METADATA")
        return
    subs = session.metadata_subs
    if not isinstance(subs, set):
        subs = session.metadata_subs = set(subs)
    limit = ctx.settings.metadata_max_subs
    done: list[str] = []
    new: set[str] = set()
    for key in keys:  # "The server MUST process each key in order"
        if not valid_key(ctx, key):
            session.fail("METADATA", "KEY_INVALID", "invalid key", key)
            continue
        if key not in subs and len(subs) >= limit:
            # The first key that could not be subscribed to; the later ones are not processed.
            session.fail("METADATA", "TOO_MANY_SUBS", "too many subscriptions", key)
            break
        if key not in subs:
            new.add(key)
        subs.add(key)
        if key not in done:
            done.append(key)
    _send_key_lines(session, numerics.RPL_METADATASUBOK, done)
    if new and session.registered:
        _send_current(ctx, session, new)


def _unsubscribe(ctx: Context, session: Session, keys: Sequence[str]) -> None:
    if not keys:
        session.reply(numerics.ERR_NEEDMOREPARAMS, "METADATA")
        return
    done: list[str] = []
    for key in keys:
        if not valid_key(ctx, key):
            session.fail("METADATA", "KEY_INVALID", "invalid key", key)
            continue
        if isinstance(session.metadata_subs, set):
            session.metadata_subs.discard(key)
        if key not in done:
            done.append(key)
    _send_key_lines(session, numerics.RPL_METADATAUNSUBOK, done)


def _send_key_lines(session: Session, numeric: str, keys: Sequence[str]) -> None:
    """``numeric`` listing ``keys`` in its trailing parameter, in as many lines as they need."""
    line: list[str] = []
    size = 0
    for key in keys:
        if line and size + len(key) + 1 > _KEYS_PER_LINE_BYTES:
            session.reply(numeric, " ".join(line))
            line, size = [], 0
        line.append(key)
        size += len(key) + 1
    if line:
        session.reply(numeric, " ".join(line))


# what a client is sent unasked ----------------------------------------------------------------------


def _lines(
    ctx: Context, name: str, values: Mapping[str, str], keys: set[str] | frozenset[str]
) -> list[Message]:
    return [
        Message.build("METADATA", name, key, VISIBLE, value, source=ctx.name)
        for key, value in sorted(values.items())
        if key in keys
    ]


def _channel_lines(
    ctx: Context, channel: Channel[Session], keys: set[str] | frozenset[str], seen: set[Session]
) -> list[Message]:
    """The channel's ``keys``, then each member's (each user once, not those in ``seen``)."""
    lines = _lines(ctx, channel.name, channel.metadata, keys)
    for member in channel.members:
        holder = member.primary or member
        if holder not in seen:
            seen.add(holder)
            lines += _lines(ctx, holder.nick, user_values(ctx, holder), keys)
    return lines


def _send_batch(session: Session, lines: list[Message]) -> None:
    ref = session.open_batch(BATCH)
    for line in lines:
        session.send(line)
    session.close_batch(ref)


def _send_channel(ctx: Context, session: Session, channel: Channel[Session]) -> None:
    for line in _channel_lines(ctx, channel, session.metadata_subs, set()):
        session.send(line)


def sync_on_join(ctx: Context, session: Session, channel: Channel[Session]) -> None:
    """After JOIN: the channel's and its members' metadata, or 774 when that is a lot.

    "On joining a channel, users will get the channel's current metadata sent to them with
    METADATA messages, and get the same information for all users who are in the channel",
    for the keys they subscribed to; "the server MAY choose to respond with a
    ERR_METADATASYNCLATER numeric instead". Past ``metadata_join_sync_max`` lines it does, so a
    join never fills the client's sendq with metadata.
    """
    if CAP not in session.caps or not session.metadata_subs:
        return
    lines = _channel_lines(ctx, channel, session.metadata_subs, set())
    if len(lines) > ctx.settings.metadata_join_sync_max:
        session.reply(numerics.RPL_METADATASYNCLATER, channel.name)
    elif lines:
        _send_batch(session, lines)


def _send_current(ctx: Context, session: Session, keys: set[str]) -> None:
    """After SUB: the current values of the newly subscribed ``keys``, for the client itself, its
    channels and their members ("When subscribing to a key, clients SHOULD receive the current
    value of that key for channels/users they are receiving updates for"); 774 for each channel
    instead when that is more than ``metadata_join_sync_max`` lines."""
    holder = session.primary or session
    seen = {holder}
    lines = _lines(ctx, holder.nick, user_values(ctx, holder), keys)
    for channel in holder.channels.values():
        lines += _channel_lines(ctx, channel, keys, seen)
    if len(lines) > ctx.settings.metadata_join_sync_max:
        for channel in holder.channels.values():
            session.reply(numerics.RPL_METADATASYNCLATER, channel.name)
    elif lines:
        _send_batch(session, lines)


def monitored(ctx: Context, session: Session, nicks: Sequence[str]) -> None:
    """After MONITOR +: the subscribed keys of the users it now watches who are online.

    "If draft/metadata-notify-2 is negotiated, clients SHOULD receive the current values of keys
    they are subscribed to when they MONITOR a user"; 774 for each of them instead past
    ``metadata_join_sync_max`` lines (``METADATA <nick> SYNC`` sends them).
    """
    if NOTIFY_CAP not in session.caps or CAP not in session.caps or not session.metadata_subs:
        return
    users = [u for u in (ctx.world.find_user(nick) for nick in nicks) if u is not None]
    lines: list[Message] = []
    for user in users:
        lines += _lines(ctx, user.nick, user_values(ctx, user), session.metadata_subs)
    if len(lines) > ctx.settings.metadata_join_sync_max:
        for user in users:
            session.reply(numerics.RPL_METADATASYNCLATER, user.nick)
    elif lines:
        _send_batch(session, lines)


def came_online(ctx: Context, user: Session) -> None:
    """``user`` registered: those who MONITOR it with draft/metadata-notify-2 get its subscribed
    keys ("or when one of their monitored users comes online")."""
    values = user_values(ctx, user)
    if not values:
        return
    for watcher in _watchers(ctx, user):
        if CAP in watcher.caps and watcher is not user:
            lines = _lines(ctx, user.nick, values, watcher.metadata_subs)
            if lines:
                _send_batch(watcher, lines)


def send_own(ctx: Context, session: Session) -> None:
    """At registration: the client's own stored metadata, in a ``metadata`` batch.

    "Upon requesting the capability, clients receive their non-transient metadata ... in a
    metadata batch with their own nick as target. If none exists, the server MUST send an empty
    batch instead."
    """
    if CAP not in session.caps:
        return
    ref = session.open_batch(BATCH)
    name = session.nick
    for key, value in sorted(user_values(ctx, session).items()):
        session.send(Message.build("METADATA", name, key, VISIBLE, value, source=ctx.name))
    session.close_batch(ref)
