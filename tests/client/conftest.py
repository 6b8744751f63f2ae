"""Fixtures for driver tests: real IRC servers (miniircd and hubbub) as subprocesses on 127.0.0.1."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from tests.support.serverproc import ServerProcess


async def _start(kind: str, tmp_path: Path, processes: list[ServerProcess]) -> ServerProcess:
    args = ("--no-flood-control",) if kind == "hubbub" else ()
    server = ServerProcess(tmp_path / f"{kind}-data", *args, kind=kind)
    processes.append(server)
    return await server.start()


@pytest.fixture(params=["miniircd", "hubbub"])
async def irc_server(
    request: pytest.FixtureRequest, tmp_path: Path, processes: list[ServerProcess]
) -> ServerProcess:
    """Each driver test runs against miniircd (no IRCv3) and against hubbub's own server."""
    return await _start(request.param, tmp_path, processes)


@pytest.fixture
async def hubbub_server(tmp_path: Path, processes: list[ServerProcess]) -> ServerProcess:
    """hubbub's server, for tests of IRCv3 features."""
    return await _start("hubbub", tmp_path, processes)


@pytest.fixture(autouse=True)
def client_transcript(caplog: pytest.LogCaptureFixture) -> None:
    """Capture the client's line transcript (DEBUG logs) so a failing test shows it."""
    caplog.set_level(logging.DEBUG, logger="hubbub.client")
