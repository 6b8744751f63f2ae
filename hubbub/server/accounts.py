"""Accounts on the server side: password hashing, login throttling, logging in and out.

Passwords are hashed with argon2id (``argon2-cffi``) in the default thread pool, so a login never
stalls the event loop; everything that touches the World happens back on the loop. Passwords are
never logged.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from hubbub.protocol import Message, numerics, valid_nick
from hubbub.store import StoreError
from hubbub.store.accounts import Account, AccountStore, open_accounts

from . import monitor
from .services import is_service

if TYPE_CHECKING:
    from .config import Settings
    from .delivery import Delivery
    from .history import History
    from .session import Session
    from .world import World

log = logging.getLogger(__name__)

T = TypeVar("T")

# A hash to verify against when the account does not exist, so that a miss costs as much as a
# wrong password and does not reveal which names are registered.
_DUMMY_PASSWORD = "no such account"


def make_hasher(memory_kib: int, time_cost: int) -> PasswordHasher:
    """An argon2id hasher with the given costs."""
    return PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=1)


def hash_password(password: str, memory_kib: int = 65536, time_cost: int = 3) -> str:
    """The argon2id hash (PHC string) of ``password``."""
    return make_hasher(memory_kib, time_cost).hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """Whether ``password`` matches ``password_hash`` (costs are read from the hash)."""
    try:
        return bool(PasswordHasher().verify(password_hash, password))
    except (VerificationError, InvalidHashError):
        return False


class LoginThrottle:
    """Counts failed logins per key (an account or an IP address) over a sliding window."""

    def __init__(self, limit: int, window: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.window = window
        self.clock = clock
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, key: str) -> deque[float] | None:
        times = self._failures.get(key)
        if times is None:
            return None
        cutoff = self.clock() - self.window
        while times and times[0] <= cutoff:
            times.popleft()
        if not times:
            del self._failures[key]
            return None
        return times

    def blocked(self, *keys: str) -> bool:
        """Whether any of ``keys`` has used up its failures in the current window."""
        for key in keys:
            times = self._recent(key)
            if times is not None and len(times) >= self.limit:
                return True
        return False

    def failed(self, *keys: str) -> None:
        """Record a failed login against each of ``keys``."""
        now = self.clock()
        for key in keys:
            self._recent(key)
            self._failures.setdefault(key, deque()).append(now)

    def clear(self, key: str) -> None:
        """Forget the failures of ``key`` (after a successful login)."""
        self._failures.pop(key, None)


class Accounts:
    """The server's accounts: store, hasher, throttle, and the login/logout procedure."""

    def __init__(
        self, settings: Settings, world: World[Session], history: History, delivery: Delivery
    ) -> None:
        self.settings = settings  # REHASH sets it again
        self.world = world
        self.history = history  # its writer thread writes the account tables too
        self.delivery = delivery
        # Set by the server: what a registered client that just logged in is shown.
        self.logged_in: Callable[[Session], None] = lambda session: None
        self.store: AccountStore | None = None
        self.hasher = make_hasher(settings.password_hash_memory_kib, settings.password_hash_time_cost)
        self.throttle = LoginThrottle(settings.login_max_failures, settings.login_failure_window)
        self._dummy_hash = ""

    def open(self) -> None:
        """Open the account store in the data directory."""
        self.store = open_accounts(self.settings.data_dir)
        self._dummy_hash = self.hasher.hash(_DUMMY_PASSWORD)

    def close(self) -> None:
        """Close the account store."""
        if self.store is not None:
            self.store.close()
            self.store = None

    def fold(self, name: str) -> str:
        """The account key of ``name``."""
        return self.world.fold(name)

    def get(self, name: str) -> Account | None:
        """The account called ``name``, if registered."""
        if self.store is None:
            return None
        return self.store.get(self.fold(name))

    def by_id(self, account_id: str) -> Account | None:
        """The account whose immutable id is ``account_id``, if it still exists."""
        if self.store is None:
            return None
        return self.store.by_id(account_id)

    def lookalike(self, name: str) -> Account | None:
        """A registered account of another name that ``name`` looks like, if any."""
        if self.store is None:
            return None
        key = self.fold(name)
        return next((a for a in self.store.lookalikes(name) if a.key != key), None)

    def valid_name(self, name: str) -> bool:
        """Account names are nicknames: a registered account owns the nick of the same name.

        So no invisible characters, and nothing that looks like a service's name.
        """
        return valid_nick(name, self.settings.nicklen) and not is_service(name)

    # writing ----------------------------------------------------------------------------------

    def write(self, job: Callable[[AccountStore], T]) -> asyncio.Future[T]:
        """Run ``job`` on the account tables on the store writer's thread (the loop never waits
        for the store); a future of its result, or of its StoreError."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()

        def done(result: T, error: BaseException | None) -> None:
            if future.done():
                return
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(result)

        writer = self.history.writer
        if writer is None:
            future.set_exception(StoreError("the account store is closed"))
        else:
            writer.submit_accounts(job, done)
        return future

    def write_later(self, job: Callable[[AccountStore], object], what: str) -> asyncio.Future[object]:
        """Run ``job`` as :meth:`write` does, logging a failure instead of reporting it."""

        def failed(future: asyncio.Future[object]) -> None:
            if not future.cancelled() and future.exception() is not None:
                log.error("could not %s: %s", what, future.exception())

        future = self.write(job)
        future.add_done_callback(failed)
        return future

    # passwords --------------------------------------------------------------------------------

    async def create(self, name: str, password: str, email: str = "") -> Account | None:
        """Register ``name`` with ``password`` (hashed off the loop); None if the name is taken."""
        password_hash = await asyncio.get_running_loop().run_in_executor(None, self.hasher.hash, password)
        account = Account(self.fold(name), name, password_hash, email, int(time.time() * 1000))
        if self.store is None or not await self.write(lambda store: store.create(account)):
            return None
        log.info("account %s registered", name)
        return account

    async def check_password(self, name: str, password: str, ip: str) -> Account | None:
        """The account if ``password`` is right; throttled per account and per IP address.

        Raises :class:`LoginThrottled` when too many recent failures block the attempt.
        """
        key = self.fold(name) if name else ""
        ip_key = "ip:" + ip
        if self.throttle.blocked("account:" + key, ip_key):
            raise LoginThrottled
        account = self.get(name) if name else None
        stored = account.password_hash if account is not None else self._dummy_hash
        ok = await asyncio.get_running_loop().run_in_executor(None, verify_password, stored, password)
        if account is None or not ok:
            self.throttle.failed("account:" + key, ip_key)
            log.info("failed login for account %r from %s", name, ip)
            return None
        self.throttle.clear("account:" + key)
        return account

    # logging in and out -----------------------------------------------------------------------

    def log_in(self, session: Session, account: Account) -> None:
        """Make ``session`` logged in to ``account``: 900, and ACCOUNT to those who watch."""
        session.account = account.name
        session.account_id = account.id
        self.world.add_login(session, account.key)
        session.reply(
            numerics.RPL_LOGGEDIN, session.hostmask, account.name, f"You are now logged in as {account.name}"
        )
        log.info("%r logged in as %s", session, account.name)
        if session.registered:
            self._announce(session, account.name)
            self.logged_in(session)

    def log_out(self, session: Session) -> None:
        """Log ``session`` out: 901, and ``ACCOUNT *`` to those who watch."""
        if session.account is None:
            return
        self.world.drop_login(session, self.fold(session.account))
        session.account = None
        session.account_id = None
        session.markers_sent.clear()
        session.reply(numerics.RPL_LOGGEDOUT, session.hostmask)
        if session.registered:
            self._announce(session, "*")

    def _announce(self, session: Session, name: str) -> None:
        # IRCv3 account-notify: peers sharing a channel, and the client itself, with the cap.
        recipients = self.world.peers_of(session)
        recipients.add(session)
        out = Message.build("ACCOUNT", name, source=session.hostmask)
        watching = [r for r in recipients if "account-notify" in r.caps]
        self.delivery.publish(
            out,
            monitor.with_watchers(self.world, session, "account-notify", watching),
            event=True,
            account=session.account,
        )

    def nick_reserved_for_other(self, session: Session, nick: str) -> bool:
        """Whether ``nick`` belongs to an account ``session`` is not logged in to (when enforced).

        An account owns its name and every look-alike of it; a client logged in to one of the
        accounts a nick looks like may use it.
        """
        if self.settings.nick_enforcement == "none" or self.store is None:
            return False
        mine = self.fold(session.account) if session.account is not None else None
        account = self.get(nick)
        if account is not None:
            return account.key != mine
        alike = self.store.lookalikes(nick)
        return bool(alike) and all(a.key != mine for a in alike)


class LoginThrottled(Exception):
    """Too many failed logins for this account or address: try again later."""
