"""Retention: pruning by age and by count in bounded chunks, and deleting a whole conversation."""

from __future__ import annotations

from hubbub.store import SQLiteStore, StoredMessage

T0 = 1_700_000_000_000
DAY = 86_400_000


def say(target: str, n: int, time_ms: int) -> StoredMessage:
    return StoredMessage(f"{target}-{n}", time_ms, target, "PRIVMSG", "a!b@c", (target, str(n)))


def numbers(store: SQLiteStore, target: str) -> list[int]:
    return [int(m.msgid.rsplit("-", 1)[1]) for m in store.latest(target, 10_000)]


def counts(store: SQLiteStore) -> dict[str, int]:
    return {key: n for key, n, _last in store.conversations()}


def test_prune_by_age_deletes_only_old_messages_within_the_budget(store: SQLiteStore) -> None:
    # Day d holds messages 10d .. 10d+9, alternating between two channels.
    for day in range(10):
        store.append([say("#a" if n % 2 else "#b", 10 * day + n, T0 + day * DAY + n) for n in range(10)])
    now = T0 + 10 * DAY
    # Keep 3 days: the messages of days 0..6 (70 rows) must go, 25 at a time.
    rounds = []
    while deleted := store.prune(max_age_ms=3 * DAY, max_per_target=None, now_ms=now, budget=25):
        rounds.append(deleted)
    assert rounds == [25, 25, 20]
    assert numbers(store, "#a") == [n for n in range(70, 100) if n % 2]
    assert numbers(store, "#b") == [n for n in range(70, 100) if not n % 2]
    assert counts(store) == {"#a": 15, "#b": 15}


def test_prune_by_age_removes_conversations_left_empty(store: SQLiteStore) -> None:
    store.append([say("#old", 1, T0), say("#new", 2, T0 + 2 * DAY)])
    assert store.prune(max_age_ms=DAY, max_per_target=None, now_ms=T0 + 2 * DAY) == 1
    assert counts(store) == {"#new": 1}
    assert store.targets(0, T0 * 2, 10, channels=["#old", "#new"], participant="x") == [
        ("#new", T0 + 2 * DAY)
    ]


def test_prune_by_count_keeps_the_newest_of_each_conversation(store: SQLiteStore) -> None:
    store.append([say("#big", n, T0 + n) for n in range(50)])
    store.append([say("#small", n, T0 + n) for n in range(3)])
    store.append([say("#big", n, T0 + n) for n in range(50, 60)])
    rounds = []
    while deleted := store.prune(max_age_ms=None, max_per_target=5, now_ms=T0, budget=20):
        rounds.append(deleted)
    assert rounds == [20, 20, 15]
    assert numbers(store, "#big") == [55, 56, 57, 58, 59]
    assert numbers(store, "#small") == [0, 1, 2]
    assert counts(store) == {"#big": 5, "#small": 3}


def test_prune_by_age_and_count_together_respects_one_budget(store: SQLiteStore) -> None:
    store.append([say("#a", n, T0 + n * DAY) for n in range(10)])
    now = T0 + 10 * DAY
    assert store.prune(max_age_ms=5 * DAY + 1, max_per_target=2, now_ms=now, budget=6) == 6
    assert numbers(store, "#a") == [6, 7, 8, 9]
    assert store.prune(max_age_ms=5 * DAY + 1, max_per_target=2, now_ms=now, budget=6) == 2
    assert numbers(store, "#a") == [8, 9]
    assert store.prune(max_age_ms=5 * DAY + 1, max_per_target=2, now_ms=now, budget=6) == 0


def test_prune_with_nothing_to_do_or_no_budget_deletes_nothing(store: SQLiteStore) -> None:
    store.append([say("#a", n, T0 + n) for n in range(5)])
    assert store.prune(max_age_ms=None, max_per_target=None, now_ms=T0) == 0
    assert store.prune(max_age_ms=DAY, max_per_target=10, now_ms=T0 + 10) == 0
    assert store.prune(max_age_ms=0, max_per_target=0, now_ms=T0 + DAY, budget=0) == 0
    assert numbers(store, "#a") == [0, 1, 2, 3, 4]


def test_appending_after_pruning_keeps_counts_right(store: SQLiteStore) -> None:
    store.append([say("#a", n, T0 + n) for n in range(10)])
    store.prune(max_age_ms=None, max_per_target=4, now_ms=T0)
    store.append([say("#a", n, T0 + n) for n in range(10, 13)])
    assert counts(store) == {"#a": 7}
    store.prune(max_age_ms=None, max_per_target=4, now_ms=T0)
    assert numbers(store, "#a") == [9, 10, 11, 12]


def test_delete_target_removes_one_conversation_only(store: SQLiteStore) -> None:
    store.append([say("#a" if n % 2 else "#b", n, T0 + n) for n in range(10)])
    assert store.delete_target("#a") == 5
    assert store.latest("#a", 10) == []
    assert numbers(store, "#b") == [0, 2, 4, 6, 8]
    assert counts(store) == {"#b": 5}
    assert store.find("#a-1") is None
    assert store.delete_target("#a") == 0
    # The key can be used again from scratch.
    store.append([say("#a", 99, T0 + 99)])
    assert numbers(store, "#a") == [99]
    assert counts(store) == {"#a": 1, "#b": 5}
