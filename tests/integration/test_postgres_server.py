"""``hubbub serve --store postgresql://...``: one server whose history and accounts are PostgreSQL's.

Real server processes on a real PostgreSQL (tests/support/services.py): history survives a
restart and is read back with CHATHISTORY, an account registered on one run logs in on the next,
and the trust promise holds as on SQLite: a message whose echo anybody saw is committed, even
when the server is killed the moment the echo is out.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from hubbub.store.postgres import PostgresStore
from tests.support.serverproc import ServerProcess
from tests.support.services import PostgresServer

from .accounts_helpers import login_and_register, register_account
from .ircclient import IRCClient

MODERN = ("draft/chathistory", "batch", "message-tags", "server-time", "echo-message")


async def _start(processes: list[ServerProcess], data: Path, url: str, *args: str) -> ServerProcess:
    server = await ServerProcess(data, "--no-flood-control", "--store", url, *args).start()
    processes.append(server)
    return server


async def _client(server: ServerProcess, nick: str, caps: tuple[str, ...] = ()) -> IRCClient:
    client = await IRCClient.open(server.host, server.port, nick)
    await client.register(nick, caps=caps)
    return client


def _stored(url: str, target: str) -> list[str]:
    with PostgresStore(url) as store:
        return [m.params[-1] for m in store.latest(target, 100_000)]


@pytest.mark.timeout(120)
async def test_history_on_postgresql_survives_a_restart_and_chathistory_reads_it(
    tmp_path: Path, processes: list[ServerProcess], pg_url: str
) -> None:
    data = tmp_path / "data"
    server = await _start(processes, data, pg_url)
    alice = await _client(server, "alice", MODERN)
    await alice.join("#general")
    for text in ("one", "two", "three"):
        alice.send(f"PRIVMSG #general :{text}")
        await alice.expect("PRIVMSG", "#general", text)
    server.signal(signal.SIGTERM)
    assert await server.wait(20) == 0
    await alice.close()

    # The data directory is gone too: everything the server needs back is in PostgreSQL.
    again = await _start(processes, tmp_path / "another", pg_url)
    bob = await _client(again, "bob", MODERN)
    await bob.join("#general")
    bob.send("CHATHISTORY LATEST #general * 10")
    start = await bob.expect("BATCH")
    got = await bob.collect_until("BATCH", "-" + start.params[0][1:])
    assert [m.params[1] for m in got if m.command == "PRIVMSG"] == ["one", "two", "three"]
    assert _stored(pg_url, "#general") == ["one", "two", "three"]
    await bob.close()


@pytest.mark.timeout(120)
async def test_a_message_sent_with_quit_in_one_packet_is_in_postgresql_before_its_echo(
    tmp_path: Path, processes: list[ServerProcess], pg_url: str
) -> None:
    data = tmp_path / "data"
    for round_ in range(3):
        server = await _start(processes, data, pg_url)
        sender = await _client(server, "sender", ("message-tags", "echo-message"))
        await sender.join("#c")
        sender.send_raw(f"PRIVMSG #c :round {round_}\r\nQUIT :bye\r\n".encode())
        await sender.expect("PRIVMSG", "#c", f"round {round_}")
        server.signal(signal.SIGKILL)  # the moment the echo is in, before anything else can happen
        assert await server.wait(10) == -signal.SIGKILL
        await sender.close()
        assert f"round {round_}" in _stored(pg_url, "#c")
    assert _stored(pg_url, "#c") == [f"round {i}" for i in range(3)]


def test_a_store_url_of_another_kind_stops_the_server_at_start(tmp_path: Path) -> None:
    serve = [sys.executable, "-m", "hubbub", "serve", "--port", "0", "--data-dir", str(tmp_path / "data")]
    done = subprocess.run(
        [*serve, "--store", "mysql://u:secret@h/db"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode != 0
    assert "store_url" in done.stderr and "postgresql://" in done.stderr and "secret" not in done.stderr


@pytest.mark.timeout(120)
@pytest.mark.allow_error_log(r"cannot commit", r"cannot store", r"cannot")
async def test_while_postgresql_is_down_nothing_unsaved_is_delivered_and_service_resumes_after(
    tmp_path: Path, processes: list[ServerProcess], postgres: PostgresServer, pg_url: str
) -> None:
    server = await _start(processes, tmp_path / "data", pg_url, "--config", str(_quick_store(tmp_path)))
    alice = await _client(server, "alice", ("message-tags", "echo-message"))
    bob = await _client(server, "bob")
    await alice.join("#c")
    await bob.join("#c")
    alice.send("PRIVMSG #c :before")
    await alice.expect("PRIVMSG", "#c", "before")
    await bob.expect("PRIVMSG", "#c", "before")

    postgres.kill()
    alice.send("PRIVMSG #c :while the database is down")
    reply = await alice.expect(lambda m: m.command in ("PRIVMSG", "FAIL"), timeout=20)
    assert reply.command == "FAIL" and reply.params[:3] == ("PRIVMSG", "TEMPORARILY_UNAVAILABLE", "#c")
    await bob.assert_silent("PRIVMSG")  # the unsaved message reached nobody

    postgres.start()
    # The store connects again by itself: the next message is stored and delivered.
    alice.send("PRIVMSG #c :after")
    await bob.expect("PRIVMSG", "#c", "after", timeout=20)
    assert _stored(pg_url, "#c") == ["before", "after"]
    await alice.close()
    await bob.close()


def _quick_store(tmp_path: Path) -> Path:
    config = tmp_path / "hubbub.toml"
    config.write_text("[server]\nstore_timeout = 5.0\n")
    return config


@pytest.mark.timeout(120)
async def test_an_account_registered_on_postgresql_logs_in_after_a_restart(
    tmp_path: Path, processes: list[ServerProcess], pg_url: str
) -> None:
    config = tmp_path / "hubbub.toml"
    config.write_text("[accounts]\npassword_hash_memory_kib = 1024\npassword_hash_time_cost = 1\n")
    server = await _start(processes, tmp_path / "data", pg_url, "--config", str(config))
    alice = await _client(server, "alice")
    await register_account(alice, "alices-password")
    await alice.close()
    server.signal(signal.SIGTERM)
    assert await server.wait(20) == 0

    again = await _start(processes, tmp_path / "other", pg_url, "--config", str(config))
    client = await IRCClient.open(again.host, again.port, "alice")
    assert (await login_and_register(client, "alice", "alice", "alices-password")).command == "903"
    await client.expect("001")
    wrong = await IRCClient.open(again.host, again.port, "mallory")
    assert (await login_and_register(wrong, "mallory", "alice", "not-the-password")).command == "904"
    await client.close()
    await wrong.close()


@pytest.mark.timeout(120)
@pytest.mark.allow_error_log(r"cannot", r"PostgreSQL")
async def test_a_database_that_stops_answering_slows_reads_but_never_stops_the_server(
    tmp_path: Path, processes: list[ServerProcess], postgres: PostgresServer, pg_url: str
) -> None:
    config = tmp_path / "hubbub.toml"
    config.write_text("[server]\nstore_timeout = 3.0\nstore_read_timeout = 0.5\n")
    server = await _start(processes, tmp_path / "data", pg_url, "--config", str(config))
    alice = await _client(server, "alice", MODERN)
    await alice.join("#c")
    alice.send("PRIVMSG #c :kept")
    await alice.expect("PRIVMSG", "#c", "kept")
    bob = await _client(server, "bob")
    postgres.freeze()
    try:
        alice.send("CHATHISTORY LATEST #c * 10")
        failed = await alice.expect(lambda m: m.command in ("FAIL", "BATCH"), timeout=10)
        assert failed.command == "FAIL"
        bob.send("JOIN #c")  # its replay on join cannot be read: it joins without
        await bob.expect("366", timeout=10)
        alice.send("PING :still-here")
        await alice.expect("PONG", timeout=10)
    finally:
        postgres.thaw()
    alice.send("CHATHISTORY LATEST #c * 10")
    start = await alice.expect("BATCH", timeout=10)
    got = await alice.collect_until("BATCH", "-" + start.params[0][1:])
    assert [m.params[1] for m in got if m.command == "PRIVMSG"] == ["kept"]
    await alice.close()
    await bob.close()
