"""Queries: LUSERS and MOTD (more to come)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hubbub.protocol import numerics

if TYPE_CHECKING:
    from ..session import Session


def send_lusers(session: Session) -> None:
    """RPL_LUSERCLIENT .. RPL_GLOBALUSERS."""
    world = session.server.world
    users = len(world.users)
    invisible = sum(1 for u in world.users.values() if u.invisible)
    session.reply(
        numerics.RPL_LUSERCLIENT,
        f"There are {users - invisible} users and {invisible} invisible on 1 servers",
    )
    session.reply(numerics.RPL_LUSEROP, "0", "operator(s) online")
    if world.unregistered > 0:
        session.reply(numerics.RPL_LUSERUNKNOWN, str(world.unregistered), "unknown connection(s)")
    session.reply(numerics.RPL_LUSERCHANNELS, str(len(world.channels)), "channels formed")
    session.reply(numerics.RPL_LUSERME, f"I have {users} clients and 0 servers")
    session.reply(
        numerics.RPL_LOCALUSERS, str(users), str(users), f"Current local users {users}, max {users}"
    )
    session.reply(
        numerics.RPL_GLOBALUSERS, str(users), str(users), f"Current global users {users}, max {users}"
    )


def send_motd(session: Session) -> None:
    """The message of the day, or ERR_NOMOTD."""
    server = session.server
    lines = server.motd
    if not lines:
        session.reply(numerics.ERR_NOMOTD, "MOTD File is missing")
        return
    session.reply(numerics.RPL_MOTDSTART, f"- {server.name} Message of the day - ")
    for line in lines:
        session.reply(numerics.RPL_MOTD, f"- {line}")
    session.reply(numerics.RPL_ENDOFMOTD, "End of /MOTD command.")
