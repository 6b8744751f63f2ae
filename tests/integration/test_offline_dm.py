"""Offline direct messages: kept for a registered account that is away, shown at its next login."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from hubbub.store import DATABASE_NAME

from .accounts_helpers import FAST, login_and_register, register_account
from .conftest import Connect, StartServer
from .ircclient import IRCClient

PASSWORD = "offline-password"


async def _bob_registers_and_leaves(connect: Connect, server: object) -> None:
    bob = await connect("bob", target=server)
    await register_account(bob, PASSWORD)
    bob.send("QUIT")
    await bob.expect_closed()


async def _login(connect: Connect, server: object, caps: tuple[str, ...]) -> IRCClient:
    bob = await connect(register=False, target=server)
    assert (await login_and_register(bob, "bob", "bob", PASSWORD, caps)).command == "903"
    await bob.expect("001")
    return bob


async def test_message_to_an_offline_account_is_kept_and_replayed_once_at_login(
    start_server: StartServer, connect: Connect
) -> None:
    server = await start_server(**FAST)
    await _bob_registers_and_leaves(connect, server)
    alice = await connect("alice", caps=("echo-message", "message-tags"), target=server)
    alice.send("PRIVMSG bob :are you there?")
    echo = await alice.expect("PRIVMSG")
    assert echo.params == ("bob", "are you there?")
    note = await alice.expect("NOTE")
    assert note.params[:3] == ("PRIVMSG", "OFFLINE_MESSAGE", "bob")
    await alice.assert_silent("401")
    alice.send("PRIVMSG nobody :hello")
    await alice.expect("401")

    bob = await _login(connect, server, ("batch", "server-time", "message-tags"))
    start = await bob.expect("BATCH")
    assert start.params[1:] == ("chathistory", "alice")
    replayed = await bob.expect("PRIVMSG")
    assert replayed.params == ("bob", "are you there?")
    assert replayed.source is not None and replayed.source.startswith("alice!")
    assert replayed.tags["msgid"] == echo.tags["msgid"] and "time" in replayed.tags
    assert replayed.tags["batch"] == start.params[0][1:]
    await bob.expect("BATCH", "-" + start.params[0][1:])
    bob.send("QUIT")
    await bob.expect_closed()

    again = await _login(connect, server, ("batch",))
    await again.assert_silent("PRIVMSG")


async def test_chathistory_clients_find_offline_messages_with_targets_and_latest(
    start_server: StartServer, connect: Connect
) -> None:
    server = await start_server(**FAST)
    await _bob_registers_and_leaves(connect, server)
    alice = await connect("alice", target=server)
    alice.send("PRIVMSG bob :first")
    alice.send("NOTICE bob :second")
    await alice.sync()

    bob = await _login(connect, server, ("draft/chathistory", "batch", "server-time"))
    await bob.assert_silent("PRIVMSG")
    bob.send("CHATHISTORY TARGETS timestamp=2000-01-01T00:00:00.000Z timestamp=2100-01-01T00:00:00.000Z 10")
    targets = await bob.collect_until("BATCH", "-" + "b1")
    names = [m.params[1] for m in targets if m.command == "CHATHISTORY"]
    assert names == ["alice"]
    bob.send("CHATHISTORY LATEST alice * 10")
    got = await bob.collect_until("BATCH", "-b2")
    texts = [(m.command, m.params[1]) for m in got if m.command in ("PRIVMSG", "NOTICE")]
    assert texts == [("PRIVMSG", "first"), ("NOTICE", "second")]


async def test_logged_in_conversation_history_is_keyed_by_account_not_nick(
    start_server: StartServer, connect: Connect
) -> None:
    server = await start_server(**FAST)
    bob = await connect("bob", target=server)
    await register_account(bob, PASSWORD)
    alice = await connect("alice", target=server)
    alice.send("PRIVMSG bob :while online")
    await bob.expect("PRIVMSG")
    bob.send("NICK bobby")  # a new nick keeps the account's conversations
    await bob.expect("NICK")
    bob.send("CAP REQ :draft/chathistory batch")
    await bob.expect("CAP")
    bob.send("CHATHISTORY LATEST alice * 10")
    got = await bob.collect_until("BATCH", "-b1")
    assert [m.params[1] for m in got if m.command == "PRIVMSG"] == ["while online"]


async def test_offline_messages_can_be_turned_off(start_server: StartServer, connect: Connect) -> None:
    server = await start_server(offline_messages=False, **FAST)
    await _bob_registers_and_leaves(connect, server)
    alice = await connect("alice", target=server)
    alice.send("PRIVMSG bob :hello")
    await alice.expect("401")


async def test_a_login_before_the_read_marker_is_saved_is_not_shown_the_messages_again(
    start_server: StartServer, connect: Connect
) -> None:
    server = await start_server(**FAST)
    await _bob_registers_and_leaves(connect, server)
    alice = await connect("alice", target=server)
    alice.send("PRIVMSG bob :are you there?")
    await alice.expect("NOTE")
    # Another process holds SQLite's write lock: the read marker the replay moves waits for it.
    other = sqlite3.connect(Path(server.settings.data_dir) / DATABASE_NAME, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        bob = await _login(connect, server, ("batch",))
        await bob.expect("PRIVMSG", "bob", "are you there?")
        bob.send("QUIT")
        await bob.expect_closed()
        again = await _login(connect, server, ("batch",))
        await again.assert_silent("PRIVMSG")
    finally:
        other.close()  # rolls the open transaction back


async def test_many_offline_messages_arrive_whole_at_login_without_overflowing_the_sendq(
    start_server: StartServer, connect: Connect
) -> None:
    """More offline messages than a loop turn may queue (8 sendqs) are sent as the client reads
    them: every one arrives, the client is not dropped, and the next login shows none again."""
    server = await start_server(sendq=1024, history_on_join=50, **FAST)
    await _bob_registers_and_leaves(connect, server)
    senders = [await connect(f"sender{i}", target=server) for i in range(4)]
    sent = []
    for i, sender in enumerate(senders):
        for n in range(40):
            text = f"message {n} from sender {i} " + "x" * 60
            sender.send(f"PRIVMSG bob :{text}")
            sent.append(text)
    for sender in senders:
        await sender.sync()

    bob = await _login(connect, server, ("batch",))
    bob.send("PING :after-the-replay")
    got = await bob.collect_until("PONG", timeout=20)
    assert not [m for m in got if m.command == "ERROR"], "dropped while being replayed to"
    assert sorted(m.params[1] for m in got if m.command == "PRIVMSG") == sorted(sent)
    bob.send("QUIT")
    await bob.expect_closed()
    again = await _login(connect, server, ("batch",))
    await again.assert_silent("PRIVMSG")
