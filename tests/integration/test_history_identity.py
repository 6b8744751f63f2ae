"""A private conversation belongs to the people in it (an account or a connection), not to a nick."""

from __future__ import annotations

import json
import time
from pathlib import Path

from hubbub.server.accounts import hash_password
from hubbub.store import DATABASE_NAME
from tests.support.schema import database_at
from tests.support.serverproc import ServerProcess

from .accounts_helpers import FAST, login_and_register, register_account
from .conftest import Connect, StartServer
from .ircclient import IRCClient
from .test_history import HISTORY_CAPS, history, texts

PASSWORD = "identity-password"
ALL_TIME = "timestamp=2000-01-01T00:00:00.000Z timestamp=2100-01-01T00:00:00.000Z"


async def targets(client: IRCClient) -> list[str]:
    """The names CHATHISTORY TARGETS lists for ``client`` (every conversation it ever had)."""
    client.send(f"CHATHISTORY TARGETS {ALL_TIME} 100")
    start = await client.expect("BATCH")
    got = await client.collect_until("BATCH", "-" + start.params[0][1:])
    return [m.params[1] for m in got if m.command == "CHATHISTORY"]


async def quit(client: IRCClient) -> None:
    client.send("QUIT")
    await client.expect_closed()


async def chat(a: IRCClient, b: IRCClient, a_text: str, b_text: str) -> None:
    """``a`` and ``b`` exchange one direct message each, by their current nicks."""
    a.send(f"PRIVMSG {b.nick} :{a_text}")
    await b.expect("PRIVMSG", b.nick, a_text)
    b.send(f"PRIVMSG {a.nick} :{b_text}")
    await a.expect("PRIVMSG", a.nick, b_text)


async def log_in(connect: Connect, server: object, nick: str) -> IRCClient:
    client = await connect(register=False, target=server)
    assert (await login_and_register(client, nick, nick, PASSWORD, HISTORY_CAPS)).command == "903"
    await client.expect("001")
    return client


async def test_the_next_holder_of_a_freed_nick_sees_none_of_the_earlier_holders_conversations(
    start_server: StartServer, connect: Connect
) -> None:
    server = await start_server(**FAST)
    alice = await connect("alice", caps=HISTORY_CAPS, target=server)
    bob = await connect("bob", caps=HISTORY_CAPS, target=server)
    await chat(alice, bob, "secret for bob", "secret for alice")
    await quit(bob)

    impostor = await connect("bob", caps=HISTORY_CAPS, target=server)
    _, got = await history(impostor, "LATEST", "alice", "*", "10")
    assert got == []
    assert await targets(impostor) == []

    # Registering the freed nick as an account does not make the history its own either.
    await register_account(impostor, PASSWORD)
    _, got = await history(impostor, "LATEST", "alice", "*", "10")
    assert got == []
    assert await targets(impostor) == []
    # The earlier conversation is still alice's; the bob she can name now is someone else.
    assert await targets(alice) == ["bob"]
    _, got = await history(alice, "LATEST", "bob", "*", "10")
    assert got == []


