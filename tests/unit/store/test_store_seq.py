"""The PostgreSQL store's order: seq 1, 2, 3 ... per conversation, with no gap, in commit order.

Several servers append to one database (cluster mode): each "node" here is a store of its own,
with its own connections, appending from its own thread as a server's writer does. Also: one
transaction around several calls, and a database that goes away and comes back.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest

from hubbub.store import MessageRef, StoredMessage, StoreError
from hubbub.store.pg_accounts import PostgresAccountStore
from hubbub.store.postgres import PostgresStore
from hubbub.store.url import check_store_url, open_accounts_url, open_store_url
from tests.support.services import PostgresServer
from tests.unit.store.conftest import Backend

T0 = 1_700_000_000_000


def say(msgid: str, target: str = "#chat", time_ms: int = T0) -> StoredMessage:
    return StoredMessage(msgid, time_ms, target, "PRIVMSG", "n!u@h", (target, f"text of {msgid}"))


@pytest.fixture
def pg(pg_url: str) -> Any:
    store = PostgresStore(pg_url)
    yield store
    store.close()


def test_seqs_count_up_per_conversation_from_one(pg: PostgresStore) -> None:
    assert pg.last_seq("#a") == 0
    assert pg.append([say("1", "#a"), say("2", "#b"), say("3", "#a")]) == [1, 1, 2]
    assert pg.append([say("4", "#b"), say("5", "#b"), say("6", "#a")]) == [2, 3, 3]
    assert pg.append([]) == []
    assert (pg.last_seq("#a"), pg.last_seq("#b")) == (3, 3)
    assert [(seq, m.msgid) for seq, m in pg.since_seq("#a", 0, 10)] == [(1, "1"), (2, "3"), (3, "6")]
    assert [(seq, m.msgid) for seq, m in pg.since_seq("#b", 1, 10)] == [(2, "4"), (3, "5")]
    assert [seq for seq, _ in pg.since_seq("#a", 0, 2)] == [1, 2]
    assert pg.since_seq("#a", 3, 10) == [] and pg.since_seq("#a", 0, 0) == []
    (first,) = pg.since_seq("#a", 0, 1)
    assert first[1] == say("1", "#a")


def test_a_failed_batch_gives_out_no_seq(pg: PostgresStore) -> None:
    pg.append([say("1")])
    with pytest.raises(StoreError):
        pg.append([say("2"), say("1")])  # a msgid already in #chat: the batch is refused whole
    assert pg.append([say("3")]) == [2]
    assert [seq for seq, _ in pg.since_seq("#chat", 0, 10)] == [1, 2]


def test_history_order_is_seq_order_not_time_order(pg: PostgresStore) -> None:
    # A node whose clock is behind appends after one whose clock is ahead: seq decides.
    pg.append([say("ahead", time_ms=T0 + 5_000)])
    pg.append([say("behind", time_ms=T0)])
    assert [m.msgid for m in pg.latest("#chat", 10)] == ["ahead", "behind"]
    assert [m.msgid for m in pg.after("#chat", MessageRef(msgid="ahead"), 10)] == ["behind"]


def test_a_time_reference_finds_the_first_message_at_that_time_in_seq_order(pg: PostgresStore) -> None:
    # Two nodes: b stamped its messages first, a committed first (a cluster's order gate keeps
    # this order). "Since T0" must keep all four, not start at b's early stamp.
    pg.append([say("a1", time_ms=T0 + 3), say("a2", time_ms=T0 + 3)])
    pg.append([say("b1", time_ms=T0 + 1), say("b2", time_ms=T0 + 2)])
    everything = ["a1", "a2", "b1", "b2"]
    assert [m.msgid for m in pg.latest("#chat", 10, MessageRef(time_ms=T0))] == everything
    assert [m.msgid for m in pg.after("#chat", MessageRef(time_ms=T0), 10)] == everything
    assert [m.msgid for m in pg.before("#chat", MessageRef(time_ms=T0 + 1), 10)] == []


def test_deleting_a_conversation_keeps_its_counter(pg: PostgresStore) -> None:
    pg.append([say("1"), say("2")])
    assert pg.delete_target("#chat") == 2
    # A seq once given out is never given again: a node that saw 2 must not miss a new 1.
    assert pg.append([say("3")]) == [3]


def test_a_renamed_channel_is_numbered_on_after_its_new_name(pg: PostgresStore) -> None:
    pg.append([say("old1", "#new"), say("a", "#old"), say("b", "#old")])
    pg.rename_channel("#old", "#new")
    assert [(seq, m.msgid) for seq, m in pg.since_seq("#new", 0, 10)] == [(1, "old1"), (2, "a"), (3, "b")]
    assert pg.last_seq("#new") == 3
    assert pg.append([say("c", "#new"), say("d", "#old")]) == [4, 3]


@pytest.mark.timeout(120)
def test_two_nodes_appending_at_once_get_every_seq_once_in_history_order(pg_url: str) -> None:
    nodes = [PostgresStore(pg_url), PostgresStore(pg_url)]
    rounds = 150
    got: list[list[tuple[int, str]]] = [[], []]
    failures: list[BaseException] = []
    start = threading.Barrier(2)

    def node(n: int) -> None:
        store = nodes[n]
        # Each batch touches #chat and another channel, the two nodes naming them in opposite
        # orders: the counters are locked in one order whatever the batch says, so no deadlock.
        other = "#zz" if n else "#aa"
        try:
            start.wait(10)
            for i in range(rounds):
                batch = [say(f"n{n}-{i}"), say(f"n{n}-{i}-o", other)]
                if n:
                    batch.reverse()
                seqs = store.append(batch)
                got[n].append((seqs[[m.target for m in batch].index("#chat")], f"n{n}-{i}"))
        except BaseException as exc:  # reported below, in the test's thread
            failures.append(exc)

    threads = [threading.Thread(target=node, args=(n,)) for n in (0, 1)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(100)
        assert not failures, failures
        everything = sorted(got[0] + got[1])
        assert [seq for seq, _ in everything] == list(range(1, 2 * rounds + 1))  # no gap, no twice
        for mine in got:  # each node's own appends in the order it made them
            assert [seq for seq, _ in mine] == sorted(seq for seq, _ in mine)
        history = [m.msgid for m in nodes[0].latest("#chat", 10 * rounds)]
        assert history == [msgid for _, msgid in everything]
        assert [m.msgid for _, m in nodes[1].since_seq("#chat", 0, 10 * rounds)] == history
        assert nodes[1].last_seq("#chat") == 2 * rounds
    finally:
        for store in nodes:
            store.close()


def test_nodes_opening_a_new_database_at_once_migrate_it_once(pg_url: str) -> None:
    opened: list[Any] = []
    failures: list[BaseException] = []

    def open_one() -> None:
        try:
            opened.append(PostgresStore(pg_url))
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    try:
        assert not failures, failures
        assert sorted(s.previous_version for s in opened) == [0, 1, 1, 1]
    finally:
        for store in opened:
            store.close()


def test_a_transaction_holds_several_calls_and_a_failure_undoes_them_all(backend: Backend) -> None:
    store = backend.open_store()
    with store.transaction():
        store.append([say("1")])
        with store.transaction():  # a nested one joins it
            store.append([say("2")])
        assert [m.msgid for m in store.latest("#chat", 10)] == ["1", "2"]  # it sees its own writes
    with pytest.raises(RuntimeError), store.transaction():
        store.append([say("3")])
        store.begin_channel_life("#chat", T0, False)
        raise RuntimeError("the block failed")
    assert [m.msgid for m in store.latest("#chat", 10)] == ["1", "2"]
    assert store.channel_lives() == {}
    store.append([say("4")])
    assert [m.msgid for m in store.latest("#chat", 10)] == ["1", "2", "4"]


def test_a_lost_database_gives_store_errors_then_the_store_reconnects(
    postgres: PostgresServer, pg_url: str
) -> None:
    store = PostgresStore(pg_url, timeout_s=10)
    accounts = PostgresAccountStore(pg_url, timeout_s=10)
    try:
        store.append([say("1")])
        assert accounts.read_marker("id", "#chat") is None
        postgres.kill()
        with pytest.raises(StoreError):
            store.append([say("2")])
        with pytest.raises(StoreError):
            store.latest("#chat", 10)
        with pytest.raises(StoreError):
            accounts.set_read_marker("id", "#chat", T0)
        postgres.start()  # crash recovery: what was committed is there
        assert store.append([say("3")]) == [2]
        assert [m.msgid for m in store.latest("#chat", 10)] == ["1", "3"]
        assert accounts.set_read_marker("id", "#chat", T0) == T0
    finally:
        store.close()
        accounts.close()


def test_a_closed_postgres_store_refuses_work(pg: PostgresStore) -> None:
    pg.close()
    pg.close()  # twice is harmless
    with pytest.raises(StoreError, match="closed"):
        pg.append([say("1")])


def test_store_urls_name_postgresql_and_nothing_else(pg_url: str) -> None:
    for bad in ("sqlite:///tmp/x", "/var/lib/hubbub", "mysql://u:secret@h/db", ""):
        with pytest.raises(StoreError, match="postgresql://") as error:
            check_store_url(bad)
        assert "secret" not in str(error.value)
    with open_store_url(pg_url) as store:
        assert store.append([say("1")]) == [1]
    accounts = open_accounts_url(pg_url.replace("postgresql://", "postgres://", 1))
    accounts.close()


def test_an_unreachable_database_fails_to_open_with_a_store_error() -> None:
    with pytest.raises(StoreError):
        PostgresStore("postgresql://nobody@127.0.0.1:1/nothing", timeout_s=5)


@pytest.mark.timeout(60)
def test_a_database_that_stops_answering_fails_calls_in_time_and_the_store_recovers(
    postgres: PostgresServer, pg_url: str
) -> None:
    store = PostgresStore(pg_url, timeout_s=1.5)
    try:
        assert store.append([say("1")]) == [1]
        postgres.freeze()
        try:
            with pytest.raises(StoreError, match="no answer"):
                store.append([say("2")])
            with pytest.raises(StoreError):
                store.latest("#chat", 10)
        finally:
            postgres.thaw()
        # The append that got no answer may have been committed after all (its reply was lost,
        # not necessarily its request): either way the seqs stay gapless and in history order.
        seqs = store.append([say("3")])
        history = [(seq, m.msgid) for seq, m in store.since_seq("#chat", 0, 10)]
        assert history in ([(1, "1"), (2, "3")], [(1, "1"), (2, "2"), (3, "3")])
        assert seqs == [history[-1][0]]
        assert [m.msgid for m in store.latest("#chat", 10)] == [msgid for _, msgid in history]
    finally:
        store.close()
