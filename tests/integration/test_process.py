"""The real ``hubbub serve`` process: ready line, graceful shutdown, and no message lost to a crash."""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from collections import defaultdict

import pytest

from hubbub.server.connection import CLOSE_LINGER
from hubbub.store import open_store
from hubbub.store.search import SearchQuery
from tests.support.serverproc import ServerProcess

from .ircclient import IRCClient


async def test_python_dash_m_and_the_console_script_are_the_same_command():
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hubbub", "--help", stdout=asyncio.subprocess.PIPE
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 20)
    assert proc.returncode == 0
    assert b"serve" in out and b"history" in out


async def test_bad_configuration_is_reported_with_the_key(tmp_path):
    config = tmp_path / "bad.toml"
    config.write_text("[limits]\nnicklen = -3\n")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hubbub", "serve", "--config", str(config), stderr=asyncio.subprocess.PIPE
    )
    _, err = await asyncio.wait_for(proc.communicate(), 20)
    assert proc.returncode == 1
    assert err.decode().splitlines() == ["hubbub serve: configuration error: nicklen: must be greater than 0"]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
async def test_signal_shuts_down_gracefully_telling_clients(tmp_path, processes, sig):
    server = await ServerProcess(tmp_path / "data").start()
    processes.append(server)
    client = await IRCClient.open(server.host, server.port, "alice")
    await client.register("alice")
    server.signal(sig)
    rest = await client.expect_closed(timeout=10)
    assert any(m.command == "ERROR" and "Server shutting down" in m.params[0] for m in rest)
    assert await server.wait(10) == 0
    await client.close()


async def test_stopping_does_not_wait_for_clients_that_do_not_close_their_side(start_server, connect):
    # After ERROR the server half-closes and would linger for the peer's EOF (Connection.shut);
    # a stopping server has nothing left to wait for once the goodbyes are written.
    server = await start_server()
    idle = await connect("idle", target=server)
    idle.send("PRIVMSG idle :a line held for its commit")
    await idle.expect("PRIVMSG")
    started = time.monotonic()
    await server.stop()
    assert time.monotonic() - started < CLOSE_LINGER / 2
    assert not server.connections
    rest = await idle.expect_closed(timeout=1)
    assert rest and rest[-1].command == "ERROR" and "Server shutting down" in rest[-1].params[0]


