"""Identities in the store: account ids, the names of direct-conversation sides, schema version 5."""

from __future__ import annotations

import json
from pathlib import Path

from hubbub.store import (
    DATABASE_NAME,
    SQLiteStore,
    StoredMessage,
    account_side,
    dm_key,
    new_connection_side,
    open_store,
    side_account,
)
from hubbub.store.accounts import Account, AccountStore, RegisteredChannel, open_accounts
from tests.support.schema import database_at

T0 = 1_700_000_000_000


def account(name: str) -> Account:
    return Account(name.lower(), name, "hash", created_ms=T0)


def say(target: str, msgid: str, time_ms: int = T0) -> StoredMessage:
    return StoredMessage(msgid, time_ms, target, "PRIVMSG", "x!y@z", ("x", msgid))


def test_sides_of_accounts_and_connections_never_look_alike() -> None:
    assert side_account(account_side("1f2e")) == "1f2e"
    first, second = new_connection_side(), new_connection_side()
    assert first != second
    assert side_account(first) is None
    assert side_account("x:alice") is None


def test_an_account_registered_again_under_a_dropped_name_gets_a_new_id(accounts: AccountStore) -> None:
    first = account("Alice")
    assert accounts.create(first)
    assert accounts.get("alice") == first
    assert accounts.by_id(first.id) == first
    assert accounts.delete("alice")
    assert accounts.by_id(first.id) is None
    again = account("Alice")
    assert accounts.create(again)
    assert again.id != first.id
    assert accounts.get("alice") == again
    assert not accounts.delete("nobody")


def test_dropping_an_account_takes_its_markers_channels_and_access_entries(accounts: AccountStore) -> None:
    alice, bob = account("alice"), account("bob")
    accounts.create(alice)
    accounts.create(bob)
    accounts.set_read_marker(alice.id, "#room", T0)
    accounts.set_read_marker(bob.id, "#room", T0 + 1)
    accounts.save_channel(RegisteredChannel("#alices", alice.id, {alice.id: "o", bob.id: "v"}, T0))
    accounts.save_channel(RegisteredChannel("#bobs", bob.id, {bob.id: "o", alice.id: "o"}, T0))

    assert accounts.delete("alice")
    assert accounts.read_marker(alice.id, "#room") is None
    assert accounts.read_marker(bob.id, "#room") == T0 + 1
    assert accounts.channels() == [RegisteredChannel("#bobs", bob.id, {bob.id: "o"}, T0)]

    accounts.create(account("alice"))
    heir = accounts.get("alice")
    assert heir is not None and accounts.read_marker(heir.id, "#room") is None


def test_direct_conversations_remember_the_latest_names_of_their_sides(store: SQLiteStore) -> None:
    alice, guest = account_side("a1"), new_connection_side()
    key = dm_key(alice, guest)
    store.append([say(key, "d1")], {alice: "alice", guest: "guest"})
    store.append([say(key, "d2", T0 + 1)])  # no names given: the remembered ones stay
    assert store.dm_names([key, "#chan", "@unknown,key"]) == {key: {alice: "alice", guest: "guest"}}
    store.append([say(key, "d3", T0 + 2), say("#chan", "c1", T0 + 2)], {guest: "visitor"})
    assert store.dm_names([key]) == {key: {alice: "alice", guest: "visitor"}}
    store.rename_side(guest, "wanderer")
    assert store.dm_names([key]) == {key: {alice: "alice", guest: "wanderer"}}
    assert store.targets(T0 - 1, T0 + 10, 10, channels=[], participant=guest) == [(key, T0 + 2)]


def make_version_4_file(path: Path) -> None:
    """A database as schema version 4 wrote it: nick-keyed direct conversations and markers."""
    db = database_at(path, 4)
    db.executemany(
        "INSERT INTO accounts (key, name, password_hash, created_ms) VALUES (?, ?, 'hash', 0)",
        [("alice", "Alice"), ("zed", "Zed")],
    )
    conversations = {"@alice,zed": 2, "@alice,bob": 1, "@bob,carol": 1, "@zed,zed": 1}
    number = 0
    for key, count in conversations.items():
        for _ in range(count):
            number += 1
            db.execute(
                "INSERT INTO messages (msgid, target, time_ms, command, source, params)"
                " VALUES (?, ?, ?, 'PRIVMSG', 'x!y@z', '[]')",
                (f"m{number}", key, T0 + number),
            )
            db.execute(
                "INSERT INTO conversations (target, side_a, side_b, last_time_ms, message_count)"
                " VALUES (?, ?, ?, ?, 1) ON CONFLICT (target) DO UPDATE SET"
                " message_count = message_count + 1, last_time_ms = excluded.last_time_ms",
                (key, *key[1:].split(","), T0 + number),
            )
    db.executemany(
        "INSERT INTO read_markers (account, target, time_ms) VALUES (?, ?, ?)",
        [("alice", "#room", T0), ("gone", "#room", T0)],
    )
    db.executemany(
        "INSERT INTO registered_channels (key, founder, access, registered_ms) VALUES (?, ?, ?, 0)",
        [
            ("#alices", "alice", json.dumps({"alice": "o", "zed": "v", "gone": "v"})),
            ("#gones", "gone", json.dumps({"gone": "o", "alice": "v"})),
        ],
    )
    db.close()


def test_version_5_ties_nick_keyed_conversations_to_accounts_and_orphans_the_rest(tmp_path: Path) -> None:
    make_version_4_file(tmp_path / DATABASE_NAME)
    with open_store(tmp_path) as store:
        assert store.previous_version == 4
    accounts = open_accounts(tmp_path)
    try:
        alice, zed = accounts.get("alice"), accounts.get("zed")
        assert alice is not None and zed is not None and alice.id != zed.id
        assert accounts.read_marker(alice.id, "#room") == T0
        assert accounts.read_marker("alice", "#room") is None
        assert accounts.channels() == [
            RegisteredChannel("#alices", alice.id, {alice.id: "o", zed.id: "v"}, 0)
        ]
    finally:
        accounts.close()

    a, z = account_side(alice.id), account_side(zed.id)
    with open_store(tmp_path) as store:
        both = dm_key(a, z)
        half = dm_key(a, "x:bob")
        neither = dm_key("x:bob", "x:carol")
        itself = dm_key(z, z)
        assert [(k, n) for k, n, _ in store.conversations()] == sorted(
            [(both, 2), (half, 1), (neither, 1), (itself, 1)]
        )
        assert [m.msgid for m in store.latest(both, 10)] == ["m1", "m2"]
        assert [m.msgid for m in store.latest(half, 10)] == ["m3"]
        for old in ("@alice,zed", "@alice,bob", "@bob,carol", "@zed,zed"):
            assert store.latest(old, 10) == []
        assert store.dm_names([both, half, neither]) == {
            both: {a: "Alice", z: "Zed"},
            half: {a: "Alice", "x:bob": "bob"},
            neither: {"x:bob": "bob", "x:carol": "carol"},
        }
        assert store.targets(T0, T0 + 100, 10, channels=[], participant=a) == [(both, T0 + 2), (half, T0 + 3)]
