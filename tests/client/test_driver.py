"""The asyncio driver against real servers on loopback: miniircd (plain IRC) and hubbub (IRCv3)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from hubbub.client import (
    Client,
    ClientConfig,
    ClientError,
    Disconnected,
    HistoryBatch,
    Joined,
    MembersChanged,
    Message,
    NickChanged,
    Reconnecting,
    ReconnectPolicy,
    Registered,
    TopicChanged,
)
from tests.support.serverproc import ServerProcess

WAIT = 10.0
MakeClient = Callable[..., Awaitable[Client]]


@pytest.fixture
async def make_client() -> AsyncIterator[MakeClient]:
    """Connected clients for a server; all are closed at the end of the test."""
    clients: list[Client] = []

    async def make(server: ServerProcess, nick: str, **options: object) -> Client:
        channels = options.pop("channels", ())
        reconnect = options.pop("reconnect", ReconnectPolicy(enabled=False))
        config = ClientConfig(nick=nick, channels=tuple(channels), **options)  # type: ignore[arg-type]
        client = Client("127.0.0.1", server.port, config, reconnect=reconnect)  # type: ignore[arg-type]
        clients.append(client)
        await client.connect(timeout=WAIT)
        return client

    yield make
    for client in clients:
        await client.close()


async def joined(client: Client, channel: str) -> None:
    """Join and wait until the member list is known."""
    await client.join(channel)
    await client.wait_for(Joined, WAIT, channel=channel, is_self=True)
    await client.wait_for(MembersChanged, WAIT, channel=channel)


async def test_connect_registers_and_reports_isupport(
    irc_server: ServerProcess, make_client: MakeClient
) -> None:
    client = await make_client(irc_server, "alice")
    assert client.connected
    assert client.protocol.registered and client.protocol.nick == "alice"
    # miniircd sends no 005: the RFC defaults apply; hubbub advertises its limits.
    isupport = client.protocol.isupport
    if irc_server.kind == "hubbub":
        assert isupport.casemapping == "ascii" and isupport.chathistory
    else:
        assert not isupport.tokens and isupport.casemapping == "rfc1459" and isupport.prefix == ("ov", "@+")


async def test_messages_flow_between_two_clients(irc_server: ServerProcess, make_client: MakeClient) -> None:
    alice = await make_client(irc_server, "alice")
    bob = await make_client(irc_server, "bob")
    await joined(alice, "#room")
    await joined(bob, "#room")
    await alice.wait_for(Joined, WAIT, channel="#room", nick="bob")
    channel = alice.protocol.channel("#room")
    assert channel is not None and set(channel.members) == {"alice", "bob"}
    await alice.send_message("#room", "hello bob")
    got = await bob.wait_for(Message, WAIT, target="#room")
    assert isinstance(got, Message)
    assert (got.sender, got.text, got.kind, got.is_self, got.is_mention) == (
        "alice",
        "hello bob",
        "privmsg",
        False,
        True,
    )
    own = await alice.wait_for(Message, WAIT, target="#room")
    assert isinstance(own, Message) and own.is_self and own.text == "hello bob"
    await bob.send_action("alice", "waves")
    action = await alice.wait_for(Message, WAIT, target="bob")
    assert isinstance(action, Message) and action.kind == "action" and action.text == "waves"


async def test_long_multibyte_text_arrives_whole_in_pieces(
    irc_server: ServerProcess, make_client: MakeClient
) -> None:
    alice = await make_client(irc_server, "alice")
    bob = await make_client(irc_server, "bob")
    text = "héllo wörld ✓ 🎉 " * 60  # about 1300 bytes, multibyte throughout
    await alice.send_message("bob", text)
    received = ""
    while received != text:
        got = await bob.wait_for(Message, WAIT, target="alice")
        assert isinstance(got, Message)
        received += got.text
        assert text.startswith(received)


async def test_nick_in_use_falls_back_with_a_real_server(
    irc_server: ServerProcess, make_client: MakeClient
) -> None:
    await make_client(irc_server, "carol")
    second = await make_client(irc_server, "carol")
    assert second.protocol.nick == "carol_"


async def test_nick_change_topic_and_request(irc_server: ServerProcess, make_client: MakeClient) -> None:
    alice = await make_client(irc_server, "alice")
    await joined(alice, "#t")
    await alice.set_topic("#t", "news of the day")
    topic = await alice.wait_for(TopicChanged, WAIT, channel="#t", topic="news of the day")
    assert isinstance(topic, TopicChanged) and topic.set_by == "alice"
    await alice.set_nick("alicia")
    change = await alice.wait_for(NickChanged, WAIT, is_self=True)
    assert isinstance(change, NickChanged) and change.new == "alicia"
    assert alice.protocol.nick == "alicia"
    replies = await alice.request("WHOIS", "alicia", timeout=WAIT)
    assert "318" in [m.command for m in replies]
    assert any(m.command == "311" and m.param(1) == "alicia" for m in replies)


async def test_commands_fail_cleanly_when_disconnected(
    irc_server: ServerProcess, make_client: MakeClient
) -> None:
    alice = await make_client(irc_server, "alice")
    await alice.close()
    with pytest.raises(ClientError):
        await alice.send_message("#x", "nobody hears")
    rest = [event async for event in alice.events()]
    assert rest[-1] == Disconnected("closed", False)
    with pytest.raises(ClientError):
        await alice.next_event(1)


async def test_connect_to_a_closed_port_fails() -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = Client("127.0.0.1", port, ClientConfig(nick="x"), connect_timeout=2)
    with pytest.raises(ClientError):
        await client.connect()


async def test_reconnects_and_rejoins_after_the_server_restarts(
    irc_server: ServerProcess, make_client: MakeClient
) -> None:
    policy = ReconnectPolicy(initial=0.2, maximum=1.0, jitter=0.1)
    alice = await make_client(irc_server, "alice", channels=["#keep"], reconnect=policy)
    await alice.wait_for(Joined, WAIT, channel="#keep", is_self=True)
    await irc_server.kill()
    gone = await alice.wait_for(Disconnected, WAIT)
    assert isinstance(gone, Disconnected) and gone.will_reconnect
    retry = await alice.wait_for(Reconnecting, WAIT)
    assert isinstance(retry, Reconnecting) and 0 < retry.delay <= 1.0 * 1.1
    await irc_server.start()  # same port, same data directory
    await alice.wait_for(Registered, 30)
    await alice.wait_for(Joined, WAIT, channel="#keep", is_self=True)
    assert alice.protocol.channel("#keep") is not None


async def test_gap_after_reconnect_is_filled_once(
    hubbub_server: ServerProcess, make_client: MakeClient
) -> None:
    policy = ReconnectPolicy(initial=0.2, maximum=0.5, jitter=0.0)
    alice = await make_client(hubbub_server, "alice", channels=["#gap"], reconnect=policy)
    bob = await make_client(hubbub_server, "bob", channels=["#gap"], reconnect=policy)
    await alice.wait_for(Joined, WAIT, channel="#gap", nick="bob")
    await bob.send_message("#gap", "before")
    first = await alice.wait_for(Message, WAIT, target="#gap", text="before")
    assert isinstance(first, Message) and first.msgid
    await hubbub_server.kill()
    await alice.wait_for(Disconnected, WAIT)
    await bob.wait_for(Disconnected, WAIT)
    await hubbub_server.start()
    # Whichever of the two comes back first, alice must end up with "after" exactly once and
    # never see "before" again, whether it arrives live, replayed on join, or from CHATHISTORY.
    await bob.wait_for(Joined, 30, channel="#gap", is_self=True)
    await bob.send_message("#gap", "after")
    await alice.wait_for(Joined, 30, channel="#gap", is_self=True)
    seen: list[str] = []
    while "after" not in seen:
        event = await alice.next_event(WAIT)
        if isinstance(event, Message) and event.target == "#gap":
            seen.append(event.text)
        elif isinstance(event, HistoryBatch):
            seen.extend(m.text for m in event.messages)
    await alice.send_message("#gap", "fence")
    while True:
        event = await alice.next_event(WAIT)
        if isinstance(event, Message) and event.text == "fence":
            break
        if isinstance(event, Message) and event.target == "#gap":
            seen.append(event.text)
        elif isinstance(event, HistoryBatch):
            seen.extend(m.text for m in event.messages)
    assert seen.count("after") == 1 and "before" not in seen


async def test_history_latest_and_before_with_hubbub(
    hubbub_server: ServerProcess, make_client: MakeClient
) -> None:
    alice = await make_client(hubbub_server, "alice", channels=["#h"])
    await alice.wait_for(MembersChanged, WAIT, channel="#h")
    assert "draft/chathistory" in alice.protocol.caps_enabled
    for i in range(5):
        await alice.send_message("#h", f"line {i}")
    for i in range(5):
        await alice.wait_for(Message, WAIT, text=f"line {i}")
    fresh = await make_client(hubbub_server, "reader", channels=["#h"])
    await fresh.wait_for(MembersChanged, WAIT, channel="#h")
    await fresh.history_latest("#h", 3)
    batch = await fresh.wait_for(HistoryBatch, WAIT, target="#h")
    assert isinstance(batch, HistoryBatch)
    texts = [m.text for m in batch.messages]
    assert texts[-2:] == ["line 3", "line 4"] and all(m.from_history for m in batch.messages)
    oldest = batch.messages[0].msgid
    assert oldest is not None
    await fresh.history_before("#h", oldest, 10)
    older = await fresh.wait_for(HistoryBatch, WAIT, target="#h")
    assert isinstance(older, HistoryBatch) and older.before
    assert "line 0" in [m.text for m in older.messages]
