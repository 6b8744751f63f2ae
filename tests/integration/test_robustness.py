"""Bad input, floods, slow consumers, resets, limits and load: nobody else suffers."""

from __future__ import annotations

import asyncio
import socket
import struct
import time

import pytest

from hubbub.protocol import format_body
from tests.support.clock import FakeClock

from .ircclient import IRCClient


async def test_line_over_512_bytes_gets_417_and_the_connection_survives(connect):
    alice = await connect("alice")
    alice.send("PRIVMSG alice :" + "x" * 600)
    reply = await alice.expect("417")
    assert reply.params[0] == "alice"
    await alice.assert_silent("PRIVMSG")
    alice.send("PRIVMSG alice :" + "y" * (510 - len("PRIVMSG alice :")))
    got = await alice.expect("PRIVMSG")
    assert len(got.params[1]) == 510 - len("PRIVMSG alice :")


async def test_endless_line_is_answered_with_error_and_close(connect):
    alice = await connect("alice")
    bob = await connect("bob")
    await bob.join("#c")
    await alice.join("#c")
    alice.send_raw(b"PRIVMSG #c :" + b"z" * 20000)
    rest = await alice.expect_closed()
    assert any(m.command == "ERROR" for m in rest)
    assert "417" in [m.command for m in rest]
    quit_msg = await bob.expect("QUIT")
    assert quit_msg.source.startswith("alice!")
    await bob.assert_silent("PRIVMSG")


async def test_tag_data_over_4094_bytes_gets_417(connect):
    alice = await connect("alice", caps=("message-tags",))
    alice.send("@+x=" + "a" * 4100 + " PRIVMSG alice :hi")
    await alice.expect("417")
    alice.send("@+x=" + "a" * 4000 + " PRIVMSG alice :hi")
    got = await alice.expect("PRIVMSG")
    assert len(got.tags["+x"]) == 4000


async def test_invalid_utf8_gets_fail_and_others_are_unaffected(connect):
    alice = await connect("alice")
    bob = await connect("bob")
    await bob.join("#c")
    await alice.join("#c")
    alice.send(b"PRIVMSG #c :\xff\xfe broken")
    fail = await alice.expect("FAIL")
    assert fail.params[1] == "INVALID_UTF8"
    alice.send("PRIVMSG #c :fine ünïcödé ✓")
    assert (await bob.expect("PRIVMSG")).params[1] == "fine ünïcödé ✓"


@pytest.mark.parametrize("bad", [b"\x00", b"\r"], ids=["NUL", "CR"])
async def test_a_nul_or_a_bare_cr_gets_a_fail_with_the_label_and_runs_nothing(connect, bad):
    alice = await connect("alice", caps=("labeled-response", "batch", "message-tags"))
    bob = await connect("bob")
    await bob.join("#c")
    await alice.join("#c")
    alice.send_raw(b"@label=L1 PRIVMSG #c :half" + bad + b"QUIT :smuggled\r\n")
    fail = await alice.expect("FAIL")
    assert fail.params[:2] == ("PRIVMSG", "INVALID_CHARACTERS")
    assert fail.tags["label"] == "L1"
    alice.send_raw(bad + b" " + bad + b"\r\n")  # nothing but the bad characters: no command to name
    assert (await alice.expect("FAIL")).params[:2] == ("*", "INVALID_CHARACTERS")
    await bob.assert_silent("PRIVMSG")
    alice.send("PRIVMSG #c :fine")
    assert (await bob.expect("PRIVMSG")).params[1] == "fine"


async def test_a_command_nobody_could_type_is_unknown_and_an_empty_message_is_ignored(connect):
    early = await connect(register=False)
    early.send("PRIV\x01MSG x :y")
    await early.expect("451")
    alice = await connect("alice")
    alice.send("PRIV\x01MSG x :y")
    assert (await alice.expect("421")).params[:2] == ("alice", "*")
    # Modern IRC: an empty message is ignored, and one with only tags or a source is empty.
    for line in ("@label=x;a=b", ":source", "   "):
        alice.send(line)
    await alice.assert_silent()


async def test_garbage_lines_never_break_the_server(connect):
    alice = await connect("alice")
    bob = await connect("bob")
    await bob.join("#c")
    junk = [
        b"",
        b":",
        b"@",
        b"@ ",
        b": PRIVMSG",
        b"\x00\x01\x02",
        b":src",
        b"@a=b",
        b"PRIVMSG \x00 :x",
        b"JOIN ,,,,",
        b"MODE",
        b"KICK # x",
        b"\xc3",
        b"CAP REQ",
        b"PRIVMSG :",
        b"NICK :",
        b"USER a b c",
        b"@+a=\\ PRIVMSG #nowhere :x",
        b"TOPIC",
        b"JOIN #\x07bell",
    ]
    for line in junk:
        alice.send_raw(line + b"\r\n")
    alice.send("PRIVMSG bob :after the junk")
    got = await bob.expect("PRIVMSG")
    assert got.params == ("bob", "after the junk")


