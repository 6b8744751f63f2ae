"""The data directory: a database made in one step, a marker that notices a lost one, and the lock."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from hubbub.store import CURRENT_VERSION, DATABASE_NAME, datadir, open_store
from hubbub.store.datadir import LOCK_NAME, MARKER_NAME, DataDirError, database_path, file_identity, lock
from hubbub.store.schema import schema_version


def version_of(path: Path) -> int:
    with contextlib.closing(sqlite3.connect(path)) as db:
        return schema_version(db)


def test_a_new_data_directory_gets_a_database_at_the_current_schema_and_a_marker(tmp_path: Path) -> None:
    data = tmp_path / "a" / "b"
    path = database_path(data)
    assert path == data / DATABASE_NAME
    assert version_of(path) == CURRENT_VERSION
    assert (data / MARKER_NAME).is_file()
    assert sorted(p.name for p in data.iterdir()) == sorted([DATABASE_NAME, MARKER_NAME])


def test_a_failed_creation_leaves_no_database_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_migrate = datadir.migrate

    def migrate_then_fail(conn: sqlite3.Connection) -> int:
        real_migrate(conn)
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(datadir, "migrate", migrate_then_fail)
    with pytest.raises(DataDirError, match="cannot create database"):
        database_path(tmp_path)
    assert list(tmp_path.iterdir()) == []
    monkeypatch.undo()
    assert version_of(database_path(tmp_path)) == CURRENT_VERSION


def test_a_missing_database_is_refused_once_the_directory_has_held_one(tmp_path: Path) -> None:
    path = database_path(tmp_path)
    path.unlink()
    with pytest.raises(DataDirError, match=f"is missing.*delete {MARKER_NAME} to start with an empty one"):
        database_path(tmp_path)
    assert not path.exists()
    with pytest.raises(DataDirError):
        open_store(tmp_path)
    (tmp_path / MARKER_NAME).unlink()  # the operator starts afresh on purpose
    assert version_of(database_path(tmp_path)) == CURRENT_VERSION


def test_a_directory_from_before_markers_gets_one_for_its_database(tmp_path: Path) -> None:
    path = database_path(tmp_path)
    (tmp_path / MARKER_NAME).unlink()
    assert database_path(tmp_path) == path
    assert (tmp_path / MARKER_NAME).is_file()


def test_a_file_that_is_not_a_sqlite_database_is_refused_untouched(tmp_path: Path) -> None:
    garbage = b"these are not the bytes of a database" * 100
    (tmp_path / DATABASE_NAME).write_bytes(garbage)
    with pytest.raises(DataDirError, match="is not a SQLite database"):
        database_path(tmp_path)
    assert (tmp_path / DATABASE_NAME).read_bytes() == garbage


def test_a_directory_in_place_of_the_database_is_refused(tmp_path: Path) -> None:
    (tmp_path / DATABASE_NAME).mkdir()
    with pytest.raises(DataDirError, match="is not a database file"):
        database_path(tmp_path)


def test_a_data_directory_that_is_a_file_or_under_one_is_refused(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(DataDirError, match="is not a directory"):
        database_path(tmp_path / "file")
    with pytest.raises(DataDirError, match="cannot create data directory"):
        database_path(tmp_path / "file" / "data")
    with pytest.raises(DataDirError, match="cannot create data directory"):
        lock(tmp_path / "file" / "data")


def test_a_second_lock_on_a_data_directory_is_refused_naming_the_holder(tmp_path: Path) -> None:
    first = lock(tmp_path)
    assert (tmp_path / LOCK_NAME).read_text() == f"{os.getpid()}\n"
    with pytest.raises(DataDirError, match=rf"in use by another hubbub server \(pid {os.getpid()}\)"):
        lock(tmp_path)
    first.release()
    lock(tmp_path).release()


def test_the_lock_goes_with_a_killed_process_and_the_stale_file_is_no_obstacle(tmp_path: Path) -> None:
    code = textwrap.dedent(
        f"""
        import os, signal, sys
        from hubbub.store.datadir import lock
        held = lock({str(tmp_path)!r})
        print("locked", flush=True)
        sys.stdin.readline()
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    with subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    ) as proc:
        assert proc.stdout is not None and proc.stdin is not None
        assert proc.stdout.readline() == "locked\n"
        with pytest.raises(DataDirError, match=f"pid {proc.pid}"):
            lock(tmp_path)
        proc.stdin.write("\n")
        proc.stdin.flush()
        assert proc.wait(timeout=20) == -9
    assert (tmp_path / LOCK_NAME).read_text() == f"{proc.pid}\n"  # the stale file stays
    lock(tmp_path).release()


def test_a_replaced_file_has_another_identity(tmp_path: Path) -> None:
    path = database_path(tmp_path)
    before = file_identity(path)
    assert before is not None and file_identity(path) == before
    replacement = tmp_path / "other"
    replacement.write_bytes(path.read_bytes())
    os.replace(replacement, path)
    assert file_identity(path) not in (None, before)
    path.unlink()
    assert file_identity(path) is None
