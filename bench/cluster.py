"""A cluster of hubbub nodes for ``python -m bench --cluster``: a Redis of its own and N nodes.

Each node is ``hubbub serve --cluster redis://... --node-name nK`` with its own data directory (or
the ``--store URL`` given with ``--cluster-store``), started like any server of the benchmark; the
Redis is a private ``redis-server`` in a temporary directory (bench/services.py), stopped with the
nodes. A :class:`RunningCluster` looks to the scenarios like one server with several ports: CPU
is summed over the node processes, and Redis's CPU is reported apart (``cpu_parts``).
"""

from __future__ import annotations

import contextlib
import re
import shlex
import socket
import time
from dataclasses import dataclass, field, replace

from .servers import ProcessSample, RunningServer, ServerSpec, _fill, sample_process, start_server
from .services import RedisServer

PROBE_POLL = 0.05  # seconds between two LIST requests while the nodes learn the members
_LIST_COUNT = re.compile(rb" 322 \S+ (\S+) (\d+)")
_CMDSTAT = re.compile(rb"cmdstat_([a-z|]+):calls=(\d+)")


def _recv_line(sock: socket.socket) -> bytes:
    """One CRLF-ended line from ``sock``, read a byte at a time (the reply's length header)."""
    line = b""
    while not line.endswith(b"\r\n"):
        byte = sock.recv(1)
        if not byte:
            break
        line += byte
    return line


@dataclass(slots=True)
class RunningCluster:
    """Started nodes on one started Redis; the first node stands for the cluster where one port is asked."""

    spec: ServerSpec
    redis: RedisServer
    nodes: list[RunningServer]
    notes: list[str] = field(default_factory=list)
    web_port: int | None = None  # the nodes open no web door

    @property
    def host(self) -> str:
        """The nodes' address (loopback)."""
        return self.nodes[0].host

    @property
    def port(self) -> int:
        """The first node's port."""
        return self.nodes[0].port

    @property
    def ports(self) -> list[int]:
        """Every node's port, in node order."""
        return [node.port for node in self.nodes]

    @property
    def pid(self) -> int:
        """The first node's process id."""
        return self.nodes[0].pid

    def pids(self) -> dict[str, int]:
        """Every node's process id, labelled ``node1`` ... (the profiles to record)."""
        return {f"node{i + 1}": node.pid for i, node in enumerate(self.nodes)}

    def alive(self) -> bool:
        """Whether every node and the Redis are still running."""
        return self.redis.running and all(node.alive() for node in self.nodes)

    def exit_code(self) -> int | None:
        """The exit code of the first node that exited (or Redis's)."""
        for node in self.nodes:
            if not node.alive():
                return node.exit_code()
        return self.redis.proc.returncode if self.redis.proc is not None else None

    def sample(self) -> ProcessSample:
        """CPU time and RSS summed over the node processes (Redis is in ``cpu_parts``)."""
        samples = [node.sample() for node in self.nodes]
        return ProcessSample(
            cpu_us=sum(s.cpu_us for s in samples),
            rss_kib=sum(s.rss_kib for s in samples),
            pids=sum(s.pids for s in samples),
        )

    def cpu_parts(self) -> dict[str, int]:
        """CPU time (µs) of each node and of Redis."""
        parts = {label: sample_process(pid).cpu_us for label, pid in self.pids().items()}
        if self.redis.proc is not None:
            parts["redis"] = sample_process(self.redis.proc.pid).cpu_us
        return parts

    def bus_calls(self) -> dict[str, int]:
        """Calls of each Redis command so far (``INFO commandstats``); empty if Redis does not answer."""
        try:
            with socket.create_connection(("127.0.0.1", self.redis.port), timeout=2.0) as sock:
                sock.sendall(b"INFO commandstats\r\n")
                head = _recv_line(sock)
                if not head.startswith(b"$"):
                    return {}
                size = int(head[1:])
                body = b""
                while len(body) < size + 2:
                    chunk = sock.recv(65536)
                    if not chunk:
                        return {}
                    body += chunk
        except (OSError, ValueError):
            return {}
        # Our own INFO is not the nodes' work.
        return {name.decode(): int(calls) for name, calls in _CMDSTAT.findall(body) if name != b"info"}

    def stderr_tail(self, limit: int = 2000) -> str:
        """The end of each node's stderr (the nodes that exited first), for error reports."""
        dead = [n for n in self.nodes if not n.alive()] or self.nodes
        share = max(200, limit // len(dead))
        return "\n".join(f"[{n.spec.name}] {n.stderr_tail(share)}" for n in dead)

    def stop(self) -> int | None:
        """Stop every node (SIGTERM, as a single server), then Redis; the first non-zero exit code."""
        codes = []
        for node in self.nodes:
            codes.append(node.stop())
            self.notes += [f"{node.spec.name}: {note}" for note in node.notes]
        self.redis.close()
        return next((c for c in codes if c), codes[0] if codes else None)


def node_spec(spec: ServerSpec, index: int, url: str, store: str = "") -> ServerSpec:
    """The command of node ``index`` (from 1) of ``spec`` on the Redis at ``url``."""
    name = f"n{index}"
    command = _fill(spec.command, cluster=url, node=name)
    if store:
        command += f" --store {shlex.quote(store)}"
    return replace(spec, name=f"{spec.name}-{name}", command=command, nodes=0)


def start_cluster(spec: ServerSpec, store: str = "") -> RunningCluster:
    """Start a Redis, then ``spec.nodes`` nodes on it; each accepts connections when this returns."""
    redis = RedisServer()
    nodes: list[RunningServer] = []
    try:
        redis.start()
        for i in range(spec.nodes):
            nodes.append(start_server(node_spec(spec, i + 1, redis.url, store)))
    except BaseException:
        for node in nodes:
            node.stop()
        redis.close()
        raise
    return RunningCluster(spec, redis, nodes)


def _read_until(sock: socket.socket, pattern: re.Pattern[bytes], deadline: float) -> re.Match[bytes]:
    """Read from ``sock`` (answering PINGs) until ``pattern`` matches what arrived, or time out."""
    data = b""
    while True:
        match = pattern.search(data)
        if match:
            return match
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"no {pattern.pattern!r} from the node in time")
        sock.settimeout(remaining)
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("the node closed the probe's connection")
        for token in re.findall(rb"(?m)^PING :?(\S*)", chunk):
            sock.sendall(b"PONG :%s\r\n" % token)
        data += chunk


