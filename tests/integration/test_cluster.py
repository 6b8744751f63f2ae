"""Several ``hubbub serve`` nodes on one Redis: one network to every client (docs/cluster.md).

Real processes, a real Redis started by the fixture, raw-socket clients on each node.
"""

from __future__ import annotations

import ast
import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from hubbub.protocol import Message, parse
from hubbub.server.accounts import hash_password
from tests.support.serverproc import ServerProcess
from tests.support.services import RedisServer

from .accounts_helpers import OPER_PASSWORD, login_and_register, register_account
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
            env={
                "HUBBUB_CLUSTER_LEASE": str(LEASE),
                # cheap password hashing: the tests log in often
                "HUBBUB_PASSWORD_HASH_MEMORY_KIB": "1024",
                "HUBBUB_PASSWORD_HASH_TIME_COST": "1",
            },
        )
        await node.start()
        started.append(node)
        return node

    start.started = started  # type: ignore[attr-defined]  # the nodes so far, in order
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


async def _names(client: IRCClient, channel: str, *, prefixes: bool = False) -> set[str]:
    """The members of ``channel`` as a NAMES sent now lists them (earlier replies dropped)."""
    client.buffer.clear()
    token = f"names-{id(client)}-{asyncio.get_running_loop().time()}"
    client.send(f"NAMES {channel}")
    client.send(f"PING :{token}")
    names: set[str] = set()
    while True:
        reply = await client.expect(lambda m: m.command in ("353", "PONG"))
        if reply.command == "PONG":
            if reply.params[-1] == token:
                return names
            continue
        if reply.params[2] == channel:
            names.update(n if prefixes else n.lstrip("@+") for n in reply.params[-1].split())


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


def _received(client: IRCClient) -> list[Message]:
    """Every message ``client`` has read so far, from its transcript."""
    return [
        parse(ast.literal_eval(line.split(" << ", 1)[1]).rstrip(b"\r\n"))
        for line in client.log
        if " << " in line
    ]


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


PAIR_CAPS = ("message-tags", "server-time", "away-notify", "extended-join")


async def _pair(
    nodes: Nodes, channel: str = "#room", *args: str, caps: tuple[str, ...] = PAIR_CAPS
) -> tuple[IRCClient, IRCClient]:
    """alice (op of ``channel``) on node a, bob in ``channel`` on node b (``args``: both nodes')."""
    a = await nodes("a", *args)
    b = await nodes("b", *args)
    alice = await _client(a, "alice", caps)
    bob = await _client(b, "bob", caps)
    await alice.join(channel)
    await _until(lambda: _channel_listed(bob, channel))
    await bob.join(channel)
    await alice.expect("JOIN", channel)
    await _sees_in(bob, channel, "alice", "bob")
    alice.buffer.clear()
    bob.buffer.clear()
    return alice, bob


async def test_topic_modes_and_kick_across_nodes(nodes: Nodes) -> None:
    alice, bob = await _pair(nodes)
    alice.send("TOPIC #room :the topic")
    await bob.expect("TOPIC", "#room", "the topic")
    # a client that joins later on either node sees it
    bob.send("TOPIC #room")
    await bob.expect("332", "bob", "#room", "the topic")
    # ops given to a user of the other node let it act there
    alice.send("MODE #room +o bob")
    await bob.expect("MODE", "#room", "+o", "bob")
    bob.send("MODE #room +m")
    await alice.expect("MODE", "#room", "+m")
    await _until(lambda: _mode_has(alice, "#room", "m"))
    bob.send("MODE #room -o alice")
    await alice.expect("MODE", "#room", "-o", "alice")
    # moderated, and alice no longer has ops or voice: she may not speak
    alice.send("PRIVMSG #room :can I speak?")
    await alice.expect("404")
    bob.send("KICK #room alice :out")
    kick = await alice.expect("KICK", "#room", "alice")
    assert kick.params[-1] == "out"
    await _until(lambda: _lacks(bob, "#room", "alice"))
    alice.send("JOIN #room")
    await alice.expect("366", "alice", "#room")
    await bob.expect("JOIN", "#room")  # what bob's node knows when he acts
    bob.send("MODE #room +i")
    await alice.expect("MODE", "#room", "+i")
    alice.send("PART #room")
    await alice.expect("PART", "#room")
    await bob.expect("PART", "#room")
    alice.send("JOIN #room")
    await alice.expect("473")
    # an invite from the other node lets her in
    bob.send("INVITE alice #room")
    await alice.expect("INVITE", "alice", "#room")
    await _until(lambda: _joins(alice, "#room"))


async def _joins(client: IRCClient, channel: str) -> bool:
    client.buffer.clear()
    client.send(f"JOIN {channel}")
    reply = await client.expect(lambda m: m.command in ("366", "473"))
    return reply.command == "366"


async def _mode_has(client: IRCClient, channel: str, letter: str) -> bool:
    client.send(f"MODE {channel}")
    reply = await client.expect("324")
    return letter in reply.params[2]


