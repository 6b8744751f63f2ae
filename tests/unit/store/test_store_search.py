"""The store's message search: the FTS5 index (schema 13) kept in step with the messages table."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from hubbub.store import DATABASE_NAME, SQLiteStore, StoredMessage, open_store
from hubbub.store.search import SearchQuery, SearchTimeout, fts_query
from tests.support.schema import database_at

T0 = 1_700_000_000_000


def msg(i: int, target: str, text: str, command: str = "PRIVMSG", source: str = "alice!a@h") -> StoredMessage:
    return StoredMessage(f"m{i}", T0 + i, target, command, source, (target, text))


def found(store: SQLiteStore, text: str, *targets: str, **kw: object) -> list[str]:
    """The msgids ``text`` finds in ``targets``, in the order the store answers."""
    query = SearchQuery(text, [(t, 0) for t in targets], int(kw.pop("limit", 100)), **kw)  # type: ignore[arg-type]
    return [row[1] for row in store.search(query)]


def consistent(store: SQLiteStore) -> None:
    """The index passes FTS5's integrity check and holds exactly the PRIVMSGs and NOTICEs.

    On PostgreSQL the index is a column of the messages themselves: nothing can fall out of step.
    """
    if not isinstance(store, SQLiteStore):
        return
    db = store._db
    db.execute("INSERT INTO message_text (message_text) VALUES ('integrity-check')")
    (indexed,) = db.execute("SELECT count(*) FROM message_text").fetchone()
    (rows,) = db.execute("SELECT count(*) FROM messages WHERE command IN ('PRIVMSG', 'NOTICE')").fetchone()
    assert indexed == rows


def test_user_text_becomes_quoted_words() -> None:
    assert fts_query("hello world") == '"hello" "world"'
    assert fts_query('say "hi"') == '"say" """hi"""'
    assert fts_query("dep* a* *") == '"dep"* "a*"'
    assert fts_query("   ") == ""
    assert fts_query("NEAR(a b) AND col:x") == '"NEAR(a" "b)" "AND" "col:x"'


def test_words_match_case_and_accent_insensitively_in_their_conversations_only(store: SQLiteStore) -> None:
    store.append([msg(0, "#a", "Crème Brûlée tonight"), msg(1, "#ab", "creme for all"), msg(2, "#a", "no")])
    assert found(store, "CREME", "#a") == ["m0"]
    assert found(store, "creme", "#a", "#ab") == ["m0", "m1"]
    assert found(store, "brulee tonight", "#a") == ["m0"]
    assert found(store, "creme", "#nothing") == []
    assert found(store, "!!!", "#a") == []
    consistent(store)


def test_newest_last_limit_keeps_the_newest_and_after_reads_forward(store: SQLiteStore) -> None:
    store.append([msg(i, "#a", f"word {i}") for i in range(10)])
    assert found(store, "word", "#a", limit=3) == ["m7", "m8", "m9"]
    assert found(store, "word", "#a", limit=3, after_ms=T0 + 2) == ["m2", "m3", "m4"]
    assert found(store, "word", "#a", before_ms=T0 + 1) == ["m0", "m1"]


def test_each_conversation_is_searched_from_its_own_start(store: SQLiteStore) -> None:
    store.append([msg(0, "#a", "kiwi"), msg(1, "#b", "kiwi"), msg(2, "#a", "kiwi")])
    query = SearchQuery("kiwi", [("#a", T0 + 1), ("#b", 0)], 10)
    assert [row[1] for row in store.search(query)] == ["m1", "m2"]


def test_from_matches_the_senders_nick_with_the_given_fold(store: SQLiteStore) -> None:
    store.append([msg(0, "#a", "x y", source="Bob[1]!b@h"), msg(1, "#a", "x z", source="bobby!b@h")])
    rfc = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ[]\\~", "abcdefghijklmnopqrstuvwxyz{}|^")
    query = SearchQuery("x", [("#a", 0)], 10, source_nick="BOB{1}")
    assert [row[1] for row in store.search(query, fold=lambda s: s.translate(rfc))] == ["m0"]


def test_the_index_follows_redaction_retention_rename_and_deletion(store: SQLiteStore) -> None:
    store.append([msg(i, "#a" if i % 2 else "#b", f"apple {i}") for i in range(20)])
    store.append([msg(20, "#a", "join", command="JOIN")])
    consistent(store)
    assert store.delete_message("#a", "m1")
    assert "m1" not in found(store, "apple", "#a")
    consistent(store)
    store.prune(max_age_ms=None, max_per_target=5, now_ms=T0, budget=100)
    assert found(store, "apple", "#a") == ["m13", "m15", "m17", "m19"]  # and the JOIN
    consistent(store)
    store.rename_channel("#a", "#renamed")
    assert found(store, "apple", "#a") == []
    assert found(store, "apple", "#renamed") == ["m13", "m15", "m17", "m19"]
    consistent(store)
    store.delete_target("#renamed")
    assert found(store, "apple", "#renamed") == []
    store.prune(max_age_ms=1, max_per_target=None, now_ms=T0 + 10_000, budget=100)
    assert found(store, "apple", "#b") == []
    consistent(store)


def test_multiline_and_odd_parameters_are_indexed_by_their_text(store: SQLiteStore) -> None:
    multi = StoredMessage("m0", T0, "#a", "PRIVMSG", "a!b@c", ("#a", "first\nsecond banana"))
    plain = StoredMessage("m1", T0 + 1, "#a", "NOTICE", "a!b@c", ("#a", "banana"))  # one word, no colon
    odd = StoredMessage("m2", T0 + 2, "#a", "PRIVMSG", "a!b@c", ("#a", ":banana split"))
    store.append([multi, plain, odd])
    assert found(store, "banana", "#a") == ["m0", "m1", "m2"]
    assert found(store, "second", "#a") == ["m0"]
    store.delete_message("#a", "m0")
    consistent(store)


def test_a_search_past_its_budget_stops_with_search_timeout(store: SQLiteStore) -> None:
    store.append([msg(i, f"#c{i % 50}", "common words here") for i in range(5000)])
    query = SearchQuery("common", [(f"#c{i}", 0) for i in range(50)], 100, after_ms=0)
    with pytest.raises(SearchTimeout):
        store.search(query, budget_s=1e-9)
    assert len(store.search(query, budget_s=5.0)) == 100  # and the connection still works


# SQLite only: the migration of an SQLite file from schema version 12.
def test_the_migration_indexes_an_existing_history(tmp_path: Path) -> None:
    path = tmp_path / DATABASE_NAME
    db = database_at(path, 12)
    db.executemany(
        "INSERT INTO messages (msgid, target, time_ms, command, source, account, params, tags)"
        " VALUES (?, ?, ?, ?, ?, NULL, ?, NULL)",
        [
            ("m0", "#chat", T0, "PRIVMSG", "a!b@c", "#chat :old words here"),
            ("m1", "#chat", T0 + 1, "JOIN", "a!b@c", "#chat"),
            ("m2", "#chat", T0 + 2, "NOTICE", "a!b@c", "#chat :old notice"),
            ("m3", "#chat", T0 + 3, "PRIVMSG", "a!b@c", '\0["#chat","multi\\nold"]'),
        ],
    )
    db.close()
    (tmp_path / "hubbub.created").touch()
    with open_store(tmp_path) as store:
        assert store.previous_version == 12
        assert found(store, "old", "#chat") == ["m0", "m2", "m3"]
        consistent(store)
    with sqlite3.connect(path) as check:
        assert check.execute("SELECT version FROM schema_version").fetchone() == (13,)
