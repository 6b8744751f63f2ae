"""Redacting one message (IRCv3 draft/message-redaction) on a real SQLite store."""

from __future__ import annotations

from hubbub.store import MessageRef, SQLiteStore, StoredMessage

T0 = 1_700_000_000_000


def msg(i: int, target: str = "#chat", msgid: str | None = None) -> StoredMessage:
    return StoredMessage(
        msgid=msgid or f"m{i}",
        time_ms=T0 + 10 * i,
        target=target,
        command="PRIVMSG",
        source="nick!user@host",
        params=(target, f"text {i}"),
        account="nick",
    )


def test_message_finds_a_msgid_only_in_its_conversation(store: SQLiteStore) -> None:
    """The spec: a REDACT names a target and a msgid; a msgid of another target is not found there."""
    store.append([msg(1), msg(2, "#other")])
    found = store.message("#chat", "m1")
    assert found is not None and found.params == ("#chat", "text 1") and found.account == "nick"
    assert store.message("#chat", "m2") is None
    assert store.message("#chat", "nope") is None


def test_delete_message_removes_one_message_from_every_query(store: SQLiteStore) -> None:
    """The spec: after a message is redacted, chathistory responses SHOULD exclude it entirely."""
    store.append([msg(i) for i in range(5)])
    assert store.delete_message("#chat", "m2") is True
    assert [m.msgid for m in store.latest("#chat", 10)] == ["m0", "m1", "m3", "m4"]
    assert [m.msgid for m in store.after("#chat", MessageRef(msgid="m1"), 10)] == ["m3", "m4"]
    assert store.message("#chat", "m2") is None
    assert store.delete_message("#chat", "m2") is False  # already gone: nothing to redact


def test_delete_message_keeps_the_other_conversations_copy_and_the_counts(store: SQLiteStore) -> None:
    """An event kept under several conversations shares one msgid; redacting one copy keeps the rest."""
    store.append([msg(1, "#a", "shared"), msg(1, "#b", "shared"), msg(2, "#a")])
    assert store.delete_message("#a", "shared") is True
    assert store.message("#b", "shared") is not None
    counts = {target: n for target, n, _ in store.conversations()}
    assert counts == {"#a": 1, "#b": 1}