async def test_away_whois_who_and_lusers_see_the_whole_network(nodes: Nodes) -> None:
    alice, bob = await _pair(nodes)
    bob.send("AWAY :lunch")
    await bob.expect("306")
    await alice.expect("AWAY", "lunch")
    alice.send("WHOIS bob")
    whois = await alice.collect_until("318")
    commands = [m.command for m in whois]
    assert "311" in commands and "301" in commands, commands
    assert any(m.command == "319" and "#room" in m.params[-1] for m in whois)
    (server,) = [m for m in whois if m.command == "312"]
    assert server.params[-1].endswith("node b"), server.params  # one network name, the node shown
    alice.send("WHO #room")
    who = await alice.collect_until("315")
    assert {m.params[5] for m in who if m.command == "352"} == {"alice", "bob"}
    alice.send("LUSERS")
    lusers = await alice.collect_until("266")
    text = " ".join(m.params[-1] for m in lusers if m.command == "251")
    assert "2 users" in text, text
    # a message to the away user answers with its away message
    alice.send("PRIVMSG bob :hi")
    await alice.expect("301", "alice", "bob", "lunch")
    await bob.expect("PRIVMSG", "bob", "hi")


async def test_monitor_sees_users_of_other_nodes_come_and_go(nodes: Nodes) -> None:
    a = await nodes("a")
    b = await nodes("b")
    alice = await _client(a, "alice")
    alice.send("MONITOR + carol")
    await alice.expect("731")
    carol = await _client(b, "carol")
    online = await alice.expect("730")
    assert online.params[-1].startswith("carol!")
    carol.send("NICK carla")
    await alice.expect("731", "alice", "carol")
    carol.send("NICK carol")
    await alice.expect("730")
    carol.send("QUIT")
    await alice.expect("731", "alice", "carol")


async def test_redis_restarting_loses_and_repeats_nothing(nodes: Nodes, redis_server: RedisServer) -> None:
    alice, bob = await _pair(nodes)
    alice.send("PRIVMSG #room :before")
    await bob.expect("PRIVMSG", "#room", "before")
    redis_server.stop()
    # accepted while the bus is down: they wait on the sending node
    for i in range(5):
        alice.send(f"PRIVMSG #room :while down {i}")
    await alice.sync()
    redis_server.start()
    for i in range(5):
        await bob.expect("PRIVMSG", "#room", f"while down {i}", timeout=15)
    bob.send("PRIVMSG #room :after")
    await alice.expect("PRIVMSG", "#room", "after", timeout=15)
    # membership came back whole, and nothing came twice
    await _sees_in(alice, "#room", "alice", "bob")
    await _sees_in(bob, "#room", "alice", "bob")
    bob.send("PING :fence")
    await bob.expect("PONG")
    texts = [m.params[-1] for m in _received(bob) if m.command == "PRIVMSG"]
    assert texts == ["before", *(f"while down {i}" for i in range(5))], bob.transcript()
    # and a node that starts now sees both users
    c = await nodes("c")
    carol = await _client(c, "carol")
    await _sees_in(carol, "#room", "alice", "bob")


async def _scrape(node: ServerProcess) -> str:
    """The node's /metrics (a node started with ``--web-port 0``)."""
    line = await node.wait_for_stderr(b"hubbub web on ")
    url = line.split(b"hubbub web on ", 1)[1].split()[0].decode()
    host, port = url.split("//", 1)[1].rstrip("/").rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    body = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    return body.decode()


async def test_metrics_and_logs_name_the_node(nodes: Nodes) -> None:
    a = await nodes("a", "--web-port", "0")
    b = await nodes("b")
    await _client(a, "alice")
    await _client(b, "bob")
    assert b"node a/" in b"".join(a.stderr) and b"joined the cluster" in b"".join(a.stderr)

    async def scrape() -> str:
        return await _scrape(a)

    async def counted() -> bool:
        text = await scrape()
        return 'node="a"' in text and "hubbub_cluster_nodes 2.0" in text and "hubbub_users 2.0" in text

    await _until(counted)
    assert "hubbub_cluster_local_users 1.0" in await scrape()
    assert "hubbub_cluster_handed_devices 0.0" in await scrape()


# With the store in PostgreSQL: one history, one order ----------------------------------------


async def _collect(client: IRCClient, last: Callable[[Message], bool], timeout: float = 30) -> list[Message]:
    """Every message up to and including the first for which ``last`` holds."""
    out: list[Message] = []

    def pred(m: Message) -> bool:
        out.append(m)
        return last(m)

    await client.expect(pred, timeout=timeout)
    return out


def _batch_end(m: Message) -> bool:
    return m.command == "BATCH" and m.params[0].startswith("-")


HISTORY = ("message-tags", "server-time", "batch", "draft/chathistory", "echo-message")


async def test_several_senders_on_three_nodes_one_order_equal_to_history(nodes: Nodes, pg_url: str) -> None:
    servers = [await nodes(name, "--store", pg_url) for name in ("a", "b", "c")]
    clients = [await _client(servers[i % 3], f"user{i}", HISTORY) for i in range(6)]
    await clients[0].join("#order")
    for client in clients[1:]:
        await _until(lambda client=client: _channel_listed(client, "#order"))
        await client.join("#order")
    for client in clients:
        await _sees_in(client, "#order", *(c.nick for c in clients))
        client.buffer.clear()
    per_sender = 40
    for i in range(per_sender):
        for client in clients:
            client.send(f"PRIVMSG #order :{client.nick} {i}")
    total = per_sender * len(clients)
    orders = []
    for client in clients:
        got: list[str] = []

        def counted(m: Message, got: list[str] = got) -> bool:
            if m.command == "PRIVMSG":
                got.append(m.tags["msgid"])
            return len(got) == total

        await _collect(client, counted)
        orders.append(got)
    # every receiver, on every node, saw one order (the senders' own echoes included)
    for order in orders:
        assert len(order) == total
        assert order == orders[0]
    # and it is the history's order
    reader = clients[1]
    reader.buffer.clear()
    reader.send(f"CHATHISTORY LATEST #order * {total}")
    batch = await _collect(reader, _batch_end)
    history = [m.tags["msgid"] for m in batch if m.command == "PRIVMSG"]
    assert history == orders[0], [(m.command, m.params[-1], m.tags.get("time")) for m in batch][:12]


