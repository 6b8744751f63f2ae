"""Fixtures for integration tests: a real server on 127.0.0.1 port 0 and raw-socket clients."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from typing import Any

import pytest

from hubbub.server.app import Server
from hubbub.server.clock import Clock
from hubbub.server.config import Settings

from .ircclient import IRCClient

StartServer = Callable[..., Awaitable[Server]]
Connect = Callable[..., Awaitable[IRCClient]]


def pytest_asyncio_loop_factories(config: pytest.Config, item: pytest.Item) -> dict[str, Callable[[], Any]]:
    """Run the in-process servers on uvloop when it is installed, as ``hubbub serve`` does.

    ``HUBBUB_TEST_LOOP=asyncio`` runs them on the standard loop instead.
    """
    if os.environ.get("HUBBUB_TEST_LOOP", "uvloop") == "uvloop":
        try:
            import uvloop
        except ImportError:
            pass
        else:
            return {"uvloop": uvloop.new_event_loop}
    return {"asyncio": asyncio.new_event_loop}


@pytest.fixture
async def start_server(tmp_path: Any) -> AsyncIterator[StartServer]:
    """Start servers with settings overrides (and a clock); all are stopped at the end of the test.

    ``clock=FakeClock()`` (tests.support.clock) gives the server a clock the test moves by hand:
    timing is then tested on real sockets without waiting for it.
    """
    servers: list[Server] = []

    async def start(*, clock: Clock | None = None, **overrides: Any) -> Server:
        # Cheap password hashes: every server start hashes a dummy password (see accounts.py).
        base = Settings(
            host="127.0.0.1",
            port=0,
            data_dir=str(tmp_path / "data"),
            flood_control=False,
            password_hash_memory_kib=1024,
            password_hash_time_cost=1,
        )
        settings = replace(base, **overrides).validate()
        server = Server(settings, clock=clock)
        # The ``server`` fixture and the servers a test starts share tmp_path/data; the lock that
        # keeps a second server off a data directory is tested on real processes (test_startup).
        server.exclusive = False
        await server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(server.stop(), 10)


@pytest.fixture(autouse=True)
async def close_clients_left_open() -> AsyncIterator[None]:
    """Close the raw clients a test opened itself and left open, while their loop still runs."""
    yield
    for client in list(IRCClient.unclosed):
        await client.close()


@pytest.fixture
async def server(start_server: StartServer) -> Server:
    """A server with default settings but no flood control."""
    return await start_server()


@pytest.fixture
async def connect(server: Server, request: pytest.FixtureRequest) -> AsyncIterator[Connect]:
    """Open raw clients to ``server``; ``await connect("alice")`` registers, ``register=False`` does not.

    ``source="127.0.0.2"`` connects from that local address: another client address for tests of
    per-address limits.
    """
    clients: list[IRCClient] = []

    async def open_client(
        nick: str | None = None,
        *,
        caps: tuple[str, ...] = (),
        register: bool = True,
        target: Server | None = None,
        source: str | None = None,
    ) -> IRCClient:
        srv = target or server
        client = await IRCClient.open(srv.host, srv.port, name=nick or f"c{len(clients)}", source=source)
        clients.append(client)
        if register and nick:
            await client.register(nick, caps=caps)
        return client

    yield open_client
    failed = getattr(request.node, "rep_call", None)
    if failed is not None and failed.failed:
        for client in clients:
            print(client.transcript())
    for client in clients:
        await client.close()


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Keep each phase's report on the item so fixtures can print transcripts on failure."""
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)
