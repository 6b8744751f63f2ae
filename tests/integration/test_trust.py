"""Nothing anybody saw is lost: every path writes to clients only after the commit.

Against real ``hubbub serve`` processes and their SQLite files: a message sent with QUIT in the
same packet, a notification script's message followed by a crash, a full disk, a store locked by
another process, and replies that follow the order of the commands.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import random
import signal
import sqlite3
import subprocess
from pathlib import Path

import pytest

from hubbub.server.accounts import hash_password
from hubbub.store import open_store
from tests.support.serverproc import ServerProcess

from .accounts_helpers import login_and_register, register_account
from .ircclient import IRCClient

ECHO = ("message-tags", "echo-message")


async def _start(processes: list[ServerProcess], data: Path, *args: str) -> ServerProcess:
    server = await ServerProcess(data, "--no-flood-control", *args).start()
    processes.append(server)
    return server


async def _client(server: ServerProcess, nick: str, caps: tuple[str, ...] = ()) -> IRCClient:
    client = await IRCClient.open(server.host, server.port, nick)
    await client.register(nick, caps=caps)
    return client


def _stored(data: Path, target: str) -> list[str]:
    store = open_store(data)
    try:
        return [r.params[-1] for r in store.latest(target, 100_000)]
    finally:
        store.close()


async def _crash(server: ServerProcess) -> None:
    server.signal(signal.SIGKILL)
    assert await server.wait(10) == -signal.SIGKILL


async def test_a_message_sent_with_quit_in_one_packet_is_stored_before_its_echo(tmp_path, processes):
    data = tmp_path / "data"
    for round_ in range(6):
        server = await _start(processes, data)
        sender = await _client(server, "sender", ECHO)
        await sender.join("#c")
        sender.send_raw(f"PRIVMSG #c :round {round_}\r\nQUIT :bye\r\n".encode())
        await sender.expect("PRIVMSG", "#c", f"round {round_}")
        await _crash(server)  # the moment the echo is in, before anything else can happen
        await sender.close()
        assert f"round {round_}" in _stored(data, "#c")
    assert _stored(data, "#c") == [f"round {i}" for i in range(6)]


async def test_a_notification_scripts_message_survives_a_crash_right_after_it_quits(tmp_path, processes):
    data = tmp_path / "data"
    server = await _start(processes, data)
    script = await IRCClient.open(server.host, server.port, "notify")
    # What every notification script does: one packet, alone in the channel, and gone.
    script.send_raw(
        b"NICK deploybot\r\nUSER d 0 * :d\r\nJOIN #notify\r\nPRIVMSG #notify :deploy done\r\nQUIT\r\n"
    )
    rest = await script.expect_closed()
    assert rest[-1].command == "ERROR"
    await _crash(server)
    assert _stored(data, "#notify") == ["deploy done"]


async def test_a_locked_store_delays_messages_without_freezing_the_server_or_losing_any(tmp_path, processes):
    data = tmp_path / "data"
    server = await _start(processes, data)
    alice = await _client(server, "alice", ECHO)
    bob = await _client(server, "bob")
    await alice.join("#c")
    await bob.join("#c")
    alice.send("PRIVMSG #c :before the lock")
    await bob.expect("PRIVMSG", "#c", "before the lock")

    # Another process takes SQLite's write lock, as a sqlite3 shell in a transaction does.
    other = sqlite3.connect(data / "hubbub.sqlite3", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO schema_version (version) SELECT version FROM schema_version")
    try:
        for i in range(20):
            alice.send(f"PRIVMSG #c :during {i}")
        dave = await _client(server, "dave")
        dave.send("REGISTER * * :a long enough password")  # an account write waits too
        # The server still answers everyone at once (its loop does not wait for the lock) ...
        carol = await _client(server, "carol")
        carol.send("PING :alive")
        await carol.expect("PONG", "hubbub.local", "alive", timeout=2)
        # ... and bob, whose next lines wait for the store, is answered after them, in order.
        bob.send("PING :after-the-lock")
    finally:
        other.execute("ROLLBACK")
        other.close()
    got = await bob.collect_until("PONG", "hubbub.local", "after-the-lock", timeout=15)
    await dave.expect("REGISTER", "SUCCESS", timeout=15)
    assert [m.params[1] for m in got if m.command == "PRIVMSG"] == [f"during {i}" for i in range(20)]
    echoes = await alice.collect_until("PRIVMSG", "#c", "during 19")
    assert [m.params[1] for m in echoes if m.command == "PRIVMSG"][-20:] == [f"during {i}" for i in range(20)]
    # Visible to another process as soon as anybody received it (the lock holder's connection
    # closing must not have taken the server's write-ahead log away).
    assert _stored(data, "#c")[-1] == "during 19"
    await _crash(server)
    assert _stored(data, "#c") == ["before the lock", *(f"during {i}" for i in range(20))]


async def test_replies_follow_the_order_of_commands_checked_off_the_loop(tmp_path, processes):
    data = tmp_path / "data"
    config = tmp_path / "hubbub.toml"
    oper = f"admin {hash_password('sesame', memory_kib=1024, time_cost=1)}"
    config.write_text(f'[operators]\nopers = ["{oper}"]\n')
    server = await _start(processes, data, "--config", str(config))
    alice = await _client(server, "alice", ("labeled-response", "batch", "message-tags"))
    alice.send_raw(b"REGISTER * * :correct horse battery\r\nPING :after-register\r\n")
    got = await alice.collect_until("PONG", "hubbub.local", "after-register", timeout=15)
    commands = [m.command for m in got]
    assert "REGISTER" in commands and commands.index("REGISTER") < commands.index("PONG")
    # A labelled command finished off the loop still answers its own label.
    alice.send_raw(b"OPER admin wrong\r\nPING :after-oper\r\n")
    got = await alice.collect_until("PONG", "hubbub.local", "after-oper", timeout=15)
    assert "464" in [m.command for m in got]
    # A labelled command finished off the loop still answers its own label, before the next.
    alice.send_raw(b"@label=op1 OPER admin sesame\r\n@label=p2 PING :after-oper\r\n")
    first = await alice.expect(lambda m: m.tags.get("label") is not None)
    # Several replies (MODE +o and 381): one labeled-response batch, labelled once, ended before PONG.
    assert first.command == "BATCH" and first.params[1:] == ("labeled-response",)
    assert first.tags["label"] == "op1"
    ref = first.params[0][1:]
    got = await alice.collect_until("PONG", "hubbub.local", "after-oper")
    inside = [m for m in got if m.tags.get("batch") == ref]
    assert "381" in [m.command for m in inside]
    assert all("label" not in m.tags for m in got[:-1])
    end = got.index(next(m for m in got if m.command == "BATCH" and m.params == ("-" + ref,)))
    assert end < len(got) - 1  # the batch ends before the next command's answer
    assert got[-1].tags.get("label") == "p2"


def _mount_tmpfs(where: Path, size: str) -> None:
    where.mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], check=True)


def _fill(where: Path) -> Path:
    """Fill the filesystem at ``where`` to the last byte; return the filler file."""
    filler = where / "filler"
    with open(filler, "wb", buffering=0) as f:
        for chunk in (65536, 4096, 512, 1):
            with contextlib.suppress(OSError):
                while True:
                    f.write(b"\0" * chunk)
    return filler


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a small filesystem needs root (CI runs as root)")
@pytest.mark.allow_error_log(r"database or disk is full")  # the store's failures are logged
async def test_a_full_disk_delivers_nothing_unsaved_tells_the_sender_and_recovers(tmp_path, processes):
    disk = tmp_path / "disk"
    _mount_tmpfs(disk, "3m")
    try:
        data = disk / "data"
        config = tmp_path / "hubbub.toml"
        oper = f"admin {hash_password('sesame', memory_kib=1024, time_cost=1)}"
        config.write_text(f'[operators]\nopers = ["{oper}"]\n[accounts]\npassword_hash_memory_kib = 1024\n')
        server = await _start(processes, data, "--config", str(config))
        alice = await _client(server, "alice", (*ECHO, "labeled-response"))
        bob = await _client(server, "bob")
        admin = await _client(server, "admin")
        admin.send("OPER admin sesame")
        await admin.expect("381")
        erin = await _client(server, "erin")
        await register_account(erin, "erins-password")
        await erin.close()
        await alice.join("#c")
        await bob.join("#c")
        filler = _fill(disk)
        # The write-ahead log has room for a few pages already; send until the store fails.
        seen_by_bob: list[str] = []
        failed = None
        for i in range(400):
            alice.send(f"PRIVMSG #c :m{i} " + "z" * 400)
            reply = await alice.expect(lambda m: m.command in ("PRIVMSG", "FAIL"), timeout=10)
            if reply.command == "FAIL":
                failed = i
                break
            got = await bob.expect("PRIVMSG")
            seen_by_bob.append(got.params[1])
        assert failed is not None, "the store never filled up"
        assert reply.params[:3] == ("PRIVMSG", "TEMPORARILY_UNAVAILABLE", "#c")
        await bob.assert_silent("PRIVMSG")  # the unsaved message reached nobody
        # A labelled message is answered by its FAIL, label and all; its echo never comes.
        alice.send("@label=L1 PRIVMSG #c :labelled, on a full disk " + "z" * 400)
        answer = await alice.expect(lambda m: m.tags.get("label") == "L1", timeout=10)
        assert answer.command == "FAIL", answer
        assert answer.params[:3] == ("PRIVMSG", "TEMPORARILY_UNAVAILABLE", "#c")
        await alice.assert_silent("PRIVMSG")
        await bob.assert_silent("PRIVMSG")
        # REGISTER on a full disk answers, it does not hang.
        carol = await _client(server, "carol")
        carol.send("REGISTER * * :a long enough password")
        answer = await carol.expect(lambda m: m.command in ("FAIL", "REGISTER"), timeout=10)
        assert answer.command == "FAIL"
        assert any(b"cannot commit" in line for line in server.stderr)
        notice = await admin.expect("NOTICE", timeout=10)
        assert "cannot save messages" in notice.params[1]
        # Logging in on a full disk works (reading needs no space) and does not hang.
        erin = await IRCClient.open(server.host, server.port, "erin")
        assert (await login_and_register(erin, "erin", "erin", "erins-password")).command == "903"
        await erin.expect("001")

        filler.unlink()  # space returns: service resumes by itself
        alice.send("PRIVMSG #c :after the disk was freed")
        await bob.expect("PRIVMSG", "#c", "after the disk was freed", timeout=10)
        await _crash(server)
        stored = _stored(data, "#c")
        assert stored == [*seen_by_bob, "after the disk was freed"]
    finally:
        for p in processes:
            await p.stop()
        subprocess.run(["umount", "-l", str(disk)], check=False)


async def test_a_crash_storm_with_churners_loses_nothing_anybody_received(tmp_path, processes):
    """Senders with echo-message, churners that send and QUIT in one packet, kill -9 at random."""
    data = tmp_path / "data"
    received: dict[str, list[str]] = {}
    rng = random.Random(os.getpid())
    serial = itertools.count()
    for run in range(3):
        server = await _start(processes, data)
        stop = asyncio.Event()
        senders = [await _client(server, f"s{i}", ECHO) for i in range(3)]
        for s in senders:
            await s.join("#storm")

        async def send(c: IRCClient, run: int = run, stop: asyncio.Event = stop) -> None:
            n = 0
            with contextlib.suppress(ConnectionError, OSError):
                while not stop.is_set() and n < 5000:
                    c.send(f"PRIVMSG #storm :{c.name} {run} {n}")
                    n += 1
                    if n % 10 == 0:
                        await c.drain()
                        await asyncio.sleep(0)  # let the readers run (no waiting on time)

        async def read(c: IRCClient, run: int = run) -> None:
            seen = received.setdefault(f"{c.name}/{run}", [])
            with contextlib.suppress(ConnectionError, OSError, TimeoutError):
                while line := await asyncio.wait_for(c.reader.readline(), 20):
                    if b" PRIVMSG #storm :" in line:
                        seen.append(line.split(b" PRIVMSG #storm :", 1)[1].rstrip(b"\r\n").decode())

        async def churn(
            k: int, run: int = run, stop: asyncio.Event = stop, server: ServerProcess = server
        ) -> None:
            with contextlib.suppress(ConnectionError, OSError, TimeoutError, AssertionError):
                while not stop.is_set():
                    c = await IRCClient.open(server.host, server.port, f"churn{k}")
                    c.send_raw(b"CAP REQ :echo-message\r\nCAP END\r\n")
                    nick = f"ch{k}x{next(serial)}"
                    c.send_raw(
                        f"NICK {nick}\r\nUSER c 0 * :c\r\nJOIN #storm\r\n"
                        f"PRIVMSG #storm :{nick} {run} 0\r\nQUIT\r\n".encode()
                    )
                    await read_churn(c, f"{nick}/{run}")
                    await c.close()

        async def read_churn(c: IRCClient, name: str) -> None:
            seen = received.setdefault(name, [])
            while line := await asyncio.wait_for(c.reader.readline(), 20):
                if b" PRIVMSG #storm :" in line:
                    seen.append(line.split(b" PRIVMSG #storm :", 1)[1].rstrip(b"\r\n").decode())

        readers = [asyncio.create_task(read(s)) for s in senders]
        workers = [asyncio.create_task(send(s)) for s in senders]
        workers += [asyncio.create_task(churn(k)) for k in range(2)]
        # Crash once a random number of lines has arrived.
        goal = rng.randrange(300, 3000)
        deadline = asyncio.get_running_loop().time() + 30
        while sum(len(v) for v in received.values()) < goal:
            assert asyncio.get_running_loop().time() < deadline, "the storm stalled"
            await asyncio.sleep(0.01)  # polling with a deadline
        server.signal(signal.SIGKILL)
        stop.set()
        await server.wait(10)
        await asyncio.wait_for(asyncio.gather(*readers, return_exceptions=True), 30)
        for w in workers:
            w.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        for s in senders:
            await s.close()

    history = _stored(data, "#storm")
    assert len(history) == len(set(history)), "duplicates in history"
    position = {text: i for i, text in enumerate(history)}
    churned = 0
    for name, texts in received.items():
        missing = [t for t in texts if t not in position]
        assert not missing, f"{name} received {len(missing)} lines that are not in history: {missing[:3]}"
        order = [position[t] for t in texts]
        assert order == sorted(order), f"{name} received lines in another order than history"
        churned += name.startswith("ch")
    assert churned > 0, "no churner got its echo"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
async def test_after_a_restart_an_old_client_gets_everything_it_missed(tmp_path, processes, sig):
    """The README's promise with ``make serve`` defaults: durable channels, history by both ways."""
    data = tmp_path / "data"
    server = await ServerProcess(data).start()  # defaults: flood control and all
    processes.append(server)
    modern = ("draft/chathistory", "batch", "message-tags", "server-time", "echo-message")
    alice = await _client(server, "alice", modern)
    plain = await _client(server, "plain")
    await alice.join("#general")
    await plain.join("#general")
    for text in ("one", "two", "three"):
        alice.send(f"PRIVMSG #general :{text}")
        await plain.expect("PRIVMSG", "#general", text)
    last = (await alice.expect("PRIVMSG", "#general", "three")).tags["msgid"]

    server.signal(sig)
    await server.wait(10)
    await alice.close()
    await plain.close()
    again = await ServerProcess(data).start()
    processes.append(again)

    newbie = await _client(again, "newbie")
    await newbie.join("#general")
    newbie.send("PRIVMSG #general :while you were away")
    newbie.send("PRIVMSG #general :and this")
    await newbie.sync()

    # A modern client fills the gap from the last message it saw.
    alice = await _client(again, "alice", modern)
    await alice.join("#general")
    alice.send(f"CHATHISTORY AFTER #general msgid={last} 50")
    start = await alice.expect("BATCH")
    got = await alice.collect_until("BATCH", "-" + start.params[0][1:])
    assert [m.params[1] for m in got if m.command == "PRIVMSG"] == ["while you were away", "and this"]
    # A plain client (irssi, WeeChat) gets the recent lines on join.
    plain = await _client(again, "plain")
    plain.send("JOIN #general")
    got = await plain.collect_until("366")
    got += await plain.drain_messages()
    assert [m.params[1] for m in got if m.command == "PRIVMSG"] == [
        "one",
        "two",
        "three",
        "while you were away",
        "and this",
    ]
    # And nobody was made operator of the channel just by being first in after the restart.
    assert not any(m.command == "MODE" for m in got)
    names = " ".join(m.params[-1] for m in got if m.command == "353")
    assert "@newbie" not in names