async def test_registering_a_dropped_accounts_name_inherits_no_messages_markers_or_channels(
    start_server: StartServer, connect: Connect
) -> None:
    server = await start_server(**FAST)
    alice = await connect("alice", caps=(*HISTORY_CAPS, "draft/read-marker"), target=server)
    await register_account(alice, PASSWORD)
    bob = await connect("bob", caps=HISTORY_CAPS, target=server)
    await register_account(bob, PASSWORD)
    await chat(alice, bob, "for bob only", "for alice only")
    await alice.join("#room")
    alice.send("MARKREAD #room timestamp=2030-01-02T03:04:05.678Z")
    await alice.expect("MARKREAD")
    alice.send("PRIVMSG ChanServ :REGISTER #room")
    assert "registered to alice" in (await alice.expect("NOTICE", "alice")).params[1]
    alice.send("PRIVMSG ChanServ :ACCESS #room ADD bob voice")
    await alice.expect("NOTICE", "alice")
    alice.send("PRIVMSG NickServ :DROP alice")
    await alice.expect("901")
    await quit(alice)

    heir = await connect("alice", caps=(*HISTORY_CAPS, "draft/read-marker"), target=server)
    await register_account(heir, PASSWORD)
    _, got = await history(heir, "LATEST", "bob", "*", "10")
    assert got == []
    assert await targets(heir) == []
    heir.send("MARKREAD #room")
    assert (await heir.expect("MARKREAD")).params == ("#room", "*")
    heir.send("PRIVMSG ChanServ :INFO #room")
    assert "is not registered" in (await heir.expect("NOTICE", "alice")).params[1]
    heir.send("PRIVMSG ChanServ :ACCESS #room ADD heir op")
    assert "is not registered" in (await heir.expect("NOTICE", "alice")).params[1]

    # bob keeps his side of the old conversation; "alice" now names the new account.
    assert await targets(bob) == ["alice"]
    _, got = await history(bob, "LATEST", "alice", "*", "10")
    assert got == []


async def test_a_user_who_is_not_logged_in_keeps_its_conversations_across_nick_changes(
    start_server: StartServer, connect: Connect
) -> None:
    server = await start_server(**FAST)
    alice = await connect("alice", caps=HISTORY_CAPS, target=server)
    bob = await connect("bob", caps=HISTORY_CAPS, target=server)
    await chat(alice, bob, "one", "two")
    alice.send("NICK alicia")
    await alice.expect("NICK")
    alice.nick = "alicia"
    await chat(alice, bob, "three", "four")

    _, mine = await history(alice, "LATEST", "bob", "*", "10")
    _, his = await history(bob, "LATEST", "alicia", "*", "10")
    assert texts(mine) == texts(his) == ["one", "two", "three", "four"]
    second = mine[1].tags["msgid"]
    _, before = await history(alice, "BEFORE", "bob", f"msgid={second}", "10")
    assert texts(before) == ["one"]
    _, around = await history(bob, "AROUND", "alicia", f"msgid={second}", "3")
    assert texts(around) == ["one", "two", "three"]
    assert await targets(bob) == ["alicia"]
    assert await targets(alice) == ["bob"]

    # A newcomer calling itself alice is not the old alice.
    newcomer = await connect("alice", caps=HISTORY_CAPS, target=server)
    _, got = await history(newcomer, "LATEST", "bob", "*", "10")
    assert got == []
    _, got = await history(bob, "LATEST", "alice", "*", "10")
    assert got == []


async def test_targets_names_a_departed_peer_by_the_last_nick_it_used(
    start_server: StartServer, connect: Connect
) -> None:
    server = await start_server(**FAST)
    alice = await connect("alice", caps=HISTORY_CAPS, target=server)
    await register_account(alice, PASSWORD)
    guest = await connect("guest", caps=HISTORY_CAPS, target=server)
    await chat(guest, alice, "hello", "hi")
    guest.send("NICK visitor")
    await guest.expect("NICK")
    assert await targets(alice) == ["visitor"]
    await quit(guest)
    assert await targets(alice) == ["visitor"]
    _, got = await history(alice, "LATEST", "visitor", "*", "10")
    assert got == []  # nobody is visitor now: there is nobody to read a conversation with
    alice.send("CHATHISTORY BEFORE visitor msgid=nonexistent 10")
    assert (await alice.expect("FAIL")).params[:2] == ("CHATHISTORY", "INVALID_PARAMS")


