"""Queries about channels and the server, and the user's own presence.

LIST (ELIST=MNU), MOTD, LUSERS, VERSION, TIME, ADMIN, INFO; AWAY (with away-notify) and SETNAME
(IRCv3 setname). Queries about users are in whois.py. Replies follow the Modern IRC client
protocol document; where it is loose, Ergo's behaviour.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from hubbub.protocol import Casemapping, Message, match_mask, numerics

from .. import monitor
from ..replies import constant_replies

if TYPE_CHECKING:
    from collections.abc import Iterator

    from ..session import Session
    from ..world import Channel
    from .context import Context


# Server lookups -------------------------------------------------------------------------------


def _is_this_server(ctx: Context, session: Session, target: str) -> bool:
    """Whether ``target`` names this server (a wildcard mask may) or a user on it."""
    return match_mask(target, ctx.name) or ctx.world.find_user(target) is not None


def check_target(ctx: Context, session: Session, msg: Message, index: int = 0) -> bool:
    """ERR_NOSUCHSERVER unless the optional ``<target>`` parameter is absent or this server."""
    target = msg.param(index)
    if target and not _is_this_server(ctx, session, target):
        session.reply(numerics.ERR_NOSUCHSERVER, target)
        return False
    return True


def server_info(ctx: Context, session: Session) -> str:
    """The server's description; in a cluster, with the node ``session`` is connected to."""
    node = ctx.node_of(session)
    return f"{ctx.settings.network} chat server" + (f", node {node}" if node else "")


# LUSERS and MOTD (also part of the welcome burst) ---------------------------------------------


def send_lusers(ctx: Context, session: Session) -> None:
    """RPL_LUSERCLIENT .. RPL_GLOBALUSERS."""
    world = ctx.world
    users = len(world.users)
    invisible = world.umode_counts["i"]
    operators = world.umode_counts["o"]
    # Every registration sends LUSERS, so the peak is always seen here.
    world.max_users = most = max(world.max_users, users)
    # Every part is a number or fixed text, so the lines are written out directly.
    client = f":There are {users - invisible} users and {invisible} invisible on 1 servers"
    lines = [(numerics.RPL_LUSERCLIENT, client), (numerics.RPL_LUSEROP, f"{operators} :operator(s) online")]
    if world.unregistered > 0:
        lines.append((numerics.RPL_LUSERUNKNOWN, f"{world.unregistered} :unknown connection(s)"))
    lines += [
        (numerics.RPL_LUSERCHANNELS, f"{len(world.channels)} :channels formed"),
        (numerics.RPL_LUSERME, f":I have {users} clients and 0 servers"),
        (numerics.RPL_LOCALUSERS, f"{users} {most} :Current local users {users}, max {most}"),
        (numerics.RPL_GLOBALUSERS, f"{users} {most} :Current global users {users}, max {most}"),
    ]
    session.reply_lines(lines)


def send_motd(ctx: Context, session: Session) -> None:
    """The message of the day, or ERR_NOMOTD."""
    lines = ctx.motd
    if not lines:
        session.reply(numerics.ERR_NOMOTD)
        return
    session.reply_lines(constant_replies(ctx, "motd", _motd_replies))


def _motd_replies(ctx: Context) -> list[tuple[str, ...]]:
    return [
        (numerics.RPL_MOTDSTART, f"- {ctx.name} Message of the day - "),
        *((numerics.RPL_MOTD, f"- {line}") for line in ctx.motd),
        (numerics.RPL_ENDOFMOTD, "End of /MOTD command."),
    ]


def isupport_replies(ctx: Context) -> list[tuple[str, ...]]:
    """RPL_ISUPPORT lines (at most 12 tokens each), for ``constant_replies``."""
    tokens = ctx.isupport
    return [
        (numerics.RPL_ISUPPORT, *tokens[i : i + 12], "are supported by this server")
        for i in range(0, len(tokens), 12)
    ]


def send_isupport(ctx: Context, session: Session) -> None:
    """RPL_ISUPPORT lines, at most 12 tokens each."""
    session.reply_lines(constant_replies(ctx, "isupport", isupport_replies))


def handle_motd(ctx: Context, session: Session, msg: Message) -> None:
    """MOTD [<target>]."""
    if check_target(ctx, session, msg):
        send_motd(ctx, session)


def handle_lusers(ctx: Context, session: Session, msg: Message) -> None:
    """LUSERS [<mask> [<target>]]: the mask is obsolete; only the target is checked."""
    if check_target(ctx, session, msg, 1):
        send_lusers(ctx, session)


# Server information -----------------------------------------------------------------------------


def handle_version(ctx: Context, session: Session, msg: Message) -> None:
    """VERSION [<target>]: RPL_VERSION followed by the ISUPPORT lines (Modern IRC)."""
    if not check_target(ctx, session, msg):
        return
    session.reply(numerics.RPL_VERSION, ctx.version, ctx.name)
    send_isupport(ctx, session)


def handle_time(ctx: Context, session: Session, msg: Message) -> None:
    """TIME [<target>]: the server's local time as text (RFC 2812 3.4.6)."""
    if not check_target(ctx, session, msg):
        return
    now = time.strftime("%A %B %d %Y -- %H:%M:%S +00:00", time.gmtime())
    session.reply(numerics.RPL_TIME, ctx.name, now)


