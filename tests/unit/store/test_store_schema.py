"""The database file: schema migrations, persistent channels, durability after a crash."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from hubbub.store import (
    CURRENT_VERSION,
    DATABASE_NAME,
    ChannelRecord,
    MessageRef,
    StoredMessage,
    StoreError,
    dm_key,
    open_store,
)
from hubbub.store.accounts import Account, make_scram, open_accounts, parse_scram
from tests.support.schema import database_at

T0 = 1_700_000_000_000


def version_of(path: Path) -> int:
    db = sqlite3.connect(path)
    try:
        return int(db.execute("SELECT version FROM schema_version").fetchone()[0])
    finally:
        db.close()


def tables_of(path: Path) -> set[str]:
    db = sqlite3.connect(path)
    try:
        return {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    finally:
        db.close()


def test_a_new_database_gets_the_current_schema_in_wal_mode(tmp_path: Path) -> None:
    with open_store(tmp_path) as store:
        assert store.previous_version == 0
    path = tmp_path / DATABASE_NAME
    assert version_of(path) == CURRENT_VERSION == 13
    assert {"messages", "conversations", "channels", "schema_version"} <= tables_of(path)
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    db.close()


def test_an_empty_existing_file_is_initialised(tmp_path: Path) -> None:
    (tmp_path / DATABASE_NAME).touch()
    with open_store(tmp_path) as store:
        assert store.previous_version == 0
        assert store.latest("#chat", 5) == []
    assert version_of(tmp_path / DATABASE_NAME) == CURRENT_VERSION


def make_v1_file(path: Path) -> None:
    """A database as version 1 of hubbub wrote it, with history in two channels and a DM."""
    db = database_at(path, 1)
    rows = [
        (f"m{i}", target, T0 + i, "PRIVMSG", "a!b@c", None, f'["{target}","hi {i}"]', None)
        for i, target in enumerate(["#chat", "#chat", "@alice,bob", "#other", "#chat", "@alice,bob"])
    ]
    db.executemany(
        "INSERT INTO messages (msgid, target, time_ms, command, source, account, params, tags)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    db.close()


def test_a_version_1_database_is_migrated_and_keeps_its_history(tmp_path: Path) -> None:
    path = tmp_path / DATABASE_NAME
    make_v1_file(path)
    assert version_of(path) == 1
    assert "conversations" not in tables_of(path)

    with open_store(tmp_path) as store:
        assert store.previous_version == 1
        assert [m.msgid for m in store.latest("#chat", 10)] == ["m0", "m1", "m4"]
        assert store.latest("#chat", 1)[0].params == ("#chat", "hi 4")
        assert [m.msgid for m in store.after("#chat", MessageRef(time_ms=T0), 5)] == ["m1", "m4"]
        # Version 2 built its conversation table from the existing history; version 5 orphaned
        # the direct conversation of two nicks without accounts: kept, but nobody's to read.
        orphaned = dm_key("x:alice", "x:bob")
        assert [m.msgid for m in store.before(orphaned, MessageRef("m5"), 5)] == ["m2"]
        assert store.latest("@alice,bob", 10) == []
        assert store.conversations() == [
            ("#chat", 3, T0 + 4),
            ("#other", 1, T0 + 3),
            (orphaned, 2, T0 + 5),
        ]
        assert store.dm_names([orphaned]) == {orphaned: {"x:alice": "alice", "x:bob": "bob"}}
        assert store.targets(T0, T0 + 100, 10, channels=["#other"], participant="bob") == [
            ("#other", T0 + 3),
        ]
        # ... and the tables it added work.
        store.save_channel(ChannelRecord(name="#Chat", key="#chat", created_ms=T0))
        assert [c.name for c in store.load_channels()] == ["#Chat"]
    assert version_of(path) == CURRENT_VERSION
    db = sqlite3.connect(path)
    indexes = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    db.close()
    assert "messages_target_time" not in indexes  # version 2 dropped it
    assert "messages_msgid" not in indexes  # version 7: unique per conversation instead
    assert {"messages_msgid_target", "messages_target_id"} <= indexes

    # Opening again migrates nothing.
    with open_store(tmp_path) as store:
        assert store.previous_version == CURRENT_VERSION
        assert len(store.latest("#chat", 10)) == 3


def test_a_database_from_a_newer_hubbub_is_refused_untouched(tmp_path: Path) -> None:
    with open_store(tmp_path):
        pass
    path = tmp_path / DATABASE_NAME
    db = sqlite3.connect(path)
    db.execute("UPDATE schema_version SET version = ?", (CURRENT_VERSION + 1,))
    db.commit()
    db.close()
    with pytest.raises(StoreError, match="newer"):
        open_store(tmp_path)
    assert version_of(path) == CURRENT_VERSION + 1


def test_a_file_that_is_not_a_database_is_a_store_error(tmp_path: Path) -> None:
    (tmp_path / DATABASE_NAME).write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError):
        open_store(tmp_path)


def test_a_data_directory_that_cannot_be_created_is_a_store_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(StoreError):
        open_store(tmp_path / "file" / "data")


def test_channel_records_round_trip_and_replace(tmp_path: Path) -> None:
    full = ChannelRecord(
        name="#Chat",
        key="#chat",
        created_ms=T0,
        topic="Welcome, é",
        topic_setter="alice!a@h",
        topic_time_ms=T0 + 5,
        modes="nt",
        channel_key="sesame",
        limit=25,
        bans=(("*!*@bad.example", "alice", T0 + 1), ("troll!*@*", "bob", T0 + 2)),
        excepts=(("*!*@good.example", "alice", T0 + 3),),
        invites=(("friend!*@*", "carol", T0 + 4),),
        had_ops=True,
        metadata=(("avatar", "https://example.com/a.png"), ("url", "é")),
    )
    bare = ChannelRecord(name="&Local", key="&local", created_ms=T0)
    with open_store(tmp_path) as store:
        store.save_channel(full)
        store.save_channel(bare)
    with open_store(tmp_path) as store:
        assert store.load_channels() == [full, bare]  # by key
        changed = ChannelRecord(name="#Chat", key="#chat", created_ms=T0, topic="new", modes="ntP")
        store.save_channel(changed)
        assert store.load_channels() == [changed, bare]
        store.delete_channel("&local")
        store.delete_channel("#never-existed")
        assert store.load_channels() == [changed]


def test_channels_saved_before_version_5_count_as_having_had_operators(tmp_path: Path) -> None:
    path = tmp_path / DATABASE_NAME
    db = database_at(path, 4)
    db.execute(
        "INSERT INTO channels (key, name, created_ms, topic, topic_setter, topic_time_ms, modes,"
        " channel_key, user_limit, bans, excepts, invites)"
        " VALUES ('#old', '#Old', ?, 'kept', 'a!b@c', ?, 'nt', NULL, NULL, '[]', '[]', '[]')",
        (T0, T0),
    )
    db.close()
    assert version_of(path) == 4
    with open_store(tmp_path) as store:
        assert store.previous_version == 4
        (old,) = store.load_channels()
        assert old.had_ops and old.topic == "kept"
        store.save_channel(ChannelRecord(name="#New", key="#new", created_ms=T0))
        assert [c.had_ops for c in store.load_channels()] == [False, True]  # #new, #old


_WRITER = textwrap.dedent(
    """
    import sys
    from hubbub.store import StoredMessage, open_store

    store = open_store(sys.argv[1])
    for batch in range(20):
        store.append([
            StoredMessage(f"m{batch}-{i}", 1, "#chat", "PRIVMSG", "a!b@c", ("#chat", "x"))
            for i in range(50)
        ])
    print("committed", flush=True)
    sys.stdin.read()  # wait here, store open, until killed
    """
)


def test_every_committed_message_survives_kill_9(tmp_path: Path) -> None:
    # DESIGN.md principle 5: what append() returned for is on disk, even if the process dies.
    with subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(tmp_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as writer:
        try:
            assert writer.stdout is not None
            assert writer.stdout.readline() == "committed\n"
            writer.send_signal(signal.SIGKILL)
            assert writer.wait(timeout=10) == -signal.SIGKILL
        finally:
            if writer.poll() is None:
                writer.kill()
                writer.wait(timeout=10)
    # The write-ahead log was never checkpointed by a clean close; reopening must replay it.
    assert (tmp_path / (DATABASE_NAME + "-wal")).exists()
    with open_store(tmp_path) as store:
        assert len(store.latest("#chat", 5000)) == 1000
        assert store.conversations() == [("#chat", 1000, 1)]


def test_version_8_counts_existing_accounts_as_used_and_records_logins(tmp_path: Path) -> None:
    path = tmp_path / DATABASE_NAME
    db = database_at(path, 7)
    db.execute(
        "INSERT INTO accounts (key, name, password_hash, email, created_ms, id)"
        " VALUES ('old', 'Old', 'hash', '', ?, 'id-old')",
        (T0,),
    )
    db.close()
    store = open_accounts(tmp_path)
    try:
        old = store.get("old")
        assert old is not None and old.used_ms == T0  # an account from before keeps its nick
        assert store.create(Account("new", "New", "hash", created_ms=T0 + 5))
        assert store.get("new").used_ms is None  # type: ignore[union-attr]
        assert store.mark_used("new", T0 + 10)
        assert not store.mark_used("nobody", T0 + 10)
        store.mark_used("new", T0 + 7)  # never back
        assert store.get("new").used_ms == T0 + 10  # type: ignore[union-attr]
    finally:
        store.close()
    assert version_of(path) == CURRENT_VERSION


def test_version_10_adds_scram_verifiers_that_accounts_from_before_lack(tmp_path: Path) -> None:
    """An account from before version 10 has no SCRAM-SHA-256 verifier (its password is only
    known as an argon2id hash); one made now stores its verifier, never its password."""
    path = tmp_path / DATABASE_NAME
    db = database_at(path, 9)
    db.execute(
        "INSERT INTO accounts (key, name, password_hash, email, created_ms, id)"
        " VALUES ('old', 'Old', 'hash', '', ?, 'id-old')",
        (T0,),
    )
    db.close()
    store = open_accounts(tmp_path)
    try:
        old = store.get("old")
        assert old is not None and old.scram is None
        assert store.create(Account("new", "New", "hash", scram=make_scram("a password", 4096)))
        new = store.get("new")
        assert new is not None and new.scram is not None and "a password" not in new.scram
        verifier = parse_scram(new.scram)
        assert verifier is not None and verifier.iterations == 4096 and len(verifier.stored_key) == 32
    finally:
        store.close()
    assert version_of(path) == CURRENT_VERSION


def test_version_11_keeps_account_metadata_and_channel_metadata(tmp_path: Path) -> None:
    """Schema version 11 (draft/metadata-2): a logged-in user's metadata is stored for its account
    by the account's id, and goes with the account; a channel saved before it has none."""
    path = tmp_path / DATABASE_NAME
    db = database_at(path, 9)
    db.execute(
        "INSERT INTO channels (key, name, created_ms, topic, topic_setter, topic_time_ms, modes,"
        " channel_key, user_limit, bans, excepts, invites)"
        " VALUES ('#old', '#Old', ?, 'kept', 'a!b@c', ?, 'nt', NULL, NULL, '[]', '[]', '[]')",
        (T0, T0),
    )
    db.close()
    with open_store(tmp_path) as store:
        assert store.previous_version == 9
        (old,) = store.load_channels()
        assert old.metadata == () and old.topic == "kept"
    assert version_of(path) == CURRENT_VERSION
    store = open_accounts(tmp_path)
    try:
        assert store.create(Account("alice", "Alice", "hash", created_ms=T0))
        alice = store.get("alice")
        assert alice is not None
        store.set_metadata(alice.id, "pronouns", "she/her")
        store.set_metadata(alice.id, "status", "away")
        store.set_metadata(alice.id, "status", "back")
        assert store.metadata(alice.id) == {"pronouns": "she/her", "status": "back"}
        store.set_metadata(alice.id, "pronouns", None)
        assert store.metadata(alice.id) == {"status": "back"}
        assert store.delete("alice")
        assert store.metadata(alice.id) == {}
    finally:
        store.close()


