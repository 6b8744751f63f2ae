"""Queries about users, channels and the server, and the user's own presence.

WHO (with IRCv3 WHOX), WHOIS, WHOWAS, LIST (ELIST=MNU), ISON, USERHOST, MOTD, LUSERS, VERSION,
TIME, ADMIN, INFO; AWAY (with away-notify) and SETNAME (IRCv3 setname). Replies follow the
Modern IRC client protocol document; where it is loose, Ergo's behaviour.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

from hubbub.protocol import Message, is_channel_name, match_mask, normalize_mask, numerics, pack

from .. import monitor
from ..services import service_named, whois_service
from ..session import constant_replies

if TYPE_CHECKING:
    from ..app import Server
    from ..session import Session
    from ..world import Channel

# Bytes of channel names per RPL_WHOISCHANNELS line, so the line stays inside 512 bytes.
WHOIS_CHANNELS_BUDGET = 400
# USERHOST answers at most this many nicks (RFC 2812 3.8.6).
USERHOST_MAX = 5
# WHOX field letters, in the order their values are sent (IRCv3 WHOX).
WHOX_ORDER = "tcuihsnfdlaor"

# Server lookups -------------------------------------------------------------------------------


def _is_this_server(session: Session, target: str) -> bool:
    """Whether ``target`` names this server (a wildcard mask may) or a user on it."""
    server = session.server
    return match_mask(target, server.name) or server.world.find_user(target) is not None


def _check_target(session: Session, msg: Message, index: int = 0) -> bool:
    """ERR_NOSUCHSERVER unless the optional ``<target>`` parameter is absent or this server."""
    target = msg.param(index)
    if target and not _is_this_server(session, target):
        session.reply(numerics.ERR_NOSUCHSERVER, target, "No such server")
        return False
    return True


def _server_info(session: Session) -> str:
    return f"{session.server.settings.network} chat server"


# LUSERS and MOTD (also part of the welcome burst) ---------------------------------------------


def send_lusers(session: Session) -> None:
    """RPL_LUSERCLIENT .. RPL_GLOBALUSERS."""
    world = session.server.world
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


def send_motd(session: Session) -> None:
    """The message of the day, or ERR_NOMOTD."""
    server = session.server
    lines = server.motd
    if not lines:
        session.reply(numerics.ERR_NOMOTD, "MOTD File is missing")
        return
    session.reply_lines(constant_replies(server, "motd", _motd_replies))


def _motd_replies(server: Server) -> list[tuple[str, ...]]:
    return [
        (numerics.RPL_MOTDSTART, f"- {server.name} Message of the day - "),
        *((numerics.RPL_MOTD, f"- {line}") for line in server.motd),
        (numerics.RPL_ENDOFMOTD, "End of /MOTD command."),
    ]


def handle_motd(session: Session, msg: Message) -> None:
    """MOTD [<target>]."""
    if _check_target(session, msg):
        send_motd(session)


def handle_lusers(session: Session, msg: Message) -> None:
    """LUSERS [<mask> [<target>]]: the mask is obsolete; only the target is checked."""
    if _check_target(session, msg, 1):
        send_lusers(session)


# Server information -----------------------------------------------------------------------------


def handle_version(session: Session, msg: Message) -> None:
    """VERSION [<target>]: RPL_VERSION followed by the ISUPPORT lines (Modern IRC)."""
    if not _check_target(session, msg):
        return
    server = session.server
    session.reply(numerics.RPL_VERSION, server.version, server.name, "hubbub: real-time chat over IRC")
    from .registration import send_isupport

    send_isupport(session)


def handle_time(session: Session, msg: Message) -> None:
    """TIME [<target>]: the server's local time as text (RFC 2812 3.4.6)."""
    if not _check_target(session, msg):
        return
    now = time.strftime("%A %B %d %Y -- %H:%M:%S +00:00", time.gmtime())
    session.reply(numerics.RPL_TIME, session.server.name, now)


def handle_admin(session: Session, msg: Message) -> None:
    """ADMIN [<target>]: who runs this server (RPL_ADMINME .. RPL_ADMINEMAIL)."""
    if not _check_target(session, msg):
        return
    settings = session.server.settings
    session.reply(numerics.RPL_ADMINME, session.server.name, "Administrative info")
    session.reply(numerics.RPL_ADMINLOC1, settings.admin_name or "Unknown")
    session.reply(numerics.RPL_ADMINLOC2, settings.admin_location or "Unknown")
    session.reply(numerics.RPL_ADMINEMAIL, settings.admin_email or "Unknown")


