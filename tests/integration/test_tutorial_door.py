"""The tutorial door: the original tutorial's ``name~text`` clients chat with IRC users in one channel.

Raw sockets on loopback against a real server: tutorial clients send their name, then messages,
a chunk each; the server sends ``name~text`` and ``SERVER~...`` lines, each ended by a line feed.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import signal
import socket
import struct
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import ClassVar

import pytest
from prometheus_client.parser import text_string_to_metric_families

from hubbub.server.app import Server
from hubbub.server.metrics import Metrics
from tests.support.clock import FakeClock
from tests.support.serverproc import ServerProcess

from .conftest import Connect, StartServer
from .ircclient import DEFAULT_TIMEOUT, IRCClient


class TutorialClient:
    """A client of the tutorial protocol: sends chunks, reads lines, every wait with a deadline."""

    opened: ClassVar[set[TutorialClient]] = set()
    """Clients of the current test: the fixture below closes them and waits until they are."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, name: str) -> None:
        TutorialClient.opened.add(self)
        self.reader = reader
        self.writer = writer
        self.name = name
        self.log: list[str] = []

    @classmethod
    async def open(cls, server: Server, name: str = "tutorial") -> TutorialClient:
        assert server.tutorial_port is not None
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(server.host, server.tutorial_port), DEFAULT_TIMEOUT
        )
        return cls(reader, writer, name)

    def send(self, data: bytes | str) -> None:
        """Send one chunk exactly as given (the tutorial's clients add no line ending)."""
        chunk = data.encode() if isinstance(data, str) else data
        self.log.append(f"{self.name} >> {chunk[:200]!r}")
        self.writer.write(chunk)

    async def line(self, timeout: float = DEFAULT_TIMEOUT) -> str:
        """The next line the server sent (without its line feed); fails at EOF or the deadline."""
        try:
            raw = await asyncio.wait_for(self.reader.readline(), timeout)
        except TimeoutError:
            raise AssertionError(f"{self.name}: no line within {timeout} s; {self.log}") from None
        self.log.append(f"{self.name} << {raw!r}")
        assert raw, f"{self.name}: closed while a line was expected; {self.log}"
        assert raw.endswith(b"\n"), raw
        return raw[:-1].decode()

    async def expect(self, wanted: str, timeout: float = DEFAULT_TIMEOUT) -> list[str]:
        """Read until the line ``wanted``; return the lines before it."""
        before: list[str] = []
        deadline = time.monotonic() + timeout
        while True:
            got = await self.line(max(deadline - time.monotonic(), 0.01))
            if got == wanted:
                return before
            before.append(got)

    async def closed(self, timeout: float = DEFAULT_TIMEOUT) -> list[str]:
        """Read until the server closes the connection; the lines that came."""
        lines: list[str] = []
        deadline = time.monotonic() + timeout
        while True:
            try:
                raw = await asyncio.wait_for(self.reader.readline(), max(deadline - time.monotonic(), 0.01))
            except TimeoutError:
                raise AssertionError(f"{self.name}: still open; {self.log}") from None
            except ConnectionError:
                return lines
            if not raw:
                return lines
            self.log.append(f"{self.name} << {raw!r}")
            lines.append(raw.decode(errors="replace").rstrip("\n"))

    def close(self) -> None:
        self.writer.close()


@pytest.fixture(autouse=True)
async def close_tutorial_clients() -> AsyncIterator[None]:
    """Close the tutorial clients of a test, and wait until they are, while their loop still runs."""
    yield
    clients, TutorialClient.opened = TutorialClient.opened, set()
    for client in clients:
        client.close()
        with contextlib.suppress(ConnectionError):
            await client.writer.wait_closed()


@pytest.fixture
async def door(start_server: StartServer) -> Server:
    """A server with the tutorial door open on a free port."""
    return await start_server(tutorial_port=0)


async def arrive(server: Server, name: str) -> TutorialClient:
    """A tutorial client that gave its name and saw its own arrival in the channel."""
    client = await TutorialClient.open(server, name)
    client.send(name)
    await client.expect(f"SERVER~{name} joined the chat app")
    return client