# Parameter lists as relayed (the first four), then ones only an imported archive could hold.
KEPT_PARAMS: list[list[str]] = [
    ["#chat", "hello there"],
    ["#chat", "one"],
    ["#chat", ":-) starts with a colon"],
    ["#chat", "line one\nline two"],  # a multiline message
    ["#chat", ""],
    [],
    ["only trailing words"],
    ["a", "b", "c"],
    ["middle with space", "x"],
    ["", "empty middle"],
    ["#chat", "nul \0 inside"],
]


@pytest.mark.parametrize("version", range(1, 12))
def test_version_12_keeps_every_parameter_list_exactly_from_every_older_version(
    tmp_path: Path, version: int
) -> None:
    """Schema version 12 keeps parameters as on an IRC line (hubbub/store/params.py) instead of a
    JSON array; the migration converts every row, whatever version the file was at."""
    path = tmp_path / DATABASE_NAME
    db = database_at(path, version)
    target = "#chat"
    db.executemany(
        "INSERT INTO messages (msgid, target, time_ms, command, source, account, params, tags)"
        " VALUES (?, ?, ?, 'PRIVMSG', 'a!b@c', NULL, ?, ?)",
        [
            (f"m{i}", target, T0 + i, json.dumps(params), '{"+draft/react":"x"}' if i == 0 else None)
            for i, params in enumerate(KEPT_PARAMS)
        ],
    )
    if version >= 2:
        db.execute(
            "INSERT INTO conversations (target, last_time_ms, message_count) VALUES (?, ?, ?)",
            (target, T0 + len(KEPT_PARAMS), len(KEPT_PARAMS)),
        )
    db.close()
    with open_store(tmp_path) as store:
        assert store.previous_version == version
        rows = store.latest(target, 100)
        assert [list(m.params) for m in rows] == KEPT_PARAMS
        assert dict(rows[0].tags) == {"+draft/react": "x"}
        # New rows are kept in the new form and read back alike.
        store.append([StoredMessage("new", T0 + 99, target, "PRIVMSG", "a!b@c", ("#chat", "after the move"))])
        assert store.latest(target, 1)[0].params == ("#chat", "after the move")
    assert version_of(path) == CURRENT_VERSION
    db = sqlite3.connect(path)
    stored = dict(db.execute("SELECT msgid, params FROM messages"))
    db.close()
    assert stored["m0"] == "#chat :hello there"
    assert stored["m1"] == "#chat one"
    assert stored["m3"] == '\0["#chat","line one\\nline two"]'
    assert stored["new"] == "#chat :after the move"
