"""Server bans set by operators: by ``nick!user@host`` mask, by IP address or CIDR, by account.

Bans are stored (with reason and expiry) and kept in memory for the checks at registration and
login; a new ban also disconnects the matching clients already on the server.
"""

from __future__ import annotations

import ipaddress
import time
from typing import TYPE_CHECKING

from hubbub.protocol import match_mask, normalize_mask
from hubbub.store.accounts import ServerBan

if TYPE_CHECKING:
    from .accounts import Accounts
    from .session import Session
    from .world import World

KINDS = ("mask", "ip", "account")


class BanError(ValueError):
    """A ban that cannot be set (unknown kind, malformed address)."""


class Bans:
    """The server's bans, loaded from the account store."""

    def __init__(self, world: World[Session], accounts: Accounts) -> None:
        self.world = world
        self.accounts = accounts
        self.active: list[ServerBan] = []

    def load(self) -> None:
        """Read the bans still in force from the store."""
        store = self.accounts.store
        self.active = store.bans(int(time.time() * 1000)) if store is not None else []

    def _current(self) -> list[ServerBan]:
        now = int(time.time() * 1000)
        if any(b.expires_ms is not None and b.expires_ms <= now for b in self.active):
            self.active = [b for b in self.active if b.expires_ms is None or b.expires_ms > now]
        return self.active

    def normalize(self, kind: str, mask: str) -> str:
        """The stored form of a ban mask; raises :class:`BanError` if it is not one."""
        if kind == "ip":
            try:
                return str(ipaddress.ip_network(mask, strict=False))
            except ValueError:
                raise BanError(f"not an IP address or network: {mask}") from None
        if kind == "account":
            return self.world.fold(mask)
        if kind == "mask":
            return normalize_mask(mask)
        raise BanError(f"unknown ban type {kind}")

    def add(self, kind: str, mask: str, reason: str, setter: str, duration: float | None) -> ServerBan:
        """Store a ban (``duration`` seconds, or permanent when None)."""
        now = int(time.time() * 1000)
        expires = now + int(duration * 1000) if duration else None
        ban = ServerBan(kind, self.normalize(kind, mask), reason, setter, now, expires)
        # In force at once; stored on the writer (the loop never waits for the store).
        self.active = [b for b in self._current() if (b.kind, b.mask) != (ban.kind, ban.mask)] + [ban]
        self.accounts.write_later(lambda store: store.add_ban(ban), f"store the ban on {ban.mask}")
        return ban

    def remove(self, kind: str, mask: str) -> bool:
        """Lift a ban; False if there was none in force."""
        normal = self.normalize(kind, mask)
        before = len(self._current())
        self.active = [b for b in self.active if (b.kind, b.mask) != (kind, normal)]
        if len(self.active) == before:
            return False
        self.accounts.write_later(lambda store: store.remove_ban(kind, normal), f"lift the ban on {normal}")
        return True

    def matching(self, session: Session) -> ServerBan | None:
        """The first ban in force that matches ``session``, or None."""
        bans = self._current()
        if not bans:
            return None
        try:
            address = ipaddress.ip_address(session.conn.peer_ip.split("%", 1)[0])
        except ValueError:
            address = None
        casemapping = self.world.casemapping
        account = self.world.fold(session.account) if session.account else None
        for ban in bans:
            if ban.kind == "ip" and address is not None:
                if address in ipaddress.ip_network(ban.mask):
                    return ban
            elif ban.kind == "account":
                if account == ban.mask:
                    return ban
            elif ban.kind == "mask" and match_mask(ban.mask, session.hostmask, casemapping):
                return ban
        return None

    def account_banned(self, session: Session, account_key: str) -> bool:
        """Whether logging ``session`` in to ``account_key`` is forbidden."""
        return any(b.kind == "account" and b.mask == account_key for b in self._current())