async def test_a_killed_node_loses_nothing_anyone_saw(nodes: Nodes, pg_url: str) -> None:
    alice, bob = await _pair(nodes, "#keep", "--store", pg_url, caps=HISTORY)
    for i in range(200):
        bob.send(f"PRIVMSG #keep :{i}")
    await alice.expect("PRIVMSG", "#keep", "20", timeout=15)
    await nodes.started[1].kill()  # type: ignore[attr-defined]  # node b
    await alice.expect("QUIT", timeout=LEASE * 2)
    seen = [m.params[-1] for m in _received(alice) if m.command == "PRIVMSG"]
    alice.buffer.clear()
    alice.send("CHATHISTORY LATEST #keep * 500")
    batch = await _collect(alice, _batch_end)
    kept = [m.params[-1] for m in batch if m.command == "PRIVMSG"]
    # whatever alice saw is in history, in the order she saw it
    assert kept[: len(seen)] == seen
    assert seen == [str(i) for i in range(len(seen))]


@pytest.mark.allow_error_log(r"the history store cannot commit")
async def test_postgresql_unreachable_fails_senders_and_comes_back(
    nodes: Nodes, pg_url: str, postgres: Any
) -> None:
    alice, bob = await _pair(nodes, "#db", "--store", pg_url, caps=HISTORY)
    postgres.stop()
    try:
        alice.send("PRIVMSG #db :lost?")
        fail = await alice.expect("FAIL", timeout=20)
        assert fail.params[:2] == ("PRIVMSG", "TEMPORARILY_UNAVAILABLE")
    finally:
        postgres.start()
    await bob.assert_silent("PRIVMSG")

    async def delivered() -> bool:
        alice.buffer.clear()
        alice.send("PRIVMSG #db :back")
        reply = await alice.expect(lambda m: m.command in ("PRIVMSG", "FAIL"), timeout=10)
        return reply.command == "PRIVMSG"

    await _until(delivered, timeout=30)
    await bob.expect("PRIVMSG", "#db", "back")


async def test_one_channel_made_on_two_nodes_at_once_has_one_founder(nodes: Nodes) -> None:
    a = await nodes("a")
    b = await nodes("b")
    alice = await _client(a, "alice")
    bob = await _client(b, "bob")
    for round_ in range(5):
        channel = f"#new{round_}"
        alice.send(f"JOIN {channel}")
        bob.send(f"JOIN {channel}")
        names = []
        for client in (alice, bob):
            reply = await client.expect("353", client.nick, "=", channel)
            names.append(reply.params[-1])
        await _sees_in(alice, channel, "alice", "bob")
        for client in (alice, bob):
            listed = await _names(client, channel, prefixes=True)
            ops = [n for n in listed if n.startswith("@")]
            assert len(ops) == 1, (names, listed)


async def test_look_alike_channels_made_on_two_nodes_at_once_one_is_refused(nodes: Nodes) -> None:
    a = await nodes("a")
    b = await nodes("b")
    alice = await _client(a, "alice")
    bob = await _client(b, "bob")
    for round_ in range(5):
        latin, cyrillic = f"#room{round_}", f"#r\u043e\u043em{round_}"
        alice.send(f"JOIN {latin}")
        bob.send(f"JOIN {cyrillic}")
        results = await asyncio.gather(
            alice.expect(lambda m: m.command in ("366", "403")),
            bob.expect(lambda m: m.command in ("366", "403")),
        )
        assert sorted(r.command for r in results) == ["366", "403"], results


async def test_an_account_on_two_nodes_shares_its_read_markers_and_direct_messages(
    nodes: Nodes, pg_url: str
) -> None:
    a = await nodes("a", "--store", pg_url)
    b = await nodes("b", "--store", pg_url)
    caps = ("draft/read-marker", "message-tags", "server-time")
    laptop = await _client(a, "alice", caps)
    await register_account(laptop, "marker-password")
    phone = await IRCClient.open(b.host, b.port, "phone")
    reply = await login_and_register(phone, "alice_phone", "alice", "marker-password", caps)
    assert reply.command == "903"  # the account is the store's, known on every node
    await phone.expect("001")
    await _until(lambda: _whois_account(laptop, "alice_phone", "alice"))
    laptop.send("MARKREAD #room timestamp=2030-01-02T03:04:05.678Z")
    assert (await laptop.expect("MARKREAD")).params == ("#room", "timestamp=2030-01-02T03:04:05.678Z")
    assert (await phone.expect("MARKREAD")).params == ("#room", "timestamp=2030-01-02T03:04:05.678Z")


async def _whois_account(client: IRCClient, nick: str, account: str) -> bool:
    client.buffer.clear()
    client.send(f"WHOIS {nick}")
    replies = await client.collect_until("318")
    return any(m.command == "330" and m.params[2] == account for m in replies)


