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

from hubbub.protocol import Message, casefold, numerics, skeleton

if TYPE_CHECKING:
    from .session import Session

log = logging.getLogger(__name__)

SERVICES = ("NickServ", "ChanServ")
_FOLDED = {casefold(name, "rfc1459"): name for name in SERVICES}


def _spellings(name: str) -> set[str]:
    # Every way of writing the name in upper and lower case is the same nick, and a look-alike of
    # any of them (NlCKSERV for NICKSERV) passes for the service: reserve all their skeletons.
    variants = [""]
    for ch in name:
        variants = [v + c for v in variants for c in {ch.lower(), ch.upper()}]
    return {skeleton(v) for v in variants}


_SKELETONS = {key: name for name in SERVICES for key in _spellings(name)}


def service_named(nick: str) -> str | None:
    """The service ``nick`` names or passes for (in any case or look-alike spelling), or None.

    A PRIVMSG to ``N\\u0456ckServ`` (a Cyrillic i) reaches the real NickServ: nobody else can hold a
    look-alike of a service's nick, and a password sent to it is meant for the service.
    """
    name = _FOLDED.get(casefold(nick, "rfc1459"))
    return name if name is not None else _SKELETONS.get(skeleton(nick))


def is_service(nick: str) -> bool:
    """Whether ``nick`` is reserved for a service: its nick or a look-alike of it."""
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