async def _held_lines(srv, nick: str, count: int) -> None:
    """Wait (on a deadline) until the server holds ``count`` lines of ``nick`` for pacing."""
    conn = srv.world.users[nick].conn
    deadline = time.monotonic() + 5
    while conn.held_lines < count:
        assert time.monotonic() < deadline, f"{nick}: {conn.held_lines} lines held, not {count}"
        await asyncio.sleep(0.001)  # polling with a deadline: the packet is still being read


async def test_a_pasted_burst_is_paced_and_arrives_complete_and_in_order(start_server, connect):
    # The default burst of 5, then 8 lines a second: 40 lines of 300 bytes in one packet. The
    # server's clock is moved by hand (tests/support/clock.py), so the pacing is exact and quick.
    clock = FakeClock()
    srv = await start_server(flood_control=True, flood_burst=5, flood_rate=8.0, clock=clock)
    alice = await connect("alice", target=srv)
    bob = await connect("bob", target=srv)
    await alice.join("#paste")
    await bob.join("#paste")
    lines = [f"{i:02d} " + "x" * 297 for i in range(40)]
    alice.send_raw(b"".join(f"PRIVMSG #paste :{line}\r\n".encode() for line in lines))
    got = [(await bob.expect("PRIVMSG")).params[1] for _ in range(5)]
    await _held_lines(srv, "alice", 35)
    await bob.assert_silent("PRIVMSG")
    # 5 at once, then 35 more at 8/s: the server spaces them out instead of dropping anyone.
    clock.advance(35 / 8 - 1 / 1024)
    got += [(await bob.expect("PRIVMSG")).params[1] for _ in range(34)]
    await bob.assert_silent("PRIVMSG")  # the last one is not due yet
    clock.advance(1 / 1024)
    got.append((await bob.expect("PRIVMSG")).params[1])
    assert got == lines
    alice.send("PING :still here")
    await alice.expect("PONG", "hubbub.local", "still here")


async def test_flood_pacing_on_the_real_clock_spaces_a_burst_out(start_server, connect):
    # The same pacing on the server's real clock and loop timers: 2 at once, then 20 a second.
    srv = await start_server(flood_control=True, flood_burst=2, flood_rate=20.0)
    alice = await connect("alice", target=srv)
    bob = await connect("bob", target=srv)
    lines = [f"line {i}" for i in range(8)]
    start = time.monotonic()
    alice.send_raw(b"".join(f"PRIVMSG bob :{line}\r\n".encode() for line in lines))
    got = [(await bob.expect("PRIVMSG", timeout=5)).params[1] for _ in lines]
    elapsed = time.monotonic() - start
    assert got == lines
    assert elapsed >= 6 / 20 - 0.05


async def test_a_leading_space_does_not_escape_the_message_rate(start_server, connect):
    # At 0.01 messages/s a message past the burst of one would wait 100 s, and other commands
    # are not limited here: the second message may only arrive if it was paced as a command.
    srv = await start_server(flood_control=True, flood_burst=1, flood_rate=0.01, flood_command_burst=50)
    alice = await connect("alice", target=srv)
    bob = await connect("bob", target=srv)
    alice.send_raw(b" PRIVMSG bob :first\r\n PRIVMSG bob :second\r\nPRIVMSG alice :third\r\n")
    await bob.expect("PRIVMSG", "bob", "first")
    # Had the second line been paced as a command, it would have come in the same turn.
    await bob.assert_silent("PRIVMSG")


async def test_only_input_past_the_recvq_gets_a_flooder_dropped(start_server, connect):
    srv = await start_server(flood_control=True, flood_burst=5, flood_rate=400.0, recvq=16384)
    alice = await connect("alice", target=srv)
    lines = [f"PRIVMSG alice :{i:03d} " + "y" * 380 for i in range(100)]  # 400 bytes each
    alice.send_raw(b"".join(f"{line}\r\n".encode() for line in lines))
    rest = await alice.expect_closed(timeout=15)
    echoed = [m.params[1][:3] for m in rest if m.command == "PRIVMSG"]
    # What came before the bound was processed, in order, before the ERROR.
    assert len(echoed) >= 16384 // 402
    assert echoed == [f"{i:03d}" for i in range(len(echoed))]
    assert len(echoed) < 100
    assert rest[-1].command == "ERROR" and "Excess Flood" in rest[-1].params[0]


async def test_other_commands_do_not_use_up_the_message_allowance(start_server, connect):
    # At 0.01 messages/s a message past the burst would wait 100 s: the five below only arrive in
    # time if the 15 queries before them took nothing from the message bucket.
    srv = await start_server(flood_control=True, flood_burst=5, flood_rate=0.01, flood_command_burst=20)
    alice = await connect("alice", target=srv)
    await alice.join("#c")
    for i in range(5):
        alice.send("MODE #c")
        alice.send("WHO #c")
        alice.send(f"PING :q{i}")
    await alice.expect("PONG", "hubbub.local", "q4")
    for i in range(5):
        alice.send(f"PRIVMSG alice :m{i}")
    for i in range(5):
        await alice.expect("PRIVMSG", "alice", f"m{i}")


