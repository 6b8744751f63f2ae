"""``hubbub serve`` as a process and the descriptor limit.

The soft limit on open files is
raised to what ``max_connections`` needs; where the hard limit does not allow it, the server says
so at start and counts itself full early enough to tell the clients it refuses why.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from hubbub.server.limits import DESCRIPTOR_RESERVE
from tests.support.serverproc import ServerProcess

from .ircclient import IRCClient


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
    limits = Path("/proc/self/limits")
    if not limits.exists():
        pytest.skip("reads the process's limits from /proc")
    server = ServerProcess(tmp_path / "data", env={"HUBBUB_MAX_CONNECTIONS": "1000"}, nofile=(256, 4096))
    processes.append(server)
    await server.start()
    text = Path(f"/proc/{server.pid}/limits").read_text()
    line = next(line for line in text.splitlines() if line.startswith("Max open files"))
    assert line.split()[3:5] == [str(1000 + DESCRIPTOR_RESERVE), "4096"]
    assert not [line for line in server.stderr if b"descriptor limit" in line]
