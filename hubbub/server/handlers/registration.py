"""Connection registration: PASS, NICK, USER, CAP, and PING, PONG, QUIT.

Modern IRC "Connection Registration"; IRCv3 capability negotiation (CAP LS 302, REQ, ACK, NAK,
LIST, END, cap-notify).
"""

from __future__ import annotations

import hmac
import sys
from typing import TYPE_CHECKING

from hubbub.protocol import Message, numerics, pack, valid_nick

from .. import caps as capmod
from .. import monitor
from ..replies import constant_replies
from ..services import is_service
from . import devices
from .metadata import CAP as METADATA_CAP
from .metadata import came_online as metadata_online
from .metadata import send_own
from .queries import isupport_replies, send_lusers, send_motd

if TYPE_CHECKING:
    from ..session import Session
    from .context import Context

# Bytes of capability names per CAP LS/LIST line, so every line stays well inside 512 bytes.
CAP_LINE_BUDGET = 380


def handle_pass(ctx: Context, session: Session, msg: Message) -> None:
    """PASS <password>: must come before NICK/USER complete registration."""
    if session.registered:
        session.reply(numerics.ERR_ALREADYREGISTERED)
        return
    expected = ctx.settings.password
    session.password_ok = not expected or hmac.compare_digest(msg.params[0].encode(), expected.encode())


def handle_nick(ctx: Context, session: Session, msg: Message) -> None:
    """NICK <nickname>: choose a nick, or change it once registered."""
    if not msg.params or not msg.params[0]:
        session.reply(numerics.ERR_NONICKNAMEGIVEN)
        return
    nick = msg.params[0]
    if not valid_nick(nick, ctx.settings.nicklen):
        session.reply(numerics.ERR_ERRONEUSNICKNAME, nick)
        return
    if is_service(nick):
        session.reply(numerics.ERR_ERRONEUSNICKNAME, nick, text="Nickname is reserved for a service")
        return
    world = ctx.world
    holder = world.nick_holder(nick)
    # During CAP negotiation a nick in use may still be this client's own, on another device:
    # the SASL login that would show it may not have happened yet, so try_register decides then.
    deferred = session.cap_negotiating and not session.registered and ctx.settings.multi_device
    if holder is not None and holder is not (session.primary or session) and not deferred:
        _nick_in_use(ctx, session, nick, holder)
        return
    if session.registered and ctx.accounts.nick_reserved_for_other(session, nick):
        session.reply(numerics.ERR_NICKNAMEINUSE, nick, text="Nickname is reserved by a different account")
        return
    if not session.registered:
        session.nick = nick
        try_register(ctx, session)
        return
    if nick == session.nick:
        return
    claims = ctx.nick_claims
    if claims is not None and not claims.holds(session.primary or session, nick):
        # Taken in the network first; then this command runs again and finds it held.
        def then(taken: bool) -> None:
            if taken:
                handle_nick(ctx, session, msg)
            elif not session.gone:
                session.reply(numerics.ERR_NICKNAMEINUSE, nick)

        claims.claim(session, nick, then)  # for every device of the user; this one's lines wait
        return
    session = session.primary or session  # every device of the user changes nick
    old_mask = session.hostmask
    world.remember(session)
    world.rename(session, nick)
    change = Message.build("NICK", nick, source=old_mask)
    recipients = world.peers_of(session)
    recipients.update(session.devices)
    keys = [c.key_folded for c in session.channels.values()]
    ctx.delivery.publish(change, recipients, keep=keys, event=True, account=session.account)
    ctx.directs.nick_changed(session)
    old_nick = old_mask.split("!", 1)[0]
    if world.fold(old_nick) != session.folded:
        # A change of case only leaves the nick online: watchers hear of neither going nor coming.
        monitor.went_offline(ctx.world, session, old_nick)
        monitor.came_online(ctx.world, session)


# The username of a client whose USER username has no character a hostmask can carry.
FALLBACK_USERNAME = "user"