async def irc_user(server: Server, connect: Connect, nick: str, *caps: str) -> IRCClient:
    client = await connect(nick, target=server, caps=caps)
    await client.join("#general")
    return client


async def test_tutorial_and_irc_clients_see_each_other_arrive_talk_and_leave(
    door: Server, connect: Connect
) -> None:
    alice = await arrive(door, "alice")
    carol = await irc_user(door, connect, "carol")
    await alice.expect("SERVER~carol joined the chat app")
    bob = await arrive(door, "bob")
    await alice.expect("SERVER~bob joined the chat app")
    joined = await carol.expect("JOIN", "#general")
    assert joined.source is not None and joined.source.startswith("bob!")

    # A tutorial message: every tutorial client (the sender too, as the tutorial echoed) sees
    # name~text, the IRC user a PRIVMSG from the sender.
    alice.send("hello everyone")
    for client in (alice, bob):
        await client.expect("alice~hello everyone")
    said = await carol.expect("PRIVMSG", "#general", "hello everyone")
    assert said.source is not None and said.source.startswith("alice!")

    # An IRC user's message and action, and a notice, in the tutorial's format.
    carol.send("PRIVMSG #general :hi from IRC")
    carol.send("PRIVMSG #general :\x01ACTION waves\x01")
    carol.send("NOTICE #general :a notice")
    for client in (alice, bob):
        await client.expect("carol~hi from IRC")
        await client.expect("carol~* waves")
        await client.expect("carol~a notice")

    # Leaving: a tutorial client closing is a QUIT to IRC users, an IRC PART a departure here.
    bob.close()
    await alice.expect("SERVER~bob left the chat app")
    gone = await carol.expect("QUIT")
    assert gone.source is not None and gone.source.startswith("bob!")
    carol.send("PART #general :bye")
    await alice.expect("SERVER~carol left the chat app")
    alice.close()


async def test_messages_are_lines_of_a_chunk_and_long_ones_are_split(door: Server, connect: Connect) -> None:
    alice = await arrive(door, "alice")
    carol = await irc_user(door, connect, "carol")
    alice.send("one\r\ntwo\n\nthree\n")
    for text in ("one", "two", "three"):
        await alice.expect(f"alice~{text}")
        await carol.expect("PRIVMSG", "#general", text)
    long_text = "é" * 1500  # 3000 bytes: several lines, none cut inside a character
    alice.send(long_text)
    pieces: list[str] = []
    while "".join(pieces) != long_text:
        said = await carol.expect("PRIVMSG", "#general")
        assert len(said.params[1].encode()) < 510
        pieces.append(said.params[1])
    assert len(pieces) > 1


async def test_the_name_chunk_may_carry_the_first_messages(door: Server, connect: Connect) -> None:
    carol = await irc_user(door, connect, "carol")
    alice = await TutorialClient.open(door, "alice")
    alice.send("alice\nfirst words\n")
    await alice.expect("SERVER~alice joined the chat app")
    await alice.expect("alice~first words")
    await carol.expect("PRIVMSG", "#general", "first words")


async def test_a_taken_name_is_refused_in_words_and_the_connection_closes(
    door: Server, connect: Connect
) -> None:
    await arrive(door, "alice")
    await irc_user(door, connect, "carol")
    for name in ("alice", "ALICE", "carol"):
        again = await TutorialClient.open(door, "again")
        again.send(name)
        lines = await again.closed()
        assert len(lines) == 1, lines
        assert lines[0].startswith("SERVER~") and "taken" in lines[0], lines


@pytest.mark.parametrize(
    "name", ["bad name", "#general", "9lives", "a" * 40, "NickServ", "SERVER", "server", "al~ice"]
)
async def test_a_bad_name_is_refused_in_words_and_the_connection_closes(door: Server, name: str) -> None:
    client = await TutorialClient.open(door, "bad")
    client.send(name)
    lines = await client.closed()
    assert len(lines) == 1, lines
    assert lines[0].startswith("SERVER~") and "cannot be a name" in lines[0], lines


