"""``hubbub serve`` as a process: SIGHUP reloads the configuration, and the descriptor limit.

SIGHUP does what REHASH does (as in ircds) and drops nobody. The soft limit on open files is
raised to what ``max_connections`` needs; where the hard limit does not allow it, the server says
so at start and counts itself full early enough to tell the clients it refuses why.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from hubbub.server.limits import DESCRIPTOR_RESERVE
from tests.support.serverproc import ServerProcess

from .accounts_helpers import OPER_PASSWORD, OPERS
from .ircclient import IRCClient


def _config(motd: str) -> str:
    opers = ", ".join(f'"{entry}"' for entry in OPERS["opers"])
    return (
        f'[server]\nmotd = "{motd}"\n[operators]\nopers = [{opers}]\n'
        "[accounts]\npassword_hash_memory_kib = 1024\npassword_hash_time_cost = 1\n"
    )


async def _motd(client: IRCClient) -> str:
    client.send("MOTD")
    lines = await client.collect_until("376")
    return "\n".join(m.params[-1] for m in lines if m.command == "372")


@pytest.mark.allow_error_log(r"SIGHUP: configuration not reloaded, the running one is kept: .*nicklen")
async def test_sighup_reloads_the_configuration_and_drops_nobody(
    tmp_path: Path, processes: list[ServerProcess]
) -> None:
    config = tmp_path / "hubbub.toml"
    config.write_text(_config("first news"))
    server = ServerProcess(tmp_path / "data", "--config", str(config))
    processes.append(server)
    await server.start()
    alice = await IRCClient.open(server.host, server.port, "alice")
    await alice.register("alice")
    admin = await IRCClient.open(server.host, server.port, "admin")
    await admin.register("admin")
    admin.send(f"OPER admin {OPER_PASSWORD}")
    await admin.expect("381")
    assert "first news" in await _motd(alice)

    config.write_text(_config("second news"))
    server.signal(signal.SIGHUP)
    await server.wait_for_stderr(b"SIGHUP: configuration reloaded")
    assert "Configuration reloaded (SIGHUP)" in (await admin.expect("NOTICE")).params[1]
    assert "second news" in await _motd(alice)

    # A broken file is refused whole: the running configuration stays, operators hear why.
    config.write_text('[server]\nmotd = "never shown"\n[limits]\nnicklen = -1\n')
    server.signal(signal.SIGHUP)
    await server.wait_for_stderr(b"configuration not reloaded")
    told = (await admin.expect("NOTICE")).params[1]
    assert "not reloaded" in told and "nicklen" in told
    assert "second news" in await _motd(alice)
    await admin.sync()
    assert server.proc is not None and server.proc.returncode is None
    for client in (alice, admin):
        await client.close()


async def test_at_the_descriptor_limit_new_clients_are_told_the_server_is_full(
    tmp_path: Path, processes: list[ServerProcess]
) -> None:
    soft = 128
    room = soft - DESCRIPTOR_RESERVE
    server = ServerProcess(tmp_path / "data", nofile=(soft, soft))
    processes.append(server)
    await server.start()
    # The hard limit allows no more: the server says so, and what it can take.
    said = await server.wait_for_stderr(b"descriptor limit")
    assert f"is {soft} (hard limit {soft}), room for {room} connections".encode() in said
    clients = []
    for i in range(room):
        client = await IRCClient.open(server.host, server.port, f"c{i}")
        clients.append(client)
    for client in clients:
        client.send("PING :in")
        await client.expect("PONG", None, "in")  # type: ignore[arg-type]
    # Past the room, a client is told why instead of meeting a server that cannot accept it.
    for attempt in range(3):
        extra = await IRCClient.open(server.host, server.port, f"extra{attempt}")
        rest = await extra.expect_closed()
        assert [m.params[0] for m in rest if m.command == "ERROR"] == ["Closing link: Server full"]
        await extra.close()
    refused = await server.wait_for_stderr(b"refused")
    assert b"WARNING" in refused and b"Server full" in refused
    assert len([line for line in server.stderr if b"refused" in line]) == 1, "one line per burst"
    # A place given back is a place to take (once the server has seen the socket close).
    await clients.pop().close()
    deadline = time.monotonic() + 5
    while True:
        again = await IRCClient.open(server.host, server.port, "again")
        again.send("PING :back")
        if (await again.expect(lambda m: m.command in ("PONG", "ERROR"))).command == "PONG":
            break
        await again.close()
        assert time.monotonic() < deadline, "the place given back was never free"
    await again.register("again")
    for client in (*clients, again):
        await client.close()


async def test_serve_raises_the_soft_descriptor_limit_to_what_max_connections_needs(
    tmp_path: Path, processes: list[ServerProcess]
) -> None:
    server = ServerProcess(tmp_path / "data", env={"HUBBUB_MAX_CONNECTIONS": "1000"}, nofile=(256, 4096))
    processes.append(server)
    await server.start()
    text = Path(f"/proc/{server.pid}/limits").read_text()
    line = next(line for line in text.splitlines() if line.startswith("Max open files"))
    assert line.split()[3:5] == [str(1000 + DESCRIPTOR_RESERVE), "4096"]
    assert not [line for line in server.stderr if b"descriptor limit" in line]
