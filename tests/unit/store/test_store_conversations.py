"""Direct-conversation keys and the TARGETS listing."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hubbub.protocol import CHANTYPES
from hubbub.store import MessageRef, SQLiteStore, StoredMessage, dm_key, dm_peer, dm_sides

T0 = 1_700_000_000_000

nicks = st.text(alphabet=st.characters(blacklist_characters=",", blacklist_categories=("Cs",)), min_size=1)


@given(nicks, nicks)
def test_dm_key_is_symmetric_and_never_a_channel_name(a: str, b: str) -> None:
    key = dm_key(a, b)
    assert key == dm_key(b, a)
    assert key[0] not in CHANTYPES
    assert dm_sides(key) == tuple(sorted((a, b)))
    assert dm_peer(key, a) == b
    assert dm_peer(key, b) == a


def test_dm_keys_of_different_pairs_differ() -> None:
    assert dm_key("ab", "c") != dm_key("a", "bc")
    assert dm_key("alice", "alice") == "@alice,alice"
    assert dm_peer(dm_key("alice", "alice"), "alice") == "alice"


def test_dm_key_refuses_names_it_cannot_split() -> None:
    for bad in ("", "a,b"):
        with pytest.raises(ValueError):
            dm_key(bad, "bob")


def test_dm_peer_refuses_a_stranger_or_a_channel() -> None:
    with pytest.raises(ValueError):
        dm_peer(dm_key("alice", "bob"), "carol")
    with pytest.raises(ValueError):
        dm_peer("#chat", "alice")
    assert dm_sides("#chat") is None


def say(target: str, msgid: str, time_ms: int, source: str = "alice!a@h") -> StoredMessage:
    return StoredMessage(msgid, time_ms, target, "PRIVMSG", source, (target, msgid))


def test_direct_messages_are_one_history_from_both_sides(store: SQLiteStore) -> None:
    store.append([say(dm_key("alice", "bob"), "d1", T0, "alice!a@h")])
    store.append([say(dm_key("bob", "alice"), "d2", T0 + 1, "bob!b@h")])
    from_bob = store.latest(dm_key("bob", "alice"), 10)
    from_alice = store.latest(dm_key("alice", "bob"), 10)
    assert [m.msgid for m in from_bob] == [m.msgid for m in from_alice] == ["d1", "d2"]
    assert [m.msgid for m in store.before(dm_key("bob", "alice"), MessageRef("d2"), 5)] == ["d1"]


@pytest.fixture
def network(store: SQLiteStore) -> SQLiteStore:
    """Latest messages: #a at T0+10, #b at T0+20, alice/bob at T0+30, bob/carol at T0+40, #c at T0+50."""
    store.append([say("#a", "a1", T0 + 1), say("#a", "a2", T0 + 10), say("#b", "b1", T0 + 20)])
    store.append([say(dm_key("alice", "bob"), "d1", T0 + 30)])
    store.append([say(dm_key("carol", "bob"), "d2", T0 + 40), say("#c", "c1", T0 + 50)])
    return store


def test_targets_lists_given_channels_and_own_direct_conversations_by_time(network: SQLiteStore) -> None:
    everything = network.targets(T0, T0 + 100, 10, channels=["#a", "#b", "#c"], participant="bob")
    assert everything == [
        ("#a", T0 + 10),
        ("#b", T0 + 20),
        ("@alice,bob", T0 + 30),
        ("@bob,carol", T0 + 40),
        ("#c", T0 + 50),
    ]


def test_targets_leaves_out_other_channels_and_other_peoples_conversations(network: SQLiteStore) -> None:
    assert network.targets(T0, T0 + 100, 10, channels=["#b"], participant="alice") == [
        ("#b", T0 + 20),
        ("@alice,bob", T0 + 30),
    ]
    assert network.targets(T0, T0 + 100, 10, channels=[], participant="dave") == []


def test_targets_window_is_exclusive_and_limit_counts_from_start(network: SQLiteStore) -> None:
    chans = ["#a", "#b", "#c"]
    assert network.targets(T0 + 10, T0 + 50, 10, channels=chans, participant="bob") == [
        ("#b", T0 + 20),
        ("@alice,bob", T0 + 30),
        ("@bob,carol", T0 + 40),
    ]
    assert [t for t, _ in network.targets(T0, T0 + 100, 2, channels=chans, participant="bob")] == [
        "#a",
        "#b",
    ]
    # Start later than end: the ones next to start, still ascending.
    assert [t for t, _ in network.targets(T0 + 100, T0, 2, channels=chans, participant="bob")] == [
        "@bob,carol",
        "#c",
    ]
    assert network.targets(T0, T0 + 100, 0, channels=chans, participant="bob") == []


def test_targets_uses_the_latest_message_of_each_conversation(network: SQLiteStore) -> None:
    # #a had a message at T0+1, but its latest is at T0+10: outside a window ending at T0+5.
    assert network.targets(T0, T0 + 5, 10, channels=["#a"], participant="x") == []
    network.append([say("#a", "a3", T0 + 60)])
    assert network.targets(T0, T0 + 100, 10, channels=["#a"], participant="x") == [("#a", T0 + 60)]


def test_targets_accepts_many_channels(network: SQLiteStore) -> None:
    chans = [f"#x{i}" for i in range(5000)] + ["#c"]
    assert network.targets(T0, T0 + 100, 10, channels=chans, participant="x") == [("#c", T0 + 50)]
