"""Real PostgreSQL and Redis servers, each in a temporary directory on a loopback port.

The tests start them through fixtures (tests/support/services.py re-exports these classes) and the
benchmark starts a Redis for its cluster of nodes (``python -m bench --cluster``).

The servers are Debian's own binaries (``postgresql``, ``redis-server``; ``.ci/run`` installs
them). PostgreSQL refuses to run as root, and CI runs as root, so under root both servers run as
the unprivileged ``nobody`` (their directory is chowned to it). Each server keeps its port and its
data across ``stop()``/``kill()`` and ``start()``, so a test can make it unreachable and bring it
back: what a node of a cluster sees when the database restarts or its machine dies.

``freeze()``/``thaw()`` stop and continue it without closing anything: a database that stops
answering. Every wait polls with a deadline; a server that does not come up fails with the tail
of its log.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

DEADLINE = 30.0
"""Seconds a server has to start or stop (initdb and a crash recovery on a busy machine)."""

POLL = 0.02

UNPRIVILEGED_USER = "nobody"
"""Who runs the servers when the tests run as root (PostgreSQL will not run as root)."""


class ServiceMissing(Exception):
    """A server's binaries are not installed; the message names the Debian package."""


def _free_port() -> int:
    # A port the kernel just handed out and we released: free unless someone races us for it.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _run_as() -> dict[str, object]:
    """Popen arguments that drop root to the unprivileged user (nothing when not root)."""
    if os.geteuid() != 0:
        return {}
    entry = pwd.getpwnam(UNPRIVILEGED_USER)
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}


def _give_away(path: Path) -> None:
    """Let the unprivileged user own ``path`` (when we are root; else it is ours already)."""
    if os.geteuid() == 0:
        entry = pwd.getpwnam(UNPRIVILEGED_USER)
        os.chown(path, entry.pw_uid, entry.pw_gid)


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def postgres_bin_dir() -> Path:
    """The newest ``/usr/lib/postgresql/<version>/bin`` holding ``initdb`` and ``postgres``."""
    found = []
    for bin_dir in Path("/usr/lib/postgresql").glob("*/bin"):
        if (bin_dir / "initdb").exists() and (bin_dir / "postgres").exists():
            with contextlib.suppress(ValueError):
                found.append((float(bin_dir.parent.name), bin_dir))
    if not found:
        raise ServiceMissing("PostgreSQL is not installed (apt-get install postgresql)")
    return max(found)[1]


class _Service:
    """A server child process in its own session, so a kill takes every process it forked."""

    name = "service"

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix=f"hubbub-{self.name}-"))
        _give_away(self.dir)
        self.port = _free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = self.dir / "server.log"

    def _command(self) -> list[str]:
        raise NotImplementedError

    def _ready(self) -> bool:
        raise NotImplementedError

    @property
    def running(self) -> bool:
        """Whether the server process is alive (it may not accept connections yet)."""
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> None:
        """Start the server on its port and data, and wait until it accepts connections."""
        if self.running:
            return
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                self._command(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                cwd=self.dir,
                start_new_session=True,
                **_run_as(),  # type: ignore[arg-type]
            )
        deadline = time.monotonic() + DEADLINE
        while not self._ready():
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n{_tail(self.log)}")
            if time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(f"{self.name} did not start in {DEADLINE} s:\n{_tail(self.log)}")
            time.sleep(POLL)

    def _wait_gone(self) -> None:
        assert self.proc is not None
        try:
            self.proc.wait(DEADLINE)
        except subprocess.TimeoutExpired:
            self.kill()
            raise RuntimeError(f"{self.name} did not stop in {DEADLINE} s:\n{_tail(self.log)}") from None
        # Its forked children (PostgreSQL's backends) left with it: wait until the port is free.
        deadline = time.monotonic() + DEADLINE
        while self._port_open():
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.name}'s port {self.port} is still open after it stopped")
            time.sleep(POLL)

    def _port_open(self) -> bool:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.settimeout(1.0)
            return sock.connect_ex(("127.0.0.1", self.port)) == 0

    def stop(self) -> None:
        """Stop the server cleanly (data kept) and wait until it is gone."""
        if not self.running:
            return
        assert self.proc is not None
        self.proc.send_signal(self._stop_signal)
        self._signal_family(signal.SIGCONT)  # a frozen one must run to stop
        self._wait_gone()

    _stop_signal = signal.SIGTERM

    def _family(self) -> list[int]:
        """The server's process and the processes it forked (PostgreSQL's backends each make a
        session of their own, so its process group is not enough), from /proc."""
        assert self.proc is not None
        family = [self.proc.pid]
        for stat in Path("/proc").glob("[0-9]*/stat"):
            with contextlib.suppress(OSError, ValueError, IndexError):
                # "pid (comm) state ppid ...": the command may hold spaces, so split after it.
                if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == self.proc.pid:
                    family.append(int(stat.parent.name))
        return family

    def _signal_family(self, signum: int) -> list[int]:
        family = self._family()
        for pid in family:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)
        return family

    def kill(self) -> None:
        """SIGKILL the server and everything it forked, as a machine that lost power."""
        if self.proc is None or self.proc.returncode is not None:
            return
        family = self._signal_family(signal.SIGKILL)  # a frozen one dies too
        self._wait_gone()
        deadline = time.monotonic() + DEADLINE
        while any(Path(f"/proc/{pid}").exists() for pid in family[1:]):
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.name}'s processes outlived a SIGKILL")
            time.sleep(POLL)

    def freeze(self) -> None:
        """SIGSTOP the server and everything it forked: connections stay open, nothing answers
        (a database whose machine stalls, or a network that drops every packet)."""
        if self.running:
            self._signal_family(signal.SIGSTOP)

    def thaw(self) -> None:
        """SIGCONT what :meth:`freeze` stopped."""
        if self.running:
            self._signal_family(signal.SIGCONT)

    def restart(self) -> None:
        """Stop, then start again on the same port with the same data."""
        self.stop()
        self.start()

    def close(self) -> None:
        """Kill the server and remove its directory."""
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