async def test_a_kept_event_is_stored_before_anybody_sees_it(tmp_path, processes):
    data = tmp_path / "data"
    server = await ServerProcess(data, "--no-flood-control", env={"HUBBUB_HISTORY_EVENTS": "true"}).start()
    processes.append(server)
    alice = await _client(server, "alice")
    bob = await _client(server, "bob")
    await alice.join("#c")
    await bob.join("#c")
    alice.send("TOPIC #c :kept before it is shown")
    await bob.expect("TOPIC", "#c", "kept before it is shown")
    await _crash(server)
    store = open_store(data)
    try:
        commands = [r.command for r in store.latest("#c", 100)]
    finally:
        store.close()
    assert commands[-1] == "TOPIC" and commands.count("JOIN") == 2


async def test_past_the_store_backlog_senders_wait_and_nothing_is_dropped(tmp_path, processes):
    data = tmp_path / "data"
    server = await ServerProcess(data, "--no-flood-control", env={"HUBBUB_STORE_BACKLOG": "3"}).start()
    processes.append(server)
    alice = await _client(server, "alice", ECHO)
    bob = await _client(server, "bob")
    await alice.join("#c")
    await bob.join("#c")
    other = sqlite3.connect(data / "hubbub.sqlite3", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        # One message a packet, so that each is its own turn and the backlog fills up.
        for i in range(40):
            alice.send(f"PRIVMSG #c :held {i}")
            await alice.drain()
        alice.send("PING :behind-the-messages")
        carol = await _client(server, "carol")  # everyone else is still served
        carol.send("PING :alive")
        await carol.expect("PONG", "hubbub.local", "alive", timeout=2)
    finally:
        other.execute("ROLLBACK")
        other.close()
    got = await alice.collect_until("PONG", "hubbub.local", "behind-the-messages", timeout=15)
    assert [m.params[1] for m in got if m.command == "PRIVMSG"] == [f"held {i}" for i in range(40)]
    got = [(await bob.expect("PRIVMSG", timeout=15)).params[1] for _ in range(40)]
    assert got == [f"held {i}" for i in range(40)]
    await _crash(server)
    assert _stored(data, "#c") == [f"held {i}" for i in range(40)]


async def test_a_client_that_quits_behind_several_uncommitted_turns_gets_every_line_then_error(
    tmp_path, processes
):
    data = tmp_path / "data"
    # Paced at 50 lines a second after a burst of one: each message is a turn (an epoch) of its own.
    env = {"HUBBUB_FLOOD_BURST": "1", "HUBBUB_FLOOD_RATE": "50"}
    server = await ServerProcess(data, env=env).start()
    processes.append(server)
    alice = await _client(server, "alice", ECHO)
    carol = await _client(server, "carol")
    await alice.join("#c")
    other = sqlite3.connect(data / "hubbub.sqlite3", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # every epoch waits, so the QUIT comes behind all of them
    try:
        alice.send_raw(b"".join(f"PRIVMSG #c :turn {i}\r\n".encode() for i in range(8)) + b"QUIT :done\r\n")
        deadline = asyncio.get_running_loop().time() + 10
        while True:  # polling with a deadline, through a client whose replies do not wait
            carol.send("WHOIS alice")
            reply = await carol.expect(lambda m: m.command in ("311", "401"))
            await carol.expect("318")
            if reply.command == "401":
                break
            assert asyncio.get_running_loop().time() < deadline, "alice's QUIT was never handled"
    finally:
        other.execute("ROLLBACK")
        other.close()
    rest = await alice.expect_closed(timeout=10)
    assert [m.params[1] for m in rest if m.command == "PRIVMSG"] == [f"turn {i}" for i in range(8)]
    assert rest[-1].command == "ERROR"