def members_seen(host: str, port: int, nick: str, channel: str, want: int, deadline: float) -> int:
    """Ask one node (LIST) how many members ``channel`` has until it is ``want``; return the last count.

    A node learns of another node's members through the bus, a little after their JOINs were
    answered: a phase started before every node knows every member would lose messages.
    """
    with socket.create_connection((host, port), timeout=5.0) as sock:
        sock.sendall(b"NICK %s\r\nUSER probe 0 * :bench probe\r\n" % nick.encode())
        _read_until(sock, re.compile(rb" 001 "), deadline)
        count = 0
        while True:
            sock.sendall(b"LIST %s\r\n" % channel.encode())
            end = _read_until(sock, re.compile(rb" 323 [^\n]*\n"), deadline)
            counts = [
                int(n) for name, n in _LIST_COUNT.findall(end.string) if name.lower() == channel.encode()
            ]
            count = counts[-1] if counts else 0
            if count >= want or time.monotonic() + PROBE_POLL > deadline:
                with contextlib.suppress(OSError):
                    sock.sendall(b"QUIT :probe done\r\n")
                return count
            time.sleep(PROBE_POLL)  # polling a count the nodes update from the bus, until a deadline


def wait_members(host: str, ports: list[int], channel: str, want: int, timeout: float) -> float:
    """Wait until every node counts ``want`` members in ``channel``; return the seconds it took."""
    started = time.monotonic()
    deadline = started + timeout
    for i, port in enumerate(ports):
        count = members_seen(host, port, f"benchprobe{i + 1}", channel, want, deadline)
        if count < want:
            raise TimeoutError(
                f"node {i + 1} counted {count} of {want} members of {channel} after {timeout:.0f} s"
            )
    return time.monotonic() - started
