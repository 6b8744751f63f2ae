"""MODE for users and channels.

Modern IRC "MODE message" and "Channel Modes"; ISUPPORT ``CHANMODES=beI,k,l,Cimnst``,
``PREFIX=(ov)@+``, ``MODES``, ``MAXLIST``, ``BOT=B``. A change command is applied in order and
answered with one ``MODE`` line holding exactly the changes that took effect (several when they do
not fit in 512 bytes, as Solanum and InspIRCd split them); list modes without a mask list the
entries instead, which any member may do. A parameter that cannot be valid (a key or mask with a
space or control character, a mask that is not one ``nick!user@host`` or is longer than
``masklen``, a limit that is not a plain number) gets ERR_INVALIDMODEPARAM and the rest of the
mode string still applies.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hubbub.protocol import MAX_LINE_BODY, Message, format_body, is_channel_name, normalize_mask, numerics

from ..world import EXTBAN_ACCOUNT, EXTBAN_MUTE, PREFIX_MODES, ListEntry, extban_type

if TYPE_CHECKING:
    from ..session import Session
    from ..world import Channel
    from .context import Context

# CHANMODES groups: A (lists), B (key: parameter both ways), C (limit: parameter to set), D (flags).
LIST_MODES = "beI"
# C: no CTCP but ACTION (Ergo, InspIRCd, UnrealIRCd), enforced in messaging.py.
FLAG_MODES = "Cimnst"
# User modes a client may set on itself; "o" may only be dropped (OPER grants it).
SELF_SETTABLE_UMODES = "iB"
KNOWN_UMODES = "iBo"
# RFC 2812 "key": at most 23 characters, no spaces (and no commas, which split JOIN's key list).
MAX_KEY_LENGTH = 23
MAX_LIMIT = 2**31 - 1

# list mode -> (entry numeric, end numeric, end text)
LIST_REPLIES = {
    "b": (numerics.RPL_BANLIST, numerics.RPL_ENDOFBANLIST, "End of channel ban list"),
    "e": (numerics.RPL_EXCEPTLIST, numerics.RPL_ENDOFEXCEPTLIST, "End of channel exception list"),
    "I": (numerics.RPL_INVITELIST, numerics.RPL_ENDOFINVITELIST, "End of channel invite exception list"),
}


@dataclass(slots=True)
class ModeChange:
    """One parsed mode letter: its sign, letter and parameter (if it takes one)."""

    adding: bool
    mode: str
    param: str | None = None


def handle_mode(ctx: Context, session: Session, msg: Message) -> None:
    """MODE <target> [<modestring> [<mode arguments>...]]."""
    target = msg.params[0]
    if is_channel_name(target):
        channel = session.find_channel(target)
        if channel is None:
            return
        if len(msg.params) < 2:
            send_channel_modes(session, channel)
        else:
            change_channel_modes(ctx, session, channel, msg.params[1], list(msg.params[2:]))
        return
    user = ctx.world.find_user(target)
    if user is None:
        session.reply(numerics.ERR_NOSUCHNICK, target)
    elif user is not session:
        verb = "view" if len(msg.params) < 2 else "change"
        session.reply(numerics.ERR_USERSDONTMATCH, f"Can't {verb} modes for other users")
    elif len(msg.params) < 2:
        session.reply(numerics.RPL_UMODEIS, umode_string(session))
    else:
        change_user_modes(ctx, session, msg.params[1])


# user modes ---------------------------------------------------------------------------------


def umode_string(session: Session) -> str:
    """``+iB`` style: the user modes ``session`` has, in a stable order."""
    return "+" + "".join(m for m in KNOWN_UMODES if m in session.umodes)


def change_user_modes(ctx: Context, session: Session, modestring: str) -> None:
    """Apply ``+i``/``-i``/``+B``/``-B``/``-o`` to ``session``; echo what changed."""
    adding = True
    applied: list[tuple[bool, str]] = []
    unknown = False
    for ch in modestring:
        if ch in "+-":
            adding = ch == "+"
            continue
        if ch not in KNOWN_UMODES:
            unknown = True
            continue
        if adding and ch not in SELF_SETTABLE_UMODES:
            continue  # +o comes from OPER, never from MODE
        if not ctx.world.set_umode(session, ch, adding):
            continue  # no change: nothing to report
        applied.append((adding, ch))
    if unknown:
        session.reply(numerics.ERR_UMODEUNKNOWNFLAG)
    if applied:
        modes, _ = _mode_string([ModeChange(a, m) for a, m in applied])
        session.send(Message.build("MODE", session.nick, modes, source=session.nick))


# channel modes: query -----------------------------------------------------------------------


def send_channel_modes(session: Session, channel: Channel[Session]) -> None:
    """RPL_CHANNELMODEIS and RPL_CREATIONTIME; the key is shown to members only."""
    session.reply(numerics.RPL_CHANNELMODEIS, channel.name, *channel.mode_string(session in channel.members))
    session.reply(numerics.RPL_CREATIONTIME, channel.name, str(int(channel.created)))


def send_list(session: Session, channel: Channel[Session], mode: str) -> None:
    """The ban, exception or invite-exception list with who set each entry and when."""
    entry_numeric, end_numeric, end_text = LIST_REPLIES[mode]
    for entry in channel.list_for(mode):
        session.reply(entry_numeric, channel.name, entry.mask, entry.setter, str(int(entry.set_at)))
    session.reply(end_numeric, channel.name, end_text)


# channel modes: changes ---------------------------------------------------------------------


def parse_channel_modes(modestring: str, params: list[str], max_modes: int) -> tuple[list[ModeChange], str]:
    """Split a mode string into changes, taking parameters in order.

    Returns the changes and the unknown mode letters (in order, each once). A list mode without a
    parameter is a list query (``param`` None). At most ``max_modes`` changes that take a parameter
    are kept (ISUPPORT MODES); the rest are ignored, as Ergo does.
    """
    changes: list[ModeChange] = []
    unknown = ""
    adding = True
    args = iter(params)
    with_param = 0
    for ch in modestring:
        if ch in "+-":
            adding = ch == "+"
            continue
        if ch in FLAG_MODES:
            changes.append(ModeChange(adding, ch))
            continue
        if ch not in LIST_MODES and ch not in PREFIX_MODES and ch not in "kl":
            if ch not in unknown:
                unknown += ch
            continue
        takes_param = ch != "l" or adding
        param = next(args, None) if takes_param else None
        if ch in LIST_MODES and param is None:
            changes.append(ModeChange(adding, ch))  # a list query
            continue
        if takes_param and param is None and not (ch == "k" and not adding):
            continue  # a missing parameter: ignored, as Ergo does
        if takes_param and param is not None:
            with_param += 1
            if with_param > max_modes:
                continue
        changes.append(ModeChange(adding, ch, param))
    return changes, unknown


def change_channel_modes(
    ctx: Context,
    session: Session,
    channel: Channel[Session],
    modestring: str,
    params: list[str],
    *,
    override: bool = False,
) -> None:
    """Apply a channel mode command and broadcast one MODE line with what took effect.

    ``override``: a server operator's SAMODE, allowed without channel operator status.
    """
    changes, unknown = parse_channel_modes(modestring, params, ctx.settings.max_modes)
    for ch in unknown:
        session.reply(numerics.ERR_UNKNOWNMODE, ch)
    listed: set[str] = set()
    applied: list[ModeChange] = []
    may_change = override or channel.is_op(session)
    refused = False
    for change in changes:
        if change.mode in LIST_MODES and change.param is None:
            if change.mode not in listed:
                listed.add(change.mode)
                if session in channel.members or "s" not in channel.modes:
                    send_list(session, channel, change.mode)
                else:
                    session.reply(numerics.ERR_NOTONCHANNEL, channel.name)
            continue
        if not may_change:
            if not refused:
                refused = True
                session.reply(numerics.ERR_CHANOPRIVSNEEDED, channel.name)
            continue
        done = _apply(ctx, session, channel, change)
        if done is not None:
            applied.append(done)
    if not applied:
        return
    recipients = list(channel.members)
    if session not in channel.members:
        recipients.append(session)  # an operator's SAMODE from outside sees what it did
    for modes, args in mode_lines(applied, channel.name, session.hostmask):
        out = Message.build("MODE", channel.name, modes, *args, source=session.hostmask)
        # Kept where events are (event-playback lists MODE), with the msgid it went out with.
        ctx.delivery.publish(out, recipients, keep=(channel.key_folded,), event=True, account=session.account)
    # Who is operator or voiced goes with them; the channel's own modes and lists are kept.
    if any(change.mode not in PREFIX_MODES for change in applied):
        ctx.channel_changed(channel)


def _apply(
    ctx: Context, session: Session, channel: Channel[Session], change: ModeChange
) -> ModeChange | None:
    """Apply one change; return it as it should be shown, or None when nothing changed."""
    mode, adding, param = change.mode, change.adding, change.param
    if mode in FLAG_MODES:
        if adding == (mode in channel.modes):
            return None
        if adding:
            channel.modes = channel.modes | {mode}
        else:
            channel.modes = channel.modes - {mode}
        return change
    if mode == "k":
        return _apply_key(session, channel, adding, param or "")
    if mode == "l":
        return _apply_limit(session, channel, adding, param or "")
    if mode in LIST_MODES:
        return _apply_list(ctx, session, channel, adding, mode, param or "")
    return _apply_prefix(ctx, session, channel, adding, mode, param or "")


def _apply_key(session: Session, channel: Channel[Session], adding: bool, key: str) -> ModeChange | None:
    if not adding:
        if channel.key is None:
            return None
        channel.key = None
        return ModeChange(False, "k", "*")
    if (
        not key
        or len(key) > MAX_KEY_LENGTH
        or key.startswith(":")
        or "," in key
        or not key.isascii()
        or not _printable(key)
    ):
        # Modern IRC "Key channel mode": ERR_INVALIDMODEPARAM; the key itself is never echoed
        session.reply(numerics.ERR_INVALIDMODEPARAM, channel.name, "k", "*")
        return None
    if key == channel.key:
        return None
    channel.key = key
    return ModeChange(True, "k", key)


def _apply_limit(session: Session, channel: Channel[Session], adding: bool, value: str) -> ModeChange | None:
    if not adding:
        if channel.limit is None:
            return None
        channel.limit = None
        return ModeChange(False, "l")
    # isdigit alone takes "²" (which int() refuses) and other scripts' digits
    limit = int(value) if value.isascii() and value.isdigit() and len(value) <= 10 else 0
    if not 0 < limit <= MAX_LIMIT:
        session.reply(numerics.ERR_INVALIDMODEPARAM, channel.name, "l", value or "*", text="Invalid limit")
        return None
    if limit == channel.limit:
        return None
    channel.limit = limit
    return ModeChange(True, "l", str(limit))


def _apply_list(
    ctx: Context, session: Session, channel: Channel[Session], adding: bool, mode: str, mask: str
) -> ModeChange | None:
    normal = list_mask(mask, ctx.settings.masklen, mode)
    if normal is None:
        session.reply(numerics.ERR_INVALIDMODEPARAM, channel.name, mode, mask, text="Invalid mask")
        return None
    mask = normal
    world = ctx.world
    folded = world.fold(mask)
    entries = channel.list_for(mode)
    existing = next((e for e in entries if world.fold(e.mask) == folded), None)
    if not adding:
        # Ergo: -b matches the entry up to case, so "-b bar!*@*" lifts "+b BAR!*@*"
        if existing is None:
            return None
        channel.set_list(mode, tuple(e for e in entries if e is not existing))
        return ModeChange(False, mode, existing.mask)
    if existing is not None:
        return None
    if len(entries) >= ctx.settings.max_list_entries:
        session.reply(numerics.ERR_BANLISTFULL, channel.name, mode)
        return None
    channel.set_list(mode, (*entries, ListEntry(mask, session.hostmask, time.time())))
    return ModeChange(True, mode, mask)


def list_mask(raw: str, masklen: int, mode: str = "b") -> str | None:
    """The entry a ban, exception or invite-exception mask is kept as, or None.

    ``raw`` is completed as servers do (``nick`` is ``nick!*@*``, ``host.example`` is
    ``*!*@host.example``). None when it could not stand as one parameter of the MODE line that
    announces it (empty, a leading ``:``, a space or control character), when it is not exactly
    one ``nick!user@host`` (``a!b!c`` and ``a@b@c`` match nobody), or longer than ``masklen`` bytes.

    An extended ban (ISUPPORT ``EXTBAN``) is kept as ``<type>:<data>``: ``a:<account mask>`` in
    any list, ``m:<mask>`` (mute; ``<mask>`` completed as above, or an ``a:`` extban) in +b and +e
    only, since a mute says nothing about who may join.
    """
    if not raw or raw[0] == ":" or not _printable(raw):
        return None
    kind = extban_type(raw)
    if kind == EXTBAN_MUTE:
        if mode == "I":
            return None
        inner = raw[2:]
        if not inner or extban_type(inner) == EXTBAN_MUTE:
            return None
        body = _account_extban(inner) if extban_type(inner) == EXTBAN_ACCOUNT else _hostmask(inner)
        mask = None if body is None else raw[:2] + body
    elif kind == EXTBAN_ACCOUNT:
        mask = _account_extban(raw)
    else:
        mask = _hostmask(raw)
    if mask is None or len(mask.encode()) > masklen:
        return None
    return mask


def _account_extban(raw: str) -> str | None:
    """``a:<account mask>``: a non-empty account name or wildcard, which never holds ``!`` or ``@``."""
    account = raw[2:]
    if not account or "!" in account or "@" in account:
        return None
    return raw


def _hostmask(raw: str) -> str | None:
    """``raw`` completed to exactly one ``nick!user@host``, or None."""
    mask = normalize_mask(raw)
    bang, at = mask.find("!"), mask.find("@")
    if mask.count("!") != 1 or mask.count("@") != 1 or at < bang:
        return None
    return mask


def _printable(text: str) -> bool:
    """No spaces (of any script) and no control or format characters."""
    return text.isprintable() and not any(ch.isspace() for ch in text)


def _apply_prefix(
    ctx: Context, session: Session, channel: Channel[Session], adding: bool, mode: str, nick: str
) -> ModeChange | None:
    target = ctx.world.find_user(nick)
    if target is None:
        session.reply(numerics.ERR_NOSUCHNICK, nick)
        return None
    current = channel.members.get(target)
    if current is None:
        session.reply(numerics.ERR_USERNOTINCHANNEL, target.nick, channel.name)
        return None
    if adding == (mode in current):
        return None
    wanted = set(current) | {mode} if adding else set(current) - {mode}
    ctx.world.set_prefix(channel, target, "".join(wanted))
    if adding and mode == "o":
        ctx.history.operator_given(channel)
    return ModeChange(adding, mode, target.nick)


def mode_lines(changes: list[ModeChange], target: str, source: str) -> list[tuple[str, list[str]]]:
    """The applied ``changes`` as few MODE lines as fit in 512 bytes each: (modes, arguments).

    Every parameter is one a line can carry (applying a change checks it); a change whose line
    would be too long even alone still gets one of its own.
    """
    lines: list[tuple[str, list[str]]] = []
    group: list[ModeChange] = []
    for change in changes:
        candidate = _mode_string([*group, change])
        if group and _body_length(source, target, candidate) > MAX_LINE_BODY:
            lines.append(_mode_string(group))
            group = []
        group.append(change)
    if group:
        lines.append(_mode_string(group))
    return lines


def _body_length(source: str, target: str, line: tuple[str, list[str]]) -> int:
    """Bytes of ``:source MODE target modes args`` with its CRLF."""
    modes, args = line
    return len(format_body("MODE", (target, modes, *args), source).encode()) + 2


def _mode_string(changes: list[ModeChange]) -> tuple[str, list[str]]:
    """``+o-v`` and ``[nick1, nick2]`` for a list of applied changes."""
    out: list[str] = []
    args: list[str] = []
    sign = ""
    for change in changes:
        wanted = "+" if change.adding else "-"
        if wanted != sign:
            out.append(wanted)
            sign = wanted
        out.append(change.mode)
        if change.param is not None:
            args.append(change.param)
    return "".join(out), args


__all__ = [
    "ModeChange",
    "change_channel_modes",
    "list_mask",
    "mode_lines",
    "parse_channel_modes",
    "send_channel_modes",
    "umode_string",
]
