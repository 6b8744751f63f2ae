"""The data directory: where the database lives, one server at a time, and a database that is not
silently replaced by an empty one.

- ``database_path`` finds (and on first use creates) the database file. A new database is built
  at the current schema under a temporary name and linked into place in one step, so a failed
  creation leaves nothing behind that looks like a database.
- Next to the database a marker file (``hubbub.created``) records that this directory has held
  one. A directory with the marker but no database refuses to open: the database was deleted or
  moved, and making an empty one would hide that. Deleting the marker starts afresh deliberately.
- ``lock`` takes an exclusive ``flock`` on ``hubbub.lock`` for the life of a server. The kernel
  releases it when the process ends in any way (even ``kill -9``), so a stale file never blocks a
  restart. Offline tools (``hubbub history``, ``hubbub account``) do not take it: SQLite's own
  locking makes them safe alongside a running server.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
import sqlite3
import time
from pathlib import Path

from .model import StoreError
from .schema import CURRENT_VERSION, migrate

__all__ = [
    "DATABASE_NAME",
    "LOCK_NAME",
    "MARKER_NAME",
    "DataDirError",
    "DataDirLock",
    "FileIdentity",
    "database_path",
    "file_identity",
    "lock",
    "prepare_database",
]

DATABASE_NAME = "hubbub.sqlite3"
"""The name of the database file inside the data directory."""
MARKER_NAME = "hubbub.created"
"""Written when the database is created: this directory has held a database."""
LOCK_NAME = "hubbub.lock"
"""Locked by the server that uses the directory; holds its process id."""


FileIdentity = tuple[int, int]
"""A file's ``(st_dev, st_ino)``: the same path with another identity is another file."""


class DataDirError(StoreError):
    """The data directory cannot be used; the message says why and what to do."""


def file_identity(path: str | os.PathLike[str]) -> FileIdentity | None:
    """The identity of the file at ``path`` now, or None if there is none."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


def data_directory(data_dir: str | os.PathLike[str]) -> Path:
    """``data_dir`` as a directory that exists, creating it if needed."""
    directory = Path(data_dir)
    if directory.exists() and not directory.is_dir():
        raise DataDirError(f"data directory {directory} is not a directory; choose another --data-dir")
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataDirError(
            f"cannot create data directory {directory}: {exc.strerror}; choose a --data-dir you can write to"
        ) from exc
    return directory


def database_path(data_dir: str | os.PathLike[str]) -> Path:
    """The database file of ``data_dir``, creating the directory and the database if needed.

    Refuses (``DataDirError``) when the directory once held a database that is now missing, or
    when the file there is not a SQLite database.
    """
    return prepare_database(data_dir)[0]


def prepare_database(data_dir: str | os.PathLike[str]) -> tuple[Path, bool]:
    """As :func:`database_path`, and whether the database was created just now."""
    directory = data_directory(data_dir)
    path = directory / DATABASE_NAME
    marker = directory / MARKER_NAME
    if os.path.lexists(path):
        _check_database_file(path)
        if not marker.exists():  # a directory from before markers existed
            _write_marker(marker)
        return path, False
    if marker.exists():
        raise DataDirError(
            f"database {path} is missing, but {marker} says this directory held one; restore the "
            f"database from a backup, or delete {marker.name} to start with an empty one"
        )
    created = _create_database(path)
    _write_marker(marker)
    return path, created


def _check_database_file(path: Path) -> None:
    if not path.is_file():
        raise DataDirError(
            f"{path} is not a database file; move it away, or restore the database from a backup"
        )
    # Asked through SQLite, never by opening the file here: closing any descriptor of a file
    # drops every POSIX lock this process holds on it, and with them the locks of the SQLite
    # connections already open (another process could then delete the write-ahead log in use).
    try:
        db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            db.execute("PRAGMA schema_version").fetchone()
        finally:
            db.close()
    except sqlite3.DatabaseError as exc:
        if "not a database" in str(exc) or "malformed" in str(exc):
            raise DataDirError(
                f"{path} is not a SQLite database; restore it from a backup or move it away"
            ) from exc
        if isinstance(exc, sqlite3.OperationalError) and "locked" not in str(exc):
            raise DataDirError(f"cannot read database {path}: {exc}") from exc


def _create_database(path: Path) -> bool:
    """Build a database at the current schema beside ``path`` and link it into place at once.

    Returns False if another process put one there first (then that one is kept).
    """
    partial = path.with_name(f".{path.name}.{secrets.token_hex(4)}.new")
    try:
        # Made with the umask's permissions, as SQLite itself would make the file.
        os.close(os.open(partial, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644))
    except OSError as exc:
        raise DataDirError(f"cannot write to data directory {path.parent}: {exc.strerror}") from exc
    try:
        db = sqlite3.connect(partial, isolation_level=None)
        try:
            migrate(db)
        finally:
            db.close()
        with open(partial, "rb") as fh:
            os.fsync(fh.fileno())
        try:
            # A link, not a rename: it never replaces a database another process made meanwhile.
            os.link(partial, path)
        except FileExistsError:
            return False
        _sync_directory(path.parent)
        return True
    except sqlite3.Error as exc:
        raise DataDirError(f"cannot create database {path}: {exc}") from exc
    except OSError as exc:
        raise DataDirError(f"cannot create database {path}: {exc.strerror}") from exc
    finally:
        with contextlib.suppress(OSError):
            partial.unlink()


def _write_marker(marker: Path) -> None:
    text = (
        f"This directory holds a hubbub database ({DATABASE_NAME}, schema version {CURRENT_VERSION}), "
        f"recorded {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}.\n"
        f"While this file exists, hubbub refuses to start without {DATABASE_NAME} instead of creating an\n"
        "empty one. To start afresh on purpose, delete this file.\n"
    )
    try:
        marker.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise DataDirError(f"cannot write {marker}: {exc.strerror}") from exc


def _sync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class DataDirLock:
    """An exclusive lock on a data directory, held until :meth:`release` or the process ends."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd: int | None = fd

    def release(self) -> None:
        """Let another server use the directory (the file stays: removing it would race)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def lock(data_dir: str | os.PathLike[str]) -> DataDirLock:
    """Lock ``data_dir`` (creating it if needed) for this process, or raise ``DataDirError``."""
    directory = data_directory(data_dir)
    path = directory / LOCK_NAME
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        raise DataDirError(
            f"cannot write to data directory {directory}: {exc.strerror}; choose a writable --data-dir"
        ) from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
        os.close(fd)
        who = f" (pid {holder})" if holder.isdigit() else ""
        raise DataDirError(
            f"data directory {directory} is in use by another hubbub server{who}; stop it first, "
            "or give this one another --data-dir"
        ) from None
    except OSError as exc:
        os.close(fd)
        raise DataDirError(f"cannot lock {path}: {exc.strerror}") from exc
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return DataDirLock(path, fd)