async def _storm(server: ServerProcess, senders: int, per_sender: int, stop_after: int, sig: signal.Signals):
    """Senders chat as fast as they can; once ``stop_after`` lines arrived, signal the server."""
    clients = []
    for i in range(senders):
        c = await IRCClient.open(server.host, server.port, f"s{i}")
        await c.register(f"s{i}", caps=("message-tags", "echo-message"))
        await c.join("#storm")
        clients.append(c)
    received: dict[str, list[str]] = defaultdict(list)
    errors: list[bytes] = []
    total = 0
    signalled = asyncio.Event()
    # Each client reads six senders' traffic in this one process; a sender runs at most WINDOW
    # lines ahead of its own echoes, so the readers here keep up and the server never has to drop
    # them as slow consumers (which it would, rightly).
    window = 200
    echoed = dict.fromkeys(range(senders), 0)
    progress = asyncio.Event()

    async def send(c: IRCClient, n: int) -> None:
        try:
            for seq in range(per_sender):
                if signalled.is_set():
                    return
                c.send(f"PRIVMSG #storm :{n} {seq}")
                if seq % 20 == 19:
                    await c.drain()
                    while seq - echoed[n] > window and not signalled.is_set():
                        progress.clear()
                        await asyncio.wait_for(progress.wait(), 15)
        except (ConnectionError, OSError, TimeoutError):
            return

    async def receive(c: IRCClient) -> None:
        nonlocal total
        while True:
            try:
                line = await asyncio.wait_for(c.reader.readline(), 15)
            except (ConnectionError, OSError):
                return
            if not line:
                return
            if line.startswith(b"ERROR"):
                errors.append(line)
            if b" PRIVMSG #storm " in line:
                msgid = line.split(b"msgid=", 1)[1].split(b";", 1)[0].split(b" ", 1)[0].decode()
                received[c.name].append(msgid)
                total += 1
                if line.split(b" :", 1)[0].split(b"!", 1)[0].endswith(f":{c.name}".encode()):
                    echoed[int(c.name[1:])] += 1
                    progress.set()
                if total >= stop_after and not signalled.is_set():
                    signalled.set()
                    server.signal(sig)

    tasks = [asyncio.create_task(send(c, i)) for i, c in enumerate(clients)]
    readers = [asyncio.create_task(receive(c)) for c in clients]
    await asyncio.wait_for(asyncio.gather(*readers), 60)
    for t in tasks:
        t.cancel()
    for c in clients:
        await c.close()
    assert signalled.is_set(), f"only {total} lines arrived; errors: {errors[:6]}"
    return received, signalled.is_set()


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
async def test_every_message_anybody_saw_survives_a_crash_in_order_without_duplicates(
    tmp_path, processes, sig
):
    data = tmp_path / "data"
    server = await ServerProcess(
        data, "--no-flood-control", env={"HUBBUB_PERSISTENT_CHANNELS": "#storm"}
    ).start()
    processes.append(server)
    received, signalled = await _storm(server, senders=6, per_sender=3000, stop_after=4000, sig=sig)
    assert signalled
    code = await server.wait(15)
    assert code == (0 if sig == signal.SIGTERM else -signal.SIGKILL)

    # Restart on the same data directory: history is there and the server answers for it.
    again = await ServerProcess(data, env={"HUBBUB_PERSISTENT_CHANNELS": "#storm"}).start()
    processes.append(again)
    reader = await IRCClient.open(again.host, again.port, "reader")
    await reader.register("reader", caps=("draft/chathistory", "batch", "message-tags", "server-time"))
    await reader.join("#storm")
    reader.send("CHATHISTORY LATEST #storm * 10")
    start = await reader.expect("BATCH")
    got = await reader.collect_until("BATCH", "-" + start.params[0][1:])
    assert len([m for m in got if m.command == "PRIVMSG"]) == 10
    await reader.close()
    again.signal(signal.SIGTERM)
    assert await again.wait(10) == 0

    store = open_store(data)
    try:
        rows = store.latest("#storm", 1_000_000)
        # The search index was written in the same transactions: it holds exactly these rows.
        store._db.execute("INSERT INTO message_text (message_text) VALUES ('integrity-check')")
        (indexed,) = store._db.execute("SELECT count(*) FROM message_text").fetchone()
        sender = rows[-1].params[1].split()[0]
        matches = store.search(SearchQuery(sender, [("#storm", 0)], 1_000_000))
    finally:
        store.close()
    assert indexed == len(rows)
    assert len(matches) == sum(1 for r in rows if sender in r.params[1].split())
    history = [r.msgid for r in rows]
    assert len(history) == len(set(history)), "duplicates in history"
    position = {msgid: i for i, msgid in enumerate(history)}
    for name, msgids in received.items():
        missing = [m for m in msgids if m not in position]
        assert not missing, f"{name} saw {len(missing)} messages that are not in history"
        order = [position[m] for m in msgids]
        assert order == sorted(order), f"{name} saw messages in another order than history"
    # Each sender's lines are stored as an unbroken run from its first: nothing accepted was dropped.
    by_sender: dict[str, list[int]] = defaultdict(list)
    for r in rows:
        n, seq = r.params[1].split()
        by_sender[n].append(int(seq))
    for n, seqs in by_sender.items():
        assert seqs == list(range(len(seqs))), f"sender {n} has gaps or reordering in history"
    assert sum(len(v) for v in received.values()) >= 4000
