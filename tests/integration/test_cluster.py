"""Several ``hubbub serve`` nodes on one Redis: one network to every client (docs/cluster.md).

Real processes, a real Redis started by the fixture, raw-socket clients on each node.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from tests.support.serverproc import ServerProcess
from tests.support.services import RedisServer

from .ircclient import IRCClient

Nodes = Callable[..., Awaitable[ServerProcess]]
ECHO = ("message-tags", "echo-message", "server-time")
LEASE = 3.0


@pytest.fixture
async def nodes(tmp_path: Path, redis_server: RedisServer) -> AsyncIterator[Nodes]:
    """Start a node of the network: ``await nodes("a")``; every node is stopped at the end."""
    started: list[ServerProcess] = []

    async def start(name: str, *args: str) -> ServerProcess:
        node = ServerProcess(
            tmp_path / name,
            "--no-flood-control",
            "--cluster",
            redis_server.url,
            "--node-name",
            name,
            *args,
            env={"HUBBUB_CLUSTER_LEASE": str(LEASE)},
        )
        await node.start()
        started.append(node)
        return node

    yield start
    for node in started:
        await node.stop()


async def _client(node: ServerProcess, nick: str, caps: tuple[str, ...] = ()) -> IRCClient:
    client = await IRCClient.open(node.host, node.port, nick)
    await client.register(nick, caps=caps)
    return client


async def _until(check: Callable[[], Awaitable[bool]], timeout: float = 10.0) -> None:
    """Poll ``check`` until it holds, or fail after ``timeout`` seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("not within the deadline")
        await asyncio.sleep(0.05)


async def _names(client: IRCClient, channel: str) -> set[str]:
    client.send(f"NAMES {channel}")
    names: set[str] = set()
    while True:
        reply = await client.expect(lambda m: m.command in ("353", "366"))
        if reply.command == "366":
            return names
        names.update(n.lstrip("@+") for n in reply.params[-1].split())


async def _sees_in(client: IRCClient, channel: str, *nicks: str) -> None:
    await _until(lambda: _has(client, channel, nicks))


async def _has(client: IRCClient, channel: str, nicks: tuple[str, ...]) -> bool:
    return set(nicks) <= await _names(client, channel)


async def test_users_on_two_nodes_chat_in_one_channel(nodes: Nodes) -> None:
    a = await nodes("a")
    b = await nodes("b")
    alice = await _client(a, "alice", ECHO)
    bob = await _client(b, "bob", ECHO)
    await alice.join("#room")
    await _until(lambda: _channel_listed(bob, "#room"))
    bob.send("JOIN #room")
    joined = await alice.expect("JOIN", "#room")
    assert joined.source is not None and joined.source.startswith("bob!")
    await _sees_in(bob, "#room", "alice", "bob")

    alice.send("PRIVMSG #room :hello from a")
    got = await bob.expect("PRIVMSG", "#room", "hello from a")
    assert got.source is not None and got.source.startswith("alice!")
    assert "msgid" in got.tags and "time" in got.tags
    echo = await alice.expect("PRIVMSG", "#room", "hello from a")
    assert echo.tags["msgid"] == got.tags["msgid"]

    bob.send("PRIVMSG #room :and back from b")
    await alice.expect("PRIVMSG", "#room", "and back from b")
    # private messages cross too
    bob.send("PRIVMSG alice :psst")
    await alice.expect("PRIVMSG", "alice", "psst")
    # a part is seen on the other node, and the member list follows
    bob.send("PART #room :bye")
    await alice.expect("PART", "#room")
    await _until(lambda: _lacks(alice, "#room", "bob"))


async def _lacks(client: IRCClient, channel: str, nick: str) -> bool:
    return nick not in await _names(client, channel)


async def _channel_listed(client: IRCClient, channel: str) -> bool:
    client.send("LIST")
    found = False
    while True:
        reply = await client.expect(lambda m: m.command in ("322", "323"))
        if reply.command == "323":
            return found
        found = found or reply.params[1].lower() == channel


async def test_a_nick_is_held_in_the_whole_network(nodes: Nodes) -> None:
    a = await nodes("a")
    b = await nodes("b")
    alice = await _client(a, "alice")
    other = await IRCClient.open(b.host, b.port, "other")
    other.send("NICK alice")
    other.send("USER u 0 * :u")
    await other.expect("433")
    other.send("NICK alice2")
    await other.expect("001")
    # a change of nick to one held on the other node is refused too
    other.send("NICK Alice")
    await other.expect("433")
    # and a nick freed on one node can be taken on the other
    alice.send("QUIT :bye")
    await alice.expect_closed()

    async def takes() -> bool:
        other.buffer.clear()
        other.send("NICK alice")
        reply = await other.expect(lambda m: m.command in ("NICK", "433"))
        return reply.command == "NICK"

    await _until(takes)


async def test_two_nodes_claiming_one_nick_at_once_give_it_to_one(nodes: Nodes) -> None:
    a = await nodes("a")
    b = await nodes("b")
    for round_ in range(5):
        nick = f"racer{round_}"
        one = await IRCClient.open(a.host, a.port, "one")
        two = await IRCClient.open(b.host, b.port, "two")
        for client in (one, two):
            client.send(f"NICK {nick}")
            client.send("USER u 0 * :u")
        results = await asyncio.gather(*(c.expect(lambda m: m.command in ("001", "433")) for c in (one, two)))
        assert sorted(r.command for r in results) == ["001", "433"], [r.command for r in results]
        await one.close()
        await two.close()


async def test_a_killed_node_s_users_quit_elsewhere_within_the_lease(nodes: Nodes) -> None:
    a = await nodes("a")
    b = await nodes("b")
    alice = await _client(a, "alice")
    bob = await _client(b, "bob")
    await alice.join("#room")
    await _until(lambda: _channel_listed(bob, "#room"))
    await bob.join("#room")
    await _sees_in(alice, "#room", "alice", "bob")
    started = asyncio.get_running_loop().time()
    await b.kill()
    quit_ = await alice.expect("QUIT", timeout=LEASE * 2)
    assert quit_.source is not None and quit_.source.startswith("bob!")
    assert asyncio.get_running_loop().time() - started <= LEASE + 1
    assert not await _has(alice, "#room", ("bob",))
    # the node comes back and its users can take their nicks again
    b2 = await nodes("b")
    bob2 = await _client(b2, "bob")
    await bob2.join("#room")
    await alice.expect("JOIN", "#room")