INFO_LINES = (
    "hubbub: real-time chat for a team, a class or a community.",
    "It speaks IRC (RFC 1459/2812 as the Modern IRC documents describe them) and IRCv3,",
    "so any IRC client, bot library or test suite can join.",
)


def handle_info(session: Session, msg: Message) -> None:
    """INFO [<target>]: a few lines about the software, then RPL_ENDOFINFO."""
    if not _check_target(session, msg):
        return
    server = session.server
    for line in (*INFO_LINES, f"Version {server.version}, up since {server.created}."):
        session.reply(numerics.RPL_INFO, line)
    session.reply(numerics.RPL_ENDOFINFO, "End of INFO list")


# Presence: AWAY and SETNAME -----------------------------------------------------------------------


def handle_away(session: Session, msg: Message) -> None:
    """AWAY [<message>]: set or clear the away message; peers with away-notify are told."""
    text = msg.param(0)[: session.server.settings.awaylen]
    if text:
        for device in session.devices:  # presence is shared by every device
            device.away = text
        session.reply(numerics.RPL_NOWAWAY, "You have been marked as being away")
        out = Message.build("AWAY", text, source=session.hostmask)
    else:
        for device in session.devices:
            device.away = None
        session.reply(numerics.RPL_UNAWAY, "You are no longer marked as being away")
        out = Message.build("AWAY", source=session.hostmask)
    world = session.server.world
    recipients = [p for p in world.peers_of(session) if "away-notify" in p.caps]
    session.server.delivery.publish(
        out, monitor.with_watchers(session, "away-notify", recipients), event=True, account=session.account
    )


def handle_setname(session: Session, msg: Message) -> None:
    """SETNAME <realname> (IRCv3 setname): peers and yourself with the cap see the change."""
    realname = msg.params[0]
    if not realname or len(realname) > session.server.settings.realnamelen:
        session.fail("SETNAME", "INVALID_REALNAME", "Realname is not valid")
        return
    for device in session.devices:
        device.realname = realname
    out = Message.build("SETNAME", realname, source=session.hostmask)
    recipients = [p for p in session.server.world.peers_of(session) if "setname" in p.caps]
    if "setname" in session.caps:
        recipients.append(session)
    session.server.delivery.publish(
        out, monitor.with_watchers(session, "setname", recipients), event=True, account=session.account
    )


# ISON and USERHOST ---------------------------------------------------------------------------------


def handle_ison(session: Session, msg: Message) -> None:
    """ISON <nick>{ <nick>}: which of the nicks are online, as the server spells them."""
    world = session.server.world
    online: list[str] = []
    for param in msg.params:
        for nick in param.split():
            user = world.find_user(nick)
            if user is not None:
                online.append(user.nick)
    session.reply(numerics.RPL_ISON, " ".join(online))


def handle_userhost(session: Session, msg: Message) -> None:
    """USERHOST <nick>{ <nick>}: ``nick[*]=(+|-)user@host`` for up to five nicks."""
    world = session.server.world
    nicks = [n for p in msg.params for n in p.split()][:USERHOST_MAX]
    replies: list[str] = []
    for nick in nicks:
        user = world.find_user(nick)
        if user is None:
            continue
        oper = "*" if "o" in user.umodes else ""
        away = "-" if user.away is not None else "+"
        replies.append(f"{user.nick}{oper}={away}{user.user}@{user.host}")
    session.reply(numerics.RPL_USERHOST, " ".join(replies))


# WHO and WHOX --------------------------------------------------------------------------------------


def _shares_channel(a: Session, b: Session) -> bool:
    return a is b or not a.channels.keys().isdisjoint(b.channels.keys())


def _who_flags(session: Session, user: Session, channel: Channel | None) -> str:
    """``H``/``G``, ``*`` for operators, the channel prefixes, ``B`` for bots (Ergo's order)."""
    flags = "G" if user.away is not None else "H"
    if "o" in user.umodes:
        flags += "*"
    if channel is not None:
        flags += channel.prefix_of(user, "multi-prefix" in session.caps)
    if "B" in user.umodes:
        flags += "B"
    return flags


def _who_matches(session: Session, mask: str, user: Session) -> bool:
    """Whether a WHO mask matches ``user``: the full hostmask, or nick, user, host or realname."""
    casemapping = session.server.world.casemapping
    if "!" in mask or "@" in mask:
        return match_mask(normalize_mask(mask), user.hostmask, casemapping)
    fields = (user.nick, user.user, user.host, user.realname, session.server.name)
    return any(match_mask(mask, value, casemapping) for value in fields)


