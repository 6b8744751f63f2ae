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
import shutil
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
CLUSTER = "hubbub-cluster"  # the server kind of ``python -m bench --cluster``
CLUSTER_NODES = 3
_LISTENING = re.compile(r"listening on [^\s:]+:(\d+)")
_WEB = re.compile(r"hubbub web on https?://\S+:(\d+)/")


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
    """How to start one server: ``command`` may contain ``{port}``, ``{data_dir}`` and ``{config}``.

    ``port_from_stderr`` means the server picks its own port (``--port 0``) and announces it on
    stderr as ``... listening on HOST:PORT``; otherwise we choose a free port and wait until it
    accepts connections. ``config``, when set, is a configuration file's text (with the same
    placeholders) written into the run's scratch directory; ``{config}`` is its path. ``install``
    is the command that installs the server's binary, for the error when it is missing.
    """

    name: str
    command: str
    port_from_stderr: bool = False
    env: dict[str, str] = field(default_factory=dict)
    config: str = ""
    install: str = ""
    web_from_stderr: bool = False  # also a web door (``--web-port 0``), announced as ``web on URL``
    # A cluster (bench/cluster.py): this many nodes of ``command`` (with ``{cluster}`` and
    # ``{node}`` filled in) on a Redis of their own; 0 is one server.
    nodes: int = 0

    def missing(self) -> str | None:
        """A one-line reason this server cannot start here (its binary is missing), or None."""
        how = f"; install it with `{self.install}`" if self.install else ""
        argv0 = shlex.split(self.command)[0]
        if not shutil.which(argv0):
            return f"{self.name}: {argv0} not found{how}"
        if self.nodes and not shutil.which("redis-server"):
            return f"{self.name}: redis-server not found{how}"
        return None


def _fill(template: str, **values: str) -> str:
    """``template`` with each ``{key}`` replaced (configuration files may contain other braces)."""
    for key, value in values.items():
        template = template.replace("{" + key + "}", value)
    return template


def _system_binary(name: str) -> str:
    """The path of a Debian-installed daemon (in /usr/sbin, often not on a user's PATH), else ``name``."""
    return (
        shutil.which(name, path=os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])) or name
    )


# ngIRCd 26 (Debian's ngircd): penalties off (MaxPenaltyTime = 0, so no command is delayed), no
# connection, per-IP or channel-count limits, no DNS/IDENT/PAM, pings rare enough not to matter.
# Started as root it switches to "nobody" by itself (it refuses to keep running as root).
NGIRCD_CONF = """\
[Global]
\tName = bench.ngircd
\tInfo = hubbub benchmark peer
\tAdminInfo1 = hubbub benchmark
\tAdminInfo2 = loopback only
\tAdminEMail = bench@localhost
\tListen = 127.0.0.1
\tPorts = {port}
\tMotdPhrase = bench
[Limits]
\tMaxConnections = 0
\tMaxConnectionsIP = 0
\tMaxJoins = 0
\tMaxNickLength = 30
\tMaxPenaltyTime = 0
\tPingTimeout = 600
\tPongTimeout = 600
[Options]
\tDNS = no
\tIdent = no
\tPAM = no
"""

# InspIRCd 3 (Debian's inspircd), core modules only: one connect class with flood control off
# (fakelag off, a command rate of a million per second and a penalty threshold that never trips),
# send and receive queues of 1 GiB so no client is throttled or dropped for its queue, no per-IP,
# class or channel-count limits, no DNS or ident lookups, pings rare enough not to matter.
INSPIRCD_CONF = """\
<server name="bench.inspircd" description="hubbub benchmark peer" network="bench">
<admin name="bench" nick="bench" email="bench@localhost">
<bind address="127.0.0.1" port="{port}" type="clients">
<connect name="bench" allow="*" maxchans="1000" timeout="60" pingfreq="600"
         hardsendq="1G" softsendq="1G" recvq="1G"
         threshold="4000000" commandrate="1000000000" fakelag="no"
         localmax="1000000" globalmax="1000000" maxconnwarn="no" limit="1000000"
         resolvehostnames="no" useident="no">
<performance clonesonconnect="no" softlimit="1000000">
"""


# Run by a hubbub server's interpreter: where its hot path's module comes from (a ``.py`` file, or
# an extension module of the compiled build, setup.py).
_BUILD_PROBE = "import hubbub.server.delivery as d; print(d.__file__)"


def _hubbub_python(command: str) -> str | None:
    """The interpreter that runs a hubbub server's command line, or None if it is another server."""
    argv = shlex.split(command)
    if not argv:
        return None
    name = os.path.basename(argv[0])
    if name.startswith("python") and argv[1:3] == ["-m", "hubbub"]:
        return argv[0]
    if name != "hubbub":
        return None
    script = shutil.which(argv[0])
    if script is None:
        return None
    try:
        with open(script, "rb") as f:
            first = f.readline().decode(errors="replace").strip()
    except OSError:
        return None
    # A console script starts with ``#!<its virtualenv's python>``.
    return first[2:].strip() if first.startswith("#!") else None


