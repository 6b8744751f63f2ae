"""Look-alike account names in the store: refused on creation, across reopening, and schema version 9.

``\\u0430`` is CYRILLIC SMALL LETTER A: ``\\u0430lice`` looks like ``alice``.
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

import pytest

from hubbub.protocol import skeleton
from hubbub.store import DATABASE_NAME
from hubbub.store.accounts import Account, AccountStore, open_accounts
from tests.support.schema import database_at
from tests.unit.store.conftest import Backend

T0 = 1_700_000_000_000
CYRILLIC_ALICE = "\u0430lice"


def account(name: str) -> Account:
    return Account(name.lower(), name, "hash", created_ms=T0)


def test_an_account_that_looks_like_a_registered_one_is_refused(accounts: AccountStore) -> None:
    assert accounts.create(account("alice"))
    for lookalike in (CYRILLIC_ALICE, "aIice", "\uff41lice", "ALICE"):
        assert not accounts.create(account(lookalike)), lookalike
    assert [a.name for a in accounts.all()] == ["alice"]
    assert [a.name for a in accounts.lookalikes(CYRILLIC_ALICE)] == ["alice"]
    assert accounts.lookalikes("bob") == []
    assert accounts.create(account("bob"))


def test_the_refusal_holds_after_the_store_is_opened_again(backend: Backend) -> None:
    first = backend.open_accounts()
    assert first.create(account("alice"))
    first.close()
    again = backend.open_accounts()
    try:
        assert not again.create(account(CYRILLIC_ALICE))
        assert [a.name for a in again.all()] == ["alice"]
    finally:
        again.close()


def test_a_dropped_account_frees_its_look_alikes(accounts: AccountStore) -> None:
    assert accounts.create(account("alice"))
    assert accounts.delete("alice")
    assert accounts.create(account(CYRILLIC_ALICE))


def make_version_7_file(path: Path) -> None:
    """A database as schema version 7 wrote it, with two look-alike accounts registered then."""
    db = database_at(path, 7)
    db.executemany(
        "INSERT INTO accounts (key, name, password_hash, created_ms, id) VALUES (?, ?, 'hash', 0, ?)",
        [("alice", "alice", "1"), (CYRILLIC_ALICE, CYRILLIC_ALICE, "2"), ("bob", "Bob", "3")],
    )
    db.close()


def test_version_9_gives_existing_accounts_their_skeletons(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    make_version_7_file(tmp_path / DATABASE_NAME)
    with caplog.at_level(logging.WARNING, logger="hubbub.store.accounts"):
        store = open_accounts(tmp_path)
    try:
        # Both look-alikes registered before stay, and the operator is told about them.
        assert [a.name for a in store.lookalikes("alice")] == ["alice", CYRILLIC_ALICE]
        assert any("alice" in r.getMessage() and CYRILLIC_ALICE in r.getMessage() for r in caplog.records)
        assert not store.create(account("\u0430l\u0456ce"))
        assert not store.create(account("B\u043eb"))  # CYRILLIC SMALL LETTER O
        assert store.create(account("carol"))
    finally:
        store.close()
    with sqlite3.connect(tmp_path / DATABASE_NAME) as db:
        rows = dict(db.execute("SELECT name, skeleton FROM accounts"))
    assert rows == {"alice": "alice", CYRILLIC_ALICE: "alice", "Bob": "bob", "carol": "carol"}


def test_skeletons_made_by_other_confusables_data_are_recomputed(tmp_path: Path) -> None:
    store = open_accounts(tmp_path)
    assert store.create(account("alice"))
    store.close()
    with sqlite3.connect(tmp_path / DATABASE_NAME) as db:
        db.execute("UPDATE accounts SET skeleton = 'as an older table made it'")
    again = open_accounts(tmp_path)
    try:
        assert not again.create(account(CYRILLIC_ALICE))
    finally:
        again.close()
    with sqlite3.connect(tmp_path / DATABASE_NAME) as db:
        assert db.execute("SELECT skeleton FROM accounts").fetchall() == [(skeleton("alice"),)]
