"""Registration and ping timers of a Session in memory: they run when the fake clock says, not later."""

from __future__ import annotations

from tests.support.clock import FakeClock
from tests.support.memory import MemoryClient


async def test_nick_user_and_cap_end_register_with_the_welcome_burst(server, client):
    c: MemoryClient = client(server, "alice")
    c.send("CAP LS 302")
    c.send("NICK alice")
    c.send("USER u 0 * :Alice")
    c.send("CAP REQ :server-time")
    assert not c.session.registered  # IRCv3 capability negotiation: registration waits for CAP END
    c.send("CAP END")
    assert c.session.registered
    burst = await c.settle()
    commands = [m.command for m in burst]
    n = commands.index("001")  # CAP LS (one line or more, as the list grows), then the ACK
    assert set(commands[:n]) == {"CAP"} and n >= 2
    assert burst[n - 1].params == ("alice", "ACK", "server-time")
    welcome = commands[n:]
    assert welcome[:4] == ["001", "002", "003", "004"]
    assert "005" in welcome and welcome[-1] == "376"
    assert burst[n].params[0] == "alice" and "alice!~u@127.0.0.1" in burst[n].params[-1]
    assert all("time" in m.tags for m in burst[n:])


async def test_registration_times_out_at_the_deadline_and_not_before(start_server, client, clock: FakeClock):
    server = await start_server(registration_timeout=30.0)
    c: MemoryClient = client(server, "slow")
    c.send("NICK slow")
    clock.advance(29.75)
    assert not c.session.gone and not c.closed
    assert await c.settle() == []
    clock.advance(0.25)
    assert c.session.gone
    rest = await c.expect_closed()
    assert [m.command for m in rest] == ["ERROR"]
    assert "Registration timed out" in rest[0].params[0]


async def test_registering_in_time_stops_the_registration_timer(start_server, client, clock: FakeClock):
    server = await start_server(registration_timeout=30.0, ping_interval=600.0, ping_timeout=900.0)
    c: MemoryClient = client(server, "quick")
    clock.advance(29.5)
    await c.register("quick")
    clock.advance(60.0)
    assert not c.session.gone
    assert await c.settle() == []


async def test_an_idle_client_is_pinged_at_the_interval_and_dropped_at_the_timeout(
    start_server, client, clock: FakeClock
):
    server = await start_server(ping_interval=90.0, ping_timeout=150.0)
    c: MemoryClient = client(server, "sleepy")
    await c.register("sleepy")
    clock.advance(89.5)
    assert await c.settle() == []
    clock.advance(0.5)
    ping = await c.settle()
    assert [(m.command, m.params) for m in ping] == [("PING", ("hubbub.local",))]
    clock.advance(59.5)
    assert not c.session.gone
    assert await c.settle() == []
    clock.advance(0.5)
    assert c.session.gone
    rest = await c.expect_closed()
    assert [m.command for m in rest] == ["ERROR"]
    assert "Ping timeout: 150 seconds" in rest[0].params[0]


async def test_a_reply_between_ping_and_timeout_restarts_the_count_from_the_reply(
    start_server, client, clock: FakeClock
):
    server = await start_server(ping_interval=90.0, ping_timeout=150.0)
    c: MemoryClient = client(server, "awake")
    await c.register("awake")
    clock.advance(90.0)
    await c.expect("PING")
    clock.advance(10.0)
    c.send("PONG :hubbub.local")  # at 100 s: the peer is alive
    clock.advance(50.0)  # 150 s after registering, 50 after the reply
    assert not c.session.gone
    assert await c.settle() == []
    clock.advance(39.5)
    assert await c.settle() == []
    clock.advance(0.5)  # 90 s of silence since the reply
    assert [m.command for m in await c.settle()] == ["PING"]
    clock.advance(59.5)
    assert not c.session.gone
    clock.advance(0.5)  # 150 s of silence since the reply
    rest = await c.expect_closed()
    assert rest[-1].command == "ERROR" and "Ping timeout: 150 seconds" in rest[-1].params[0]


async def test_a_reply_in_the_same_instant_as_the_ping_counts(start_server, client, clock: FakeClock):
    server = await start_server(ping_interval=90.0, ping_timeout=150.0)
    c: MemoryClient = client(server, "prompt")
    await c.register("prompt")
    clock.advance(90.0)
    await c.expect("PING")
    c.send("PONG :hubbub.local")  # the clock has not moved since the PING went out
    clock.advance(60.0)
    assert not c.session.gone
    clock.advance(30.0)  # 90 s after the reply: pinged again, not dropped
    assert [m.command for m in await c.settle()] == ["PING"]


async def test_a_line_of_any_kind_counts_as_activity(start_server, client, clock: FakeClock):
    server = await start_server(ping_interval=90.0, ping_timeout=150.0)
    c: MemoryClient = client(server, "chatty")
    await c.register("chatty")
    for _ in range(4):
        clock.advance(80.0)
        c.send("PRIVMSG chatty :still here")
    assert not c.session.gone
    got = await c.settle()
    assert [m.command for m in got] == ["PRIVMSG"] * 4  # no PING: never 90 s of silence
