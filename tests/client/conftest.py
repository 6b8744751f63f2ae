"""Fixtures for driver tests: real IRC servers (miniircd and hubbub) as subprocesses on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import shutil
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

_READY = {
    "miniircd": re.compile(rb"Listening on port (\d+)"),
    "hubbub": re.compile(rb"hubbub listening on [\d.]+:(\d+)"),
}
START_TIMEOUT = 15.0


class ServerProcess:
    """An IRC server in a subprocess: started, killed and restarted on the same port and data dir."""

    def __init__(self, kind: str, data_dir: Path) -> None:
        self.kind = kind
        self.data_dir = data_dir
        self.port = 0
        self.process: asyncio.subprocess.Process | None = None
        self.output: list[bytes] = []
        self._drain: asyncio.Task[None] | None = None

    def _command(self) -> list[str]:
        if self.kind == "hubbub":
            return [
                sys.executable,
                "-m",
                "hubbub",
                "serve",
                "--port",
                str(self.port),
                "--data-dir",
                str(self.data_dir),
                "--no-flood-control",
            ]
        miniircd = shutil.which("miniircd") or str(Path(sys.executable).parent / "miniircd")
        # miniircd cannot pick a free port itself; a port from the OS is free at this moment.
        command = [sys.executable, miniircd, "--listen", "127.0.0.1", "--ports", str(self.port), "--verbose"]
        if os.geteuid() == 0:
            command += ["--setuid", "root"]  # it refuses to run as root otherwise
        return command

    async def start(self) -> None:
        """Start the server and wait (with a deadline) for its "listening" line."""
        if self.kind == "miniircd" and not self.port:
            self.port = _free_port()
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.process = await asyncio.create_subprocess_exec(
            *self._command(),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env=env,
        )
        assert self.process.stdout is not None
        ready = _READY[self.kind]

        async def until_ready() -> int:
            assert self.process is not None and self.process.stdout is not None
            while True:
                line = await self.process.stdout.readline()
                if not line:
                    raise RuntimeError(
                        f"{self.kind} exited: {b''.join(self.output).decode(errors='replace')}"
                    )
                self.output.append(line)
                found = ready.search(line)
                if found:
                    return int(found.group(1))

        self.port = await asyncio.wait_for(until_ready(), START_TIMEOUT)
        self._drain = asyncio.create_task(self._drain_output())

    async def _drain_output(self) -> None:
        # Keep reading so a chatty server never blocks on a full pipe.
        assert self.process is not None and self.process.stdout is not None
        while line := await self.process.stdout.readline():
            self.output.append(line)

    async def kill(self) -> None:
        """Kill the server at once (SIGKILL), as a crash would."""
        if self.process is not None and self.process.returncode is None:
            self.process.kill()
            await asyncio.wait_for(self.process.wait(), 10)
        if self._drain is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._drain, 5)

    async def stop(self) -> None:
        """Stop the server gracefully (SIGTERM), killing it if it does not exit in time."""
        if self.process is not None and self.process.returncode is None:
            self.process.terminate()
            try:
                await asyncio.wait_for(self.process.wait(), 10)
            except TimeoutError:
                await self.kill()
        if self._drain is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._drain, 5)


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


StartServer = Callable[[str], Awaitable[ServerProcess]]


@pytest.fixture
async def start_server(tmp_path: Path) -> AsyncIterator[StartServer]:
    """Start a server of the named kind (``"miniircd"`` or ``"hubbub"``); all stop after the test."""
    servers: list[ServerProcess] = []

    async def start(kind: str) -> ServerProcess:
        server = ServerProcess(kind, tmp_path / f"{kind}-data-{len(servers)}")
        await server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server.stop()


@pytest.fixture(params=["miniircd", "hubbub"])
async def irc_server(request: pytest.FixtureRequest, start_server: StartServer) -> ServerProcess:
    """Each driver test runs against miniircd (no IRCv3) and against hubbub's own server."""
    return await start_server(request.param)


@pytest.fixture
async def hubbub_server(start_server: StartServer) -> ServerProcess:
    """hubbub's server, for tests of IRCv3 features."""
    return await start_server("hubbub")


@pytest.fixture(autouse=True)
def client_transcript(caplog: pytest.LogCaptureFixture) -> None:
    """Capture the client's line transcript (DEBUG logs) so a failing test shows it."""
    caplog.set_level(logging.DEBUG, logger="hubbub.client")