async def test_binary_junk_gets_a_server_line_and_a_clean_close(door: Server, connect: Connect) -> None:
    carol = await irc_user(door, connect, "carol")
    for junk in (b"\xff\xfe\xfd", b"ok\x00no"):
        client = await TutorialClient.open(door, "junk")
        client.send(junk)
        lines = await client.closed()
        assert len(lines) == 1 and lines[0].startswith("SERVER~"), lines
    alice = await arrive(door, "alice")
    alice.send(b"\xc3\x28 not utf-8")
    lines = await alice.closed()
    assert lines[-1].startswith("SERVER~") and "UTF-8" in lines[-1], lines
    gone = await carol.expect("QUIT")
    assert gone.source is not None and gone.source.startswith("alice!")


async def test_a_huge_chunk_gets_a_server_line_and_a_clean_close(start_server: StartServer) -> None:
    server = await start_server(tutorial_port=0, tutorial_message_max=200)
    alice = await arrive(server, "alice")
    alice.send("x" * 5000)
    lines = await alice.closed()
    assert lines == ["SERVER~a message may be at most 200 bytes long"], lines


async def test_a_client_that_never_gives_a_name_is_told_and_closed(start_server: StartServer) -> None:
    server = await start_server(tutorial_port=0, registration_timeout=0.3)
    client = await TutorialClient.open(server, "silent")
    lines = await client.closed()
    assert lines == ["SERVER~disconnected: Registration timed out"], lines
    await _until(lambda: not server.connections, "the connection is forgotten")


async def test_a_client_that_quits_mid_message_leaves_cleanly(door: Server, connect: Connect) -> None:
    carol = await irc_user(door, connect, "carol")
    alice = await arrive(door, "alice")
    bob = await arrive(door, "bob")
    bob.send("half a mess")
    await bob.writer.drain()
    sock = bob.writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    bob.writer.transport.abort()  # a reset, not a goodbye
    await alice.expect("SERVER~bob left the chat app")
    gone = await carol.expect("QUIT")
    assert gone.source is not None and gone.source.startswith("bob!")
    # The name is free again, and the server still serves everyone.
    bob = await arrive(door, "bob")
    bob.send("back")
    await alice.expect("bob~back")


async def test_flood_control_applies_to_tutorial_clients(start_server: StartServer, connect: Connect) -> None:
    # A quick rate, so the lines held before the drop run out soon: the rule, not the default.
    server = await start_server(tutorial_port=0, flood_control=True, recvq=16384, flood_rate=100.0)
    carol = await irc_user(server, connect, "carol")
    alice = await arrive(server, "alice")
    started = time.monotonic()
    alice.send("".join(f"message number {i} {'y' * 40}\n" for i in range(400)))  # ~25 KB at once
    lines = await alice.closed(timeout=15)
    assert lines[-1] == "SERVER~disconnected: Excess Flood", lines[-3:]
    said = [line for line in lines if line.startswith("alice~")]
    # The burst went at once, the rest at the rate: nowhere near all 400 before the drop.
    assert 5 <= len(said) < 400
    assert len(said) <= 5 + server.settings.flood_rate * (time.monotonic() - started) + 2
    gone = await carol.expect("QUIT")
    assert gone.params[0] == "Excess Flood"


async def test_connections_per_ip_apply_to_the_tutorial_door(start_server: StartServer) -> None:
    server = await start_server(tutorial_port=0, max_per_ip=1, exempt_loopback=False)
    await arrive(server, "alice")
    second = await TutorialClient.open(server, "second")
    lines = await second.closed()
    assert len(lines) == 1 and lines[0].startswith("SERVER~disconnected:"), lines


async def test_the_door_closes_at_shutdown_and_clients_are_told(door: Server) -> None:
    alice = await arrive(door, "alice")
    port = door.tutorial_port
    assert port is not None
    await door.stop()
    lines = await alice.closed()
    assert lines == ["SERVER~disconnected: Server shutting down"], lines
    with pytest.raises(OSError):
        await asyncio.open_connection(door.host, port)


