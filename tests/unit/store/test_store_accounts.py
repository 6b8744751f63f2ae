"""Every method of the account store, on both backends (SQLite's AccountStore, PostgreSQL's).

Passwords, SCRAM verifiers, logins, certificate fingerprints, metadata, read markers, server bans
and ChanServ registrations: the same calls answer the same way whichever store keeps them.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest

from hubbub.store.accounts import Account, RegisteredChannel, ServerBan, make_scram
from hubbub.store.pg_accounts import PostgresAccountStore

T0 = 1_700_000_000_000


def account(name: str, **kw: Any) -> Account:
    return Account(name.lower(), name, "hash-1", created_ms=T0, **kw)


def test_an_account_is_made_once_and_read_by_key_id_and_in_order(accounts: Any) -> None:
    bob, alice = account("Bob", email="b@example.org"), account("alice", used_ms=T0)
    assert accounts.create(bob) and accounts.create(alice)
    assert not accounts.create(account("BOB"))  # the key is taken
    assert accounts.get("bob") == bob and accounts.by_id(alice.id) == alice
    assert accounts.get("carol") is None and accounts.by_id("nope") is None
    assert [a.name for a in accounts.all()] == ["alice", "Bob"]


def test_passwords_scram_verifiers_and_logins(accounts: Any) -> None:
    accounts.create(account("alice"))
    scram = make_scram("first", 4096)
    # A verifier is stored only for the password that was checked.
    assert not accounts.set_scram("alice", "another-hash", scram)
    assert accounts.set_scram("alice", "hash-1", scram)
    assert accounts.get("alice").scram == scram
    # A new password without a verifier takes the old verifier away.
    assert accounts.set_password("alice", "hash-2")
    assert accounts.get("alice").password_hash == "hash-2" and accounts.get("alice").scram is None
    assert accounts.set_password("alice", "hash-3", scram)
    assert accounts.get("alice").scram == scram
    assert not accounts.set_password("nobody", "hash")
    # The last use only moves forward.
    assert accounts.mark_used("alice", T0 + 10)
    assert accounts.mark_used("alice", T0 + 5)
    assert accounts.get("alice").used_ms == T0 + 10
    assert not accounts.mark_used("nobody", T0)


def test_certificate_fingerprints_belong_to_one_account_each(accounts: Any) -> None:
    accounts.create(account("alice"))
    accounts.create(account("bob"))
    assert accounts.add_certfp("alice", "AB12", "PEM-A")
    assert accounts.add_certfp("alice", "cd34")
    assert not accounts.add_certfp("bob", "ab12")  # already alice's (fingerprints are lower-cased)
    assert accounts.account_of_certfp("AB12") == "alice"
    assert accounts.certfps("alice") == ["ab12", "cd34"]
    assert accounts.client_certificates() == ["PEM-A"]
    assert not accounts.remove_certfp("bob", "ab12")
    assert accounts.remove_certfp("alice", "AB12")
    assert accounts.account_of_certfp("ab12") is None
    # Deleting the account takes its fingerprints and metadata with it.
    accounts.set_metadata(accounts.get("alice").id, "avatar", "https://example.org/a.png")
    alice_id = accounts.get("alice").id
    assert accounts.delete("alice") and not accounts.delete("alice")
    assert accounts.account_of_certfp("cd34") is None
    assert accounts.metadata(alice_id) == {}


def test_metadata_is_set_replaced_and_removed_per_key(accounts: Any) -> None:
    accounts.set_metadata("id1", "b", "two")
    accounts.set_metadata("id1", "a", "one")
    accounts.set_metadata("id1", "a", "uno")
    accounts.set_metadata("id2", "a", "other account")
    assert accounts.metadata("id1") == {"a": "uno", "b": "two"}
    accounts.set_metadata("id1", "b", None)
    accounts.set_metadata("id1", "missing", None)
    assert accounts.metadata("id1") == {"a": "uno"}


def test_read_markers_only_move_forward(accounts: Any) -> None:
    assert accounts.read_marker("id1", "#c") is None
    assert accounts.set_read_marker("id1", "#c", T0 + 5) == T0 + 5
    assert accounts.set_read_marker("id1", "#c", T0 + 1) == T0 + 5
    assert accounts.set_read_marker("id1", "#d", T0) == T0
    assert accounts.read_marker("id1", "#c") == T0 + 5


def test_server_bans_are_replaced_lifted_and_expire(accounts: Any) -> None:
    accounts.add_ban(ServerBan("mask", "*!*@bad", "spam", "admin", T0))
    accounts.add_ban(ServerBan("ip", "192.0.2.0/24", "flood", "admin", T0 + 1, T0 + 100))
    accounts.add_ban(ServerBan("mask", "*!*@bad", "spam again", "oper", T0 + 2))  # replaces
    assert accounts.bans(T0) == [
        ServerBan("ip", "192.0.2.0/24", "flood", "admin", T0 + 1, T0 + 100),
        ServerBan("mask", "*!*@bad", "spam again", "oper", T0 + 2),
    ]
    assert accounts.bans(T0 + 100) == [ServerBan("mask", "*!*@bad", "spam again", "oper", T0 + 2)]
    assert accounts.remove_ban("mask", "*!*@bad") and not accounts.remove_ban("mask", "*!*@bad")
    assert accounts.bans(T0) == []


def test_registered_channels_are_saved_replaced_and_dropped(accounts: Any) -> None:
    accounts.save_channel(RegisteredChannel("#b", "id1", {"id1": "o"}, T0))
    accounts.save_channel(RegisteredChannel("#a", "id2", {}, T0 + 1))
    accounts.save_channel(RegisteredChannel("#b", "id1", {"id1": "o", "id3": "v"}, T0))
    assert accounts.channels() == [
        RegisteredChannel("#a", "id2", {}, T0 + 1),
        RegisteredChannel("#b", "id1", {"id1": "o", "id3": "v"}, T0),
    ]
    assert accounts.drop_channel("#a") and not accounts.drop_channel("#a")
    assert [c.key for c in accounts.channels()] == ["#b"]


@pytest.mark.timeout(60)
def test_two_nodes_registering_look_alikes_at_once_make_one_account(pg_url: str) -> None:
    nodes = [PostgresAccountStore(pg_url) for _ in range(4)]
    # Latin; Cyrillic a; Cyrillic i; dotless i: one skeleton, four names.
    names = ["alice", "\u0430lice", "al\u0456ce", "al\u0131ce"]
    made: list[bool] = []
    start = threading.Barrier(len(nodes))

    def register(node: PostgresAccountStore, name: str) -> None:
        start.wait(10)
        made.append(node.create(account(name)))

    threads = [threading.Thread(target=register, args=pair) for pair in zip(nodes, names, strict=True)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert sorted(made) == [False, False, False, True]
        assert len(nodes[0].all()) == 1
    finally:
        for node in nodes:
            node.close()