async def test_no_flood_control_lets_a_burst_through(connect):
    alice = await connect("alice")
    for i in range(300):
        alice.send(f"PING :p{i}")
    await alice.expect("PONG", "hubbub.local", "p299")


async def test_slow_consumer_is_dropped_others_unaffected(start_server, connect):
    srv = await start_server(sendq=16384)
    sender = await connect("sender", target=srv)
    reader = await connect("reader", target=srv)
    # A client that registers and joins, then never reads again, with a tiny receive buffer.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, (srv.host, srv.port))
    r, w = await asyncio.open_connection(sock=sock)
    slow = IRCClient(r, w, "slow")
    await slow.register("slow")
    await slow.join("#c")
    await reader.join("#c")
    await sender.join("#c")
    text = "x" * 440
    count = 16000
    progress = 0
    moved = asyncio.Event()

    async def read_all() -> None:
        nonlocal progress
        for got in range(count):
            m = await reader.expect(lambda m: m.command == "PRIVMSG", timeout=20)
            assert m.params[1].split()[0] == str(got)
            progress = got + 1
            moved.set()

    reading = asyncio.create_task(read_all())
    for i in range(count):
        sender.send(f"PRIVMSG #c :{i} {text}")
        if i % 100 == 99:
            # pace the sender by the healthy reader, so only the slow one falls behind
            await sender.drain()
            while progress < i - 200 and not reading.done():
                moved.clear()
                await asyncio.wait_for(moved.wait(), 20)
    await asyncio.wait_for(reading, 60)
    quit_seen = next((m for m in reader.buffer if m.command == "QUIT"), None)
    if quit_seen is None:
        quit_seen = await reader.expect("QUIT", timeout=10)
    assert quit_seen.source.startswith("slow!")
    assert quit_seen.params[0] == "SendQ exceeded"
    sock.close()


async def test_client_reset_mid_line_is_cleaned_up(connect, server):
    alice = await connect("alice")
    bob = await connect("bob")
    await alice.join("#c")
    await bob.join("#c")
    bob.send_raw(b"PRIVMSG #c :half a li")
    await bob.drain()
    sock = bob.writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    bob.writer.transport.abort()
    quit_msg = await alice.expect("QUIT")
    assert quit_msg.source.startswith("bob!")
    await alice.assert_silent("PRIVMSG")
    carol = await connect("bob")  # the nick is free again
    await carol.join("#c")


async def test_connections_per_ip_are_limited_unless_exempt(start_server, connect):
    srv = await start_server(max_per_ip=2, exempt_loopback=False)
    await connect("a1", target=srv)
    await connect("a2", target=srv)
    third = await connect(register=False, target=srv)
    rest = await third.expect_closed()
    assert rest and rest[0].command == "ERROR" and "Too many connections" in rest[0].params[0]
    exempt = await start_server(max_per_ip=1)
    await connect("b1", target=exempt)
    await connect("b2", target=exempt)


async def test_total_connections_are_limited(start_server, connect):
    srv = await start_server(max_connections=2)
    await connect("a1", target=srv)
    await connect("a2", target=srv)
    third = await connect(register=False, target=srv)
    rest = await third.expect_closed()
    assert rest[0].command == "ERROR" and rest[0].params[0] == "Closing link: Server full"


async def test_two_hundred_clients_each_get_every_message_once_in_order(connect):
    members = []
    for i in range(200):
        c = await connect(f"m{i}")
        members.append(c)
    for c in members:
        c.send("JOIN #big")
    for c in members:
        await c.expect("366", c.nick, "#big", timeout=20)
        c.buffer.clear()
    senders = members[:5]
    per_sender = 20
    for n in range(per_sender):
        for s in senders:
            s.send(f"PRIVMSG #big :{s.nick} {n}")

    async def receive_all(c: IRCClient) -> None:
        expected = {s.nick: 0 for s in senders if s is not c}
        total = per_sender * len(expected)
        for _ in range(total):
            m = await c.expect("PRIVMSG", timeout=20)
            nick, n = m.params[1].split()
            assert m.source.startswith(nick + "!")
            assert int(n) == expected[nick], f"{c.nick} got {nick} {n} out of order"
            expected[nick] += 1
        assert all(v == per_sender for v in expected.values())
        await c.assert_silent("PRIVMSG")

    await asyncio.gather(*(receive_all(c) for c in members))


async def test_replies_that_echo_a_long_parameter_still_fit_in_512_bytes(connect):
    """A 401 for a target as long as a line allows, and a FAIL naming one, are cut to fit."""
    alice = await connect("alice", caps=("message-tags",))
    target = "t" * (510 - len("PRIVMSG  :x"))
    alice.send(f"PRIVMSG {target} :x")
    no_such = await alice.expect("401")
    assert target.startswith(no_such.params[1]) and len(no_such.params[1]) > 300
    alice.send(f"CHATHISTORY LATEST a,{'é' * 235} * 10")
    fail = await alice.expect("FAIL")
    for reply in (no_such, fail):
        assert len(format_body(reply.command, reply.params, reply.source).encode()) <= 510, reply
    alice.send("PING :still-here")
    await alice.expect("PONG")
