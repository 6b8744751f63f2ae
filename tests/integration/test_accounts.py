"""Accounts: registration (REGISTER and NickServ), SASL PLAIN, login throttling, nick ownership, team mode."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from hubbub.server.app import Server
from hubbub.server.config import Settings
from hubbub.server.handlers.login import plain_allowed
from hubbub.store import DATABASE_NAME
from tests.support.clock import FakeClock

from .accounts_helpers import FAST, login_and_register, plain_payload, register_account, sasl_plain
from .conftest import Connect, StartServer

PASSWORD = "correct-horse-battery"


async def test_register_with_the_cap_then_log_in_from_a_second_client(
    start_server: StartServer, connect: Connect
) -> None:
    server = await start_server(**FAST)
    first = await connect("alice", caps=("draft/account-registration",), target=server)
    first.send(f"REGISTER * * :{PASSWORD}")
    success = await first.expect("REGISTER", "SUCCESS")
    assert success.params[1] == "alice"
    logged_in = await first.expect("900")
    assert logged_in.params[2] == "alice"

    second = await connect("phone", register=False, target=server)
    assert (await login_and_register(second, "alice_phone", "alice", PASSWORD)).command == "903"
    await second.expect("001")
    second.send("WHOIS alice_phone")
    whois = await second.expect("330")
    assert whois.params[1:3] == ("alice_phone", "alice")


async def test_register_before_connecting_logs_in_and_completes_registration(
    start_server: StartServer, connect: Connect
) -> None:
    server = await start_server(**FAST)
    client = await connect("x", register=False, target=server)
    client.send("CAP LS 302")
    client.send("CAP REQ :draft/account-registration")
    client.send("NICK early")
    client.send("USER u 0 * :Early Bird")
    client.send(f"REGISTER * * :{PASSWORD}")
    await client.expect("REGISTER", "SUCCESS")
    await client.expect("900")
    client.send("CAP END")
    await client.expect("001")
    assert server.world.find_user("early").account == "early"  # type: ignore[union-attr]


async def test_registration_failures_are_standard_replies(
    start_server: StartServer, connect: Connect
) -> None:
    server = await start_server(**FAST)
    alice = await connect("alice", caps=("draft/account-registration",), target=server)
    alice.send("REGISTER alice * short")
    assert (await alice.expect("FAIL")).params[:2] == ("REGISTER", "WEAK_PASSWORD")
    alice.send(f"REGISTER bob * :{PASSWORD}")
    assert (await alice.expect("FAIL")).params[:2] == ("REGISTER", "ACCOUNT_NAME_MUST_BE_NICK")
    alice.send(f"REGISTER alice * :{PASSWORD}")
    await alice.expect("REGISTER", "SUCCESS")
    alice.send(f"REGISTER alice * :{PASSWORD}")
    assert (await alice.expect("FAIL")).params[:2] == ("REGISTER", "ALREADY_AUTHENTICATED")
    alice.send("VERIFY alice 1234")
    assert (await alice.expect("FAIL")).params[:2] == ("VERIFY", "INVALID_CODE")


async def test_closed_registration_is_refused_both_ways(start_server: StartServer, connect: Connect) -> None:
    server = await start_server(registration_open=False, **FAST)
    alice = await connect("alice", target=server)
    ls = await alice.cap_ls()
    assert not [c for c in ls if c.startswith("draft/account-registration")]
    alice.send(f"REGISTER * * :{PASSWORD}")
    assert (await alice.expect("FAIL")).params[:2] == ("REGISTER", "DISALLOWED")
    alice.send(f"PRIVMSG NickServ :REGISTER {PASSWORD}")
    notice = await alice.expect("NOTICE")
    assert notice.source is not None and notice.source.startswith("NickServ!")
    assert "closed" in notice.params[1]


async def test_sasl_plain_wrong_password_is_904_and_right_one_903(
    start_server: StartServer, connect: Connect
) -> None:
    server = await start_server(**FAST)
    alice = await connect("alice", target=server)
    await register_account(alice, PASSWORD)
    other = await connect("x", register=False, target=server)
    assert (await login_and_register(other, "al2", "alice", "wrong password")).command == "904"
    await other.expect("001")  # a failed login does not stop registration
    third = await connect("y", register=False, target=server)
    assert (await login_and_register(third, "al3", "ALICE", PASSWORD)).command == "903"
    logged = await third.expect("900")
    assert logged.params[1].startswith("al3!") and logged.params[2] == "alice"


async def test_sasl_mechanism_list_abort_and_already_authenticated(
    start_server: StartServer, connect: Connect
) -> None:
    server = await start_server(**FAST)
    alice = await connect("alice", caps=("sasl",), target=server)
    ls = await alice.cap_ls()
    assert "sasl=PLAIN,SCRAM-SHA-256" in ls
    alice.send("AUTHENTICATE DIGEST-MD5")
    assert (await alice.expect("908")).params[1] == "PLAIN,SCRAM-SHA-256"
    await alice.expect("904")
    alice.send("AUTHENTICATE PLAIN")
    await alice.expect("AUTHENTICATE", "+")
    alice.send("AUTHENTICATE *")
    await alice.expect("906")
    alice.send("AUTHENTICATE PLAIN")
    await alice.expect("AUTHENTICATE", "+")
    alice.send("AUTHENTICATE " + "A" * 401)
    await alice.expect("905")
    await register_account(alice, PASSWORD)
    alice.send("AUTHENTICATE PLAIN")
    await alice.expect("907")


async def test_repeated_failures_make_the_address_wait_even_with_the_right_password(
    start_server: StartServer, connect: Connect
) -> None:
    # The clock stands still, so the wait does not run out (more in test_login_throttle.py).
    server = await start_server(clock=FakeClock(), login_max_failures=3, **FAST)
    alice = await connect("alice", target=server)
    await register_account(alice, PASSWORD)
    bob = await connect("bob", caps=("sasl",), target=server)
    for _ in range(3):
        assert (await sasl_plain(bob, "alice", "guess")).command == "904"
    locked = await sasl_plain(bob, "alice", PASSWORD)
    assert locked.command == "904" and "try again later" in locked.params[-1]
    # NickServ IDENTIFY is throttled the same way.
    bob.send(f"PRIVMSG NickServ :IDENTIFY alice {PASSWORD}")
    assert "try again later" in (await bob.expect("NOTICE")).params[1]


def test_plain_over_plain_text_only_from_loopback_unless_allowed() -> None:
    # The network tests run on 127.0.0.1 only, so the address rule is checked directly.
    strict = Settings()
    assert plain_allowed(strict, tls=False, ip="127.0.0.1")
    assert plain_allowed(strict, tls=False, ip="::1")
    assert plain_allowed(strict, tls=False, ip="::ffff:127.0.0.1")
    assert not plain_allowed(strict, tls=False, ip="192.0.2.7")
    assert plain_allowed(strict, tls=True, ip="192.0.2.7")
    assert plain_allowed(Settings(sasl_plain_insecure=True), tls=False, ip="192.0.2.7")


async def test_account_tag_extended_join_and_account_notify(
    start_server: StartServer, connect: Connect
) -> None:
    server = await start_server(**FAST)
    watcher = await connect(
        "watcher", caps=("account-tag", "account-notify", "extended-join", "message-tags"), target=server
    )
    await watcher.join("#room")
    alice = await connect("alice", target=server)
    await alice.join("#room")
    join = await watcher.expect("JOIN")
    assert join.params[1] == "*"
    await register_account(alice, PASSWORD)
    account = await watcher.expect("ACCOUNT")
    assert account.source is not None and account.source.startswith("alice!") and account.params == ("alice",)
    alice.send("PRIVMSG #room :hello")
    said = await watcher.expect("PRIVMSG")
    assert said.tags.get("account") == "alice"
    alice.send("PART #room")
    alice.send("JOIN #room")
    rejoin = await watcher.expect("JOIN")
    assert rejoin.params[1] == "alice"
    alice.send("PRIVMSG NickServ :LOGOUT")
    assert (await watcher.expect("ACCOUNT")).params == ("*",)


async def test_nickserv_register_identify_info_drop_and_whois(
    start_server: StartServer, connect: Connect
) -> None:
    server = await start_server(**FAST)
    alice = await connect("alice", target=server)
    await register_account(alice, PASSWORD)
    await alice.expect("NOTICE")
    alice.send("PRIVMSG NickServ :INFO")
    assert "Account alice, registered" in (await alice.expect("NOTICE")).params[1]
    alice.send("WHOIS NickServ")
    service = await alice.expect("311")
    assert service.params[1] == "NickServ"
    await alice.expect("318")
    alice.send("NICK NickServ")
    await alice.expect("432")

    laptop = await connect("guest1", target=server)
    laptop.send(f"PRIVMSG nickserv :IDENTIFY alice {PASSWORD}")
    await laptop.expect("900")
    assert "identified" in (await laptop.expect("NOTICE")).params[1]

    alice.send("PRIVMSG NickServ :DROP alice")
    await alice.expect("901")
    laptop.send("PRIVMSG NickServ :INFO alice")
    assert "not registered" in (await laptop.expect("NOTICE", "guest1")).params[1]


async def test_a_stranger_cannot_take_a_registered_nick(start_server: StartServer, connect: Connect) -> None:
    server = await start_server(**FAST)
    alice = await connect("alice", target=server)
    await register_account(alice, PASSWORD)
    alice.send("QUIT")
    await alice.expect_closed()
    stranger = await connect("s", register=False, target=server)
    stranger.send("NICK alice")
    stranger.send("USER u 0 * :Stranger")
    refused = await stranger.expect("433")
    assert "reserved" in refused.params[-1]
    stranger.send("NICK stranger")
    await stranger.expect("001")
    stranger.send("NICK Alice")
    await stranger.expect("433")
    # The owner gets the nick by logging in during registration.
    owner = await connect("o", register=False, target=server)
    assert (await login_and_register(owner, "alice", "alice", PASSWORD)).command == "903"
    await owner.expect("001")


async def test_nick_enforcement_none_lets_anyone_use_a_registered_nick(
    start_server: StartServer, connect: Connect
) -> None:
    server = await start_server(nick_enforcement="none", **FAST)
    alice = await connect("alice", target=server)
    await register_account(alice, PASSWORD)
    alice.send("NICK elsewhere")
    await alice.expect("NICK")
    stranger = await connect("s", target=server)
    stranger.send("NICK alice")
    assert (await stranger.expect("NICK")).params == ("alice",)


async def test_team_mode_requires_sasl_before_registration(
    start_server: StartServer, connect: Connect
) -> None:
    server = await start_server(team_mode=True, **FAST)
    # Registering an account before connecting counts as logging in.
    founder = await connect("f", register=False, target=server)
    founder.send("CAP LS 302")
    founder.send("CAP REQ :draft/account-registration")
    founder.send("NICK alice")
    founder.send("USER u 0 * :Alice")
    founder.send(f"REGISTER * * :{PASSWORD}")
    await founder.expect("REGISTER", "SUCCESS")
    founder.send("CAP END")
    await founder.expect("001")
    anonymous = await connect("anon", register=False, target=server)
    anonymous.send("NICK anon")
    anonymous.send("USER u 0 * :Anon")
    got = await anonymous.expect_closed()
    assert any(m.command == "FAIL" and m.params[1] == "ACCOUNT_REQUIRED" for m in got)
    assert not any(m.command == "001" for m in got)
    wrong = await connect("w", register=False, target=server)
    assert (await login_and_register(wrong, "intruder", "alice", "not the password")).command == "904"
    assert not any(m.command == "001" for m in await wrong.expect_closed())
    member = await connect("m", register=False, target=server)
    assert (await login_and_register(member, "alice_phone", "alice", PASSWORD)).command == "903"
    await member.expect("001")


async def test_passwords_are_not_recoverable_from_the_data_directory(
    start_server: StartServer, connect: Connect, tmp_path: Path
) -> None:
    server: Server = await start_server(**FAST)
    alice = await connect("alice", target=server)
    await register_account(alice, PASSWORD)
    await server.stop()
    data = b"".join(p.read_bytes() for p in (tmp_path / "data").iterdir() if p.is_file())
    assert PASSWORD.encode() not in data
    assert plain_payload("alice", PASSWORD).encode() not in data
    with sqlite3.connect(tmp_path / "data" / DATABASE_NAME) as db:
        (stored,) = db.execute("SELECT password_hash FROM accounts WHERE key = 'alice'").fetchone()
    assert stored.startswith("$argon2id$")


async def test_register_names_an_existing_account_or_a_name_that_must_be_the_nick(
    start_server: StartServer, connect: Connect
) -> None:
    """draft/account-registration: "FAIL REGISTER ACCOUNT_EXISTS <account> <message>: Sent ...
    when the client tried to register while using a nick that is not available as a new
    account's name because someone already registered it"; "FAIL REGISTER
    ACCOUNT_NAME_MUST_BE_NICK <account> <message>: Sent ... to indicate that the desired account
    name does not match the user's current nick, when it must match"; and the
    custom-account-name key says "the account name can be different from the user's current
    nickname"."""
    server = await start_server(**FAST)
    owner = await connect("owner", target=server)
    await register_account(owner, PASSWORD)
    other = await connect("other", caps=("draft/account-registration",), target=server)
    other.send(f"REGISTER owner * :{PASSWORD}")
    assert (await other.expect("FAIL")).params[:3] == ("REGISTER", "ACCOUNT_EXISTS", "owner")
    other.send(f"REGISTER fresh * :{PASSWORD}")
    assert (await other.expect("FAIL")).params[:3] == ("REGISTER", "ACCOUNT_NAME_MUST_BE_NICK", "fresh")
    ls = await other.cap_ls()
    assert "draft/account-registration=before-connect" in ls

    custom = await start_server(register_custom_account_name=True, **FAST)
    client = await connect("nick1", caps=("draft/account-registration",), target=custom)
    ls = await client.cap_ls()
    assert "draft/account-registration=before-connect,custom-account-name" in ls
    client.send(f"REGISTER chosen * :{PASSWORD}")
    assert (await client.expect("REGISTER", "SUCCESS")).params[1] == "chosen"
    assert (await client.expect("900")).params[2] == "chosen"


