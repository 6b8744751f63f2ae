"""Fixtures for driving a real Server in memory: a fake clock and clients with no socket.

The server is started on port 0 (its store is a SQLite file in tmp_path, as everywhere), but
every client is a :class:`~tests.support.memory.MemoryClient`: a real Connection fed by the test,
so a session's timers run only when the test advances the fake clock.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from hubbub.server.app import Server
from hubbub.server.config import Settings
from tests.support.clock import FakeClock
from tests.support.memory import MemoryClient

StartServer = Callable[..., Awaitable[Server]]


@pytest.fixture
def clock() -> FakeClock:
    """The clock every server of the test reads; it moves only when the test advances it."""
    return FakeClock()


@pytest.fixture
async def start_server(tmp_path: Path, clock: FakeClock) -> AsyncIterator[StartServer]:
    """Start a server on the fake clock with settings overrides; stopped at the end of the test."""
    servers: list[Server] = []

    async def start(**overrides: Any) -> Server:
        # Cheap password hashes: every server start hashes a dummy password (see accounts.py).
        base = Settings(
            host="127.0.0.1",
            port=0,
            data_dir=str(tmp_path / f"data{len(servers)}"),
            flood_control=False,
            password_hash_memory_kib=1024,
            password_hash_time_cost=1,
        )
        server = Server(replace(base, **overrides).validate(), clock=clock)
        await server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        with contextlib.suppress(Exception):
            await server.stop()


@pytest.fixture
async def server(start_server: StartServer) -> Server:
    """A server on the fake clock with default settings but no flood control."""
    return await start_server()


@pytest.fixture
def client(request: pytest.FixtureRequest) -> Callable[..., MemoryClient]:
    """Make in-memory clients of a server; their transcripts are printed when the test fails."""
    made: list[MemoryClient] = []

    def make(server: Server, name: str = "client") -> MemoryClient:
        c = MemoryClient(server, name)
        made.append(c)
        return c

    request.addfinalizer(lambda: print("\n".join(c.transcript() for c in made)))
    return make
