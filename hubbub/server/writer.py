"""The store writer: one thread that owns the history store's write connection.

DESIGN.md principle 5: the event loop never blocks on the store. Every write (a loop turn's
messages, a channel's saved state, a deletion) is a job for this thread, run in the order it was
submitted; its outcome comes back to the loop with ``call_soon_threadsafe``, and only then is
anything that depended on it delivered. While another process holds SQLite's write lock the
thread waits and retries (nothing is lost or reordered); the loop goes on serving everyone.

With ``store_url`` (a PostgreSQL database) the thread opens the PostgreSQL stores instead; the
jobs are the same calls on the same interface (``hubbub.store.Store``).
"""

from __future__ import annotations

import asyncio
import logging
import queue
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hubbub.store import SQLiteStore, StoreError
from hubbub.store.accounts import AccountStore
from hubbub.store.url import open_accounts_url, open_store_url

log = logging.getLogger(__name__)

Job = Callable[[SQLiteStore], Any]
AccountJob = Callable[[AccountStore], Any]
Done = Callable[[Any, BaseException | None], None]

# How long one attempt waits for another process's write lock (SQLite busy_timeout), and how
# often a job still waiting for it is reported.
LOCK_WAIT_MS = 1000
LOCK_REPORT_INTERVAL = 10.0
# Seconds a thread waiting for the GIL lets the holder run before asking for it (see start).
GIL_SWITCH_INTERVAL = 0.0005
# Seconds a stopping server still waits for the lock before giving up on what is left.
STOP_PATIENCE = 10.0


def is_locked(exc: BaseException) -> bool:
    """Whether ``exc`` says that another connection holds the database's write lock."""
    text = str(exc).lower()
    return "database is locked" in text or "database table is locked" in text or "busy" in text


class StoreWriter:
    """Runs store jobs on one thread, in order, and reports each outcome on the loop."""

    def __init__(
        self,
        path: Path,
        loop: asyncio.AbstractEventLoop,
        *,
        store_url: str = "",
        timeout_s: float = 30.0,
        readers: int = 1,
    ) -> None:
        self.path = path
        self.loop = loop
        self.store_url = store_url
        self._timeout_s = timeout_s
        self._readers = readers
        # (job, what it is done with, whether it works on the account tables)
        self._jobs: queue.SimpleQueue[tuple[Any, Done, bool] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="store writer", daemon=True)
        self._opened = threading.Event()
        self._open_error: BaseException | None = None
        self._stopping = False
        self.waiting_for_lock = False

    def start(self) -> None:
        """Start the thread and open its connection; raise StoreError if that fails."""
        # A thread waiting for the GIL gets it only after the holder has run this long: with
        # CPython's default of 5 ms, each of a commit's steps could wait that long behind a busy
        # loop, and every delivery waits for the commit. A shorter interval bounds that wait.
        if sys.getswitchinterval() > GIL_SWITCH_INTERVAL:
            sys.setswitchinterval(GIL_SWITCH_INTERVAL)
        self._thread.start()
        self._opened.wait()
        if self._open_error is not None:
            where = "the PostgreSQL store" if self.store_url else self.path
            raise StoreError(f"cannot open {where} for writing: {self._open_error}")

    def submit(self, job: Job, done: Done) -> None:
        """Run ``job(store)`` on the thread; then ``done(result, error)`` on the loop."""
        self._jobs.put((job, done, False))

    def submit_accounts(self, job: AccountJob, done: Done) -> None:
        """Run ``job(accounts)`` with the account tables on the thread, in turn with the rest."""
        self._jobs.put((job, done, True))

    def stop(self) -> None:
        """Finish every submitted job, then close the connection and end the thread."""
        self._stopping = True
        self._jobs.put(None)
        if self._thread.is_alive():
            self._thread.join(timeout=30)

    # the thread ---------------------------------------------------------------------------------

    def _open(self) -> tuple[Any, Any]:
        """The history store and the account store this thread writes to."""
        if self.store_url:
            url, timeout_s, readers = self.store_url, self._timeout_s, self._readers
            pg = open_store_url(url, timeout_s=timeout_s, readers=readers)
            try:
                return pg, open_accounts_url(url, timeout_s=timeout_s, readers=readers)
            except BaseException:
                pg.close()
                raise
        # The loop's own connection runs the background checkpoints (store.checkpoint).
        store = SQLiteStore(
            self.path, background_checkpoint=False, autocheckpoint=False, busy_timeout_ms=LOCK_WAIT_MS
        )
        try:
            return store, AccountStore(self.path, busy_timeout_ms=LOCK_WAIT_MS)
        except BaseException:
            store.close()
            raise

    def _run(self) -> None:
        try:
            store, accounts = self._open()
        except BaseException as exc:
            self._open_error = exc
            self._opened.set()
            return
        self._opened.set()
        try:
            while (item := self._jobs.get()) is not None:
                job, done, on_accounts = item
                result, error = self._attempt(job, accounts if on_accounts else store)
                try:
                    self.loop.call_soon_threadsafe(done, result, error)
                except RuntimeError:  # the loop is closed: the server is gone
                    log.warning("a store job finished after the server stopped")
        finally:
            store.close()
            accounts.close()

    def _attempt(self, job: Any, store: Any) -> tuple[Any, BaseException | None]:
        """Run ``job``, retrying while the write lock is held elsewhere (backpressure, not loss)."""
        since = time.monotonic()
        next_report = since
        while True:
            try:
                result = job(store)
            except StoreError as exc:
                now = time.monotonic()
                if not is_locked(exc) or (self._stopping and now - since > STOP_PATIENCE):
                    return None, exc
                if now >= next_report:
                    log.warning(
                        "the history store is locked by another process; deliveries wait (%.0f s so far)",
                        now - since,
                    )
                    next_report = now + LOCK_REPORT_INTERVAL
                self.waiting_for_lock = True
                # Each attempt already waited busy_timeout; a lock refused at once (a stale
                # snapshot) gets a short pause on this thread, never on the loop.
                time.sleep(0.005)
                continue
            except BaseException as exc:
                return None, exc
            if self.waiting_for_lock:
                self.waiting_for_lock = False
                log.warning("the history store is writable again after %.1f s", time.monotonic() - since)
            return result, None