async def test_register_before_connect_can_be_refused(start_server: StartServer, connect: Connect) -> None:
    """draft/account-registration: "FAIL REGISTER COMPLETE_CONNECTION_REQUIRED <message>: Sent by
    the server if the client sent a REGISTER command before connection registration. The server
    MUST NOT sent these replies if it advertizes the before-connect key"."""
    server = await start_server(register_before_connect=False, **FAST)
    client = await connect("x", register=False, target=server)
    ls = await client.cap_ls()
    assert "draft/account-registration" in ls  # offered, without the before-connect key
    client.send("CAP REQ :draft/account-registration")
    client.send("NICK early")
    client.send("USER u 0 * :Early Bird")
    client.send(f"REGISTER * * :{PASSWORD}")
    fail = await client.expect("FAIL")
    assert fail.params[:2] == ("REGISTER", "COMPLETE_CONNECTION_REQUIRED")
    assert len(fail.params) == 3  # no account parameter, as the spec shows
    client.send("CAP END")
    await client.expect("001")
    client.send(f"REGISTER * * :{PASSWORD}")  # "a second attempt after it receives the welcome"
    await client.expect("REGISTER", "SUCCESS")


async def test_a_sasl_response_too_long_in_total_is_904_and_one_long_line_905(
    start_server: StartServer, connect: Connect
) -> None:
    """sasl-3.1: "905 aka ERR_SASLTOOLONG is sent when ... the client-sent AUTHENTICATE command
    was too long (i.e. the parameter longer than 400 bytes)"; "904 aka ERR_SASLFAIL is sent when
    the SASL authentication fails because of invalid credentials or other errors not explicitly
    mentioned by other numerics" -- such as a response whose 400-byte chunks add up past the
    limit on buffered data (sasl_max_response)."""
    server = await start_server(sasl_max_response=1200, **FAST)
    alice = await connect("alice", caps=("sasl",), target=server)
    alice.send("AUTHENTICATE PLAIN")
    await alice.expect("AUTHENTICATE", "+")
    for _ in range(3):
        alice.send("AUTHENTICATE " + "A" * 400)
    await alice.assert_silent("904")
    alice.send("AUTHENTICATE " + "A" * 400)
    await alice.expect("904")
    await alice.assert_silent("905")
    alice.send("AUTHENTICATE PLAIN")  # the exchange is over: a new one may start
    await alice.expect("AUTHENTICATE", "+")
    alice.send("AUTHENTICATE " + "A" * 401)
    await alice.expect("905")


async def test_register_before_connect_does_not_get_round_the_server_password(
    start_server: StartServer, connect: Connect
) -> None:
    """draft/account-registration, server considerations: "Servers should ensure that if they
    allow REGISTER before connection registration, this functionality cannot be used to bypass
    any authentication restrictions defined in the server configuration, e.g. requirements that
    clients send a server password with PASS"."""
    server = await start_server(password="s3cret", **FAST)
    client = await connect("x", register=False, target=server)
    ls = await client.cap_ls()
    assert "draft/account-registration" in ls  # offered, but not before-connect
    client.send("CAP REQ :draft/account-registration")
    client.send("NICK sneaky")
    client.send(f"REGISTER * * :{PASSWORD}")
    fail = await client.expect("FAIL")
    assert fail.params[:2] == ("REGISTER", "COMPLETE_CONNECTION_REQUIRED")
    assert server.accounts.get("sneaky") is None
    honest = await connect("y", register=False, target=server)
    honest.send("PASS s3cret")
    honest.send("CAP REQ :draft/account-registration")
    honest.send("NICK honest")
    honest.send(f"REGISTER * * :{PASSWORD}")
    await honest.expect("REGISTER", "SUCCESS")
