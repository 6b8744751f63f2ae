"""Connection registration: NICK/USER, PASS, CAP negotiation, errors and timeouts."""

from __future__ import annotations

import pytest

from hubbub.server.caps import SUPPORTED
from tests.support.clock import FakeClock


async def test_welcome_burst_has_001_to_005_lusers_and_motd(connect):
    c = await connect(register=False)
    c.send("NICK alice")
    c.send("USER alice 0 * :Alice Liddell")
    got = await c.collect_until("376")
    commands = [m.command for m in got]
    for numeric in ("001", "002", "003", "004", "005", "251", "255", "375", "372", "376"):
        assert numeric in commands
    isupport = " ".join(" ".join(m.params[1:-1]) for m in got if m.command == "005")
    for token in (
        "CASEMAPPING=ascii",
        "CHANTYPES=#&",
        "CHANMODES=beI,k,l,Cimnst",
        "PREFIX=(ov)@+",
        "NICKLEN=32",
        "CHANNELLEN=64",
        "TOPICLEN=390",
        "KICKLEN=390",
        "AWAYLEN=390",
        "TARGMAX=",
        "MODES=",
        "NETWORK=hubbub",
        "STATUSMSG=@+",
        "ELIST=",
        "UTF8ONLY",
        "WHOX",
    ):
        assert token in isupport
    welcome = got[commands.index("001")]
    assert welcome.params[0] == "alice"
    assert welcome.params[1].endswith("alice!~alice@127.0.0.1")


async def test_nick_in_use_is_refused_with_433(connect):
    await connect("alice")
    c = await connect(register=False)
    c.send("NICK ALICE")
    reply = await c.expect("433")
    assert reply.params[:2] == ("*", "ALICE")
    c.send("NICK alice2")
    c.send("USER u 0 * :r")
    await c.expect("001", "alice2")


@pytest.mark.parametrize("nick", ["#chan", "1abc", "a b", "x" * 33, "nick!x", "-dash", ":colon"])
async def test_erroneous_nicknames_get_432(connect, nick):
    c = await connect(register=False)
    c.send(f"NICK :{nick}")
    await c.expect("432")


async def test_nick_without_parameter_gets_431(connect):
    c = await connect(register=False)
    c.send("NICK")
    await c.expect("431")


async def test_user_with_too_few_parameters_gets_461(connect):
    c = await connect(register=False)
    c.send("USER onlyone")
    reply = await c.expect("461")
    assert reply.params[1] == "USER"


async def test_commands_before_registration_get_451(connect):
    c = await connect(register=False)
    c.send("JOIN #a")
    await c.expect("451")
    c.send("PRIVMSG x :hi")
    await c.expect("451")


async def test_unknown_command_gets_421(connect):
    c = await connect("alice")
    c.send("FROBNICATE now")
    reply = await c.expect("421")
    assert reply.params[1] == "FROBNICATE"


async def test_reregistration_is_refused_with_462(connect):
    c = await connect("alice")
    c.send("USER again 0 * :again")
    await c.expect("462")


async def test_ping_is_answered_with_the_same_token(connect):
    c = await connect(register=False)
    c.send("PING :token with spaces")
    pong = await c.expect("PONG")
    assert pong.params[-1] == "token with spaces"


async def test_server_password_must_match(start_server, connect):
    srv = await start_server(password="s3cret")
    good = await connect(register=False, target=srv)
    good.send("PASS s3cret")
    good.send("NICK good")
    good.send("USER u 0 * :r")
    await good.expect("001")
    bad = await connect(register=False, target=srv)
    bad.send("PASS wrong")
    bad.send("NICK bad")
    bad.send("USER u 0 * :r")
    await bad.expect("464")
    rest = await bad.expect_closed()
    assert any(m.command == "ERROR" for m in rest)
    missing = await connect(register=False, target=srv)
    missing.send("NICK missing")
    missing.send("USER u 0 * :r")
    await missing.expect("464")


async def test_cap_ls_302_lists_values_and_holds_registration(connect):
    c = await connect(register=False)
    c.send("CAP LS 302")
    c.send("NICK alice")
    c.send("USER u 0 * :r")
    ls = await c.expect("CAP", "*", "LS")
    offered = set(ls.params[-1].split())
    assert set(SUPPORTED) <= {o.split("=")[0] for o in offered}
    await c.assert_silent("001")
    c.send("CAP END")
    await c.expect("001")


