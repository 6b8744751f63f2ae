"""A synchronous face on asyncpg: a private event loop on its own thread, one writer connection
and a small pool of readers, for the PostgreSQL stores (postgres.py, pg_accounts.py).

The store interface is synchronous (the server calls it from its writer thread and reads from
its event loop), asyncpg is asynchronous: each call is a coroutine run on this private loop
and waited for with a deadline. Every failure comes out as ``StoreError``: a PostgreSQL error,
a connection lost (the next call connects again, so a database that comes back is used again
without a restart), or no answer within the deadline.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import threading
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from typing import Any, TypeVar

import asyncpg

from .model import StoreError
from .pg_schema import migrate

__all__ = ["DEFAULT_READERS", "DEFAULT_TIMEOUT_S", "Database"]

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 30.0
"""Seconds one store call may take before it fails (a database that stopped answering)."""
DEFAULT_READERS = 4
"""Connections of the read pool: reads run beside the writer, a few at a time."""

T = TypeVar("T")
Work = Callable[[asyncpg.Connection], Awaitable[T]]


# What a failed database call raises: the server's errors, a protocol or client-side error
# (a closed connection, a value it cannot encode), the network, and asyncpg's own timeouts.
_DATABASE_ERRORS = (
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
    OSError,
    UnicodeError,
    asyncio.TimeoutError,
)
# Those that mean the connection itself is gone or broken (a read tries again once on another).
_LOST = (
    asyncpg.PostgresConnectionError,
    asyncpg.OperatorInterventionError,  # the server shutting down, or crashed and recovering
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
    OSError,
    asyncio.TimeoutError,
)


def _connection_survives(exc: BaseException) -> bool:
    """Whether the writer connection is still good after ``exc``: only when the server refused
    a statement (a constraint, bad data) or the store itself raised; after anything else (the
    network, a cancelled call that may have left a reply unread) it is replaced."""
    if isinstance(exc, StoreError):
        return True
    return isinstance(exc, asyncpg.PostgresError) and not isinstance(exc, _LOST)


def _new_loop() -> asyncio.AbstractEventLoop:
    """The private loop: uvloop's when it is installed, as the server's own is (every commit
    crosses it: a cluster on one PostgreSQL spends about 6% less CPU per delivery), else asyncio's."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


