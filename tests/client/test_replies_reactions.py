"""Replies, reactions and read markers through the client library against hubbub's server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from hubbub.client import (
    Client,
    ClientConfig,
    ClientProtocol,
    HistoryBatch,
    Joined,
    Message,
    Reaction,
    ReadMarker,
    ReconnectPolicy,
    ServerReply,
)
from tests.support.serverproc import ServerProcess

WAIT = 10.0
PASSWORD = "reaction-password"
# Cheap password hashes: accounts are registered in these tests.
FAST_HASHES = {"HUBBUB_PASSWORD_HASH_MEMORY_KIB": "1024", "HUBBUB_PASSWORD_HASH_TIME_COST": "1"}
MakeClient = Callable[..., Awaitable[Client]]


@pytest.fixture
async def server(tmp_path: Path, processes: list[ServerProcess]) -> ServerProcess:
    """hubbub with cheap password hashing, without flood control."""
    srv = ServerProcess(tmp_path / "data", "--no-flood-control", env=FAST_HASHES)
    processes.append(srv)
    return await srv.start()


@pytest.fixture
async def make_client() -> AsyncIterator[MakeClient]:
    """Connected clients, closed at the end of the test."""
    clients: list[Client] = []

    async def make(server: ServerProcess, nick: str, **options: object) -> Client:
        config = ClientConfig(nick=nick, **options)  # type: ignore[arg-type]
        client = Client("127.0.0.1", server.port, config, reconnect=ReconnectPolicy(enabled=False))
        clients.append(client)
        await client.connect(timeout=WAIT)
        for channel in config.channels:
            await client.wait_for(Joined, WAIT, channel=channel, is_self=True)
        return client

    yield make
    for client in clients:
        await client.close()


async def until(condition: Callable[[], object], what: str) -> None:
    """Poll ``condition`` (the event loop runs meanwhile) until true, or fail after the deadline."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


async def test_a_reply_carries_the_msgid_it_answers(server: ServerProcess, make_client: MakeClient) -> None:
    """reply client tag: "+draft/reply=<msgid>" on a PRIVMSG names the message it answers."""
    alice = await make_client(server, "alice", channels=("#c",))
    bob = await make_client(server, "bob", channels=("#c",))
    await alice.send_message("#c", "what's for lunch?")
    asked = await bob.wait_for(Message, WAIT, text="what's for lunch?")
    assert isinstance(asked, Message) and asked.msgid and asked.reply_to is None
    await bob.send_message("#c", "soup", reply=asked.msgid)
    answer = await alice.wait_for(Message, WAIT, text="soup")
    assert isinstance(answer, Message) and answer.reply_to == asked.msgid
    # The sender's own echo carries it too, and history keeps it.
    echo = await bob.wait_for(Message, WAIT, text="soup")
    assert isinstance(echo, Message) and echo.is_self and echo.reply_to == asked.msgid
    carol = await make_client(server, "carol", channels=("#c",))
    await carol.history_latest("#c", 10)
    batch = await carol.wait_for(HistoryBatch, WAIT, target="#c")
    assert isinstance(batch, HistoryBatch)
    assert [(m.text, m.reply_to) for m in batch.messages][-2:] == [
        ("what's for lunch?", None),
        ("soup", asked.msgid),
    ]


async def test_reactions_and_unreactions_arrive_live_and_from_history(
    server: ServerProcess, make_client: MakeClient
) -> None:
    """react client tag: "+draft/react" with "+draft/reply" on a TAGMSG; "+draft/unreact" takes it
    back. Kept in history, they come back in a CHATHISTORY page in the order they were sent."""
    alice = await make_client(server, "alice", channels=("#c",))
    bob = await make_client(server, "bob", channels=("#c",))
    await alice.send_message("#c", "shipped it")
    shipped = await bob.wait_for(Message, WAIT, text="shipped it")
    assert isinstance(shipped, Message) and shipped.msgid
    await bob.react("#c", shipped.msgid, "🎉")
    got = await alice.wait_for(Reaction, WAIT)
    assert isinstance(got, Reaction)
    assert (got.target, got.sender, got.msgid, got.reaction, got.removed, got.is_self) == (
        "#c",
        "bob",
        shipped.msgid,
        "🎉",
        False,
        False,
    )
    echo = await bob.wait_for(Reaction, WAIT)
    assert isinstance(echo, Reaction) and echo.is_self and echo.reaction == "🎉"
    await bob.unreact("#c", shipped.msgid, "🎉")
    taken = await alice.wait_for(Reaction, WAIT)
    assert isinstance(taken, Reaction) and taken.removed and taken.reaction == "🎉"
    await alice.react("#c", shipped.msgid, "a free-text reaction")

    carol = await make_client(server, "carol", channels=("#c",))
    await carol.history_latest("#c", 20)
    batch = await carol.wait_for(HistoryBatch, WAIT, target="#c")
    assert isinstance(batch, HistoryBatch)
    assert [m.text for m in batch.messages] == ["shipped it"]
    assert [(r.sender, r.reaction, r.removed, r.msgid) for r in batch.reactions] == [
        ("bob", "🎉", False, shipped.msgid),
        ("bob", "🎉", True, shipped.msgid),
        ("alice", "a free-text reaction", False, shipped.msgid),
    ]
    assert all(r.from_history for r in batch.reactions)