async def test_joining_a_channel_busy_on_another_node_misses_nothing(nodes: Nodes, pg_url: str) -> None:
    """From the first line bob gets on, he gets every one, in order: those alice's node numbered
    after his JOIN but fanned out before it heard of it are read from the store for him."""
    a = await nodes("a", "--store", pg_url)
    b = await nodes("b", "--store", pg_url)
    alice = await _client(a, "alice")  # no echoes: she reads nothing while she talks
    await alice.join("#busy")
    bob = await _client(b, "bob", HISTORY)
    await _until(lambda: _channel_listed(bob, "#busy"))
    first_seen = asyncio.Event()

    async def talk() -> int:
        i = 0
        while not first_seen.is_set() or i % 100:
            alice.send(f"PRIVMSG #busy :{i}")
            i += 1
            if i % 20 == 0:
                # paced by round trips (bob reads as fast; unpaced, a loaded machine drops him
                # for his sendq), and bob's JOIN goes out meanwhile
                await alice.drain_messages()
        return i - 1

    talking = asyncio.create_task(talk())
    bob.send("JOIN #busy")
    joined = await bob.expect("JOIN", "#busy")
    await bob.expect("366", "bob", "#busy")
    first = await bob.expect("PRIVMSG", "#busy", timeout=15)
    first_seen.set()
    last = await talking
    alice.send(f"PRIVMSG #busy :{last + 1}")
    got = await _collect(bob, lambda m: m.command == "PRIVMSG" and m.params[-1] == str(last + 1))
    texts = [int(first.params[-1])] + [int(m.params[-1]) for m in got if m.command == "PRIVMSG"]
    assert texts == list(range(texts[0], last + 2)), texts
    await _nothing_owed_before(bob, "#busy", first, joined)


async def _nothing_owed_before(client: IRCClient, channel: str, first: Message, joined: Message) -> None:
    """The line before the first one ``client`` got after joining was said before it joined."""
    client.buffer.clear()
    client.send(f"CHATHISTORY BEFORE {channel} msgid={first.tags['msgid']} 1")
    before = [m for m in await _collect(client, _batch_end) if m.command == "PRIVMSG"]
    if before:
        assert before[0].tags["time"] <= joined.tags["time"], (before[0], joined)


async def test_joining_a_channel_busy_on_every_node_misses_nothing(nodes: Nodes, pg_url: str) -> None:
    """Senders on three nodes, one of them the joiner's: from his first line on, bob gets the
    channel's history as it is, whole and in its order (what each node fanned out before it
    learnt of his JOIN, his own node too, is read from the store for him)."""
    servers = [await nodes(name, "--store", pg_url) for name in ("a", "b", "c")]
    senders = [await _client(servers[i], nick) for i, nick in enumerate(("alice", "dave", "carol"))]
    await senders[0].join("#busy")
    for sender in senders[1:]:
        await _until(lambda sender=sender: _channel_listed(sender, "#busy"))
        await sender.join("#busy")
    bob = await _client(servers[1], "bob", HISTORY)
    await _until(lambda: _channel_listed(bob, "#busy"))
    started = [asyncio.Event() for _ in senders]
    joined_seen = asyncio.Event()

    async def talk(sender: IRCClient, started: asyncio.Event) -> None:
        i = after = 0
        while after < 100:  # until bob has joined, then a hundred more
            sender.send(f"PRIVMSG #busy :{sender.nick} {i}")
            i += 1
            after += joined_seen.is_set()
            if i % 20 == 0:
                await sender.drain_messages()  # paced by round trips: bob reads as fast
                if i >= 60:
                    started.set()

    talking = [asyncio.create_task(talk(s, e)) for s, e in zip(senders, started, strict=True)]
    for event in started:
        await asyncio.wait_for(event.wait(), 15)
    bob.send("JOIN #busy")
    joined = await bob.expect("JOIN", "#busy")
    joined_seen.set()
    await asyncio.gather(*talking)
    for sender in senders:
        sender.send(f"PRIVMSG #busy :{sender.nick} end")
    ends = {f"{s.nick} end" for s in senders}
    got: list[Message] = []

    def all_ended(m: Message) -> bool:
        if m.command == "PRIVMSG" and m.params[0] == "#busy":
            got.append(m)
            ends.discard(m.params[-1])
        return not ends

    await bob.expect(all_ended, timeout=30)
    bob.buffer.clear()
    bob.send(f"CHATHISTORY LATEST #busy * {min(len(got) + 50, 1000)}")
    history = [m.tags["msgid"] for m in await _collect(bob, _batch_end) if m.command == "PRIVMSG"]
    live = [m.tags["msgid"] for m in got]
    assert live and live[0] in history
    assert live == history[history.index(live[0]) :], [m.params[-1] for m in got][:40]
    await _nothing_owed_before(bob, "#busy", got[0], joined)


def _oper_config(tmp_path: Path) -> Path:
    config = tmp_path / "opers.toml"
    config.write_text(f'[operators]\nopers = ["admin {hash_password(OPER_PASSWORD, 1024, 1)}"]\n')
    return config