class Database:
    """One PostgreSQL database as the stores use it; made current (migrated) when opened."""

    def __init__(
        self, url: str, *, timeout_s: float = DEFAULT_TIMEOUT_S, readers: int = DEFAULT_READERS
    ) -> None:
        self.url = url
        self.timeout_s = timeout_s
        self.readers = max(1, readers)
        self.previous_version = 0
        self._loop = _new_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="hubbub-postgres", daemon=True)
        self._thread.start()
        self._writer: asyncpg.Connection | None = None
        self._pool: asyncpg.Pool | None = None
        # Writes (and transaction() blocks) one thread at a time, on the one writer connection.
        self._lock = threading.RLock()
        self._depth = 0
        self._owner: int | None = None
        self._transaction: Any = None
        self._closed = False
        try:
            self.previous_version = self.call("cannot open the PostgreSQL store", self._open())
        except BaseException:
            self._stop_loop()
            raise

    async def _open(self) -> int:
        connection = await self._writer_connection()
        return await migrate(connection)

    # -- running calls on the private loop -------------------------------------------------

    def call(self, what: str, work: Coroutine[Any, Any, T]) -> T:
        """Run ``work`` on the private loop and return its result; StoreError on any failure."""
        if self._closed:
            work.close()
            raise StoreError(f"{what}: the store is closed")
        future = asyncio.run_coroutine_threadsafe(work, self._loop)
        try:
            return future.result(self.timeout_s)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise StoreError(f"{what}: no answer from PostgreSQL in {self.timeout_s:g} s") from None
        except StoreError:
            raise
        except _DATABASE_ERRORS as exc:
            raise StoreError(f"{what}: {type(exc).__name__}: {exc}") from exc

    def write(self, what: str, work: Work[T], *, single: bool = False) -> T:
        """Run ``work(connection)`` on the writer connection, in a transaction of its own unless
        it runs inside :meth:`transaction` (then it joins that one). ``single``: the work is one
        statement, atomic by itself, so it needs no BEGIN and COMMIT of its own (two round trips)."""
        with self._lock:
            return self.call(what, self._write(work, joined=self._depth > 0, single=single))

    def read(self, what: str, work: Work[T]) -> T:
        """Run ``work(connection)`` on a reader (on the writer inside this thread's transaction,
        so that it sees what the transaction wrote)."""
        if self._depth and self._owner == threading.get_ident():
            with self._lock:
                return self.call(what, self._write(work, joined=True))
        return self.call(what, self._read(work))

    async def _writer_connection(self) -> asyncpg.Connection:
        if self._writer is None or self._writer.is_closed():
            self._writer = None
            self._writer = await asyncpg.connect(self.url, timeout=self.timeout_s)
        return self._writer

    async def _drop_writer(self) -> None:
        writer, self._writer = self._writer, None
        if writer is not None and not writer.is_closed():
            writer.terminate()

    async def _write(self, work: Work[T], *, joined: bool, single: bool = False) -> T:
        if joined:
            # Inside an open transaction: never reconnect (a new connection would run the rest of
            # the block outside it); a lost connection fails the block, which rolls back.
            if self._writer is None:
                raise StoreError("the connection to PostgreSQL was lost in a transaction")
            try:
                return await work(self._writer)
            except BaseException as exc:
                if not _connection_survives(exc):
                    await self._drop_writer()
                raise
        connection = await self._writer_connection()
        try:
            if single:
                return await work(connection)
            async with connection.transaction():
                return await work(connection)
        except BaseException as exc:
            if not _connection_survives(exc):
                await self._drop_writer()
            raise

    async def _read(self, work: Work[T]) -> T:
        if self._pool is None:
            self._pool = await asyncpg.create_pool(
                self.url, min_size=0, max_size=self.readers, timeout=self.timeout_s
            )
        try:
            async with self._pool.acquire(timeout=self.timeout_s) as connection:
                return await work(connection)
        except _LOST:
            # A pooled connection that died with the server is found out only when used (the
            # pool then drops it): a read is safe to try again, once, on a fresh one.
            async with self._pool.acquire(timeout=self.timeout_s) as connection:
                return await work(connection)

    # -- transactions ----------------------------------------------------------------------

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """One PostgreSQL transaction around the block's calls on this store; nested ones join it.

        Other threads' writes wait for the block; a block that raises is rolled back whole.
        """
        with self._lock:
            if self._depth:
                self._depth += 1
                try:
                    yield
                finally:
                    self._depth -= 1
                return
            self.call("cannot write to the history store", self._begin())
            self._depth, self._owner = 1, threading.get_ident()
            try:
                yield
                self.call("cannot commit to the history store", self._end(commit=True))
            except BaseException:
                with contextlib.suppress(StoreError):
                    self.call("cannot roll back", self._end(commit=False))
                raise
            finally:
                self._depth, self._owner, self._transaction = 0, None, None

    async def _begin(self) -> None:
        connection = await self._writer_connection()
        transaction = connection.transaction()
        try:
            await transaction.start()
        except BaseException as exc:
            if not _connection_survives(exc):
                await self._drop_writer()
            raise
        self._transaction = transaction

    async def _end(self, *, commit: bool) -> None:
        transaction = self._transaction
        if transaction is None:
            return
        if self._writer is None:  # lost in the block: the server rolled it back
            if commit:
                raise StoreError("the connection to PostgreSQL was lost in a transaction")
            return
        try:
            await (transaction.commit() if commit else transaction.rollback())
        except BaseException as exc:
            if not _connection_survives(exc):
                await self._drop_writer()
                raise
            if commit:
                # A failed COMMIT leaves nothing to roll back; the connection is still good.
                with contextlib.suppress(*_DATABASE_ERRORS):
                    await transaction.rollback()
            raise

    # -- closing ---------------------------------------------------------------------------

    def close(self) -> None:
        """Close the connections and stop the private loop; later calls raise StoreError."""
        if self._closed:
            return
        with self._lock:
            try:
                self.call("cannot close the PostgreSQL store", self._close())
            except StoreError as exc:
                log.warning("%s", exc)
            finally:
                self._closed = True
                self._stop_loop()

    async def _close(self) -> None:
        writer, self._writer = self._writer, None
        pool, self._pool = self._pool, None
        try:
            if writer is not None and not writer.is_closed():
                await writer.close(timeout=self.timeout_s / 2)
        except _DATABASE_ERRORS:
            if writer is not None:
                writer.terminate()
        if pool is not None:
            try:
                await asyncio.wait_for(pool.close(), self.timeout_s / 2)
            except _DATABASE_ERRORS:
                pool.terminate()

    def _stop_loop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(self.timeout_s)
        if not self._thread.is_alive():
            self._loop.close()
