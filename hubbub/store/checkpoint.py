"""Checkpointing the write-ahead log off the event loop.

With SQLite's automatic checkpoint, the commit that crosses the WAL size threshold also copies the
log into the database file, inside the commit: every thousandth page, one commit on the event loop
takes several milliseconds and every message of that loop turn waits for it. Here the writer turns
the automatic checkpoint off and a background thread, with a connection of its own, runs PASSIVE
checkpoints, which never block the writer (the store writer thread, hubbub.server.writer).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path

log = logging.getLogger(__name__)

INTERVAL = 0.5
"""Seconds between two background checkpoints."""


class Checkpointer:
    """A daemon thread that checkpoints one database's WAL every :data:`INTERVAL` seconds."""

    def __init__(self, path: Path, interval: float = INTERVAL) -> None:
        self.path = path
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"checkpoint {path.name}", daemon=True)
        self.checkpoints = 0

    def start(self) -> None:
        """Start the thread."""
        self._thread.start()

    def _run(self) -> None:
        try:
            db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        except sqlite3.Error:
            log.exception("cannot open %s for checkpoints", self.path)
            return
        try:
            db.execute("PRAGMA busy_timeout = 1000")
            while not self._stop.wait(self.interval):
                try:
                    db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                    self.checkpoints += 1
                except sqlite3.Error as exc:
                    log.warning("checkpoint of %s failed: %s", self.path, exc)
        finally:
            db.close()

    def stop(self) -> None:
        """Stop the thread and wait for it."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)
