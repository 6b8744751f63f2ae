"""Password guessing and bulk registration on a real server: attempts sent at once on many
connections are counted before they are hashed, an address that guesses is slowed down without
locking the account's owner out from another address, registrations are limited per address,
and accounts nobody ever logged in to stop reserving their nick.

The server runs on a clock the test moves (tests.support.clock), so "slowed down" is exact: no
delay runs out while the test does not move the clock. The guesses come from 127.0.0.1, the
owner from 127.0.0.2 (on Linux any 127.0.0.0/8 address reaches the server's 127.0.0.1).
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from hubbub.protocol import Message
from hubbub.server.app import Server
from hubbub.server.config import Settings
from hubbub.store import DATABASE_NAME
from tests.support.clock import FakeClock

from .accounts_helpers import FAST, OPER_PASSWORD, OPERS, login_and_register, plain_payload, register_account
from .conftest import Connect, StartServer
from .ircclient import IRCClient

PASSWORD = "correct-horse-battery"
ATTACKER = "127.0.0.1"
OWNER = "127.0.0.2"
DEFAULTS = Settings()
DAY_MS = 86_400_000


def checked(reply: Message) -> bool:
    """Whether a 904 says the password was checked (and wrong), rather than not checked at all."""
    return reply.command == "904" and "try again" not in reply.params[-1]


async def sasl_client(connect: Connect, server: Server, nick: str, source: str) -> IRCClient:
    """A connection from ``source`` that has the sasl cap and has not finished registering."""
    client = await connect(nick, register=False, target=server, source=source)
    client.send("CAP LS 302")
    client.send("CAP REQ :sasl")
    client.send(f"NICK {nick}")
    client.send("USER u 0 * :Guesser")
    await client.expect("CAP", None, "ACK")  # type: ignore[arg-type]
    return client


async def plain_at_once(clients: list[IRCClient], logins: list[tuple[str, str]]) -> list[Message]:
    """Start SASL PLAIN on each connection, then send each its (account, password) response, all
    at once; each 903/904."""
    for client in clients:
        client.send("AUTHENTICATE PLAIN")
    await asyncio.gather(*(c.expect("AUTHENTICATE", "+") for c in clients))
    for client, (account, password) in zip(clients, logins, strict=True):
        client.send(f"AUTHENTICATE {plain_payload(account, password)}")
    return list(await asyncio.gather(*(c.expect(lambda m: m.command in ("903", "904")) for c in clients)))


async def guess_at_once(clients: list[IRCClient], account: str, passwords: list[str]) -> list[Message]:
    """Guess one password on each connection, all at once, at ``account``."""
    return await plain_at_once(clients, [(account, password) for password in passwords])


async def test_guesses_sent_at_once_are_counted_before_hashing_and_the_owner_still_logs_in(
    start_server: StartServer, connect: Connect
) -> None:
    clock = FakeClock()  # no wait runs out unless the test says so
    server = await start_server(clock=clock, **FAST)
    alice = await connect("alice", target=server, source=OWNER)
    await register_account(alice, PASSWORD)
    alice.send("QUIT")
    await alice.expect_closed()

    # 49 wrong guesses at once from one address on 49 connections, and again on each connection
    # whose guess was refused, until a round has nothing checked; the right password comes last.
    guessers = list(
        await asyncio.gather(*(sasl_client(connect, server, f"g{i}", ATTACKER) for i in range(49)))
    )
    pending = {client: f"guess-{i}" for i, client in enumerate(guessers)}
    tried = rounds = 0
    while pending:
        rounds += 1
        replies = await guess_at_once(list(pending), "alice", list(pending.values()))
        assert all(r.command == "904" for r in replies)
        done = [client for client, reply in zip(list(pending), replies, strict=True) if checked(reply)]
        refused = [reply for reply in replies if not checked(reply)]
        assert all("try again later" in r.params[-1] for r in refused)
        tried += len(done)
        for client in done:
            del pending[client]
        if not done:
            break
    # Only the failures an address has free were checked, however many came at once.
    assert tried == DEFAULTS.login_max_failures, f"{tried} guesses were checked in {rounds} rounds"
    assert pending
    right = await guess_at_once(guessers[:1], "alice", [PASSWORD])
    assert right[0].command == "904" and not checked(right[0])

    # The owner, from another address, logs in at once.
    owner = await connect("o", register=False, target=server, source=OWNER)
    assert (await login_and_register(owner, "alice", "alice", PASSWORD)).command == "903"
    await owner.expect("001")


async def test_many_right_logins_at_once_from_one_address_all_get_in(
    start_server: StartServer, connect: Connect
) -> None:
    # An office behind one address, every client coming back at once after a restart: the checks
    # run a few at a time, and none is refused for it.
    server = await start_server(clock=FakeClock(), **FAST)
    names = [f"member{i}" for i in range(12)]
    for name in names:
        client = await connect(name, target=server, source=OWNER)
        await register_account(client, PASSWORD)
        await client.close()
    clients = list(await asyncio.gather(*(sasl_client(connect, server, f"{n}_", ATTACKER) for n in names)))
    replies = await plain_at_once(clients, [(name, PASSWORD) for name in names])
    assert [r.command for r in replies] == ["903"] * len(names)


async def test_the_right_password_from_a_guessing_address_waits_and_the_wait_doubles(
    start_server: StartServer, connect: Connect
) -> None:
    clock = FakeClock()
    server = await start_server(clock=clock, login_max_failures=3, **FAST)
    alice = await connect("alice", target=server, source=OWNER)
    await register_account(alice, PASSWORD)
    bob = await connect("bob", caps=("sasl",), target=server, source=ATTACKER)
    for i in range(3):
        assert checked(await sasl_plain_message(bob, "alice", f"guess-{i}"))
    # Past the free failures the address waits login_delay (2 s) before its next attempt, which
    # is refused unchecked, right password or not, and says when to come back.
    waited = await sasl_plain_message(bob, "alice", PASSWORD)
    assert waited.command == "904" and "try again later (in 2 s)" in waited.params[-1]
    # NickServ IDENTIFY is throttled the same way, with a notice.
    bob.send(f"PRIVMSG NickServ :IDENTIFY alice {PASSWORD}")
    notice = await bob.expect("NOTICE")
    assert notice.source is not None and notice.source.startswith("NickServ!")
    assert "try again later" in notice.params[1]
    clock.advance(2.0)
    assert checked(await sasl_plain_message(bob, "alice", "guess-3"))
    # The next wait is twice as long: 4 s.
    clock.advance(3.9)
    assert "(in 1 s)" in (await sasl_plain_message(bob, "alice", "guess-4")).params[-1]
    clock.advance(0.1)
    assert checked(await sasl_plain_message(bob, "alice", "guess-4"))
    # The owner's own address is not held up by what another address got wrong.
    alice.send("PRIVMSG NickServ :LOGOUT")
    await alice.expect("901")
    alice.send(f"PRIVMSG NickServ :IDENTIFY alice {PASSWORD}")
    await alice.expect("900")


async def sasl_plain_message(client: IRCClient, account: str, password: str) -> Message:
    """AUTHENTICATE PLAIN on a registered client with the sasl cap; the 903 or 904."""
    client.send("AUTHENTICATE PLAIN")
    await client.expect("AUTHENTICATE", "+")
    client.send(f"AUTHENTICATE {plain_payload(account, password)}")
    return await client.expect(lambda m: m.command in ("903", "904"))


async def test_oper_guesses_at_once_are_throttled_and_the_operator_still_gets_in(
    start_server: StartServer, connect: Connect
) -> None:
    server = await start_server(clock=FakeClock(), **OPERS)
    guessers = list(
        await asyncio.gather(*(connect(f"g{i}", target=server, source=ATTACKER) for i in range(20)))
    )
    pending = list(guessers)
    tried = 0
    while pending:
        for client in pending:
            client.send("OPER admin wrong")
        replies = await asyncio.gather(*(c.expect("464") for c in pending))
        done = [c for c, r in zip(pending, replies, strict=True) if "try again" not in r.params[-1]]
        tried += len(done)
        pending = [c for c in pending if c not in done]
        if not done:
            break
    assert tried == DEFAULTS.login_max_failures
    guessers[0].send(f"OPER admin {OPER_PASSWORD}")
    assert "try again later" in (await guessers[0].expect("464")).params[-1]
    operator = await connect("boss", target=server, source=OWNER)
    operator.send(f"OPER admin {OPER_PASSWORD}")
    await operator.expect("381")


async def test_registrations_are_limited_per_address(start_server: StartServer, connect: Connect) -> None:
    clock = FakeClock()
    server = await start_server(clock=clock, exempt_loopback=False, **FAST)
    limit = DEFAULTS.register_max_per_ip
    for i in range(limit):
        client = await connect(
            f"bulk{i}", caps=("draft/account-registration",), target=server, source=ATTACKER
        )
        client.send(f"REGISTER * * :{PASSWORD}")
        await client.expect("REGISTER", "SUCCESS")
    over = await connect("bulk", caps=("draft/account-registration",), target=server, source=ATTACKER)
    over.send(f"REGISTER * * :{PASSWORD}")
    fail = await over.expect("FAIL")
    assert fail.params[:3] == ("REGISTER", "TEMPORARILY_UNAVAILABLE", "bulk")
    assert "try again in 60 min" in fail.params[-1]
    over.send(f"PRIVMSG NickServ :REGISTER {PASSWORD}")
    notice = await over.expect("NOTICE")
    assert notice.source is not None and notice.source.startswith("NickServ!")
    assert "Too many accounts registered from your address" in notice.params[1]
    assert server.accounts.get("bulk") is None
    # Another address registers as usual.
    other = await connect("newcomer", target=server, source=OWNER)
    await register_account(other, PASSWORD)
    # A refused registration used up nothing: once the window has passed, the address may again.
    clock.advance(DEFAULTS.register_window)
    later = await connect("bulk_later", target=server, source=ATTACKER)
    await register_account(later, PASSWORD)


async def test_loopback_registers_without_limit_when_exempt(
    start_server: StartServer, connect: Connect
) -> None:
    server = await start_server(clock=FakeClock(), exempt_loopback=True, **FAST)
    for i in range(DEFAULTS.register_max_per_ip + 2):
        await register_account(await connect(f"local{i}", target=server), PASSWORD)


async def test_an_account_never_logged_in_to_stops_reserving_its_nick(
    start_server: StartServer, connect: Connect, tmp_path: Path
) -> None:
    server = await start_server(**FAST)
    for nick in ("squatter", "regular"):
        client = await connect(nick, target=server)
        await register_account(client, PASSWORD)
        client.send("QUIT")
        await client.expect_closed()
    # "regular" logs in again (SASL, during registration, under another nick): it is used.
    returning = await connect("r", register=False, target=server)
    assert (await login_and_register(returning, "regular_laptop", "regular", PASSWORD)).command == "903"
    await returning.expect("001")
    returning.send("QUIT")
    await returning.expect_closed()
    # The login is recorded on the store writer's thread; a job queued after it has seen it done.
    await server.accounts.write(lambda store: None)

    db = sqlite3.connect(tmp_path / "data" / DATABASE_NAME)
    try:
        used = dict(db.execute("SELECT key, used_ms FROM accounts").fetchall())
        assert used["squatter"] is None and used["regular"] is not None
        stranger = await connect("stranger", target=server)
        stranger.send("NICK squatter")
        assert "reserved" in (await stranger.expect("433")).params[-1]
        # Both accounts were registered longer ago than unused_account_days.
        with db:
            db.execute(
                "UPDATE accounts SET created_ms = created_ms - ?, used_ms = used_ms - ?",
                (int((DEFAULTS.unused_account_days + 1) * DAY_MS),) * 2,
            )
    finally:
        db.close()
    stranger.send("NICK squatter")
    assert (await stranger.expect("NICK")).params == ("squatter",)
    stranger.send("NICK regular")
    assert "reserved" in (await stranger.expect("433")).params[-1]
    # The unused account is not dropped: its name cannot be registered again, and its owner can
    # still log in, which makes it reserve its nick again.
    stranger.send(f"PRIVMSG NickServ :REGISTER {PASSWORD}")
    assert "already registered" in (await stranger.expect("NOTICE")).params[1]
    owner = await connect("o", register=False, target=server)
    assert (await login_and_register(owner, "owner", "squatter", PASSWORD)).command == "903"
    await owner.expect("001")
    owner.send("QUIT")
    await owner.expect_closed()
    await server.accounts.write(lambda store: None)
    stranger.send("NICK elsewhere")
    await stranger.expect("NICK")
    stranger.send("NICK squatter")
    assert "reserved" in (await stranger.expect("433")).params[-1]


async def test_an_unused_account_keeps_its_nick_while_its_registering_client_is_online(
    start_server: StartServer, connect: Connect, tmp_path: Path
) -> None:
    server = await start_server(**FAST)
    newbie = await connect("newbie", target=server)
    await register_account(newbie, PASSWORD)
    newbie.send("NICK newbie_away")
    await newbie.expect("NICK")
    with sqlite3.connect(tmp_path / "data" / DATABASE_NAME) as db:
        db.execute("UPDATE accounts SET created_ms = 0")
    stranger = await connect("stranger", target=server)
    stranger.send("NICK newbie")
    assert "reserved" in (await stranger.expect("433")).params[-1]
