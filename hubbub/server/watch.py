"""Noticing the database file being deleted or replaced under a running server.

SQLite keeps using the file it opened, so the server goes on working, but the history it writes
is then in a file nobody can find (deleted: gone when the server stops) or not in the file the
next start will open (replaced). Every few seconds the path is compared with the open file's
identity, a ``stat`` and nothing more; each change is logged once at ERROR and told to the
operators online.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from hubbub.store.datadir import FileIdentity, file_identity

if TYPE_CHECKING:
    from .session import Session
    from .world import World

log = logging.getLogger(__name__)

INTERVAL = 2.0
"""Seconds between two looks at the database file."""


class DatabaseWatch:
    """Compares the database path with the file the server opened, on a timer."""

    def __init__(self, world: World[Session], path: Path, interval: float = INTERVAL) -> None:
        self.world = world
        self.path = path
        self.interval = interval
        self.opened = file_identity(path)
        self.seen: FileIdentity | None = self.opened
        self._handle: asyncio.TimerHandle | None = None

    def start(self) -> None:
        """Look every ``interval`` seconds until :meth:`stop`."""
        self._handle = asyncio.get_running_loop().call_later(self.interval, self._tick)

    def stop(self) -> None:
        """Stop looking."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _tick(self) -> None:
        self.check()
        self.start()

    def check(self) -> str | None:
        """Look once; return the problem if it is new (it is then logged and told), else None."""
        now = file_identity(self.path)
        if now == self.seen:
            return None
        self.seen = now
        if now == self.opened:
            log.warning("database %s is back: it is the file this server has open again", self.path)
            return None
        if now is None:
            problem = (
                f"database {self.path} has been deleted; this server keeps using the file it opened, "
                "which disappears when it stops: restore the file before restarting"
            )
        else:
            problem = (
                f"database {self.path} has been replaced by another file; this server keeps using the "
                "one it opened, and the next start will use the new one"
            )
        log.error("%s", problem)
        for user in list(self.world.users.values()):
            if "o" in user.umodes and not user.gone:
                user.notice(f"*** {problem}")
        return problem
