"""The order a node delivers each conversation in: the store's numbers, whatever arrives first.

In process, on a real PostgreSQL store (the numbers are its own) and a real Server, without
Redis: batches and commits are handed to the cluster's gate as the bus and the writer would.
"""

from __future__ import annotations

import asyncio

from hubbub.server.app import Server
from hubbub.server.cluster import Cluster, _Pending
from hubbub.server.config import Settings
from hubbub.store import StoredMessage
from hubbub.store.postgres import PostgresStore


def _message(n: int) -> StoredMessage:
    return StoredMessage(f"id{n}", 1_000 + n, "#t", "PRIVMSG", "x!u@h", ("#t", str(n)), None, {})


def _batch(first: int, last: int) -> _Pending:
    return _Pending({"#t": [first, last]}, header={"p": [], "r": [], "s": {"#t": [first, last]}})


async def test_a_batch_waits_for_earlier_numbers_and_a_missing_one_is_read_from_the_store(
    pg_url: str,
) -> None:
    store = PostgresStore(pg_url)
    try:
        assert store.append([_message(n) for n in range(1, 6)]) == [1, 2, 3, 4, 5]
        cluster = Cluster(Server(Settings(cluster_url="redis://127.0.0.1:1/0", cluster_order_wait=0.05)))
        asked: list[tuple[str, int, int]] = []

        def read_gap(target: str, after: int, upto: int) -> list[StoredMessage]:
            asked.append((target, after, upto))
            return [m for _seq, m in store.since_seq(target, after, upto - after)]

        cluster.read_gap = read_gap
        cluster.read_last = store.last_seq
        cluster.delivered["#t"] = 1
        # from node c, numbers 4..5: 2..3 (node b's) have not come yet
        cluster._enqueue("c/1", _batch(4, 5))
        assert cluster.delivered["#t"] == 1 and cluster.waiting_for_order
        # b's arrives: both go, in order
        cluster._enqueue("b/1", _batch(2, 3))
        assert cluster.delivered["#t"] == 5 and not cluster.waiting_for_order
        # from c again, 7..7: 6 was committed by a node that died before sending it
        assert store.append([_message(6), _message(7)]) == [6, 7]
        cluster._enqueue("c/1", _batch(7, 7))
        assert cluster.delivered["#t"] == 5
        deadline = asyncio.get_running_loop().time() + 5
        while cluster.waiting_for_order:
            assert asyncio.get_running_loop().time() < deadline, "the gap was never filled"
            await asyncio.sleep(0.01)
        assert asked == [("#t", 5, 6)]
        assert cluster.delivered["#t"] == 7
        # a late copy of what was read from the store is dropped, not delivered twice
        cluster._enqueue("d/1", _batch(6, 6))
        assert cluster.delivered["#t"] == 7 and not cluster.waiting_for_order
        # a member that joins: its numbers (and a node's order, for its first member) start
        # after the store's last number
        cluster.delivered.clear()
        assert cluster._joined("#t", (cluster.me, 1)).after == 7
    finally:
        store.close()


async def test_only_numbers_nothing_here_holds_are_read_and_a_dead_node_s_at_once(pg_url: str) -> None:
    store = PostgresStore(pg_url)
    try:
        # a long wait: only a node's death makes the gap be filled within this test
        cluster = Cluster(Server(Settings(cluster_url="redis://127.0.0.1:1/0", cluster_order_wait=30)))
        asked: list[tuple[str, int, int]] = []

        def read_gap(target: str, after: int, upto: int) -> list[StoredMessage]:
            asked.append((target, after, upto))
            return [m for _seq, m in store.since_seq(target, after, upto - after)]

        cluster.read_gap = read_gap
        cluster.nodes.add("b/1")
        assert store.append([_message(n) for n in range(1, 6)]) == [1, 2, 3, 4, 5]
        cluster.delivered["#t"] = 0
        cluster._enqueue("c/1", _batch(5, 5))  # c's 5 waits for 1..4
        cluster._enqueue("d/1", _batch(3, 4))  # d's 3..4 waits for 1..2
        loop = asyncio.get_running_loop()
        until = loop.time() + 0.2
        while loop.time() < until:
            assert cluster.delivered["#t"] == 0 and cluster.waiting_for_order
            await asyncio.sleep(0.02)
        cluster.node_died("b/1")  # 1..2 were b's, which is gone: read now, and only those
        deadline = loop.time() + 5
        while cluster.waiting_for_order:
            assert loop.time() < deadline, "the numbers of a node that died were never read"
            await asyncio.sleep(0.01)
        assert asked == [("#t", 0, 2)]
        assert cluster.delivered["#t"] == 5
    finally:
        store.close()


async def test_a_join_mark_settles_at_the_first_message_written_after_it() -> None:
    """Where a node's numbering stood when it learnt of a member's JOIN becomes, at its next
    commit in that conversation, the member's first number from this node (docs/cluster.md)."""
    server = Server(Settings(cluster_url="redis://127.0.0.1:1/0"))
    cluster = Cluster(server)
    delivery = server.delivery
    other = StoredMessage("u1", 1_000, "#u", "PRIVMSG", "x!u@h", ("#u", "u"), None, {})
    cluster._learn("#t", ("b/1", 1))  # nothing gathered yet: the next epoch is all after it
    delivery.record(_message(1))
    delivery.record(other)
    delivery.record(_message(2))
    cluster._learn("#t", ("b/1", 2))  # after two of #t's messages of this epoch
    delivery.record(_message(3))
    first = delivery.epoch
    assert first is not None
    assert cluster._resolve(first, {"#t": [10, 12], "#u": [4, 4]}) == {"#t": {("b/1", 1): 10, ("b/1", 2): 12}}
    assert not cluster._marks  # settled marks are gone
    delivery.submit()  # no writer here: committed at once
    delivery.record(_message(4))
    cluster._learn("#t", ("b/1", 3))  # after every #t message of the next epoch
    second = delivery.epoch
    assert second is not None and second is not first
    cluster._learn("#u", ("b/1", 4))
    # an epoch sent to the store before a mark leaves it for a later one
    assert cluster._resolve(first, {"#u": [5, 5]}) == {"#u": {}}
    assert cluster._resolve(second, {"#t": [13, 13], "#u": [6, 6]}) == {
        "#t": {("b/1", 3): 14},
        "#u": {("b/1", 4): 6},
    }