def _who_targets(session: Session, mask: str) -> Iterator[tuple[Session, Channel | None]]:
    world = session.server.world
    if is_channel_name(mask):
        channel = world.find_channel(mask)
        if channel is None:
            return
        member = session in channel.members
        if not member and "s" in channel.modes:
            return
        for user in channel.members:
            if user.primary is None and (member or not user.invisible):  # devices show once
                yield user, channel
        return
    if not any(c in mask for c in "*?!@"):
        # An exact nick is shown even when invisible (Modern IRC: invisibility hides from masks).
        exact = world.find_user(mask)
        if exact is not None:
            yield exact, None
            return
    for user in list(world.users.values()):
        if user.invisible and not _shares_channel(session, user):
            continue
        if _who_matches(session, mask, user):
            yield user, None


def handle_who(session: Session, msg: Message) -> None:
    """WHO <mask> [o][%<fields>[,<token>]]: RPL_WHOREPLY or WHOX RPL_WHOSPCRPL lines, then 315."""
    given = msg.param(0) or "*"
    mask = "*" if given == "0" else given  # RFC 2812 3.6.1: "0" is a wildcard for everyone
    options, percent, whox = msg.param(1).partition("%")
    opers_only = "o" in options
    fields, _, token = whox.partition(",")
    for user, channel in _who_targets(session, mask):
        if opers_only and "o" not in user.umodes:
            continue
        if percent:
            session.reply(numerics.RPL_WHOSPCRPL, *_whox_fields(session, user, channel, fields, token))
        else:
            session.reply(
                numerics.RPL_WHOREPLY,
                channel.name if channel is not None else "*",
                user.user,
                user.host,
                session.server.name,
                user.nick,
                _who_flags(session, user, channel),
                f"0 {user.realname}",
            )
    session.reply(numerics.RPL_ENDOFWHO, given, "End of WHO list")


def _whox_fields(
    session: Session, user: Session, channel: Channel | None, fields: str, token: str
) -> list[str]:
    """The requested WHOX values, always in the order ``t c u i h s n f d l a o r``."""
    values = {
        "t": token or "0",
        "c": channel.name if channel is not None else "*",
        "u": user.user,
        "i": user.conn.peer_ip or "255.255.255.255",
        "h": user.host,
        "s": session.server.name,
        "n": user.nick,
        "f": _who_flags(session, user, channel),
        "d": "0",
        "l": str(max(0, int(time.time() - user.last_active))),
        "a": user.account or "0",
        "o": "n/a",
        "r": user.realname,
    }
    return [values[f] for f in WHOX_ORDER if f in fields]


# WHOIS and WHOWAS ----------------------------------------------------------------------------------


def _visible_channels(session: Session, user: Session) -> list[str]:
    """``user``'s channels with prefixes as ``session`` may see them (Ergo's rules).

    Secret channels, and every channel of an invisible user, show only where both are members.
    """
    multi = "multi-prefix" in session.caps
    out: list[str] = []
    for channel in user.channels.values():
        shared = session in channel.members
        if not shared and (session is not user) and ("s" in channel.modes or user.invisible):
            continue
        out.append(channel.prefix_of(user, multi) + channel.name)
    return out


def handle_whois(session: Session, msg: Message) -> None:
    """WHOIS [<server>] <nick>: 311, 319, 312, 313, 301, 330, 335, 317, then 318."""
    if not msg.params or not msg.params[-1]:
        session.reply(numerics.ERR_NONICKNAMEGIVEN, "No nickname given")
        return
    if len(msg.params) > 1 and not _check_target(session, msg):
        return
    nick = msg.params[1] if len(msg.params) > 1 else msg.params[0]
    nick = nick.split(",", 1)[0]  # TARGMAX WHOIS:1
    server = session.server
    user = server.world.find_user(nick)
    if user is None:
        service = service_named(nick)
        if service is not None:
            whois_service(session, service)
            return
        session.reply(numerics.ERR_NOSUCHNICK, nick, "No such nick/channel")
        session.reply(numerics.RPL_ENDOFWHOIS, nick, "End of /WHOIS list")
        return
    session.reply(numerics.RPL_WHOISUSER, user.nick, user.user, user.host, "*", user.realname)
    budget = WHOIS_CHANNELS_BUDGET - len(user.nick.encode())
    for line in pack(_visible_channels(session, user), budget):
        session.reply(numerics.RPL_WHOISCHANNELS, user.nick, line)
    session.reply(numerics.RPL_WHOISSERVER, user.nick, server.name, _server_info(session))
    if "o" in user.umodes:
        session.reply(numerics.RPL_WHOISOPERATOR, user.nick, "is an IRC operator")
    if user.away is not None:
        session.reply(numerics.RPL_AWAY, user.nick, user.away)
    if user.account:
        session.reply(numerics.RPL_WHOISACCOUNT, user.nick, user.account, "is logged in as")
    if "B" in user.umodes:
        session.reply(numerics.RPL_WHOISBOT, user.nick, f"is a bot on {server.settings.network}")
    idle = max(0, int(time.time() - user.last_active))
    session.reply(
        numerics.RPL_WHOISIDLE, user.nick, str(idle), str(int(user.connected_at)), "seconds idle, signon time"
    )
    session.reply(numerics.RPL_ENDOFWHOIS, user.nick, "End of /WHOIS list")