async def test_a_reaction_without_a_message_to_name_is_ignored(
    server: ServerProcess, make_client: MakeClient
) -> None:
    """A react tag with no "+draft/reply" reacts to nothing: no event, and the stream goes on."""
    alice = await make_client(server, "alice", channels=("#c",))
    bob = await make_client(server, "bob", channels=("#c",))
    await bob.raw("@+draft/react=👍 TAGMSG #c")
    await bob.raw("@+draft/reply=;+draft/react=👍 TAGMSG #c")
    await bob.send_message("#c", "after")
    while True:
        event = await alice.next_event(WAIT)
        assert not isinstance(event, Reaction), event
        if isinstance(event, Message) and event.text == "after":
            break
    # Nothing to send without a msgid or a reaction.
    assert bob.protocol.react("#c", "", "👍") == b""
    assert bob.protocol.react("#c", "abc", "") == b""


async def test_read_markers_reach_every_connection_of_the_account(
    server: ServerProcess, make_client: MakeClient
) -> None:
    """draft/read-marker: MARKREAD from one device is sent to every connection of the account;
    the marker comes with each JOIN, before the end of NAMES."""
    laptop = await make_client(server, "alice")
    await laptop.send_message("NickServ", f"REGISTER {PASSWORD}")
    await until(lambda: laptop.protocol.account == "alice", "alice registered and logged in")
    phone = await make_client(server, "alice", sasl_username="alice", sasl_password=PASSWORD)
    assert phone.protocol.nick == "alice"
    await laptop.join("#c")
    marker = await laptop.wait_for(ReadMarker, WAIT, target="#c")
    assert marker == ReadMarker("#c", None)
    await phone.wait_for(Joined, WAIT, channel="#c", is_self=True)
    bob = await make_client(server, "bob", channels=("#c",))
    await bob.send_message("#c", "read me")
    said = await phone.wait_for(Message, WAIT, text="read me")
    assert isinstance(said, Message)
    await phone.mark_read("#c", said.time)
    for device in (laptop, phone):
        got = await device.wait_for(ReadMarker, WAIT, target="#c", time=said.time)
        assert isinstance(got, ReadMarker)
    # A guest without the capability sends nothing.
    assert bob.protocol.mark_read("#c", said.time) != b""  # bob has the cap too (not logged in)
    bob.protocol.caps_enabled.discard("draft/read-marker")
    assert bob.protocol.mark_read("#c", said.time) == b""


def test_markread_lines_that_make_no_sense_are_ignored() -> None:
    """draft/read-marker: "MARKREAD <target> {timestamp=... | *}"; anything else is no marker."""
    proto = ClientProtocol(ClientConfig(nick="me"))
    events = proto.receive_data(
        b"MARKREAD\r\n:s MARKREAD #c timestamp=yesterday\r\n:s MARKREAD #c bogus\r\n"
        b":s MARKREAD #c *\r\n:s MARKREAD #c timestamp=2030-01-02T03:04:05.678Z\r\n"
    )
    assert [e for e in events if isinstance(e, ReadMarker)] == [
        ReadMarker("#c", None),
        ReadMarker("#c", datetime(2030, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)),
    ]


def test_a_refused_around_is_reported_for_its_target() -> None:
    """A FAIL for CHATHISTORY AROUND names the msgid, not the target: the reply still says which
    buffer asked, and the pending request is settled."""
    proto = ClientProtocol(ClientConfig(nick="me"))
    proto.caps_enabled |= {"draft/chathistory", "batch", "message-tags"}
    assert proto.history_around("#c", "abc", 10) == b"CHATHISTORY AROUND #c msgid=abc 10\r\n"
    events = proto.receive_data(
        b":s FAIL CHATHISTORY INVALID_PARAMS AROUND msgid=abc :Unknown message reference\r\n"
    )
    (reply,) = [e for e in events if isinstance(e, ServerReply)]
    assert reply.target == "#c"
    assert not proto._history_requests  # the request is answered: nothing left waiting


def test_replies_and_reactions_need_message_tags() -> None:
    """Without message-tags the server would drop client-only tags: none are sent."""
    proto = ClientProtocol(ClientConfig(nick="me"))
    proto.caps_enabled |= {"echo-message"}
    assert proto.react("#c", "abc", "👍") == b""
    assert proto.send_message("#c", "hi", reply="abc") == b"PRIVMSG #c hi\r\n"
    proto.caps_enabled |= {"message-tags"}
    assert proto.send_message("#c", "hi", reply="abc") == b"@+draft/reply=abc PRIVMSG #c hi\r\n"
    assert proto.react("#c", "abc", "a b;c") == b"@+draft/react=a\\sb\\:c;+draft/reply=abc TAGMSG #c\r\n"
