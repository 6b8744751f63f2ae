"""Run an IRC server as a real process (``hubbub serve``, or miniircd for comparison).

Every hubbub process started during a test is remembered; at the end of the test its stderr is
checked for tracebacks and ERROR lines (tests/conftest.py), unless the test declares them.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import signal
import socket
import sys
from pathlib import Path

READY = {
    "hubbub": re.compile(rb"hubbub listening on (\S+):(\d+)"),
    "miniircd": re.compile(rb"Listening on port (\d+)"),
}
# ``hubbub serve`` logs as "<date> <time> LEVEL logger: message" (hubbub.server.serve_command).
ERROR_LINE = re.compile(rb"^\S+ \S+ (?:ERROR|CRITICAL) ")

started: list[ServerProcess] = []
"""The processes started during the current test (reset by tests/conftest.py)."""


class ServerProcess:
    """A server child process on 127.0.0.1; port 0 at first, the same port again on a restart."""

    def __init__(
        self,
        data_dir: Path,
        *args: str,
        env: dict[str, str] | None = None,
        kind: str = "hubbub",
        nofile: tuple[int, int] | None = None,
    ) -> None:
        self.kind = kind
        # (soft, hard) limits on open files for the process, as ``prlimit --nofile`` would set.
        self.nofile = nofile
        self.data_dir = data_dir
        self.args = args
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        self.proc: asyncio.subprocess.Process | None = None
        self.host = "127.0.0.1"
        self.port = 0
        self.stderr: list[bytes] = []  # every line of every run, in order
        self._more_stderr = asyncio.Event()
        self._drain: asyncio.Task[None] | None = None

    def _command(self) -> list[str]:
        if self.kind == "hubbub":
            # With ``nofile``, a small Python sets the limits and then becomes the server (exec),
            # as ``prlimit --nofile=S:H hubbub serve`` would; no preexec_fn in a threaded parent.
            limited = (
                [
                    sys.executable,
                    "-c",
                    "import os, resource, sys; "
                    f"resource.setrlimit(resource.RLIMIT_NOFILE, {self.nofile!r}); "
                    "os.execv(sys.executable, sys.argv[1:])",
                ]
                if self.nofile is not None
                else []
            )
            return [
                *limited,
                sys.executable,
                "-m",
                "hubbub",
                "serve",
                "--host",
                self.host,
                "--port",
                str(self.port),
                "--data-dir",
                str(self.data_dir),
                *self.args,
            ]
        miniircd = shutil.which("miniircd") or str(Path(sys.executable).parent / "miniircd")
        # miniircd cannot pick a free port itself; a port from the OS is free at this moment.
        command = [sys.executable, miniircd, "--listen", self.host, "--ports", str(self.port), "--verbose"]
        if os.geteuid() == 0:
            command += ["--setuid", "root"]  # it refuses to run as root otherwise
        return command

    async def start(self, timeout: float = 15) -> ServerProcess:
        """Start (or restart, on the same port and data directory) and wait for the ready line."""
        if self.kind == "miniircd" and not self.port:
            self.port = _free_port()
        self.proc = await asyncio.create_subprocess_exec(
            *self._command(),
            stdin=asyncio.subprocess.DEVNULL,
            # hubbub logs to stderr only; miniircd says where it listens on stdout.
            stdout=asyncio.subprocess.DEVNULL if self.kind == "hubbub" else asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE if self.kind == "hubbub" else asyncio.subprocess.STDOUT,
            env=self.env,
        )
        started.append(self)
        ready = READY[self.kind]

        async def until_ready() -> None:
            while True:
                line = await self._output().readline()
                if not line:
                    raise AssertionError(
                        f"{self.kind} exited before it was ready: " + b"".join(self.stderr).decode()
                    )
                self.stderr.append(line)
                m = ready.search(line)
                if m:
                    self.port = int(m.group(m.lastindex or 1))
                    return

        await asyncio.wait_for(until_ready(), timeout)
        self._drain = asyncio.get_running_loop().create_task(self._drain_stderr())
        return self

    @property
    def pid(self) -> int:
        """The process id of the running server."""
        assert self.proc is not None
        return self.proc.pid

    def _output(self) -> asyncio.StreamReader:
        assert self.proc is not None
        stream = self.proc.stderr if self.kind == "hubbub" else self.proc.stdout
        assert stream is not None
        return stream

    async def _drain_stderr(self) -> None:
        # Keep reading so a chatty server never blocks on a full pipe.
        output = self._output()
        while line := await output.readline():
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
        """Wait for the process to exit (and its output to be read); return its exit code."""
        assert self.proc is not None
        code = await asyncio.wait_for(self.proc.wait(), timeout)
        await self._drained()
        return code

    async def kill(self) -> None:
        """Kill the server at once (SIGKILL), as a crash would."""
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
            await asyncio.wait_for(self.proc.wait(), 10)
        await self._drained()

    async def terminate(self, timeout: float = 10) -> None:
        """Stop the server gracefully (SIGTERM), killing it if it does not exit in time."""
        if self.proc is not None and self.proc.returncode is None:
            self.proc.terminate()
            try:
                await asyncio.wait_for(self.proc.wait(), timeout)
            except TimeoutError:
                await self.kill()
        await self._drained()

    async def stop(self) -> None:
        """Make sure the process is gone (killed if it still runs)."""
        await self.kill()

    async def _drained(self) -> None:
        if self._drain is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._drain, 5)

    def problems(self) -> list[str]:
        """Tracebacks and ERROR lines in the server's stderr, each as one text."""
        if self.kind != "hubbub":
            return []
        found: list[str] = []
        lines = [line.decode(errors="replace").rstrip("\n") for line in self.stderr]
        i = 0
        after_error = False  # a traceback right after an ERROR line belongs to it (log.exception)
        while i < len(lines):
            line = lines[i]
            if line.startswith("Traceback"):
                block = [line]
                i += 1
                # The frames are indented; the exception's own line ends the block.
                while i < len(lines) and (lines[i].startswith(" ") or not lines[i].strip()):
                    block.append(lines[i])
                    i += 1
                if i < len(lines):
                    block.append(lines[i])
                    i += 1
                if after_error:
                    found[-1] += "\n" + "\n".join(block)
                else:
                    found.append("\n".join(block))
                after_error = False
                continue
            after_error = bool(ERROR_LINE.match(line.encode()))
            if after_error:
                found.append(line)
            i += 1
        return found


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