def handle_user(ctx: Context, session: Session, msg: Message) -> None:
    """USER <username> <mode> <unused> <realname>."""
    if session.registered or session.user:
        session.reply(numerics.ERR_ALREADYREGISTERED)
        return
    if not msg.params[3]:
        # Modern IRC "USER message": an empty realname is as good as a missing one
        session.reply(numerics.ERR_NEEDMOREPARAMS, "USER")
        return
    username = msg.params[0]
    # ASCII only: a username is matched by ban masks and read in hostmasks, where a Cyrillic
    # a (U+0430) passing for a Latin a would make one user look like another.
    cleaned = "".join(ch for ch in username if ch.isascii() and (ch.isalnum() or ch in "-_.[]{}\\`^|"))
    if not cleaned:
        # Nothing usable (all emoji, say): a stock username, as Ergo gives, so the client still
        # registers instead of waiting forever on a 461 it cannot fix.
        cleaned = FALLBACK_USERNAME
    # The realname is interned: many clients send their client's default, and every idle
    # connection keeps it. Not the username, most often the nick and so unique: interning a
    # unique string costs its entry in the interned table (about 50 bytes) and saves nothing.
    session.user = "~" + cleaned[: ctx.settings.userlen - 1]
    session.realname = sys.intern(msg.params[3][: ctx.settings.realnamelen])
    try_register(ctx, session)


def try_register(ctx: Context, session: Session) -> None:
    """Complete registration once NICK and USER are in and CAP negotiation has ended."""
    if session.registered or session.gone or session.nick == "*" or not session.user:
        return
    if session.cap_negotiating or session.auth.pending:
        return  # CAP END, or the SASL/REGISTER answer being checked, comes first
    if not session.password_ok:
        session.reply(numerics.ERR_PASSWDMISMATCH)
        session.disconnect("Bad password")
        return
    if ctx.settings.team_mode and session.account is None:
        session.fail("*", "ACCOUNT_REQUIRED", "This server requires you to log in with SASL first")
        session.disconnect("An account is required")
        return
    ban = ctx.bans.matching(session)
    if ban is not None:
        session.reply(numerics.ERR_YOUREBANNEDCREEP, f"You are banned from this server: {ban.reason}")
        session.disconnect(f"Banned: {ban.reason}")
        return
    world = ctx.world
    shared = devices.online_holder(ctx, session)
    if shared is not None:
        # Multiple devices: this connection becomes another device of its account's user, here
        # or, in a cluster, on the node that user is on (handover.py).
        if not ctx.hand_over_device(session, shared):
            world.unregistered -= 1
            become_device(ctx, session, shared)
        return
    holder = world.nick_holder(session.nick)
    if holder is not None and holder is not session:
        _nick_in_use(ctx, session, session.nick, holder)
        session.nick = "*"
        return
    if ctx.accounts.nick_reserved_for_other(session, session.nick):
        session.reply(
            numerics.ERR_NICKNAMEINUSE, session.nick, text="Nickname is reserved by a different account"
        )
        session.nick = "*"
        return
    claims = ctx.nick_claims
    if claims is not None and not claims.holds(session, session.nick):
        nick = session.nick

        def then(taken: bool) -> None:
            if taken:
                try_register(ctx, session)
            elif not session.gone and not session.registered:
                session.reply(numerics.ERR_NICKNAMEINUSE, nick)
                if session.nick == nick:
                    session.nick = "*"

        claims.claim(session, nick, then)
        return
    world.claim_nick(session)
    world.unregistered -= 1
    session.registration_done()
    welcome(ctx, session)
    send_own(ctx, session)
    monitor.came_online(ctx.world, session)
    metadata_online(ctx, session)  # draft/metadata-notify-2: after the 730s
    if session.account is not None:
        ctx.directs.replay_direct(session)


def become_device(ctx: Context, session: Session, holder: Session) -> None:
    """Register ``session`` as another device of ``holder``'s user: the welcome, its channels."""
    ctx.world.attach_device(session, holder)
    session.registration_done()
    welcome(ctx, session)
    send_own(ctx, session)
    devices.show_channels(ctx, session)


def _nick_in_use(ctx: Context, session: Session, nick: str, holder: Session) -> None:
    # 433 either way: the nick is taken, literally or by one it would pass for.
    if ctx.world.fold(nick) == holder.folded:
        session.reply(numerics.ERR_NICKNAMEINUSE, nick)
    else:
        session.reply(numerics.ERR_NICKNAMEINUSE, nick, text="Nickname looks like one already in use")


