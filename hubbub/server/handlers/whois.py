"""Who is who: ISON, USERHOST, WHO (with IRCv3 WHOX), WHOIS and WHOWAS.

Modern IRC "User-Based Queries"; what a client may see of others (invisible users, secret
channels) follows the same rules in each.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

from hubbub.protocol import Message, is_channel_name, match_mask, normalize_mask, numerics, pack

from ..services import service_named, whois_service
from .queries import check_target, server_info

if TYPE_CHECKING:
    from ..session import Session
    from ..world import Channel
    from .context import Context

# Bytes of channel names per RPL_WHOISCHANNELS line, so the line stays inside 512 bytes.
WHOIS_CHANNELS_BUDGET = 400
# USERHOST answers at most this many nicks (RFC 2812 3.8.6).
USERHOST_MAX = 5
# WHOX field letters, in the order their values are sent (IRCv3 WHOX).
WHOX_ORDER = "tcuihsnfdlaor"


# ISON and USERHOST ---------------------------------------------------------------------------------


def handle_ison(ctx: Context, session: Session, msg: Message) -> None:
    """ISON <nick>{ <nick>}: which of the nicks are online, as the server spells them."""
    world = ctx.world
    online: list[str] = []
    for param in msg.params:
        for nick in param.split():
            user = world.find_user(nick)
            if user is not None:
                online.append(user.nick)
    session.reply(numerics.RPL_ISON, " ".join(online))


def handle_userhost(ctx: Context, session: Session, msg: Message) -> None:
    """USERHOST <nick>{ <nick>}: ``nick[*]=(+|-)user@host`` for up to five nicks."""
    world = ctx.world
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


def _who_flags(session: Session, user: Session, channel: Channel[Session] | None) -> str:
    """``H``/``G``, ``*`` for operators, the channel prefixes, ``B`` for bots (Ergo's order)."""
    flags = "G" if user.away is not None else "H"
    if "o" in user.umodes:
        flags += "*"
    if channel is not None:
        flags += channel.prefix_of(user, "multi-prefix" in session.caps)
    if "B" in user.umodes:
        flags += "B"
    return flags


def _who_matches(ctx: Context, session: Session, mask: str, user: Session) -> bool:
    """Whether a WHO mask matches ``user``: the full hostmask, or nick, user, host or realname."""
    casemapping = ctx.world.casemapping
    if "!" in mask or "@" in mask:
        return match_mask(normalize_mask(mask), user.hostmask, casemapping)
    fields = (user.nick, user.user, user.host, user.realname, ctx.name)
    return any(match_mask(mask, value, casemapping) for value in fields)


def _who_targets(
    ctx: Context, session: Session, mask: str
) -> Iterator[tuple[Session, Channel[Session] | None]]:
    world = ctx.world
    if is_channel_name(mask):
        channel = world.find_channel(mask)
        if channel is None:
            return
        member = session in channel.members
        if not member and "s" in channel.modes:
            return
        for user in list(channel.members):  # a long reply is paced: members come and go meanwhile
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
        if _who_matches(ctx, session, mask, user):
            yield user, None


def handle_who(ctx: Context, session: Session, msg: Message) -> None:
    """WHO <mask> [o][%<fields>[,<token>]]: RPL_WHOREPLY or WHOX RPL_WHOSPCRPL lines, then 315.

    The reply may be as long as the server has users: it is paced by the asker's reading
    (``Session.send_paced``).
    """
    session.send_paced(_who_replies(ctx, session, msg))


def _who_replies(ctx: Context, session: Session, msg: Message) -> Iterator[None]:
    given = msg.param(0) or "*"
    mask = "*" if given == "0" else given  # RFC 2812 3.6.1: "0" is a wildcard for everyone
    options, percent, whox = msg.param(1).partition("%")
    opers_only = "o" in options
    fields, _, token = whox.partition(",")
    for user, channel in _who_targets(ctx, session, mask):
        if user.gone or (channel is not None and user not in channel.members):
            continue  # left while the reply was paced
        if opers_only and "o" not in user.umodes:
            continue
        if percent:
            session.reply(numerics.RPL_WHOSPCRPL, *_whox_fields(ctx, session, user, channel, fields, token))
        else:
            session.reply(
                numerics.RPL_WHOREPLY,
                channel.name if channel is not None else "*",
                user.user,
                user.host,
                ctx.name,
                user.nick,
                _who_flags(session, user, channel),
                f"0 {user.realname}",
            )
        yield
    session.reply(numerics.RPL_ENDOFWHO, given)


def _whox_fields(
    ctx: Context, session: Session, user: Session, channel: Channel[Session] | None, fields: str, token: str
) -> list[str]:
    """The requested WHOX values, always in the order ``t c u i h s n f d l a o r``."""
    values = {
        "t": token or "0",
        "c": channel.name if channel is not None else "*",
        "u": user.user,
        "i": user.conn.peer_ip or "255.255.255.255",
        "h": user.host,
        "s": ctx.name,
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


def handle_whois(ctx: Context, session: Session, msg: Message) -> None:
    """WHOIS [<server>] <nick>: 311, 319, 312, 313, 301, 330, 335, 671, 317, then 318."""
    if not msg.params or not msg.params[-1]:
        session.reply(numerics.ERR_NONICKNAMEGIVEN)
        return
    if len(msg.params) > 1 and not check_target(ctx, session, msg):
        return
    nick = msg.params[1] if len(msg.params) > 1 else msg.params[0]
    nick = nick.split(",", 1)[0]  # TARGMAX WHOIS:1
    user = ctx.world.find_user(nick)
    if user is None:
        service = service_named(nick)
        if service is not None:
            whois_service(session, service)
            return
        session.reply(numerics.ERR_NOSUCHNICK, nick)
        session.reply(numerics.RPL_ENDOFWHOIS, nick)
        return
    session.reply(numerics.RPL_WHOISUSER, user.nick, user.user, user.host, "*", user.realname)
    budget = WHOIS_CHANNELS_BUDGET - len(user.nick.encode())
    for line in pack(_visible_channels(session, user), budget):
        session.reply(numerics.RPL_WHOISCHANNELS, user.nick, line)
    session.reply(numerics.RPL_WHOISSERVER, user.nick, ctx.name, server_info(ctx, user))
    if "o" in user.umodes:
        session.reply(numerics.RPL_WHOISOPERATOR, user.nick)
    if user.away is not None:
        session.reply(numerics.RPL_AWAY, user.nick, user.away)
    if user.account:
        session.reply(numerics.RPL_WHOISACCOUNT, user.nick, user.account)
    if "B" in user.umodes:
        session.reply(numerics.RPL_WHOISBOT, user.nick, f"is a bot on {ctx.settings.network}")
    if all(device.auth.tls for device in user.devices):
        # Shown to everyone, as most servers do: whether to trust a user's link with something
        # private is everyone's question. Only when each of the user's devices uses TLS.
        session.reply(numerics.RPL_WHOISSECURE, user.nick)
    idle = max(0, int(time.time() - user.last_active))
    session.reply(numerics.RPL_WHOISIDLE, user.nick, str(idle), str(int(user.connected_at)))
    session.reply(numerics.RPL_ENDOFWHOIS, user.nick)


def handle_whowas(ctx: Context, session: Session, msg: Message) -> None:
    """WHOWAS <nick>{,<nick>} [<count>]: newest first; a non-positive count means all.

    With a wildcard the reply may list every departed nick remembered (``whowas_size``): it is
    paced by the asker's reading (``Session.send_paced``).
    """
    if not msg.params or not msg.params[0]:
        session.reply(numerics.ERR_NONICKNAMEGIVEN)
        return
    session.send_paced(_whowas_replies(ctx, session, msg))


def _whowas_replies(ctx: Context, session: Session, msg: Message) -> Iterator[None]:
    count_text = msg.param(1)
    try:
        count = int(count_text) if count_text else 0
    except ValueError:
        count = 0
    world = ctx.world
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
            session.reply(numerics.ERR_WASNOSUCHNICK, nick)
        for entry in entries:
            session.reply(numerics.RPL_WHOWASUSER, entry.nick, entry.user, entry.host, "*", entry.realname)
            left = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(entry.left_at))
            session.reply(numerics.RPL_WHOISSERVER, entry.nick, ctx.name, left)
            yield
    session.reply(numerics.RPL_ENDOFWHOWAS, msg.params[0])
