"""CHGHOST: an operator changes a user's visible ``user@host`` (IRCv3 chghost).

Peers with the ``chghost`` cap see ``:old!u@h CHGHOST <user> <host>``; peers without it see the
user quit and join again, with the MODE that restores its prefixes (IRCv3 chghost, "fallback").
Watchers with extended-monitor and chghost are told as if they shared a channel.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from hubbub.protocol import Message, numerics

from .. import monitor
from ..replies import safe_param
from ..world import PREFIX_MODES

if TYPE_CHECKING:
    from ..session import Session
    from .context import Context

# A host name, an IPv4 or IPv6 address, or a cloak such as ``users/alice``.
_HOST = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.\-:/]*$")
_USER = re.compile(r"^[A-Za-z0-9~\-_.\[\]{}\\`^|]+$")
HOSTLEN = 63
# RPL_HOSTHIDDEN, as most servers send it to the user whose host changed.
RPL_HOSTHIDDEN = "396"


def valid_host(host: str) -> bool:
    """Whether ``host`` can be shown as a host part of ``nick!user@host``."""
    return len(host) <= HOSTLEN and bool(_HOST.match(host))


def change_host(ctx: Context, session: Session, user: str, host: str) -> None:
    """Give ``session`` a new ``user@host`` and tell everyone who sees it."""
    if user == session.user and host == session.host:
        return
    world = ctx.world
    old_mask = session.hostmask
    session.user, session.host = user, host
    peers = world.peers_of(session)
    change = Message.build("CHGHOST", user, host, source=old_mask)
    capable = [p for p in peers if "chghost" in p.caps]
    if "chghost" in session.caps:
        capable.append(session)
    publish = ctx.delivery.publish
    publish(
        change,
        monitor.with_watchers(ctx.world, session, "chghost", capable),
        event=True,
        account=session.account,
    )
    others = [p for p in peers if "chghost" not in p.caps]
    if not others:
        return
    publish(Message.build("QUIT", "Changing hostname", source=old_mask), others, event=True)
    name = ctx.name
    new_mask = session.hostmask
    for channel in session.channels.values():
        members = [p for p in others if p in channel.members]
        if not members:
            continue
        plain = Message.build("JOIN", channel.name, source=new_mask)
        extended = Message.build(
            "JOIN", channel.name, session.account or "*", session.realname, source=new_mask
        )
        publish(
            plain,
            [m for m in members if "extended-join" not in m.caps],
            event=True,
            account=session.account,
            also=((extended, [m for m in members if "extended-join" in m.caps]),),
        )
        modes = [m for m in PREFIX_MODES if m in channel.members[session]]
        if modes:
            mode = Message.build(
                "MODE", channel.name, "+" + "".join(modes), *[session.nick] * len(modes), source=name
            )
            publish(mode, members, event=True)
    if session.away is not None:
        away = Message.build("AWAY", session.away, source=new_mask)
        publish(away, [p for p in others if "away-notify" in p.caps], event=True, account=session.account)


def handle_chghost(ctx: Context, session: Session, msg: Message) -> None:
    """CHGHOST <nick> <user> <host>: change a user's visible user and host (operators only)."""
    nick, user, host = msg.params[0], msg.params[1], msg.params[2]
    target = ctx.world.find_user(nick)
    if target is None:
        session.reply(numerics.ERR_NOSUCHNICK, nick)
        return
    if not _USER.match(user) or len(user) > ctx.settings.userlen:
        session.fail("CHGHOST", "INVALID_USERNAME", "That is not a valid username", safe_param(user))
        return
    if not valid_host(host):
        session.fail("CHGHOST", "INVALID_HOSTNAME", "That is not a valid hostname", safe_param(host))
        return
    if not ctx.ask_home(target, "host", user, host):  # a user of another node: changed there
        change_host(ctx, target, user, host)
    target.reply(RPL_HOSTHIDDEN, host, "is now your displayed host")
    session.notice(f"Changed the host of {target.nick} to {user}@{host}")