async def test_an_operator_kills_a_user_of_another_node(nodes: Nodes, tmp_path: Path) -> None:
    """KILL of a user connected elsewhere: that node disconnects it, everyone sees one QUIT, and
    its nick is free in the whole network."""
    config = str(_oper_config(tmp_path))
    alice, bob = await _pair(nodes, "#room", "--config", config)
    carol = await _client(nodes.started[1], "carol")  # type: ignore[attr-defined]  # on bob's node
    await carol.join("#room")
    await alice.expect("JOIN", "#room")
    alice.send(f"OPER admin {OPER_PASSWORD}")
    await alice.expect("381")
    alice.buffer.clear()
    alice.send("KILL bob :spamming")
    error = await bob.expect("ERROR")
    assert "Killed (alice (spamming))" in error.params[-1]
    await bob.expect_closed()
    for watcher in (alice, carol):
        quit_line = await watcher.expect("QUIT")
        assert quit_line.source.startswith("bob!") and "Killed" in quit_line.params[-1]
        await _sees_in(watcher, "#room", "alice", "carol")
    for watcher in (alice, carol):
        assert [m.command for m in _received(watcher)].count("QUIT") == 1
    # the nick is free on both nodes
    again = await _client(nodes.started[0], "bob")  # type: ignore[attr-defined]
    await again.join("#room")
    await carol.expect("JOIN", "#room")


async def test_a_server_ban_set_on_one_node_holds_on_every_node(nodes: Nodes, tmp_path: Path) -> None:
    """KLINE on node a disconnects the matching user of node b at once, and b refuses it until
    UNKLINE on a lifts the ban there too."""
    config = str(_oper_config(tmp_path))
    alice, bob = await _pair(nodes, "#room", "--config", config)
    b = nodes.started[1]  # type: ignore[attr-defined]
    alice.send(f"OPER admin {OPER_PASSWORD}")
    await alice.expect("381")
    alice.send("KLINE bob!*@* :go away")
    await bob.expect("465")
    error = await bob.expect("ERROR")
    assert "Banned: go away" in error.params[-1]
    await bob.expect_closed()
    await alice.expect("QUIT")

    async def refused() -> bool:
        client = await IRCClient.open(b.host, b.port, "bob")
        client.send("NICK bob")
        client.send("USER u 0 * :u")
        reply = await client.expect(lambda m: m.command in ("001", "465"))
        await client.close()
        return reply.command == "465"

    assert await refused()
    alice.send("UNKLINE bob!*@*")
    await alice.expect("NOTICE")
    await _until(lambda: _not(refused))


async def _not(check: Callable[[], Awaitable[bool]]) -> bool:
    return not await check()


async def test_an_operator_changes_the_host_of_a_user_of_another_node(nodes: Nodes, tmp_path: Path) -> None:
    """CHGHOST of a user connected elsewhere changes it on its own node, which shows it to
    everyone; it stays changed when that user changes something else later."""
    config = str(_oper_config(tmp_path))
    alice, bob = await _pair(nodes, "#room", "--config", config, caps=("chghost",))
    alice.send(f"OPER admin {OPER_PASSWORD}")
    await alice.expect("381")
    alice.send("CHGHOST bob visitor hidden.example")
    await bob.expect("396", "bob", "hidden.example")
    change = await alice.expect("CHGHOST", "visitor", "hidden.example")
    assert change.source.startswith("bob!")

    async def host_seen(client: IRCClient) -> bool:
        client.buffer.clear()
        client.send("WHOIS bob")
        replies = await client.collect_until("318")
        return any(m.command == "311" and m.params[2:4] == ("visitor", "hidden.example") for m in replies)

    await _until(lambda: host_seen(alice))  # b told the network of bob's new host
    assert await host_seen(bob)
    bob.send("AWAY :lunch")  # a later change of bob's, with the rest of his state
    await bob.expect("306")
    await _until(lambda: _shown_away(alice, "bob"))
    alice.buffer.clear()
    alice.send("WHOIS bob")
    replies = await alice.collect_until("318")
    assert [m.params[-1] for m in replies if m.command == "301"] == ["lunch"]  # the AWAY came
    assert [m.params[2:4] for m in replies if m.command == "311"] == [("visitor", "hidden.example")]


# Devices of one account on two nodes (docs/cluster.md, "Devices on several nodes") -----------------

DEVICE_PASSWORD = "two-nodes-pw"
DEVICE_CAPS = ("message-tags",)


async def _devices(
    nodes: Nodes,
    pg_url: str,
    phone_on: str = "b",
    phone_caps: tuple[str, ...] = (*DEVICE_CAPS, "server-time"),  # a view of its own by default
    b_args: tuple[str, ...] = (),
) -> tuple[IRCClient, IRCClient, IRCClient, IRCClient]:
    """alice's laptop and carol on node a, bob on node b (started with ``b_args`` too), all in
    #team; then alice's phone on ``phone_on``."""
    a = await nodes("a", "--store", pg_url)
    b = await nodes("b", "--store", pg_url, *b_args)
    laptop = await _client(a, "alice", DEVICE_CAPS)
    await register_account(laptop, DEVICE_PASSWORD)
    await laptop.join("#team")
    carol = await _client(a, "carol", DEVICE_CAPS)
    await carol.join("#team")
    bob = await _client(b, "bob", DEVICE_CAPS)
    await _until(lambda: _channel_listed(bob, "#team"))
    await bob.join("#team")
    await _sees_in(laptop, "#team", "alice", "bob", "carol")
    node = a if phone_on == "a" else b
    phone = await IRCClient.open(node.host, node.port, "phone")
    assert (await login_and_register(phone, "alice", "alice", DEVICE_PASSWORD, phone_caps)).command == "903"
    return laptop, phone, bob, carol


async def _listed(client: IRCClient, channel: str) -> list[str]:
    """The NAMES list of ``channel`` as it comes now, every entry (a user listed twice shows twice)."""
    client.buffer.clear()
    client.send(f"NAMES {channel}")
    got = await client.collect_until("366", client.nick, channel)
    return sorted(n.lstrip("@+") for m in got if m.command == "353" for n in m.params[-1].split())