class PostgresServer(_Service):
    """A private PostgreSQL cluster: trust auth on 127.0.0.1 only, fsync on, sockets in its dir.

    ``url`` names the cluster's default database; ``new_database()`` makes an empty one for a
    test and ``drop_database()`` removes it.
    """

    name = "postgresql"
    user = "hubbub"
    _stop_signal = signal.SIGINT  # "fast" shutdown: roll back open transactions, then stop
    _numbers = itertools.count(1)

    def __init__(self) -> None:
        self.bin = postgres_bin_dir()
        super().__init__()
        self.data = self.dir / "data"
        self.sockets = self.dir / "sockets"
        self.sockets.mkdir()
        _give_away(self.sockets)
        subprocess.run(
            [
                str(self.bin / "initdb"),
                "--pgdata",
                str(self.data),
                "--username",
                self.user,
                "--auth",
                "trust",
                "--encoding",
                "UTF8",
                "--locale",
                "C",
                "--no-instructions",
            ],
            cwd=self.dir,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            check=True,
            timeout=DEADLINE * 4,
            **_run_as(),  # type: ignore[arg-type]
        )

    def _command(self) -> list[str]:
        settings = {
            "listen_addresses": "127.0.0.1",
            "port": str(self.port),
            "unix_socket_directories": str(self.sockets),
            "fsync": "on",  # durability is what the store's tests check
            "synchronous_commit": "on",
            "max_connections": "200",
            "logging_collector": "off",
        }
        args = [str(self.bin / "postgres"), "-D", str(self.data)]
        for key, value in settings.items():
            args += ["-c", f"{key}={value}"]
        return args

    def _ready(self) -> bool:
        result = subprocess.run(
            [str(self.bin / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(self.port), "-t", "1"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=False,
        )
        return result.returncode == 0

    def url_for(self, database: str) -> str:
        """The URL of ``database`` on this server."""
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{database}"

    @property
    def url(self) -> str:
        """The URL of the cluster's default database (``postgres``)."""
        return self.url_for("postgres")

    def sql(self, statement: str, database: str = "postgres") -> str:
        """Run one SQL statement through ``psql`` and return its unaligned output."""
        result = subprocess.run(
            [
                str(self.bin / "psql"),
                "-X",
                "-q",
                "-A",
                "-t",
                "-v",
                "ON_ERROR_STOP=1",
                "-d",
                self.url_for(database),
                "-c",
                statement,
            ],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            check=False,
            timeout=DEADLINE,
        )
        if result.returncode != 0:
            raise RuntimeError(f"psql failed on {statement!r}: {result.stderr.decode(errors='replace')}")
        return result.stdout.decode()

    def new_database(self) -> str:
        """Create an empty database and return its URL."""
        name = f"test_{os.getpid()}_{next(self._numbers)}"
        self.sql(f"CREATE DATABASE {name}")
        return self.url_for(name)

    def drop_database(self, url: str) -> None:
        """Drop the database ``url`` names, disconnecting whoever is still in it."""
        name = url.rsplit("/", 1)[1]
        if self.running:
            self.sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


class RedisServer(_Service):
    """A private Redis on 127.0.0.1 with no persistence; ``url`` is ``redis://127.0.0.1:PORT/0``."""

    name = "redis"

    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise ServiceMissing("Redis is not installed (apt-get install redis-server)")
        self.binary = binary
        super().__init__()

    def _command(self) -> list[str]:
        return [
            self.binary,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.dir),
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
            "--protected-mode",
            "yes",
        ]

    def _ready(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1.0) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    @property
    def url(self) -> str:
        """The server's URL for redis-py (``redis.asyncio.from_url``)."""
        return f"redis://127.0.0.1:{self.port}/0"