def hubbub_build(command: str, env: dict[str, str] | None = None) -> str | None:
    """``"compiled"`` or ``"pure"``: which build of hubbub ``command`` runs; None if it is not hubbub.

    Asks the command's own interpreter, with the server's environment and from a directory
    holding no source, what it imports, as the server will (``"unknown"`` if that fails).
    """
    python = _hubbub_python(command)
    if python is None:
        return None
    with tempfile.TemporaryDirectory(prefix="hubbub-probe-") as cwd:
        try:
            done = subprocess.run(
                [python, "-c", _BUILD_PROBE],
                env={**os.environ, **(env or {})},
                cwd=cwd,
                capture_output=True,
                text=True,
                timeout=60,
            )
        except (OSError, subprocess.TimeoutExpired):
            return "unknown"
    path = done.stdout.strip()
    if done.returncode != 0 or not path:
        return "unknown"
    return "pure" if path.endswith(".py") else "compiled"


def builtin_specs() -> dict[str, ServerSpec]:
    """The servers the benchmark knows by name."""
    hubbub = (
        f"{shlex.quote(venv_bin('hubbub'))} serve --host 127.0.0.1 --port 0 "
        "--web-port 0 --data-dir {data_dir} --no-flood-control"
    )
    miniircd_args = "--listen 127.0.0.1 --ports {port}"
    if os.geteuid() == 0:
        # miniircd refuses to run as root unless told to stay root explicitly.
        miniircd_args += " --setuid root"
    miniircd = f"{shlex.quote(venv_bin('miniircd'))} {miniircd_args}"
    nodelay = f"{shlex.quote(sys.executable)} -m bench.nodelay {miniircd_args}"
    ngircd = f"{shlex.quote(_system_binary('ngircd'))} --nodaemon --config {{config}}"
    inspircd = f"{shlex.quote(_system_binary('inspircd'))} --nofork --nopid --nolog --config {{config}}"
    if os.geteuid() == 0:
        inspircd += " --runasroot"  # InspIRCd refuses root unless told
    # The checkout on PYTHONPATH makes the server import this tree's hubbub even when its
    # editable install resolves the package differently from the server's working directory; but
    # a virtualenv with the compiled build installed (`make compiled`) runs that build.
    hubbub_env = {} if hubbub_build(hubbub) == "compiled" else {"PYTHONPATH": str(REPO_ROOT)}
    # Each node of a cluster: its own data directory (SQLite) unless --cluster-store gives one.
    node = (
        f"{shlex.quote(venv_bin('hubbub'))} serve --host 127.0.0.1 --port 0 "
        "--data-dir {data_dir} --no-flood-control --cluster {cluster} --node-name {node}"
    )
    return {
        "hubbub": ServerSpec("hubbub", hubbub, port_from_stderr=True, env=hubbub_env, web_from_stderr=True),
        CLUSTER: ServerSpec(
            CLUSTER,
            node,
            port_from_stderr=True,
            env=hubbub_env,
            install="apt-get install redis-server",
            nodes=CLUSTER_NODES,
        ),
        "miniircd": ServerSpec("miniircd", miniircd, install="pip install -e '.[bench]'"),
        "miniircd-nodelay": ServerSpec("miniircd-nodelay", nodelay, env={"PYTHONPATH": str(REPO_ROOT)}),
        "ngircd": ServerSpec("ngircd", ngircd, config=NGIRCD_CONF, install="apt-get install ngircd"),
        "inspircd": ServerSpec(
            "inspircd", inspircd, config=INSPIRCD_CONF, install="apt-get install inspircd"
        ),
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
    web_port: int | None = None  # the web door's port (IRC over WebSocket), if the server has one

    @property
    def pid(self) -> int:
        """The server's process id."""
        return self.process.pid

    @property
    def ports(self) -> list[int]:
        """The ports clients may connect to: this server's one (a cluster has one per node)."""
        return [self.port]

    def pids(self) -> dict[str, int]:
        """The processes to profile, by label (a cluster labels its nodes)."""
        return {"": self.pid}

    def cpu_parts(self) -> dict[str, int]:
        """CPU time (µs) per process of a cluster (nodes and Redis); a single server has none."""
        return {}

    def bus_calls(self) -> dict[str, int]:
        """Calls of each command of a cluster's Redis so far; a single server has no bus."""
        return {}

    def exit_code(self) -> int | None:
        """The exit code of the server once it exited."""
        return self.process.returncode

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
    config_path = Path(data_dir.name) / f"{spec.name}.conf"
    if spec.config:
        config_path.write_text(_fill(spec.config, port=str(port), data_dir=data_dir.name))
    fill = {"port": str(port), "data_dir": data_dir.name, "config": str(config_path)}
    argv = [_fill(a, **fill) for a in shlex.split(spec.command)]
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
        if spec.web_from_stderr:
            server.web_port = _port_from_stderr(server, deadline, _WEB)
        wait_accepting(host, server.port, deadline, server.alive)
    except BaseException:
        server.stop()
        raise
    return server


def _port_from_stderr(server: RunningServer, deadline: float, pattern: re.Pattern[str] = _LISTENING) -> int:
    """Read the server's stderr log until it announces its port, or raise at the deadline."""
    while True:
        match = pattern.search(server.stderr_tail(1_000_000))
        if match:
            return int(match.group(1))
        if not server.alive():
            raise RuntimeError(f"{server.spec.name} exited: {server.stderr_tail()}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{server.spec.name} did not announce its port: {server.stderr_tail()}")
        time.sleep(0.05)  # polling a log file until a deadline
