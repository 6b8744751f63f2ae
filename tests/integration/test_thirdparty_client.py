"""A third-party IRC client library (``irc`` from PyPI) chats with our own raw client."""

from __future__ import annotations

import asyncio

import irc.client
import irc.client_aio


async def test_irc_library_client_registers_joins_and_chats(server, connect):
    loop = asyncio.get_running_loop()
    events: asyncio.Queue[irc.client.Event] = asyncio.Queue()
    reactor = irc.client_aio.AioReactor(loop=loop)

    def record(connection: irc.client.ServerConnection, event: irc.client.Event) -> None:
        events.put_nowait(event)

    for kind in ("welcome", "join", "pubmsg", "privmsg", "namreply", "quit", "currenttopic"):
        reactor.add_global_handler(kind, record)
    conn = await reactor.server().connect(
        server.host, server.port, "libbot", username="libbot", ircname="Lib Bot"
    )

    async def wait_for(kind: str, timeout: float = 5.0) -> irc.client.Event:
        async def scan() -> irc.client.Event:
            while True:
                event = await events.get()
                if event.type == kind:
                    return event

        return await asyncio.wait_for(scan(), timeout)

    welcome = await wait_for("welcome")
    assert welcome.target == "libbot"
    alice = await connect("alice")
    await alice.join("#general")
    alice.send("TOPIC #general :library day")
    await alice.expect("TOPIC")
    conn.join("#general")
    joined = await wait_for("join")
    assert joined.target == "#general" and joined.source.nick == "libbot"
    topic = await wait_for("currenttopic")
    assert topic.arguments[-1] == "library day"
    names = await wait_for("namreply")
    assert "@alice" in names.arguments[-1].split()
    await alice.expect(lambda m: m.command == "JOIN" and m.source.startswith("libbot!"))

    alice.send("PRIVMSG #general :hello library")
    msg = await wait_for("pubmsg")
    assert msg.source.nick == "alice" and msg.arguments == ["hello library"]
    alice.send("PRIVMSG libbot :just you")
    direct = await wait_for("privmsg")
    assert direct.arguments == ["just you"]

    conn.privmsg("#general", "hello alice, ünïcode ✓")
    got = await alice.expect("PRIVMSG")
    assert got.params == ("#general", "hello alice, ünïcode ✓")
    assert got.source.startswith("libbot!")

    conn.quit("library out")
    quit_msg = await alice.expect("QUIT")
    assert quit_msg.params == ("Quit: library out",)
    conn.disconnect()