def _by(message: Message, nick: str) -> bool:
    return message.source is not None and message.source.startswith(f"{nick}!")


async def _whois_count(client: IRCClient, nick: str) -> int:
    client.buffer.clear()
    client.send(f"WHOIS {nick}")
    got = await client.collect_until("318")
    return sum(1 for m in got if m.command == "311")


async def _marked(sender: IRCClient, *readers: IRCClient) -> list[list[Message]]:
    """What each of ``readers`` got until ``sender``'s marker message reached it (a barrier
    across nodes: what a node sent before the marker comes before it)."""
    token = f"marker-{asyncio.get_running_loop().time()}"
    sender.send(f"PRIVMSG #team :{token}")
    return [await r.collect_until("PRIVMSG", "#team", token) for r in readers]


async def test_a_second_device_on_another_node_is_the_same_user(nodes: Nodes, pg_url: str) -> None:
    laptop, phone, bob, carol = await _devices(nodes, pg_url)
    welcome = await phone.expect("001")
    assert welcome.params[0] == "alice"
    got = await phone.collect_until("366", "alice", "#team")
    joins = [m for m in got if m.command == "JOIN"]
    assert [m.params for m in joins] == [("#team",)]
    assert joins[0].source is not None and joins[0].source.startswith("alice!")
    names = [n.lstrip("@") for m in got if m.command == "353" for n in m.params[-1].split()]
    assert sorted(names) == ["alice", "bob", "carol"]
    # nobody else saw a JOIN: one user, on both nodes
    for seen in await _marked(laptop, bob, carol):
        assert not [m for m in seen if m.command == "JOIN" and _by(m, "alice")], seen
    assert await _listed(bob, "#team") == ["alice", "bob", "carol"]
    assert await _listed(carol, "#team") == ["alice", "bob", "carol"]
    assert await _whois_count(bob, "alice") == 1
    assert await _whois_count(carol, "alice") == 1

    # what others say reaches both devices, from either node
    for speaker, text in ((bob, "from b"), (carol, "from a")):
        speaker.send(f"PRIVMSG #team :{text}")
        on_laptop = await laptop.expect("PRIVMSG", "#team", text)
        on_phone = await phone.expect("PRIVMSG", "#team", text)
        assert _by(on_laptop, speaker.nick) and _by(on_phone, speaker.nick)
        assert on_phone.tags["msgid"] == on_laptop.tags["msgid"]
        assert "time" in on_phone.tags and "time" not in on_laptop.tags
        speaker.send(f"PRIVMSG alice :psst {text}")
        await laptop.expect("PRIVMSG", "alice", f"psst {text}")
        await phone.expect("PRIVMSG", "alice", f"psst {text}")

    # what the phone says reaches the others once, and the laptop as on one node
    phone.send("PRIVMSG #team :from my phone")
    await laptop.expect("PRIVMSG", "#team", "from my phone")
    for seen in await _marked(laptop, bob, carol):
        said = [m for m in seen if m.command == "PRIVMSG" and m.params[-1] == "from my phone"]
        assert len(said) == 1 and said[0].source is not None and said[0].source.startswith("alice!"), seen
    # and its commands are answered as any client's
    phone.send("WHOIS bob")
    assert (await phone.expect("311")).params[1] == "bob"
    phone.send("JOIN #more")
    await laptop.expect("JOIN", "#more")
    await phone.expect("366", "alice", "#more")
    await _until(lambda: _channel_listed(bob, "#more"))
    bob.send("JOIN #more")
    await phone.expect("JOIN", "#more")
    assert await _listed(bob, "#more") == ["alice", "bob"]
    # a nick change waits for its claim in the network on alice's node; the lines after it wait too
    phone.send("NICK alicia")
    phone.send("PRIVMSG #team :renamed")
    assert (await bob.expect("NICK")).params == ("alicia",)
    assert _by(await bob.expect("PRIVMSG", "#team", "renamed"), "alicia")
    await laptop.expect("NICK", "alicia")
    await phone.expect("NICK", "alicia")


async def test_a_device_handed_to_another_node_is_counted_apart(nodes: Nodes, pg_url: str) -> None:
    """/metrics of the node a device connected to: bob is its user, the device is alice's."""
    _laptop, phone, _bob, _carol = await _devices(nodes, pg_url, b_args=("--web-port", "0"))
    await phone.collect_until("366", "alice", "#team")
    text = await _scrape(nodes.started[1])  # type: ignore[attr-defined]  # node b
    assert "hubbub_cluster_local_users 1.0" in text and "hubbub_cluster_handed_devices 1.0" in text


