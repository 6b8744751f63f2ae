"""``hubbub history`` through the real command line, in a subprocess, on real store files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hubbub.store import StoredMessage, dm_key, open_store
from hubbub.store.archive import format_time, parse_since
from hubbub.store.postgres import PostgresStore

ROOT = Path(__file__).resolve().parents[3]
T0 = 1_700_000_000_000  # 2023-11-14T22:13:20Z
# The sides of a direct conversation are identities; the store remembers who they were.
DM = dm_key("bob", "alice")
NAMES = {"alice": "Alice", "bob": "Bob"}


def hubbub(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("HUBBUB_DATA_DIR", None)
    return subprocess.run(
        [sys.executable, "-m", "hubbub", "history", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=30,
    )


def history() -> list[StoredMessage]:
    chat = [
        StoredMessage(
            f"c{i}",
            T0 + 1000 * i,
            "#chat",
            "PRIVMSG" if i % 3 else "NOTICE",
            f"nick{i}!user@host",
            ("#chat", f'line {i} — ünïcode \\ "quoted"'),
            account="alice" if i % 2 else None,
            tags={"+draft/reply": f"c{i - 1}"} if i else {},
        )
        for i in range(30)
    ]
    dm = [
        StoredMessage(
            f"d{i}", T0 + 500 + 1000 * i, dm_key("bob", "alice"), "PRIVMSG", "bob!b@h", ("alice", "psst")
        )
        for i in range(5)
    ]
    events = [StoredMessage("j1", T0 + 1, "#chat", "JOIN", "carol!c@h", ("#chat",), account="carol")]
    return chat[:1] + events + chat[1:] + dm


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    data = tmp_path / "source"
    with open_store(data) as store:
        for m in history():
            store.append([m], NAMES if m.target == DM else None)
    return data


def test_export_then_import_round_trips_every_field(data_dir: Path, tmp_path: Path) -> None:
    archive = tmp_path / "chat.jsonl"
    done = hubbub("export", "--data-dir", str(data_dir), "--target", "#chat", "--output", str(archive))
    assert done.returncode == 0, done.stderr
    assert "exported 31 messages" in done.stderr

    lines = archive.read_text(encoding="utf-8").splitlines()
    first = json.loads(lines[0])
    assert first == {
        "msgid": "c0",
        "time": "2023-11-14T22:13:20.000Z",
        "time_ms": T0,
        "target": "#chat",
        "command": "NOTICE",
        "source": "nick0!user@host",
        "account": None,
        "params": ["#chat", 'line 0 — ünïcode \\ "quoted"'],
        "tags": {},
    }
    assert json.loads(lines[1])["command"] == "JOIN"

    copy = tmp_path / "copy"
    done = hubbub("import", "--data-dir", str(copy), str(archive))
    assert done.returncode == 0, done.stderr
    assert "imported 31 messages" in done.stderr
    with open_store(data_dir) as src, open_store(copy) as dst:
        assert dst.latest("#chat", 100) == src.latest("#chat", 100)
        assert dst.latest(dm_key("alice", "bob"), 100) == []


def test_importing_twice_is_harmless(data_dir: Path, tmp_path: Path) -> None:
    exported = hubbub("export", "--data-dir", str(data_dir))
    assert exported.returncode == 0, exported.stderr
    assert len(exported.stdout.splitlines()) == 36
    copy = str(tmp_path / "copy")
    first = hubbub("import", "--data-dir", copy, "-", stdin=exported.stdout)
    again = hubbub("import", "--data-dir", copy, stdin=exported.stdout)
    assert first.returncode == again.returncode == 0
    assert "imported 36 messages, skipped 0" in first.stderr
    assert "imported 0 messages, skipped 36" in again.stderr
    # Into the original store too: everything is already there.
    into_source = hubbub("import", "--data-dir", str(data_dir), stdin=exported.stdout)
    assert "imported 0 messages, skipped 36" in into_source.stderr
    with open_store(copy) as store:
        assert store.conversations() == [("#chat", 31, T0 + 29_000), ("@alice,bob", 5, T0 + 4500)]
        assert store.dm_names([DM]) == {DM: NAMES}  # the archive carried who the sides were
    lines = [json.loads(line) for line in exported.stdout.splitlines()]
    assert [obj["names"] for obj in lines if obj["target"] == DM] == [NAMES] * 5
    assert not any("names" in obj for obj in lines if obj["target"] != DM)


def test_export_since_a_time_in_iso_8601_or_epoch_ms(data_dir: Path) -> None:
    iso = hubbub(
        "export", "--data-dir", str(data_dir), "--target", "#CHAT", "--since", "2023-11-14T22:13:45Z"
    )
    epoch = hubbub("export", "--data-dir", str(data_dir), "--target", "#chat", "--since", str(T0 + 25_000))
    assert iso.returncode == epoch.returncode == 0, iso.stderr + epoch.stderr
    assert iso.stdout == epoch.stdout
    assert [json.loads(line)["msgid"] for line in iso.stdout.splitlines()] == [f"c{i}" for i in range(25, 30)]


def test_targets_lists_conversations_with_counts(data_dir: Path) -> None:
    done = hubbub("targets", "--data-dir", str(data_dir))
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        f"#chat\t31\t{format_time(T0 + 29_000)}",
        f"@alice,bob\t5\t{format_time(T0 + 4500)}\tAlice,Bob",
    ]


def test_delete_removes_one_conversation(data_dir: Path) -> None:
    done = hubbub("delete", "--data-dir", str(data_dir), "--target", "@alice,bob")
    assert done.returncode == 0, done.stderr
    assert "deleted 5 messages" in done.stderr
    with open_store(data_dir) as store:
        assert store.latest(dm_key("alice", "bob"), 10) == []
        assert len(store.latest("#chat", 100)) == 31
    again = hubbub("delete", "--data-dir", str(data_dir), "--target", "@alice,bob")
    assert again.returncode == 1
    assert "no history" in again.stderr


def test_a_bad_archive_line_is_reported_with_its_number(tmp_path: Path) -> None:
    good = json.dumps({"msgid": "x1", "time_ms": T0, "target": "#a", "command": "PRIVMSG", "source": "a!b@c"})
    bad = json.dumps({"msgid": "x2", "time_ms": "soon", "target": "#a", "command": "PRIVMSG", "source": "s"})
    done = hubbub("import", "--data-dir", str(tmp_path), stdin=f"{good}\n\n{bad}\n")
    assert done.returncode == 1
    assert "line 3" in done.stderr and "time_ms" in done.stderr
    not_json = hubbub("import", "--data-dir", str(tmp_path), stdin="{nope\n")
    assert not_json.returncode == 1 and "line 1" in not_json.stderr


def test_reading_a_missing_store_fails_without_creating_one(tmp_path: Path) -> None:
    for action in (["export"], ["targets"], ["delete", "--target", "#a"]):
        done = hubbub(*action, "--data-dir", str(tmp_path / "missing"))
        assert done.returncode == 1
        assert "no history store" in done.stderr
    assert not (tmp_path / "missing").exists()


def test_parse_since_reads_both_forms() -> None:
    assert parse_since(str(T0)) == T0
    assert parse_since("2023-11-14T22:13:20.250Z") == T0 + 250
    assert parse_since("2023-11-14T23:13:20+01:00") == T0
    assert parse_since("2023-11-14T22:13:20") == T0  # no zone: UTC
    assert parse_since("1970-01-01") == 0
    with pytest.raises(ValueError):
        parse_since("yesterday")
    assert format_time(T0 + 7) == "2023-11-14T22:13:20.007Z"
    assert format_time(0) == "1970-01-01T00:00:00.000Z"


def test_a_community_moves_to_postgresql_and_back_with_every_row(
    data_dir: Path, pg_url: str, tmp_path: Path
) -> None:
    exported = hubbub("export", "--data-dir", str(data_dir))
    assert exported.returncode == 0, exported.stderr
    moved = hubbub("import", "--store", pg_url, stdin=exported.stdout)
    assert moved.returncode == 0, moved.stderr
    assert "imported 36 messages, skipped 0" in moved.stderr
    again = hubbub("import", "--store", pg_url, stdin=exported.stdout)
    assert "imported 0 messages, skipped 36" in again.stderr

    listed = hubbub("targets", "--store", pg_url)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout == hubbub("targets", "--data-dir", str(data_dir)).stdout

    back = hubbub("export", "--store", pg_url)
    assert back.returncode == 0, back.stderr
    assert back.stdout == exported.stdout  # the same rows, msgids, times, names, in the same order
    home = tmp_path / "home"
    returned = hubbub("import", "--data-dir", str(home), stdin=back.stdout)
    assert returned.returncode == 0, returned.stderr
    with open_store(data_dir) as src, open_store(home) as dst, PostgresStore(pg_url) as pg:
        for key in ("#chat", DM):
            assert dst.latest(key, 100) == src.latest(key, 100) == pg.latest(key, 100)
        assert dst.conversations() == src.conversations() == pg.conversations()
        assert dst.dm_names([DM]) == pg.dm_names([DM]) == {DM: NAMES}

    deleted = hubbub("delete", "--store", pg_url, "--target", "#CHAT")
    assert deleted.returncode == 0, deleted.stderr
    assert "deleted 31 messages of #chat" in deleted.stderr


def test_a_store_url_that_is_not_postgresql_is_refused_by_name(tmp_path: Path) -> None:
    for action in (["export"], ["import"], ["targets"]):
        done = hubbub(*action, "--store", "mysql://u:secret@h/db", stdin="")
        assert done.returncode == 1
        assert "postgresql://" in done.stderr and "secret" not in done.stderr
