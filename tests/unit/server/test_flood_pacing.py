"""Flood pacing in memory: a burst at once, then each held line exactly when its token is due."""

from __future__ import annotations

from tests.support.clock import FakeClock
from tests.support.memory import MemoryClient

TICK = 1 / 1024  # a step of the clock shorter than any wait below, exact in binary


def texts(messages) -> list[str]:
    return [m.params[1] for m in messages if m.command == "PRIVMSG"]


def pacing_timers(clock: FakeClock) -> list[str]:
    """The timers set by flood pacing (not the one that keeps every client's ping deadline, nor
    the server's once-a-second probe of the loop's lag)."""
    return [
        t.callback.__name__ for t in clock.waiting if t.callback.__name__ not in ("_expire", "_probe_lag")
    ]


async def test_a_burst_runs_at_once_then_one_line_as_each_token_falls_due(
    start_server, client, clock: FakeClock
):
    server = await start_server(flood_control=True, flood_burst=5, flood_rate=4.0)  # a token per 0.25 s
    alice: MemoryClient = client(server, "alice")
    await alice.register("alice")
    alice.send_raw(b"".join(f"PRIVMSG alice :{i}\r\n".encode() for i in range(10)))
    assert texts(await alice.settle()) == ["0", "1", "2", "3", "4"]
    for i in range(5, 10):
        clock.advance(0.25 - TICK)
        assert texts(await alice.settle()) == [], f"line {i} ran before its token was due"
        clock.advance(TICK)
        assert texts(await alice.settle()) == [str(i)]
    assert pacing_timers(clock) == []  # nothing left to pace


async def test_lines_held_for_pacing_all_run_in_order_in_one_long_step(
    start_server, client, clock: FakeClock
):
    server = await start_server(flood_control=True, flood_burst=5, flood_rate=8.0)
    alice: MemoryClient = client(server, "alice")
    bob: MemoryClient = client(server, "bob")
    await alice.register("alice")
    await bob.register("bob")
    alice.send("JOIN #paste")
    bob.send("JOIN #paste")
    await bob.settle()
    lines = [f"{i:02d} " + "x" * 297 for i in range(40)]
    alice.send_raw(b"".join(f"PRIVMSG #paste :{line}\r\n".encode() for line in lines))
    assert len(texts(await bob.settle())) == 5
    clock.advance(35 / 8 - TICK)  # 35 more at 8 a second, the last one just not yet
    assert texts(await bob.settle()) == lines[5:39]
    clock.advance(TICK)
    assert texts(await bob.settle()) == lines[39:]
    alice.send("PING :still here")  # other commands were never held by the messages
    assert (await alice.expect("PONG")).params == ("hubbub.local", "still here")


async def test_other_commands_are_paced_by_their_own_bucket(start_server, client, clock: FakeClock):
    server = await start_server(
        flood_control=True, flood_burst=1, flood_rate=0.5, flood_command_burst=3, flood_command_rate=2.0
    )
    alice: MemoryClient = client(server, "alice")
    await alice.register("alice")
    alice.send_raw(b"".join(f"PING :p{i}\r\n".encode() for i in range(5)))
    alice.send("PRIVMSG alice :one message")
    got = await alice.settle()
    assert [m.params[1] for m in got if m.command == "PONG"] == ["p0", "p1", "p2"]
    # The message waits behind the held commands (replies keep the order of commands).
    assert texts(got) == []
    clock.advance(0.5)
    got = await alice.settle()
    assert [m.params[1] for m in got if m.command == "PONG"] == ["p3"]
    clock.advance(0.5)
    got = await alice.settle()
    assert [(m.command, m.params[1]) for m in got] == [("PONG", "p4"), ("PRIVMSG", "one message")]


async def test_input_past_the_recvq_ends_with_excess_flood_after_what_came_before(
    start_server, client, clock: FakeClock
):
    server = await start_server(flood_control=True, flood_burst=5, flood_rate=4.0, recvq=16384)
    alice: MemoryClient = client(server, "alice")
    await alice.register("alice")
    lines = [f"PRIVMSG alice :{i:03d} " + "y" * 380 for i in range(100)]  # 400 bytes each
    alice.send_raw(b"".join(f"{line}\r\n".encode() for line in lines))
    held = 16384 // 402  # what fits in the recvq after the burst of 5
    assert not alice.transport.reading  # past the recvq: the rest is not read
    assert not alice.closed
    assert [t[:3] for t in texts(await alice.settle())] == [f"{i:03d}" for i in range(5)]
    clock.advance(held * 0.25 - TICK)
    assert not alice.closed  # the last held line is not due yet
    got = texts(await alice.settle())
    assert [t[:3] for t in got] == [f"{i:03d}" for i in range(5, 5 + held - 1)]
    clock.advance(TICK)
    rest = await alice.expect_closed()
    assert [m.params[1][:3] for m in rest if m.command == "PRIVMSG"] == [f"{4 + held:03d}"]
    assert rest[-1].command == "ERROR" and "Excess Flood" in rest[-1].params[0]


async def test_without_flood_control_nothing_waits_for_the_clock(server, client, clock: FakeClock):
    alice: MemoryClient = client(server, "alice")
    await alice.register("alice")
    alice.send_raw(b"".join(f"PRIVMSG alice :{i}\r\n".encode() for i in range(50)))
    assert texts(await alice.settle()) == [str(i) for i in range(50)]
    assert pacing_timers(clock) == []