async def test_a_device_on_another_node_leaving_shows_nothing_until_the_last_goes(
    nodes: Nodes, pg_url: str
) -> None:
    laptop, phone, bob, carol = await _devices(nodes, pg_url)
    await phone.collect_until("366", "alice", "#team")
    phone.send("QUIT :phone off")
    await phone.expect_closed()
    for seen in await _marked(laptop, bob, carol):
        assert not [m for m in seen if m.command == "QUIT" and _by(m, "alice")], seen
    assert await _listed(bob, "#team") == ["alice", "bob", "carol"]

    # the laptop leaves first: the phone, on the other node, holds the nick on
    node_b = nodes.started[1]  # type: ignore[attr-defined]
    phone = await IRCClient.open(node_b.host, node_b.port, "phone2")
    assert (await login_and_register(phone, "alice", "alice", DEVICE_PASSWORD, DEVICE_CAPS)).command == "903"
    await phone.collect_until("366", "alice", "#team")
    laptop.send("QUIT :laptop off")
    await laptop.expect_closed()
    for seen in await _marked(phone, bob, carol):
        assert not [m for m in seen if m.command == "QUIT" and _by(m, "alice")], seen
    assert await _listed(bob, "#team") == ["alice", "bob", "carol"]
    assert await _listed(carol, "#team") == ["alice", "bob", "carol"]
    bob.send("PRIVMSG alice :still there?")
    await phone.expect("PRIVMSG", "alice", "still there?")
    carol.send("PRIVMSG #team :and here?")
    await phone.expect("PRIVMSG", "#team", "and here?")
    # the nick stays held in the whole network
    node_a = nodes.started[0]  # type: ignore[attr-defined]
    for node in (node_a, node_b):
        other = await IRCClient.open(node.host, node.port, "other")
        other.send("NICK alice")
        other.send("USER u 0 * :u")
        await other.expect("433")
        await other.close()
    # the last device leaving is the user quitting
    phone.send("QUIT :all off")
    await phone.expect_closed()
    for client in (bob, carol):
        quit_ = await client.expect("QUIT")
        assert quit_.source is not None and quit_.source.startswith("alice!")
        assert quit_.params == ("Quit: all off",)


async def test_a_device_whose_home_node_is_killed_is_closed_with_an_error(nodes: Nodes, pg_url: str) -> None:
    _laptop, phone, bob, _carol = await _devices(nodes, pg_url)
    await phone.collect_until("366", "alice", "#team")
    await nodes.started[0].kill()  # type: ignore[attr-defined]  # node a, alice's home
    got = await phone.expect_closed(timeout=LEASE * 3)
    errors = [m for m in got if m.command == "ERROR"]
    assert errors and "gone" in errors[0].params[0], got
    # and alice is gone from node b's network, as every user of node a
    assert await _whois_count(bob, "alice") == 0


@pytest.mark.parametrize("how", ["kill", "terminate"])
async def test_a_device_s_node_going_ends_it_quietly_on_its_home_node(
    nodes: Nodes, pg_url: str, how: str
) -> None:
    laptop, phone, _bob, carol = await _devices(nodes, pg_url)
    await phone.collect_until("366", "alice", "#team")
    await getattr(nodes.started[1], how)()  # type: ignore[attr-defined]  # node b, the phone's
    await carol.expect("QUIT", timeout=LEASE * 3)  # bob's
    for seen in await _marked(laptop, carol):
        assert not [m for m in seen if m.command == "QUIT" and _by(m, "alice")], seen
    assert await _listed(carol, "#team") == ["alice", "carol"]
    # the phone's session is gone with its node: the laptop was the last device
    laptop.send("QUIT :laptop off")
    quit_ = await carol.expect("QUIT")
    assert _by(quit_, "alice") and quit_.params == ("Quit: laptop off",)


async def test_a_device_whose_home_node_stops_is_told_why(nodes: Nodes, pg_url: str) -> None:
    _laptop, phone, _bob, _carol = await _devices(nodes, pg_url)
    await phone.collect_until("366", "alice", "#team")
    await nodes.started[0].terminate()  # type: ignore[attr-defined]  # node a, gracefully
    got = await phone.expect_closed()
    errors = [m for m in got if m.command == "ERROR"]
    assert errors and "Server shutting down" in errors[0].params[0], got


async def test_two_devices_on_one_node_both_get_what_another_node_sends(nodes: Nodes, pg_url: str) -> None:
    laptop, phone, bob, _carol = await _devices(nodes, pg_url, phone_on="a", phone_caps=())
    await phone.collect_until("366", "alice", "#team")
    bob.send("PRIVMSG #team :to the channel")
    bob.send("PRIVMSG alice :to alice")
    got = {}
    for device in (laptop, phone):
        got[device] = await device.expect("PRIVMSG", "#team", "to the channel")
        await device.expect("PRIVMSG", "alice", "to alice")
    # each in its own form: the phone asked for no message-tags
    assert "msgid" in got[laptop].tags and not got[phone].tags


async def _service_says(client: IRCClient, service: str, text: str) -> str:
    """Send ``text`` to ``service``; its NOTICE's text."""
    client.send(f"PRIVMSG {service} :{text}")
    reply = await client.expect(lambda m: m.command == "NOTICE" and m.source.startswith(f"{service}!"))
    return reply.params[-1]


async def test_channel_registrations_and_account_drops_reach_every_node(nodes: Nodes, pg_url: str) -> None:
    """ChanServ's registrations, access lists and drops made on one node hold on the others at
    once, and an account dropped on one node is logged out on every node."""
    a = await nodes("a", "--store", pg_url)
    b = await nodes("b", "--store", pg_url)
    alice = await _client(a, "alice")
    await register_account(alice, "alice-pw-123")
    await alice.join("#reg")
    assert "registered" in await _service_says(alice, "ChanServ", "REGISTER #reg")
    carol = await _client(b, "carol")
    await register_account(carol, "carol-pw-123")
    assert "carol" in await _service_says(alice, "ChanServ", "ACCESS #reg ADD carol op")
    await _until(lambda: _channel_listed(carol, "#reg"))
    carol.send("JOIN #reg")
    mode = await carol.expect("MODE", "#reg")
    assert mode.params[1:] == ("+o", "carol") and mode.source.startswith("ChanServ!")
    assert await _service_says(carol, "ChanServ", "INFO #reg") == "#reg is registered to alice"
    assert "no longer registered" in await _service_says(alice, "ChanServ", "DROP #reg")
    await _until(lambda: _says_unregistered(carol))
    # carol's account, dropped from a second connection on node a: carol on b is logged out
    other = await IRCClient.open(a.host, a.port, "carol2")
    assert (await login_and_register(other, "carol2", "carol", "carol-pw-123")).command == "903"
    await other.expect("001")
    assert "dropped" in await _service_says(other, "NickServ", "DROP carol")
    await carol.expect("901")
    assert not await _whois_account(carol, "carol", "carol")  # logged out on her own node too


