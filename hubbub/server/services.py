"""Service pseudo-users: their names, their notices, and running their commands.

Their commands are in hubbub/server/handlers/ (nickserv.py, chanserv.py, run by
service_commands.py).

Clients without the IRCv3 account caps talk to these with ``/msg NickServ REGISTER <password>``.
They are not Sessions: they never join channels and receive nothing but PRIVMSG; WHOIS shows
them and nobody can take their nicks.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from hubbub.protocol import Message, casefold, numerics

if TYPE_CHECKING:
    from .session import Session

log = logging.getLogger(__name__)

SERVICES = ("NickServ", "ChanServ")
_FOLDED = {casefold(name, "rfc1459"): name for name in SERVICES}


def service_named(nick: str) -> str | None:
    """The service called ``nick`` (any case), or None."""
    return _FOLDED.get(casefold(nick, "rfc1459"))


def is_service(nick: str) -> bool:
    """Whether ``nick`` is a service's nick (reserved for it)."""
    return service_named(nick) is not None


def service_mask(session: Session, service: str) -> str:
    """``NickServ!NickServ@server.name``."""
    return f"{service}!{service}@{session.server.name}"


def service_notice(session: Session, service: str, text: str) -> None:
    """A NOTICE from ``service`` to ``session``."""
    session.send(Message.build("NOTICE", session.nick, text, source=service_mask(session, service)))


def whois_service(session: Session, service: str) -> None:
    """WHOIS lines for a service."""
    server = session.server
    session.reply(numerics.RPL_WHOISUSER, service, service, server.name, "*", f"{service} service")
    session.reply(numerics.RPL_WHOISSERVER, service, server.name, server.settings.network)
    session.reply(numerics.RPL_WHOISOPERATOR, service, text="is a network service")
    session.reply(numerics.RPL_ENDOFWHOIS, service)
