"""ChanServ: channel registration with a founder and an access list (op and voice on join)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from .services import service_notice

if TYPE_CHECKING:
    from .session import Session


def _cs_help(session: Session, args: list[str]) -> None:
    service_notice(session, "ChanServ", "Channel registration is not available yet")


CHANSERV: dict[str, Callable[[Session, list[str]], None]] = {"HELP": _cs_help}