async def test_cap_req_acks_known_and_naks_unknown_as_a_whole(connect):
    c = await connect(register=False)
    c.send("CAP LS 302")
    c.send("CAP REQ :server-time echo-message")
    ack = await c.expect("CAP", "*", "ACK")
    assert ack.params[2] == "server-time echo-message"
    c.send("CAP REQ :server-time no-such-cap")
    nak = await c.expect("CAP", "*", "NAK")
    assert nak.params[2] == "server-time no-such-cap"
    c.send("CAP REQ :-echo-message")
    await c.expect("CAP", "*", "ACK")
    c.send("CAP LIST")
    listed = await c.expect("CAP", "*", "LIST")
    assert set(listed.params[-1].split()) == {"server-time", "cap-notify"}


async def test_cap_ls_takes_only_a_plain_number_for_its_version(connect):
    c = await connect(register=False)
    # "\u00b2" (superscript two) passes str.isdigit() but is no number: the CAP 301 list.
    c.send("CAP LS \u00b2")
    c.send("PING :end-of-ls")
    got = await c.collect_until("PONG")
    caps = [cap for m in got if m.command == "CAP" for cap in m.params[-1].split()]
    assert "sasl" in caps and not [cap for cap in caps if "=" in cap]  # no values: not CAP 302
    assert "sasl=PLAIN,SCRAM-SHA-256" in await c.cap_ls()


async def test_invalid_cap_subcommand_gets_410(connect):
    c = await connect(register=False)
    c.send("CAP FOO")
    await c.expect("410")


# The timers below run on a fake clock the test moves (tests/support/clock.py): the real sockets
# and the real server see the timeouts exactly when the clock passes them, without waiting.


async def test_registration_times_out(start_server, connect):
    clock = FakeClock()
    srv = await start_server(registration_timeout=30.0, clock=clock)
    c = await connect(register=False, target=srv)
    c.send("NICK slow")
    await c.sync()  # the server has the connection, and its registration timer
    clock.advance(29.5)
    await c.assert_silent()
    clock.advance(0.5)
    rest = await c.expect_closed(timeout=5)
    error = [m for m in rest if m.command == "ERROR"]
    assert error and "Registration timed out" in error[0].params[0]


async def test_idle_client_is_pinged_then_dropped(start_server, connect):
    clock = FakeClock()
    srv = await start_server(ping_interval=90.0, ping_timeout=150.0, clock=clock)
    c = await connect("sleepy", target=srv)
    clock.advance(90.0)
    ping = await c.expect("PING", timeout=5)
    assert ping.params[0] == "hubbub.local"
    clock.advance(59.5)
    sleepy = srv.world.users["sleepy"]
    assert not sleepy.gone  # a reply now would still be in time
    clock.advance(0.5)
    assert sleepy.gone
    rest = await c.expect_closed(timeout=5)
    assert any(m.command == "ERROR" and "Ping timeout" in m.params[0] for m in rest)


async def test_answering_pings_keeps_the_connection(start_server, connect):
    clock = FakeClock()
    srv = await start_server(ping_interval=90.0, ping_timeout=150.0, clock=clock)
    c = await connect("awake", target=srv)
    for _ in range(3):  # 270 s in all: far past the timeout, but never 150 s of silence
        clock.advance(90.0)
        ping = await c.expect("PING", timeout=5)
        c.send(f"PONG :{ping.params[0]}")
        await c.sync()  # the reply is in before the clock moves on
    c.send("PING :still-here")
    await c.expect("PONG")
    assert not any(m.command == "ERROR" for m in c.buffer)


async def test_quit_closes_with_error_line(connect):
    c = await connect("alice")
    c.send("QUIT :see you")
    rest = await c.expect_closed()
    assert rest[-1].command == "ERROR"
    assert "Quit: see you" in rest[-1].params[0]


async def test_a_username_without_usable_characters_still_registers(connect):
    """Modern IRC "USER message": if the username is not usable, servers MAY use a default one;
    Ergo gives a stock ``user``. Answering 461 instead leaves a client that used all-emoji stuck,
    since resending USER is refused once one has been given."""
    client = await connect(register=False)
    client.send("NICK emoji")
    client.send("USER \U0001f600\U0001f600 0 * :Real Name")
    await client.expect("001")
    client.send("WHOIS emoji")
    assert (await client.expect("311")).params[2] == "~user"


async def test_a_username_keeps_only_ascii_characters(connect):
    """Modern IRC "USER message": servers MAY refuse or alter a username they cannot use; Ergo
    allows ASCII only. A username is what ban masks match and hostmasks show, so a Cyrillic a (U+0430)
    standing in for a Latin a must not reach them."""
    client = await connect(register=False)
    client.send("NICK spoof")
    client.send("USER \u0430dmin 0 * :Real Name")
    await client.expect("001")
    client.send("WHOIS spoof")
    assert (await client.expect("311")).params[2] == "~dmin"
