"""Server bans set by operators: by ``nick!user@host`` mask, by IP address or CIDR, by account.

Bans are stored (with reason and expiry) and kept in memory for the checks at registration and
login; a new ban also disconnects the matching clients already on the server. In a cluster each
node is told of a ban set or lifted on another, and enforces it on its own users.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from hubbub.protocol import match_mask, normalize_mask, numerics
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
        # Cluster mode: tells the other nodes of a ban set or lifted here, and says whether a
        # session is another node's user (that node enforces the ban on its own users).
        self.shared: Callable[[list[Any]], None] | None = None
        self.elsewhere: Callable[[Session], bool] = lambda session: False

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
        self.put(ban)
        self.accounts.write_later(lambda store: store.add_ban(ban), f"store the ban on {ban.mask}")
        if self.shared is not None:
            self.shared(["ban", [ban.kind, ban.mask, ban.reason, ban.setter, ban.set_ms, ban.expires_ms]])
        return ban

    def put(self, ban: ServerBan) -> None:
        """Put ``ban`` in force here (it replaces one on the same mask), without storing it."""
        self.active = [b for b in self._current() if (b.kind, b.mask) != (ban.kind, ban.mask)] + [ban]

    def lift(self, kind: str, mask: str) -> bool:
        """Take the ban on ``mask`` (stored form) out of force here; False if there was none."""
        before = len(self._current())
        self.active = [b for b in self.active if (b.kind, b.mask) != (kind, mask)]
        return len(self.active) != before

    def enforce(self, ban: ServerBan, spare: Session | None = None) -> None:
        """Disconnect this node's users ``ban`` matches (but ``spare``, the operator who set it)."""
        for user in list(self.world.users.values()):
            if user is spare or user.gone or self.elsewhere(user):
                continue
            if self._matches(ban, user):
                user.reply(numerics.ERR_YOUREBANNEDCREEP, f"You are banned from this server: {ban.reason}")
                user.disconnect(f"Banned: {ban.reason}")

    def remove(self, kind: str, mask: str) -> bool:
        """Lift a ban; False if there was none in force."""
        normal = self.normalize(kind, mask)
        if not self.lift(kind, normal):
            return False
        self.accounts.write_later(lambda store: store.remove_ban(kind, normal), f"lift the ban on {normal}")
        if self.shared is not None:
            self.shared(["unban", kind, normal])
        return True

    def matching(self, session: Session) -> ServerBan | None:
        """The first ban in force that matches ``session``, or None."""
        bans = self._current()
        if not bans:
            return None
        return next((ban for ban in bans if self._matches(ban, session)), None)

    def _matches(self, ban: ServerBan, session: Session) -> bool:
        if ban.kind == "ip":
            try:
                address = ipaddress.ip_address(session.conn.peer_ip.split("%", 1)[0])
            except ValueError:
                return False
            return address in ipaddress.ip_network(ban.mask)
        if ban.kind == "account":
            return session.account is not None and self.world.fold(session.account) == ban.mask
        return ban.kind == "mask" and match_mask(ban.mask, session.hostmask, self.world.casemapping)

    def account_banned(self, session: Session, account_key: str) -> bool:
        """Whether logging ``session`` in to ``account_key`` is forbidden."""
        return any(b.kind == "account" and b.mask == account_key for b in self._current())
