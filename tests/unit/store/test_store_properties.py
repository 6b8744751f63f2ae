"""Property: after random append batches, every query agrees with a plain list model."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hubbub.store import MessageRef, SQLiteStore, StoredMessage, StoreError, open_store
from hubbub.store.postgres import PostgresStore

TARGETS = ("#a", "#b", "@x,y")


class Model:
    """The history of one target as a list, queried by definition rather than by index."""

    def __init__(self, history: list[StoredMessage]) -> None:
        self.history = history

    def _index(self, msgid: str) -> int:
        for i, m in enumerate(self.history):
            if m.msgid == msgid:
                return i
        raise KeyError(msgid)

    def precedes(self, ref: MessageRef) -> list[StoredMessage]:
        if ref.msgid is not None:
            return self.history[: self._index(ref.msgid)]
        return [m for m in self.history if m.time_ms < ref.time_ms]  # type: ignore[operator]

    def follows(self, ref: MessageRef) -> list[StoredMessage]:
        if ref.msgid is not None:
            return self.history[self._index(ref.msgid) + 1 :]
        return [m for m in self.history if m.time_ms > ref.time_ms]  # type: ignore[operator]

    def latest(self, limit: int, after: MessageRef | None) -> list[StoredMessage]:
        pool = self.history if after is None else self.follows(after)
        return pool[-limit:] if limit > 0 else []

    def before(self, ref: MessageRef, limit: int) -> list[StoredMessage]:
        return self.precedes(ref)[-limit:] if limit > 0 else []

    def after(self, ref: MessageRef, limit: int) -> list[StoredMessage]:
        return self.follows(ref)[:limit] if limit > 0 else []

    def around(self, ref: MessageRef, limit: int) -> list[StoredMessage]:
        if limit <= 0:
            return []
        if ref.msgid is not None:
            n_before = (limit - 1) // 2
            older = self.precedes(ref)[-n_before:] if n_before else []
            return [*older, self.history[self._index(ref.msgid)], *self.follows(ref)[: limit - 1 - n_before]]
        n_before = limit // 2
        older = self.precedes(ref)[-n_before:] if n_before else []
        # messages stamped exactly at the timestamp belong to the newer half
        newer = [m for m in self.history if m.time_ms >= (ref.time_ms or 0)]
        return older + newer[: limit - n_before]

    def between(self, start: MessageRef, end: MessageRef, limit: int) -> list[StoredMessage]:
        if limit <= 0:
            return []
        forward = [m for m in self.follows(start) if m in self.precedes(end)]
        backward = [m for m in self.follows(end) if m in self.precedes(start)]
        assert not (forward and backward)  # one history order: at most one of them
        return forward[:limit] if forward else backward[-limit:]


@st.composite
def histories(draw: st.DrawFn) -> list[list[StoredMessage]]:
    """Batches of messages over a few targets; server time never goes backwards."""
    batches = []
    now = 1_000
    n = 0
    for _ in range(draw(st.integers(0, 8))):
        batch = []
        for _ in range(draw(st.integers(1, 12))):
            now += draw(st.sampled_from((0, 0, 1, 2, 5)))
            target = draw(st.sampled_from(TARGETS))
            batch.append(StoredMessage(f"id{n}", now, target, "PRIVMSG", "s!u@h", (target, str(n))))
            n += 1
        batches.append(batch)
    return batches


def refs(draw: st.DrawFn, history: list[StoredMessage]) -> MessageRef:
    times = [m.time_ms for m in history] or [1_000]
    if history and draw(st.booleans()):
        return MessageRef(msgid=draw(st.sampled_from(history)).msgid)
    return MessageRef(time_ms=draw(st.integers(min(times) - 2, max(times) + 2)))


def run_both(
    store: SQLiteStore, model: Model, target: str, kind: str, limit: int, ref: MessageRef, other: MessageRef
) -> tuple[list[StoredMessage], list[StoredMessage]]:
    """One query against the store and against the model."""
    if kind == "latest":
        return store.latest(target, limit), model.latest(limit, None)
    if kind == "latest-after":
        return store.latest(target, limit, after=ref), model.latest(limit, ref)
    if kind == "before":
        return store.before(target, ref, limit), model.before(ref, limit)
    if kind == "after":
        return store.after(target, ref, limit), model.after(ref, limit)
    if kind == "around":
        return store.around(target, ref, limit), model.around(ref, limit)
    return store.between(target, ref, other, limit), model.between(ref, other, limit)


def agrees_with_a_list_model(store: Any, batches: list[list[StoredMessage]], data: st.DataObject) -> None:
    """Append ``batches`` to the empty ``store``, then check drawn queries against the model."""
    for batch in batches:
        store.append(batch)
    everything = [m for batch in batches for m in batch]
    for _ in range(10):
        target = data.draw(st.sampled_from(TARGETS))
        model = Model([m for m in everything if m.target == target])
        limit = data.draw(st.integers(0, 10))
        ref = refs(data.draw, model.history)
        other = refs(data.draw, model.history)
        kind = data.draw(st.sampled_from(("latest", "latest-after", "before", "after", "around", "between")))
        got, want = run_both(store, model, target, kind, limit, ref, other)
        assert [m.msgid for m in got] == [m.msgid for m in want], (kind, target, limit, ref, other)
    # A msgid from another conversation is never a valid reference.
    for m in everything:
        wrong = next(t for t in TARGETS if t != m.target)
        try:
            store.before(wrong, MessageRef(msgid=m.msgid), 1)
        except StoreError:
            continue
        raise AssertionError(f"{m.msgid} accepted as a reference in {wrong}")


# Shrinking a failure opens many stores: give it time to report the smallest example.
@pytest.mark.timeout(300)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(histories(), st.data())
def test_queries_agree_with_a_list_model(batches: list[list[StoredMessage]], data: st.DataObject) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store: SQLiteStore = open_store(tmp)
        try:
            agrees_with_a_list_model(store, batches, data)
        finally:
            store.close()


@pytest.fixture
def pg_store(pg_url: str) -> Iterator[PostgresStore]:
    store = PostgresStore(pg_url)
    yield store
    store.close()


# The same on PostgreSQL: one store (one database) for every example, emptied before each.
@pytest.mark.timeout(300)
@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(histories(), st.data())
def test_postgres_queries_agree_with_a_list_model(
    pg_store: PostgresStore, batches: list[list[StoredMessage]], data: st.DataObject
) -> None:
    async def empty(c: Any) -> None:
        await c.execute("TRUNCATE messages, conversations, target_seq")

    pg_store._db.write("empty the store", empty)
    agrees_with_a_list_model(pg_store, batches, data)
