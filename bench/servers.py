"""Servers under test: start one on a free loopback port, read its RSS and CPU, stop it.

A server is described by a name and a command line. The process is started directly (no shell)
so that its pid is the server's pid; CPU and memory are summed over the process and any children
it forks, read from ``/proc`` (Linux only).
"""

from __future__ import annotations

import os
import re
import resource
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
READY_TIMEOUT = 20.0
STOP_TIMEOUT = 5.0
REPO_ROOT = Path(__file__).resolve().parent.parent
_LISTENING = re.compile(r"listening on [^\s:]+:(\d+)")


def raise_nofile_limit() -> int:
    """Raise the soft limit on open files to the hard limit; return the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on right now (the kernel's choice for port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def venv_bin(name: str) -> str:
    """The path of a console script installed next to the running interpreter."""
    return str(Path(sys.executable).parent / name)


@dataclass(slots=True)
class ServerSpec:
    """How to start one server: ``command`` may contain ``{port}`` and ``{data_dir}``.

    ``port_from_stderr`` means the server picks its own port (``--port 0``) and announces it on
    stderr as ``... listening on HOST:PORT``; otherwise we choose a free port and wait until it
    accepts connections.
    """

    name: str
    command: str
    port_from_stderr: bool = False
    env: dict[str, str] = field(default_factory=dict)


def builtin_specs() -> dict[str, ServerSpec]:
    """The servers the benchmark knows by name."""
    hubbub = (
        f"{shlex.quote(venv_bin('hubbub'))} serve --host 127.0.0.1 --port 0 "
        "--data-dir {data_dir} --no-flood-control"
    )
    miniircd_args = "--listen 127.0.0.1 --ports {port}"
    if os.geteuid() == 0:
        # miniircd refuses to run as root unless told to stay root explicitly.
        miniircd_args += " --setuid root"
    miniircd = f"{shlex.quote(venv_bin('miniircd'))} {miniircd_args}"
    nodelay = f"{shlex.quote(sys.executable)} -m bench.nodelay {miniircd_args}"
    return {
        # The checkout on PYTHONPATH makes the server import this tree's hubbub even when its
        # editable install resolves the package differently from the server's working directory.
        "hubbub": ServerSpec("hubbub", hubbub, port_from_stderr=True, env={"PYTHONPATH": str(REPO_ROOT)}),
        "miniircd": ServerSpec("miniircd", miniircd),
        "miniircd-nodelay": ServerSpec("miniircd-nodelay", nodelay, env={"PYTHONPATH": str(REPO_ROOT)}),
    }


@dataclass(slots=True)
class ProcessSample:
    """CPU time (microseconds, user + system) and resident memory (KiB) of a process tree."""

    cpu_us: int
    rss_kib: int
    pids: int


def _children(pid: int) -> list[int]:
    """Direct and indirect children of ``pid`` (by scanning /proc)."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2 :].split()
        parents.setdefault(int(fields[1]), []).append(int(entry))
    found: list[int] = []
    todo = [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def sample_process(pid: int) -> ProcessSample:
    """utime+stime from /proc/PID/stat and VmRSS from /proc/PID/status, summed over the tree."""
    cpu_ticks = 0
    rss = 0
    count = 0
    for p in [pid, *_children(pid)]:
        try:
            with open(f"/proc/{p}/stat", "rb") as f:
                stat = f.read()
            with open(f"/proc/{p}/status", "rb") as f:
                status = f.read()
        except OSError:
            continue
        # Fields after the command name (which may contain spaces) start at field 3 (state).
        fields = stat[stat.rfind(b")") + 2 :].split()
        cpu_ticks += int(fields[11]) + int(fields[12])  # utime, stime
        m = re.search(rb"VmRSS:\s+(\d+) kB", status)
        if m:
            rss += int(m.group(1))
        count += 1
    return ProcessSample(cpu_us=cpu_ticks * 1_000_000 // CLOCK_TICKS, rss_kib=rss, pids=count)


def _raise_limits_in_child() -> None:
    """Runs in the server process before exec: lift its open-file limit to the hard limit."""
    raise_nofile_limit()


def wait_accepting(host: str, port: int, deadline: float, alive: Callable[[], bool]) -> None:
    """Poll until something accepts TCP connections on (host, port), or raise at the deadline."""
    while True:
        if not alive():
            raise RuntimeError("server exited before accepting connections")
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing accepted connections on {host}:{port}") from None
            time.sleep(0.05)  # polling a port until a deadline; there is nothing to wait on


@dataclass(slots=True)
class RunningServer:
    """A started server: its process, the port it listens on, and its scratch directory."""

    spec: ServerSpec
    process: subprocess.Popen[bytes]
    host: str
    port: int
    data_dir: tempfile.TemporaryDirectory[str]
    stderr_path: Path
    notes: list[str] = field(default_factory=list)

    @property
    def pid(self) -> int:
        """The server's process id."""
        return self.process.pid

    def alive(self) -> bool:
        """Whether the server process is still running."""
        return self.process.poll() is None

    def sample(self) -> ProcessSample:
        """Current CPU time and RSS of the server's process tree."""
        return sample_process(self.pid)

    def stderr_tail(self, limit: int = 2000) -> str:
        """The end of what the server wrote to stderr, for error reports."""
        try:
            return self.stderr_path.read_text(errors="replace")[-limit:]
        except OSError:
            return ""

    def stop(self) -> int | None:
        """SIGTERM, wait up to 5 s, then SIGKILL; return the exit code."""
        if self.alive():
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.notes.append(f"did not stop within {STOP_TIMEOUT:.0f} s of SIGTERM; killed")
                self.process.kill()
                self.process.wait(STOP_TIMEOUT)
        code = self.process.returncode
        self.data_dir.cleanup()
        return code


def start_server(spec: ServerSpec, host: str = "127.0.0.1") -> RunningServer:
    """Start ``spec`` on a loopback port and return once it accepts connections."""
    data_dir = tempfile.TemporaryDirectory(prefix=f"bench-{spec.name}-")
    port = 0 if spec.port_from_stderr else free_port(host)
    argv = [a.format(port=port, data_dir=data_dir.name) for a in shlex.split(spec.command)]
    stderr_path = Path(data_dir.name) / "stderr.log"
    stderr_file = open(stderr_path, "wb")  # noqa: SIM115 - the child keeps it; closed below
    try:
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr_file,
            cwd=data_dir.name,
            env={**os.environ, **spec.env} if spec.env else None,
            preexec_fn=_raise_limits_in_child,
        )
    finally:
        stderr_file.close()
    server = RunningServer(spec, process, host, port, data_dir, stderr_path)
    deadline = time.monotonic() + READY_TIMEOUT
    try:
        if spec.port_from_stderr:
            server.port = _port_from_stderr(server, deadline)
        wait_accepting(host, server.port, deadline, server.alive)
    except BaseException:
        server.stop()
        raise
    return server


def _port_from_stderr(server: RunningServer, deadline: float) -> int:
    """Read the server's stderr log until it announces its port, or raise at the deadline."""
    while True:
        match = _LISTENING.search(server.stderr_tail(1_000_000))
        if match:
            return int(match.group(1))
        if not server.alive():
            raise RuntimeError(f"{server.spec.name} exited: {server.stderr_tail()}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{server.spec.name} did not announce its port: {server.stderr_tail()}")
        time.sleep(0.05)  # polling a log file until a deadline