def welcome(ctx: Context, session: Session) -> None:
    """The welcome burst: 001-005, LUSERS and MOTD (Modern IRC "Connection Registration")."""
    settings = ctx.settings
    session.reply(numerics.RPL_WELCOME, f"Welcome to the {settings.network} IRC Network {session.hostmask}")
    session.reply_lines(constant_replies(ctx, "welcome", _welcome_replies))
    send_lusers(ctx, session)
    send_motd(ctx, session)


def _welcome_replies(ctx: Context) -> list[tuple[str, ...]]:
    return [
        (numerics.RPL_YOURHOST, f"Your host is {ctx.name}, running version {ctx.version}"),
        (numerics.RPL_CREATED, f"This server was created {ctx.created}"),
        (numerics.RPL_MYINFO, ctx.name, ctx.version, "Bio", "CbeIiklmnostv", "beIklov"),
        *isupport_replies(ctx),
    ]


# CAP ------------------------------------------------------------------------------------------


def _send_cap_list(ctx: Context, session: Session, sub: str, names: list[str]) -> None:
    lines = pack(names, CAP_LINE_BUDGET) or [""]  # CAP LIST with nothing enabled: one empty list
    for i, line in enumerate(lines):
        more = ("*",) if i < len(lines) - 1 and session.cap_version >= 302 else ()
        session.send(Message.build("CAP", session.nick, sub, *more, line, source=ctx.name))


def handle_cap(ctx: Context, session: Session, msg: Message) -> None:
    """CAP LS / LIST / REQ / END."""
    sub = msg.params[0].upper()
    if sub == "LS":
        if not session.registered:
            session.cap_negotiating = True
        version = 0
        # ASCII digits only: str.isdigit() also takes "\u00b2" and the like, which int() refuses.
        if len(msg.params) > 1 and msg.params[1].isascii() and msg.params[1].isdigit():
            version = int(msg.params[1])
        # Only whether it is 302 or more matters; 302 itself is one int for every client (an int
        # read from the line would be an object of its own per connection).
        session.cap_version = max(session.cap_version, 302 if version >= 302 else version)
        if session.cap_version >= 302:
            # IRCv3 cap-notify: implicitly enabled for clients speaking CAP 302
            session.set_caps({"cap-notify"})
        names = [
            f"{name}={value}" if value and session.cap_version >= 302 else name
            for name, value in ctx.capabilities(session).items()
        ]
        _send_cap_list(ctx, session, "LS", names)
    elif sub == "LIST":
        _send_cap_list(ctx, session, "LIST", sorted(session.caps))
    elif sub == "REQ":
        if not session.registered:
            session.cap_negotiating = True
        wanted = msg.param(1).split()
        offered = ctx.capabilities()
        enable: set[str] = set()
        disable: set[str] = set()
        ok = bool(wanted)
        for item in wanted:
            name = item[1:] if item.startswith("-") else item
            if name not in offered or (
                item.startswith("-") and name == "cap-notify" and session.cap_version >= 302
            ):
                ok = False
                break
            (disable if item.startswith("-") else enable).add(name)
        if ok:
            newly = enable - session.caps
            session.set_caps(enable, disable)
            session.send(Message.build("CAP", session.nick, "ACK", msg.param(1), source=ctx.name))
            if session.registered and METADATA_CAP in newly:
                send_own(ctx, session)  # at registration, the welcome burst sends it
        else:
            session.send(Message.build("CAP", session.nick, "NAK", msg.param(1), source=ctx.name))
    elif sub == "END":
        if not session.registered:
            session.cap_negotiating = False
            try_register(ctx, session)
    else:
        session.reply(numerics.ERR_INVALIDCAPCMD, msg.params[0])


# keep-alive and leaving ----------------------------------------------------------------------


def handle_ping(ctx: Context, session: Session, msg: Message) -> None:
    """PING <token>: answer with PONG carrying the same token."""
    session.send(Message.build("PONG", ctx.name, msg.params[0], source=ctx.name))


def handle_pong(ctx: Context, session: Session, msg: Message) -> None:
    """PONG: the connection is alive (the connection already noted the activity)."""


def handle_quit(ctx: Context, session: Session, msg: Message) -> None:
    """QUIT [<reason>]: leave, showing the reason to everyone who shared a channel."""
    reason = msg.param(0)[: ctx.settings.kicklen]
    quit_message = f"Quit: {reason}" if reason else "Quit"
    session.disconnect(quit_message, quit_message=quit_message)


__all__ = ["capmod"]
