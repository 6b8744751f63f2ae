"""Accounts on the server side: password hashing, login throttling, logging in and out.

Passwords are hashed with argon2id (``argon2-cffi``) in the default thread pool, so a login never
stalls the event loop; everything that touches the World happens back on the loop. Passwords are
never logged. Every password check and every registration passes the throttles of throttle.py
first, before anything is hashed.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import secrets
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from hubbub.protocol import Message, numerics, valid_nick
from hubbub.store import StoreError
from hubbub.store.accounts import Account, AccountStore, ScramVerifier, make_scram, open_accounts, parse_scram
from hubbub.store.url import open_accounts_url

from . import monitor
from .services import is_service
from .throttle import LoginThrottle, RegistrationThrottle

if TYPE_CHECKING:
    from .config import Settings
    from .delivery import Delivery
    from .history import History
    from .session import Session
    from .world import World

log = logging.getLogger(__name__)

# The metadata of every guest who set none.
NO_METADATA: Mapping[str, str] = MappingProxyType({})

T = TypeVar("T")


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


class Accounts:
    """The server's accounts: store, hasher, throttles, and the login/logout procedure."""

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
        self.clock = delivery.clock
        self.hasher = make_hasher(settings.password_hash_memory_kib, settings.password_hash_time_cost)
        self.throttle = LoginThrottle(settings, self.clock.monotonic)
        self.registrations = RegistrationThrottle(settings, self.clock.monotonic)
        self._dummy_hash = ""
        # Salts of the made-up SCRAM verifiers given for names without one (see scram_verifier).
        self._scram_secret = secrets.token_bytes(32)
        # draft/metadata-2: the metadata of accounts logged in since start-up, by account id.
        self.metadata: dict[str, dict[str, str]] = {}
        self._metadata_writes: dict[str, int] = {}  # account id -> metadata writes not yet done

    def open(self) -> None:
        """Open the account store: the data directory's, or PostgreSQL's with ``store_url``."""
        settings = self.settings
        if settings.store_url:
            # Read from the loop (writes go through the writer): bounded as history reads are.
            self.store = open_accounts_url(
                settings.store_url, timeout_s=settings.store_read_timeout, readers=settings.store_readers
            )
        else:
            self.store = open_accounts(settings.data_dir)
        # A hash to verify against when the account does not exist, so that a miss costs as
        # much as a wrong password and does not reveal which names are registered; its password
        # is a secret nobody knows, so no guess matches it and every miss counts as a failure.
        self._dummy_hash = self.hasher.hash(secrets.token_urlsafe(32))

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

    # metadata (draft/metadata-2) --------------------------------------------------------------

    def metadata_of(self, session: Session) -> Mapping[str, str]:
        """The metadata of the user ``session`` is a connection of (:meth:`set_metadata` changes it).

        A logged-in user's is its account's, read from the store the first time and kept here
        (every connection of the account shares it); a guest's is its connection's, gone with it.
        """
        holder = session.primary or session
        if holder.account_id is None or self.store is None:
            return holder.metadata if holder.metadata is not None else NO_METADATA
        return self._metadata_to_change(holder)

    def _metadata_to_change(self, holder: Session) -> dict[str, str]:
        account_id = holder.account_id
        if account_id is None or self.store is None:
            if holder.metadata is None:
                holder.metadata = {}  # most guests never set any: made at the first
            return holder.metadata
        values = self.metadata.get(account_id)
        if values is None:
            values = self.metadata[account_id] = self.store.metadata(account_id)
        return values

    def set_metadata(self, session: Session, key: str, value: str | None) -> None:
        """Set (None: remove) ``key`` of the user's metadata; an account's is stored too."""
        values = self._metadata_to_change(session.primary or session)
        if value is None:
            values.pop(key, None)
        else:
            values[key] = value
        holder = session.primary or session
        account_id = holder.account_id
        if account_id is None or holder.account is None or self.store is None:
            return
        account = self.fold(holder.account)
        pending = self._metadata_writes
        pending[account_id] = pending.get(account_id, 0) + 1

        def written(_: object) -> None:
            pending[account_id] -= 1
            if not pending[account_id]:
                del pending[account_id]
                self.forget_metadata(account, account_id)

        job = self.write_later(lambda store: store.set_metadata(account_id, key, value), "store metadata")
        job.add_done_callback(written)

    def forget_metadata(self, account: str, account_id: str | None) -> None:
        """Drop an account's metadata from memory once nobody is logged in to it (the store keeps
        it), but not while a write of it is on its way: a quick return reads it back from here."""
        if (
            account_id is not None
            and account not in self.world.accounts
            and account_id not in self._metadata_writes
        ):
            self.metadata.pop(account_id, None)

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

    async def create(
        self, name: str, password: str, email: str = "", ip: str | None = None
    ) -> Account | None:
        """Register ``name`` with ``password`` (hashed off the loop); None if the name is taken.

        With ``ip``, the registration counts against that address before anything is hashed, and
        :class:`~hubbub.server.throttle.Throttled` is raised past its limit.
        """
        token = self.registrations.begin(ip) if ip is not None else None
        made = False
        try:
            loop = asyncio.get_running_loop()
            password_hash = await loop.run_in_executor(None, self.hasher.hash, password)
            scram = await loop.run_in_executor(None, make_scram, password, self.settings.scram_iterations)
            now_ms = int(self.clock.now() * 1000)
            account = Account(self.fold(name), name, password_hash, email, now_ms, scram=scram)
            made = self.store is not None and await self.write(lambda store: store.create(account))
        finally:
            if not made and ip is not None:
                self.registrations.cancel(ip, token)
        if not made:
            return None
        log.info("account %s registered", name)
        return account

    async def verify(self, key: str, password_hash: str, password: str, ip: str) -> bool:
        """Whether ``password`` matches ``password_hash``, checked off the loop.

        The attempt is throttled under ``key`` (``account:<name>``, ``oper:<name>``) and the
        address ``ip``; it counts from before the hash is computed. Raises
        :class:`~hubbub.server.throttle.Throttled` when it may not be checked now.
        """
        attempt = await self.throttle.begin(key, ip)
        ok: bool | None = None
        try:
            ok = await asyncio.get_running_loop().run_in_executor(
                None, verify_password, password_hash, password
            )
        finally:
            attempt.finish(ok)
        return bool(ok)

    async def check_password(self, name: str, password: str, ip: str) -> Account | None:
        """The account if ``password`` is right; throttled per account and per IP address.

        Raises :class:`~hubbub.server.throttle.Throttled` when the attempt may not be checked
        now. A name that is not registered costs a hash all the same, and counts as a failure.
        """
        key = "account:" + (self.fold(name) if name else "")
        account = self.get(name) if name else None
        stored = account.password_hash if account is not None else self._dummy_hash
        ok = await self.verify(key, stored, password, ip)
        if account is None or not ok:
            log.info("failed login for account %r from %s", name, ip)
            return None
        if account.scram is None:
            await self._add_scram(account, password)
        return account

    async def _add_scram(self, account: Account, password: str) -> None:
        """Make the SCRAM-SHA-256 verifier of an account made before there were any, from the
        password its owner just proved at a PLAIN login; a failure to store it is only logged."""
        iterations = self.settings.scram_iterations
        scram = await asyncio.get_running_loop().run_in_executor(None, make_scram, password, iterations)
        key, password_hash = account.key, account.password_hash
        self.write_later(lambda store: store.set_scram(key, password_hash, scram), "store a SCRAM verifier")

    def scram_verifier(self, name: str) -> tuple[Account | None, ScramVerifier]:
        """The account called ``name`` and its SCRAM-SHA-256 verifier, for a SCRAM exchange.

        A name that is not registered, or an account without a verifier yet, gets a made-up one
        (a salt derived from the name, a key nobody has) and None: the exchange goes on as for any
        account and fails at the proof, so it does not tell which names are registered.
        """
        account = self.get(name) if name else None
        verifier = parse_scram(account.scram) if account is not None and account.scram else None
        if account is not None and verifier is not None:
            return account, verifier
        salt = hmac.digest(self._scram_secret, self.fold(name).encode("utf-8"), "sha256")[:16]
        unknown = hashlib.sha256(self._scram_secret + salt).digest()
        return None, ScramVerifier(self.settings.scram_iterations, salt, unknown, unknown)

    # logging in and out -----------------------------------------------------------------------

    def log_in(self, session: Session, account: Account, *, registering: bool = False) -> None:
        """Make ``session`` logged in to ``account``: 900, and ACCOUNT to those who watch.

        A login other than the one that comes with ``registering`` the account marks it used
        (see :meth:`reserves_nick`).
        """
        if not registering:
            key, now_ms = account.key, int(self.clock.now() * 1000)
            self.write_later(lambda store: store.mark_used(key, now_ms), "record a login")
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
        self.forget_metadata(self.fold(session.account), session.account_id)
        session.account = None
        session.account_id = None
        session.markers_sent = None
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
            return account.key != mine and self.reserves_nick(account)
        alike = self.store.lookalikes(nick)
        if any(a.key == mine for a in alike):
            return False  # a look-alike of the client's own account
        return any(self.reserves_nick(a) for a in alike)

    def reserves_nick(self, account: Account) -> bool:
        """Whether ``account`` reserves its nick: unless it was registered over IRC more than
        ``unused_account_days`` ago and nobody has logged in to it since.

        Such an account stops reserving its nick but is not dropped: its owner can still log in
        (which makes it reserve the nick again), and nobody else can register its name.
        Registering names in bulk thus holds no nicks for good.
        """
        days = self.settings.unused_account_days
        if account.used_ms is not None or days <= 0 or account.key in self.world.accounts:
            return True  # used, never expiring, or logged in right now (the registering client)
        return self.clock.now() * 1000 - account.created_ms < days * 86_400_000