async def test_logged_in_conversations_follow_the_account_across_devices_and_reconnects(
    start_server: StartServer, connect: Connect
) -> None:
    server = await start_server(**FAST)
    alice = await connect("alice", caps=HISTORY_CAPS, target=server)
    await register_account(alice, PASSWORD)
    bob = await connect("bob", caps=HISTORY_CAPS, target=server)
    await register_account(bob, PASSWORD)
    await chat(alice, bob, "before", "reply")

    phone = await log_in(connect, server, "alice")  # a second device of the same user
    _, got = await history(phone, "LATEST", "bob", "*", "10")
    assert texts(got) == ["before", "reply"]
    await quit(alice)
    await quit(phone)
    await quit(bob)

    again = await log_in(connect, server, "alice")
    assert await targets(again) == ["bob"]
    _, got = await history(again, "LATEST", "bob", "*", "10")
    assert texts(got) == ["before", "reply"]
    bob = await log_in(connect, server, "bob")
    _, got = await history(bob, "LATEST", "alice", "*", "10")
    assert texts(got) == ["before", "reply"]


def _version_4_data_dir(data: Path) -> None:
    """A data directory as schema version 4 left it: accounts alice and bob, nick-keyed DMs."""
    data.mkdir()
    db = database_at(data / DATABASE_NAME, 4)
    hashed = hash_password(PASSWORD, 1024, 1)
    db.executemany(
        "INSERT INTO accounts (key, name, password_hash, created_ms) VALUES (?, ?, ?, 0)",
        [("alice", "alice", hashed), ("bob", "bob", hashed)],
    )
    now_ms = int(time.time() * 1000)
    lines = [("@alice,bob", "bob", "alice", "old news"), ("@alice,carol", "carol", "alice", "psst")]
    for number, (key, sender, to, text) in enumerate(lines):
        db.execute(
            "INSERT INTO messages (msgid, target, time_ms, command, source, account, params)"
            " VALUES (?, ?, ?, 'PRIVMSG', ?, NULL, ?)",
            (f"old{number}", key, now_ms - 1000 + number, f"{sender}!u@h", json.dumps([to, text])),
        )
        db.execute(
            "INSERT INTO conversations (target, side_a, side_b, last_time_ms, message_count)"
            " VALUES (?, ?, ?, ?, 1)",
            (key, *key[1:].split(","), now_ms - 1000 + number),
        )
    db.execute("INSERT INTO read_markers (account, target, time_ms) VALUES ('alice', '#room', ?)", (now_ms,))
    db.execute(
        "INSERT INTO registered_channels (key, founder, access, registered_ms)"
        " VALUES ('#room', 'alice', '{\"alice\": \"o\"}', 0)"
    )
    db.close()


async def test_an_upgraded_server_keeps_account_conversations_and_orphans_nick_ones(
    tmp_path: Path, processes: list[ServerProcess]
) -> None:
    data = tmp_path / "data"
    _version_4_data_dir(data)
    server = ServerProcess(data, "--no-flood-control")
    processes.append(server)
    await server.start()
    clients: list[IRCClient] = []
    try:

        async def open_client(name: str) -> IRCClient:
            client = await IRCClient.open(server.host, server.port, name)
            clients.append(client)
            return client

        alice = await open_client("alice")
        caps = (*HISTORY_CAPS, "draft/read-marker")
        assert (await login_and_register(alice, "alice", "alice", PASSWORD, caps)).command == "903"
        await alice.expect("001")
        _, got = await history(alice, "LATEST", "bob", "*", "10")
        assert texts(got) == ["old news"]
        assert sorted(await targets(alice)) == ["bob", "carol"]
        alice.send("MARKREAD #room")
        assert (await alice.expect("MARKREAD")).params[1].startswith("timestamp=")
        alice.send("PRIVMSG ChanServ :INFO #room")
        assert "registered to alice" in (await alice.expect("NOTICE", "alice")).params[1]

        # carol had no account: whoever is carol now reads nothing of the earlier carol's.
        carol = await open_client("carol")
        await carol.register("carol", caps=HISTORY_CAPS)
        _, got = await history(carol, "LATEST", "alice", "*", "10")
        assert got == []
        assert await targets(carol) == []
        _, got = await history(alice, "LATEST", "carol", "*", "10")
        assert got == []
    finally:
        for client in clients:
            await client.close()
