"""CHATHISTORY queries on a real SQLite store: ordering, limits, exclusive references."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest

from hubbub.store import EMPTY_TAGS, MessageRef, SQLiteStore, StoredMessage, StoreError, open_store
from tests.unit.store.conftest import Backend

T0 = 1_700_000_000_000


def msg(
    i: int,
    target: str = "#chat",
    time_ms: int | None = None,
    account: str | None = None,
    tags: Mapping[str, str] = EMPTY_TAGS,
) -> StoredMessage:
    """Message number ``i``: msgid ``m<i>``, at T0 + 10 * i unless told otherwise."""
    return StoredMessage(
        msgid=f"m{i}",
        time_ms=T0 + 10 * i if time_ms is None else time_ms,
        target=target,
        command="PRIVMSG",
        source=f"nick{i}!user@host",
        params=(target, f"text {i}"),
        account=account,
        tags=tags,
    )


def ids(messages: list[StoredMessage]) -> list[int]:
    return [int(m.msgid[1:]) for m in messages]


@pytest.fixture
def chat(store: SQLiteStore) -> SQLiteStore:
    """m0..m19 in #chat (times T0, T0+10, ...), interleaved with m100.. in #other."""
    for i in range(20):
        store.append([msg(i), msg(100 + i, "#other")])
    return store


def at(i: int) -> MessageRef:
    return MessageRef(msgid=f"m{i}")


def when(i: int, offset: int = 0) -> MessageRef:
    return MessageRef(time_ms=T0 + 10 * i + offset)


# SQLite only: the data directory and its file.
def test_append_creates_the_database_file_in_a_new_data_directory(tmp_path: Path) -> None:
    data = tmp_path / "a" / "b"
    with open_store(data) as s:
        s.append([msg(1)])
    assert (data / "hubbub.sqlite3").is_file()


def test_messages_survive_close_and_reopen_with_every_field(backend: Backend) -> None:
    original = msg(1, account="alice", tags={"+draft/react": "👍", "+draft/reply": "m0"})
    with backend.open_store() as s:
        s.append([original])
    with backend.open_store() as s:
        (back,) = s.latest("#chat", 10)
        assert back == original
        assert s.find("m1") == original
        assert s.find("nope") is None


def test_empty_params_and_empty_text_round_trip(store: SQLiteStore) -> None:
    quit_ = StoredMessage("q1", T0, "#chat", "QUIT", "a!b@c", ("",))
    tagmsg = StoredMessage("q2", T0, "#chat", "TAGMSG", "a!b@c", ())
    store.append([quit_, tagmsg])
    assert store.latest("#chat", 5) == [quit_, tagmsg]


def test_latest_returns_the_newest_in_ascending_order(chat: SQLiteStore) -> None:
    assert ids(chat.latest("#chat", 3)) == [17, 18, 19]
    assert ids(chat.latest("#chat", 100)) == list(range(20))
    assert ids(chat.latest("#other", 2)) == [118, 119]


def test_latest_after_a_reference_is_exclusive_and_keeps_the_newest(chat: SQLiteStore) -> None:
    assert ids(chat.latest("#chat", 3, after=at(10))) == [17, 18, 19]
    assert ids(chat.latest("#chat", 50, after=at(16))) == [17, 18, 19]
    assert ids(chat.latest("#chat", 50, after=at(19))) == []
    assert ids(chat.latest("#chat", 50, after=when(17))) == [18, 19]
    assert ids(chat.latest("#chat", 50, after=when(17, -1))) == [17, 18, 19]


def test_before_is_exclusive_and_takes_those_immediately_before(chat: SQLiteStore) -> None:
    assert ids(chat.before("#chat", at(10), 3)) == [7, 8, 9]
    assert ids(chat.before("#chat", at(2), 5)) == [0, 1]
    assert ids(chat.before("#chat", at(0), 5)) == []
    assert ids(chat.before("#chat", when(10), 3)) == [7, 8, 9]
    assert ids(chat.before("#chat", when(10, 1), 3)) == [8, 9, 10]
    assert ids(chat.before("#chat", MessageRef(time_ms=T0 + 10_000), 2)) == [18, 19]


def test_after_is_exclusive_and_takes_those_immediately_after(chat: SQLiteStore) -> None:
    assert ids(chat.after("#chat", at(10), 3)) == [11, 12, 13]
    assert ids(chat.after("#chat", at(18), 5)) == [19]
    assert ids(chat.after("#chat", when(10), 3)) == [11, 12, 13]
    assert ids(chat.after("#chat", when(10, -1), 3)) == [10, 11, 12]
    assert ids(chat.after("#chat", MessageRef(time_ms=0), 2)) == [0, 1]
    assert ids(chat.after("#chat", MessageRef(time_ms=T0 + 10_000), 2)) == []


def test_around_a_msgid_includes_it_in_the_middle(chat: SQLiteStore) -> None:
    assert ids(chat.around("#chat", at(10), 5)) == [8, 9, 10, 11, 12]
    assert ids(chat.around("#chat", at(10), 4)) == [9, 10, 11, 12]
    assert ids(chat.around("#chat", at(10), 1)) == [10]
    assert ids(chat.around("#chat", at(1), 7)) == [0, 1, 2, 3, 4]
    assert ids(chat.around("#chat", at(19), 5)) == [17, 18, 19]


def test_around_a_timestamp_splits_the_limit_on_both_sides(chat: SQLiteStore) -> None:
    assert ids(chat.around("#chat", when(10, 5), 4)) == [9, 10, 11, 12]
    # A message stamped exactly at the timestamp is around it: it opens the newer half.
    assert ids(chat.around("#chat", when(10), 4)) == [8, 9, 10, 11]