def handle_admin(ctx: Context, session: Session, msg: Message) -> None:
    """ADMIN [<target>]: who runs this server (RPL_ADMINME .. RPL_ADMINEMAIL)."""
    if not check_target(ctx, session, msg):
        return
    settings = ctx.settings
    session.reply(numerics.RPL_ADMINME, ctx.name)
    session.reply(numerics.RPL_ADMINLOC1, settings.admin_name or "Unknown")
    session.reply(numerics.RPL_ADMINLOC2, settings.admin_location or "Unknown")
    session.reply(numerics.RPL_ADMINEMAIL, settings.admin_email or "Unknown")


INFO_LINES = (
    "hubbub: real-time chat for a team, a class or a community.",
    "It speaks IRC (RFC 1459/2812 as the Modern IRC documents describe them) and IRCv3,",
    "so any IRC client, bot library or test suite can join.",
)


def handle_info(ctx: Context, session: Session, msg: Message) -> None:
    """INFO [<target>]: a few lines about the software, then RPL_ENDOFINFO."""
    if not check_target(ctx, session, msg):
        return
    for line in (*INFO_LINES, f"Version {ctx.version}, up since {ctx.created}."):
        session.reply(numerics.RPL_INFO, line)
    session.reply(numerics.RPL_ENDOFINFO)


# Presence: AWAY and SETNAME -----------------------------------------------------------------------


def handle_away(ctx: Context, session: Session, msg: Message) -> None:
    """AWAY [<message>]: set or clear the away message; peers with away-notify are told."""
    text = msg.param(0)[: ctx.settings.awaylen]
    if text:
        for device in session.devices:  # presence is shared by every device
            device.away = text
        session.reply(numerics.RPL_NOWAWAY)
        out = Message.build("AWAY", text, source=session.hostmask)
    else:
        for device in session.devices:
            device.away = None
        session.reply(numerics.RPL_UNAWAY)
        out = Message.build("AWAY", source=session.hostmask)
    world = ctx.world
    recipients = [p for p in world.peers_of(session) if "away-notify" in p.caps]
    ctx.delivery.publish(
        out,
        monitor.with_watchers(ctx.world, session, "away-notify", recipients),
        event=True,
        account=session.account,
    )


def handle_setname(ctx: Context, session: Session, msg: Message) -> None:
    """SETNAME <realname> (IRCv3 setname): peers and yourself with the cap see the change."""
    realname = msg.params[0]
    if not realname or len(realname) > ctx.settings.realnamelen:
        session.fail("SETNAME", "INVALID_REALNAME", "Realname is not valid")
        return
    for device in session.devices:
        device.realname = realname
    out = Message.build("SETNAME", realname, source=session.hostmask)
    recipients = [p for p in ctx.world.peers_of(session) if "setname" in p.caps]
    if "setname" in session.caps:
        recipients.append(session)
    ctx.delivery.publish(
        out,
        monitor.with_watchers(ctx.world, session, "setname", recipients),
        event=True,
        account=session.account,
    )


# LIST ----------------------------------------------------------------------------------------------


class ListFilter:
    """The ``LIST`` conditions: names and masks (ELIST M), ``!mask`` (N), ``>n``/``<n`` (U)."""

    __slots__ = ("casemapping", "exclude", "include", "max_users", "min_users")

    def __init__(self, text: str, casemapping: Casemapping) -> None:
        self.casemapping: Casemapping = casemapping
        self.include: list[str] = []
        self.exclude: list[str] = []
        self.min_users: int | None = None
        self.max_users: int | None = None
        for item in text.split(","):
            if not item:
                continue
            count = item[1:]
            # ASCII digits only: str.isdigit() also takes "\u00b2" and the like, which int() refuses.
            if item[0] in "<>" and count.isascii() and count.isdigit():
                if item[0] == ">":
                    self.min_users = int(count)  # more than n users
                else:
                    self.max_users = int(count)  # fewer than n users
            elif item[0] == "!" and len(item) > 1:
                self.exclude.append(item[1:])
            else:
                self.include.append(item)

    def accepts(self, channel: Channel[Session], users: int, session: Session) -> bool:
        """Whether ``channel`` with ``users`` visible members passes every condition."""
        casemapping = self.casemapping
        if self.min_users is not None and not users > self.min_users:
            return False
        if self.max_users is not None and not users < self.max_users:
            return False
        if self.include and not any(match_mask(m, channel.name, casemapping) for m in self.include):
            return False
        return not any(match_mask(m, channel.name, casemapping) for m in self.exclude)


def visible_member_count(session: Session, channel: Channel[Session]) -> int:
    """Members ``session`` can see: all of them for a member, else those not invisible."""
    member = session in channel.members
    return sum(1 for m in channel.members if m.primary is None and (member or not m.invisible))


def handle_list(ctx: Context, session: Session, msg: Message) -> None:
    """LIST [<channel>{,<channel>} | <elist conditions>] [<target>]."""
    if len(msg.params) > 1 and not check_target(ctx, session, msg, 1):
        return
    session.send_paced(_list_replies(ctx, session, ListFilter(msg.param(0), ctx.world.casemapping)))


def _list_replies(ctx: Context, session: Session, conditions: ListFilter) -> Iterator[None]:
    """LIST's lines, paced by the asker's reading (there may be as many as channels)."""
    session.reply(numerics.RPL_LISTSTART, "Channel")
    for channel in list(ctx.world.channels.values()):
        if "s" in channel.modes and session not in channel.members:
            continue  # RFC 1459 4.2.6: secret channels are listed only to their members
        users = visible_member_count(session, channel)
        if conditions.accepts(channel, users, session):
            session.reply(numerics.RPL_LIST, channel.name, str(users), channel.topic)
            yield
    session.reply(numerics.RPL_LISTEND)


__all__ = [
    "ListFilter",
    "send_lusers",
    "send_motd",
    "visible_member_count",
]