async def _says_unregistered(client: IRCClient) -> bool:
    return await _service_says(client, "ChanServ", "INFO #reg") == "#reg is not registered"


async def test_a_rename_is_refused_in_a_cluster_and_not_offered(nodes: Nodes) -> None:
    alice, bob = await _pair(nodes, "#old")
    alice.send("CAP LS 302")
    offered: list[str] = []
    while True:  # CAP LS 302 may take several lines: "CAP alice LS * :..." until the last
        line = await alice.expect("CAP", "alice", "LS")
        offered += [cap.split("=")[0] for cap in line.params[-1].split()]
        if line.params[2] != "*":
            break
    assert "draft/channel-rename" not in offered and "echo-message" in offered
    alice.send("RENAME #old #new :moving")
    fail = await alice.expect("FAIL", "RENAME", "CANNOT_RENAME")
    assert "several nodes" in fail.params[-1]
    assert await _names(bob, "#old") == {"alice", "bob"}


async def test_metadata_is_the_same_on_every_node(nodes: Nodes, pg_url: str, tmp_path: Path) -> None:
    """draft/metadata-2: a user's values (a guest's, an account's) and a channel's, set on one
    node, are read and announced on the others, and an operator's change of another node's user
    is made there."""
    caps = ("draft/metadata-2", "batch", "message-tags")
    config = str(_oper_config(tmp_path))
    alice, bob = await _pair(nodes, "#room", "--store", pg_url, "--config", config, caps=caps)
    bob.send("METADATA * SUB pronouns color")
    await bob.expect("770")
    # a learns what bob subscribed to with the rest of his state: once it shows him away, it
    # knows his subscriptions too
    bob.send("AWAY :reading")
    await _until(lambda: _shown_away(alice, "bob"))
    alice.send("METADATA * SET pronouns :she/her")
    await alice.expect("761")
    told = await bob.expect("METADATA", "alice", "pronouns")
    assert told.params[-1] == "she/her"
    assert await _metadata_get(bob, "alice", "pronouns") == "she/her"
    alice.send("METADATA #room SET color :blue")
    await alice.expect("761")
    assert (await bob.expect("METADATA", "#room", "color")).params[-1] == "blue"
    assert await _metadata_get(bob, "#room", "color") == "blue"
    # an account's values: read on the other node from the account, not only from the user
    await register_account(alice, "alice-pw-123")
    alice.send("METADATA * SET color :green")
    await bob.expect("METADATA", "alice", "color")
    assert await _metadata_get(bob, "alice", "color") == "green"
    # an operator on b changes alice's (on a): a changes it, and says so
    bob.send(f"OPER admin {OPER_PASSWORD}")
    await bob.expect("381")
    bob.send("METADATA alice SET color :red")
    await bob.expect("761")
    await _until(lambda: _metadata_is(alice, "alice", "color", "red"))
    await _until(lambda: _metadata_is(bob, "alice", "color", "red"))


async def _metadata_get(client: IRCClient, target: str, key: str) -> str | None:
    client.buffer.clear()
    client.send(f"METADATA {target} GET {key}")
    reply = await client.expect(lambda m: m.command in ("761", "766") and m.params[1:3] == (target, key))
    return reply.params[-1] if reply.command == "761" else None


async def _metadata_is(client: IRCClient, target: str, key: str, value: str) -> bool:
    return await _metadata_get(client, target, key) == value


async def _shown_away(client: IRCClient, nick: str) -> bool:
    client.buffer.clear()
    client.send(f"WHOIS {nick}")
    return any(m.command == "301" for m in await client.collect_until("318"))


async def test_two_topics_set_at_once_on_two_nodes_end_the_same_everywhere(nodes: Nodes) -> None:
    """Channel state changed at the same moment on two nodes ends the same on both (one of the
    changes wins everywhere), round after round."""
    alice, bob = await _pair(nodes)
    alice.send("MODE #room +o bob")
    await bob.expect("MODE", "#room", "+o", "bob")
    for round_ in range(8):
        alice.send(f"TOPIC #room :alice {round_}")
        bob.send(f"TOPIC #room :bob {round_}")
        await alice.expect("TOPIC", "#room", f"alice {round_}")
        await bob.expect("TOPIC", "#room", f"bob {round_}")

        async def agreed(round_: int = round_) -> bool:
            topics = {await _topic(alice), await _topic(bob)}
            return len(topics) == 1 and topics <= {f"alice {round_}", f"bob {round_}"}

        await _until(agreed)


async def _topic(client: IRCClient) -> str:
    client.buffer.clear()
    client.send("TOPIC #room")
    return (await client.expect("332", client.nick, "#room")).params[-1]