async def test_metrics_count_tutorial_connections_by_their_door(door: Server) -> None:
    await arrive(door, "alice")
    await arrive(door, "bob")
    text = Metrics(door).render().decode()
    counts = {
        sample.labels["door"]: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "hubbub_connections"
    }
    assert counts == {"plain": 0, "tutorial": 2}


async def test_no_tutorial_door_unless_asked(server: Server) -> None:
    assert server.settings.tutorial_port is None
    assert server.tutorial_port is None
    assert [d.name for d in server.doors] == ["plain"]


async def test_a_kicked_tutorial_client_is_told_and_closed(door: Server, connect: Connect) -> None:
    carol = await irc_user(door, connect, "carol")  # first in: the channel's operator
    alice = await arrive(door, "alice")
    bob = await arrive(door, "bob")
    carol.send("KICK #general alice :enough")
    lines = await alice.closed()
    assert lines[-1] == "SERVER~you were removed from the chat app by carol", lines
    await bob.expect("SERVER~alice left the chat app")
    await _until(lambda: "alice" not in door.world.users, "the kicked client is gone")


async def _until(done: Callable[[], bool], what: str, timeout: float = DEFAULT_TIMEOUT) -> None:
    """Poll ``done`` until it holds, failing with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, f"timed out: {what}"
        await asyncio.sleep(0.01)


async def test_the_bridge_answers_pings_so_a_quiet_client_stays(start_server: StartServer) -> None:
    clock = FakeClock()
    server = await start_server(tutorial_port=0, ping_interval=90.0, ping_timeout=150.0, clock=clock)
    alice = await arrive(server, "alice")
    session = server.world.users["alice"]
    for _ in range(3):  # 270 s of a client that only reads: far past the timeout
        clock.advance(90.0)
        pinged_at = clock.monotonic()
        await _until(lambda at=pinged_at: session.conn.last_seen >= at, "the bridge answers the PING")
    assert not session.gone
    alice.send("still here")
    await alice.expect("alice~still here")


async def test_a_newcomer_sees_the_recent_conversation(door: Server) -> None:
    alice = await arrive(door, "alice")
    alice.send("before bob came")
    await alice.expect("alice~before bob came")
    bob = await TutorialClient.open(door, "bob")
    bob.send("bob")
    lines = await bob.expect("alice~before bob came")
    assert "SERVER~bob joined the chat app" in lines


async def test_a_message_the_channel_refuses_is_explained(door: Server, connect: Connect) -> None:
    carol = await irc_user(door, connect, "carol")  # the channel's operator
    alice = await arrive(door, "alice")
    carol.send("MODE #general +m")
    await carol.expect("MODE", "#general", "+m")
    alice.send("may I speak?")
    line = await alice.line()
    assert line.startswith("SERVER~your message was not sent"), line
    await carol.assert_silent("PRIVMSG")


async def test_a_refused_join_is_explained_and_closes(door: Server, connect: Connect) -> None:
    carol = await irc_user(door, connect, "carol")
    carol.send("MODE #general +i")
    await carol.expect("MODE", "#general", "+i")
    alice = await TutorialClient.open(door, "alice")
    alice.send("alice")
    lines = await alice.closed()
    assert len(lines) == 1 and lines[0].startswith("SERVER~you cannot join #general"), lines


async def test_the_channel_is_a_setting(start_server: StartServer, connect: Connect) -> None:
    server = await start_server(tutorial_port=0, tutorial_channel="#lobby")
    carol = await connect("carol", target=server)
    await carol.join("#lobby")
    await arrive(server, "alice")
    joined = await carol.expect("JOIN", "#lobby")
    assert joined.source is not None and joined.source.startswith("alice!")


async def test_nobody_passes_for_the_server_and_controls_are_stripped(door: Server, connect: Connect) -> None:
    alice = await arrive(door, "alice")
    impostor = await irc_user(door, connect, "SERVER~admin")
    await alice.expect("SERVER~[SERVER~admin] joined the chat app")
    impostor.send("PRIVMSG #general :you are banned")
    await alice.expect("[SERVER~admin]~you are banned")
    carol = await irc_user(door, connect, "carol")
    carol.send("PRIVMSG #general :\x02bold\x02 \x0304,01red\x03 \x1b[2Jclear")
    await alice.expect("carol~bold red [2Jclear")


async def test_a_tutorial_client_that_never_reads_is_dropped_alone(
    start_server: StartServer, connect: Connect
) -> None:
    server = await start_server(tutorial_port=0, sendq=16384)
    carol = await irc_user(server, connect, "carol")
    alice = await arrive(server, "alice")
    # A client that gives its name and never reads again, with a small receive buffer.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    assert server.tutorial_port is not None
    await asyncio.get_running_loop().sock_connect(sock, (server.host, server.tutorial_port))
    sock.send(b"slow")
    await carol.expect("JOIN", "#general")
    text = "x" * 400
    deadline = time.monotonic() + 60
    quit_seen = None
    sent = 0
    while quit_seen is None:
        assert time.monotonic() < deadline, "the slow client was never dropped"
        for _ in range(100):
            carol.send(f"PRIVMSG #general :{sent} {text}")
            sent += 1
        await carol.sync()
        quit_seen = next((m for m in carol.buffer if m.command == "QUIT"), None)
        # alice reads along: only the one that does not falls behind
        await alice.expect(f"carol~{sent - 1} {text}", timeout=20)
    assert quit_seen.source is not None and quit_seen.source.startswith("slow!")
    assert quit_seen.params[0] == "SendQ exceeded"
    alice.send("still fine")
    await alice.expect("alice~still fine")
    sock.close()


async def test_hubbub_serve_opens_the_door_with_its_flag(
    tmp_path: Path, processes: list[ServerProcess]
) -> None:
    server = await ServerProcess(tmp_path / "data", "--tutorial-port", "0").start()
    processes.append(server)
    line = await server.wait_for_stderr(b"tutorial door listening on")
    found = re.search(rb"listening on (\S+):(\d+)", line)
    assert found is not None
    # Beside the log line, the address is printed as the IRC and web ones are (README quick start).
    printed = await server.wait_for_stderr(b"hubbub tutorial door on ")
    assert printed.rstrip() == b"hubbub tutorial door on " + found.group(1) + b":" + found.group(2)
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection(found.group(1).decode(), int(found.group(2))), DEFAULT_TIMEOUT
    )
    client = TutorialClient(reader, writer, "alice")
    client.send("alice")
    await client.expect("SERVER~alice joined the chat app")
    client.send("hello from a process")
    await client.expect("alice~hello from a process")
    server.signal(signal.SIGTERM)
    assert await client.closed() == ["SERVER~disconnected: Server shutting down"]
    assert await server.wait(10) == 0
    client.close()


async def test_a_server_password_keeps_tutorial_clients_out_with_a_reason(start_server: StartServer) -> None:
    """The tutorial protocol has no way to give a password: the door is no way around one."""
    server = await start_server(tutorial_port=0, password="secret")
    client = await TutorialClient.open(server, "alice")
    client.send("alice")
    lines = await client.closed()
    assert lines == ["SERVER~disconnected: Bad password"], lines


async def test_clients_that_leave_at_any_step_leave_nothing_behind(door: Server, connect: Connect) -> None:
    carol = await irc_user(door, connect, "carol")
    silent = await TutorialClient.open(door, "silent")  # connects, says nothing, goes
    silent.close()
    named = await TutorialClient.open(door, "named")  # gives a name and goes at once
    named.send("dave\nhello?\n")
    named.close()
    await _until(lambda: len(door.connections) == 1, "only carol is left")
    assert set(door.world.users) == {"carol"}
    # Whatever dave got to say before going, the room goes on.
    carol.send("PRIVMSG #general :anyone?")
    alice = await arrive(door, "alice")
    await alice.expect("carol~anyone?")