def test_between_forward_starts_next_to_start(chat: SQLiteStore) -> None:
    assert ids(chat.between("#chat", at(3), at(9), 100)) == [4, 5, 6, 7, 8]
    assert ids(chat.between("#chat", at(3), at(9), 2)) == [4, 5]
    assert ids(chat.between("#chat", when(3), when(9), 2)) == [4, 5]
    assert ids(chat.between("#chat", at(3), when(9, 1), 100)) == [4, 5, 6, 7, 8, 9]
    assert ids(chat.between("#chat", when(2, 5), at(6), 100)) == [3, 4, 5]


def test_between_backward_takes_the_newest_next_to_start_still_ascending(chat: SQLiteStore) -> None:
    assert ids(chat.between("#chat", at(9), at(3), 100)) == [4, 5, 6, 7, 8]
    assert ids(chat.between("#chat", at(9), at(3), 2)) == [7, 8]
    assert ids(chat.between("#chat", when(9), when(3), 2)) == [7, 8]
    assert ids(chat.between("#chat", when(9, 1), at(3), 3)) == [7, 8, 9]


def test_between_neighbours_or_the_same_reference_is_empty(chat: SQLiteStore) -> None:
    assert chat.between("#chat", at(4), at(5), 10) == []
    assert chat.between("#chat", at(4), at(4), 10) == []
    assert chat.between("#chat", when(4, 1), when(4, 5), 10) == []


def test_a_zero_or_negative_limit_returns_nothing(chat: SQLiteStore) -> None:
    assert chat.latest("#chat", 0) == []
    assert chat.before("#chat", at(10), 0) == []
    assert chat.after("#chat", at(10), -1) == []
    assert chat.around("#chat", at(10), 0) == []
    assert chat.between("#chat", at(1), at(10), 0) == []


def test_an_unknown_target_has_no_history(chat: SQLiteStore) -> None:
    assert chat.latest("#nobody", 10) == []
    assert chat.before("#nobody", when(10), 10) == []


def test_a_msgid_unknown_or_from_another_target_is_an_error(chat: SQLiteStore) -> None:
    for query in (
        lambda: chat.before("#chat", MessageRef(msgid="missing"), 5),
        lambda: chat.after("#chat", at(105), 5),  # m105 is in #other
        lambda: chat.latest("#chat", 5, after=at(105)),
        lambda: chat.around("#chat", MessageRef(msgid="missing"), 5),
        lambda: chat.between("#chat", at(1), MessageRef(msgid="missing"), 5),
    ):
        with pytest.raises(StoreError):
            query()


def test_history_order_is_append_order_not_time_order(store: SQLiteStore) -> None:
    # Equal timestamps are common (one loop turn); the order of delivery is what counts.
    store.append([msg(i, time_ms=T0) for i in range(5)])
    assert ids(store.latest("#chat", 10)) == [0, 1, 2, 3, 4]
    assert ids(store.before("#chat", at(3), 2)) == [1, 2]
    assert ids(store.after("#chat", MessageRef(time_ms=T0 - 1), 10)) == [0, 1, 2, 3, 4]
    assert store.after("#chat", MessageRef(time_ms=T0), 10) == []


def test_a_duplicate_msgid_fails_the_whole_batch(store: SQLiteStore) -> None:
    store.append([msg(1)])
    with pytest.raises(StoreError):
        store.append([msg(2), msg(3), msg(1)])
    assert ids(store.latest("#chat", 10)) == [1]
    # The store is still usable after the failed transaction.
    store.append([msg(2)])
    assert ids(store.latest("#chat", 10)) == [1, 2]


def test_an_empty_batch_is_a_no_op(store: SQLiteStore) -> None:
    store.append([])
    assert store.latest("#chat", 10) == []


def test_message_ref_needs_exactly_one_kind() -> None:
    with pytest.raises(ValueError):
        MessageRef()
    with pytest.raises(ValueError):
        MessageRef(msgid="m1", time_ms=1)


def test_a_closed_store_refuses_work(backend: Backend) -> None:
    s = backend.open_store()
    s.close()
    with pytest.raises(StoreError):
        s.latest("#chat", 1)


def test_timestamp_references_are_placed_exactly_in_a_long_interleaved_history(store: SQLiteStore) -> None:
    # 3000 messages over three targets, seven per millisecond: many probes of the binary search,
    # gaps in each target's ids, and runs of equal times.
    everything = [msg(i, target=("#a", "#b", "#c")[i % 3], time_ms=T0 + i // 7) for i in range(3000)]
    for first in range(0, 3000, 100):
        store.append(everything[first : first + 100])
    history = [m for m in everything if m.target == "#b"]
    for time_ms in range(T0 - 1, T0 + 3000 // 7 + 2, 13):
        ref = MessageRef(time_ms=time_ms)
        assert store.before("#b", ref, 5) == [m for m in history if m.time_ms < time_ms][-5:]
        assert store.after("#b", ref, 5) == [m for m in history if m.time_ms > time_ms][:5]


def test_one_event_may_keep_its_msgid_in_several_conversations(store: SQLiteStore) -> None:
    quit_a = StoredMessage("q1", T0, "#a", "QUIT", "n!u@h", ("bye",))
    quit_b = StoredMessage("q1", T0, "#b", "QUIT", "n!u@h", ("bye",))
    store.append([quit_a, quit_b])
    assert store.latest("#a", 10) == [quit_a] and store.latest("#b", 10) == [quit_b]
    assert store.around("#b", MessageRef("q1"), 3) == [quit_b]
    assert store.known_messages([quit_a, quit_b]) == {("q1", "#a"), ("q1", "#b")}
    with pytest.raises(StoreError):
        store.append([quit_a])  # but never twice in one conversation
