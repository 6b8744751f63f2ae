"""Run ``hubbub serve`` as a real process, for signal, crash and restart tests."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from pathlib import Path

READY = re.compile(rb"hubbub listening on (\S+):(\d+)")


class ServerProcess:
    """A ``python -m hubbub serve`` child process on 127.0.0.1, port 0."""

    def __init__(self, data_dir: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.data_dir = data_dir
        self.args = args
        self.env = {**os.environ, **(env or {})}
        self.proc: asyncio.subprocess.Process | None = None
        self.host = "127.0.0.1"
        self.port = 0
        self.stderr: list[bytes] = []
        self._more_stderr = asyncio.Event()

    async def start(self, timeout: float = 15) -> ServerProcess:
        """Start and wait for the ready line."""
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "hubbub",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--data-dir",
            str(self.data_dir),
            *self.args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            env=self.env,
        )
        assert self.proc.stderr is not None

        async def ready() -> None:
            assert self.proc is not None and self.proc.stderr is not None
            while True:
                line = await self.proc.stderr.readline()
                if not line:
                    raise AssertionError(
                        "server exited before it was ready: " + b"".join(self.stderr).decode()
                    )
                self.stderr.append(line)
                m = READY.search(line)
                if m:
                    self.host, self.port = m.group(1).decode(), int(m.group(2))
                    return

        await asyncio.wait_for(ready(), timeout)
        asyncio.get_running_loop().create_task(self._drain_stderr())
        return self

    async def _drain_stderr(self) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        while line := await self.proc.stderr.readline():
            self.stderr.append(line)
            self._more_stderr.set()

    async def wait_for_stderr(self, text: bytes, timeout: float = 15) -> bytes:
        """Wait until a line of the server's stderr contains ``text``; return that line."""

        async def seen() -> bytes:
            while True:
                for line in self.stderr:
                    if text in line:
                        return line
                self._more_stderr.clear()
                await self._more_stderr.wait()

        return await asyncio.wait_for(seen(), timeout)

    def signal(self, sig: signal.Signals) -> None:
        """Send ``sig`` to the server."""
        assert self.proc is not None
        self.proc.send_signal(sig)

    async def wait(self, timeout: float = 10) -> int:
        """Wait for the process to exit; return its exit code."""
        assert self.proc is not None
        return await asyncio.wait_for(self.proc.wait(), timeout)

    async def stop(self) -> None:
        """Make sure the process is gone."""
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()