def handle_whowas(session: Session, msg: Message) -> None:
    """WHOWAS <nick>{,<nick>} [<count>]: newest first; a non-positive count means all."""
    if not msg.params or not msg.params[0]:
        session.reply(numerics.ERR_NONICKNAMEGIVEN, "No nickname given")
        return
    count_text = msg.param(1)
    try:
        count = int(count_text) if count_text else 0
    except ValueError:
        count = 0
    world = session.server.world
    server = session.server
    for nick in msg.params[0].split(","):
        if not nick:
            continue
        if any(c in nick for c in "*?"):
            entries = [e for _, e in world.whowas if match_mask(nick, e.nick, world.casemapping)]
        else:
            entries = list(world.whowas_for(nick))
        if count > 0:
            entries = entries[:count]
        if not entries:
            session.reply(numerics.ERR_WASNOSUCHNICK, nick, "There was no such nickname")
        for entry in entries:
            session.reply(numerics.RPL_WHOWASUSER, entry.nick, entry.user, entry.host, "*", entry.realname)
            left = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(entry.left_at))
            session.reply(numerics.RPL_WHOISSERVER, entry.nick, server.name, left)
    session.reply(numerics.RPL_ENDOFWHOWAS, msg.params[0], "End of WHOWAS")


# LIST ----------------------------------------------------------------------------------------------


class ListFilter:
    """The ``LIST`` conditions: names and masks (ELIST M), ``!mask`` (N), ``>n``/``<n`` (U)."""

    __slots__ = ("exclude", "include", "max_users", "min_users")

    def __init__(self, text: str) -> None:
        self.include: list[str] = []
        self.exclude: list[str] = []
        self.min_users: int | None = None
        self.max_users: int | None = None
        for item in text.split(","):
            if not item:
                continue
            if item[0] in "<>" and item[1:].isdigit():
                if item[0] == ">":
                    self.min_users = int(item[1:])  # more than n users
                else:
                    self.max_users = int(item[1:])  # fewer than n users
            elif item[0] == "!" and len(item) > 1:
                self.exclude.append(item[1:])
            else:
                self.include.append(item)

    def accepts(self, channel: Channel, users: int, session: Session) -> bool:
        """Whether ``channel`` with ``users`` visible members passes every condition."""
        casemapping = session.server.world.casemapping
        if self.min_users is not None and not users > self.min_users:
            return False
        if self.max_users is not None and not users < self.max_users:
            return False
        if self.include and not any(match_mask(m, channel.name, casemapping) for m in self.include):
            return False
        return not any(match_mask(m, channel.name, casemapping) for m in self.exclude)


def visible_member_count(session: Session, channel: Channel) -> int:
    """Members ``session`` can see: all of them for a member, else those not invisible."""
    member = session in channel.members
    return sum(1 for m in channel.members if m.primary is None and (member or not m.invisible))


def handle_list(session: Session, msg: Message) -> None:
    """LIST [<channel>{,<channel>} | <elist conditions>] [<target>]."""
    if len(msg.params) > 1 and not _check_target(session, msg, 1):
        return
    conditions = ListFilter(msg.param(0))
    session.reply(numerics.RPL_LISTSTART, "Channel", "Users  Name")
    for channel in list(session.server.world.channels.values()):
        if "s" in channel.modes and session not in channel.members:
            continue  # RFC 1459 4.2.6: secret channels are listed only to their members
        users = visible_member_count(session, channel)
        if conditions.accepts(channel, users, session):
            session.reply(numerics.RPL_LIST, channel.name, str(users), channel.topic)
    session.reply(numerics.RPL_LISTEND, "End of /LIST")


__all__ = [
    "ListFilter",
    "send_lusers",
    "send_motd",
    "visible_member_count",
]
