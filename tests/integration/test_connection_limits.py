"""Connections counted from the moment they are accepted: TLS handshakes, refusals, and the count.

A TLS handshake takes a descriptor and memory before the client says anything, so it counts
against ``max_per_ip`` and ``max_connections`` from the accept, and one that stalls is dropped
after ``tls_handshake_timeout``. Every way a connection ends gives its place back exactly once.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
import struct
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from hubbub.server.app import Server
from hubbub.server.tls import generate_self_signed

from .conftest import Connect, StartServer
from .ircclient import DEFAULT_TIMEOUT, IRCClient

LOCAL = "127.0.0.1"


@pytest.fixture
def tls_files(tmp_path: Path) -> dict[str, str]:
    """Settings for a TLS listener with a fresh self-signed certificate."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    generate_self_signed(cert, key)
    return {"tls_port": 0, "tls_cert": str(cert), "tls_key": str(key)}  # type: ignore[dict-item]


async def until(done: Callable[[], bool], what: str, timeout: float = DEFAULT_TIMEOUT) -> None:
    """Poll ``done`` until it holds, failing with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        await asyncio.sleep(0.01)


def counted(server: Server) -> tuple[int, int, int]:
    """(connections counted, from 127.0.0.1, known to the server)."""
    return server.limits.total, server.limits.per_ip.get(LOCAL, 0), len(server.connections)


async def all_released(server: Server) -> None:
    """Every connection has given its place back, and no half-made one is left as unknown."""
    await until(lambda: counted(server) == (0, 0, 0), f"no connection is counted (now {counted(server)})")
    assert not server.limits.per_ip
    assert server.world.unregistered == 0


async def tls_client(server: Server, cert: str, name: str) -> IRCClient:
    ctx = ssl.create_default_context(cafile=cert)
    assert server.tls_port is not None
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection(server.host, server.tls_port, ssl=ctx, server_hostname="localhost"),
        DEFAULT_TIMEOUT,
    )
    return IRCClient(reader, writer, name)


async def closed_by_server(reader: asyncio.StreamReader, timeout: float = DEFAULT_TIMEOUT) -> bytes:
    """Read until the server closes the connection; what it sent (a reset counts as closed)."""
    got = b""
    try:
        while chunk := await asyncio.wait_for(reader.read(65536), timeout):
            got += chunk
    except ConnectionResetError:
        pass
    return got


def reset(writer: asyncio.StreamWriter) -> None:
    """Close with a TCP reset, as a client that crashes or loses its network does."""
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


async def test_stalled_tls_handshakes_count_against_the_address_limit(
    start_server: StartServer, connect: Connect, tls_files: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "hubbub")
    srv = await start_server(max_per_ip=2, exempt_loopback=False, tls_handshake_timeout=30.0, **tls_files)
    assert srv.tls_port is not None
    stalled = [await asyncio.open_connection(LOCAL, srv.tls_port) for _ in range(2)]
    await until(lambda: counted(srv)[:2] == (2, 2), "both stalled handshakes are counted")
    # The address is full: a plain client hears why, a third handshake is cut before it starts.
    plain = await connect(register=False, target=srv)
    rest = await plain.expect_closed()
    assert rest and rest[0].command == "ERROR"
    assert rest[0].params[0] == "Closing link: Too many connections from your address"
    reader, writer = await asyncio.open_connection(LOCAL, srv.tls_port)
    assert await closed_by_server(reader) == b""
    writer.close()
    refusals = [r for r in caplog.records if "refused" in r.getMessage()]
    assert len(refusals) == 1, "a burst of refusals is logged once"
    assert refusals[0].levelno == logging.WARNING
    assert "Too many connections from your address" in refusals[0].getMessage()
    assert LOCAL in refusals[0].getMessage()
    for _, w in stalled:
        w.close()
    await all_released(srv)
    # Places given back are places to take: a real TLS client gets in.
    secure = await tls_client(srv, tls_files["tls_cert"], "secure")
    await secure.register("secure")
    assert counted(srv)[:2] == (1, 1)


async def test_a_stalled_handshake_is_dropped_after_the_handshake_timeout(
    start_server: StartServer, tls_files: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "hubbub")
    srv = await start_server(tls_handshake_timeout=0.3, **tls_files)
    assert srv.tls_port is not None
    started = time.monotonic()
    stalled = [await asyncio.open_connection(LOCAL, srv.tls_port) for _ in range(3)]
    # Half a ClientHello: the handshake has begun and then waits for the rest, which never comes.
    stalled[0][1].write(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")
    await until(lambda: counted(srv)[0] == 3, "the handshakes are counted")
    for reader, writer in stalled:
        assert await closed_by_server(reader) == b""
        writer.close()
    assert time.monotonic() - started < 3.0
    await all_released(srv)
    timeouts = [r for r in caplog.records if "handshake" in r.getMessage()]
    assert len(timeouts) == 1, "dropped handshakes are logged once per burst"


async def test_every_way_a_connection_ends_gives_its_place_back_once(
    start_server: StartServer, connect: Connect, tls_files: dict[str, str]
) -> None:
    srv = await start_server(max_per_ip=3, exempt_loopback=False, tls_handshake_timeout=2.0, **tls_files)
    assert srv.tls_port is not None
    cert = tls_files["tls_cert"]
    # A failed handshake: plain text on the TLS port.
    reader, writer = await asyncio.open_connection(LOCAL, srv.tls_port)
    writer.write(b"NICK plain\r\nUSER u 0 * :u\r\n")
    await closed_by_server(reader)
    writer.close()
    # A reset in the middle of a handshake.
    reader, writer = await asyncio.open_connection(LOCAL, srv.tls_port)
    writer.write(b"\x16\x03\x01\x02\x00\x01\x00")
    await writer.drain()
    await until(lambda: counted(srv)[0] == 1, "the handshake is counted")
    reset(writer)
    # A normal TLS client that quits, and one that is reset once registered.
    quitter = await tls_client(srv, cert, "quitter")
    await quitter.register("quitter")
    quitter.send("QUIT :bye")
    await quitter.expect_closed()
    await quitter.close()
    crasher = await tls_client(srv, cert, "crasher")
    await crasher.register("crasher")
    reset(crasher.writer)
    # One that finishes its handshake and closes without a word, and a plain client reset.
    silent = await tls_client(srv, cert, "silent")
    await until(lambda: srv.world.unregistered == 1, "the silent client has a session")
    await silent.close()
    plain = await connect("plain", target=srv)
    reset(plain.writer)
    await all_released(srv)
    # Nothing was released twice: the limit still holds at exactly three.
    held = [await connect(f"h{i}", target=srv) for i in range(3)]
    fourth = await connect(register=False, target=srv)
    assert (await fourth.expect_closed())[0].command == "ERROR"
    for client in held:
        await client.close()
    await all_released(srv)


async def test_stopping_closes_handshakes_in_progress(
    start_server: StartServer, tls_files: dict[str, str]
) -> None:
    srv = await start_server(tls_handshake_timeout=30.0, **tls_files)
    assert srv.tls_port is not None
    reader, writer = await asyncio.open_connection(LOCAL, srv.tls_port)
    await until(lambda: counted(srv)[0] == 1, "the handshake is counted")
    started = time.monotonic()
    await asyncio.wait_for(srv.stop(), 10)
    assert time.monotonic() - started < 2.0
    assert await closed_by_server(reader) == b""
    writer.close()
    assert counted(srv) == (0, 0, 0)
