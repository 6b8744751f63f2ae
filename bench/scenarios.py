"""The scenarios: each starts workers, drives them through phases with deadlines, returns figures.

Every scenario gets a freshly started server, so one scenario's leftovers (or a crash) cannot
skew the next. Figures are plain dicts of numbers and error reasons, merged over workers here.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

from .cluster import RunningCluster, wait_members
from .load import BUCKET_NS, ClientPlan, worker_main
from .servers import RunningServer

Server = RunningServer | RunningCluster

START_DELAY_NS = 300_000_000
# At maximum rate the senders together keep about this many deliveries unacknowledged: enough to
# keep the server busy, few enough that latency measures the server rather than our own queue.
IN_FLIGHT_DELIVERIES = 20_000  # workers get the go this long before the common start


class ScenarioError(Exception):
    """A scenario could not complete (a worker died or did not answer in time)."""


@dataclass(slots=True)
class Sizes:
    """Scenario sizes; ``short()`` is ``make bench``, ``full()`` the issue's sizes."""

    idle_clients: int = 2000
    idle_channel_size: int = 10
    message_members: int = 20
    message_senders: int = 10
    message_seconds: float = 5.0
    fanout_members: int = 200
    fanout_senders: int = 5
    fanout_seconds: float = 5.0
    fanout_window: int = 0  # 0: about IN_FLIGHT_DELIVERIES / (senders x (members - 1)), at least 1
    fanout_rate: float = 20.0
    # The fixed-rate phase's offered deliveries per second (senders x rate x (members - 1)); when
    # set, each sender's rate is derived from it and fanout_rate is not used.
    fanout_deliveries: float = 0.0
    # The fan-out's channel. A store shared between trials (--cluster-store) keeps each trial's
    # history, so every trial then gets a channel of its own (bench.__main__.run_scenario).
    fanout_channel: str = "#fan"
    many_clients: int = 1000
    many_rate: float = 0.5
    many_seconds: float = 10.0
    storm_clients: int = 500
    storm_concurrency: int = 25
    history_messages: int = 100_000
    commit_members: int = 20
    commit_senders: int = 10
    commit_seconds: float = 5.0
    chathistory_clients: int = 10
    chathistory_messages: int = 10_000
    chathistory_seconds: float = 5.0
    setup_timeout: float = 60.0
    # Receivers per channel and load process of which one checks every line's sequence number
    # and latency; the others count and checksum, verified by matching a checked one (1: all).
    check_every: int = 8

    @classmethod
    def short(cls) -> Sizes:
        """The quick run behind ``make bench``."""
        return cls()

    @classmethod
    def full(cls) -> Sizes:
        """The sizes the targets are stated at."""
        return cls(
            idle_clients=10_000,
            fanout_members=1000,
            fanout_senders=10,
            fanout_seconds=10.0,
            fanout_rate=5.0,
            many_clients=10_000,
            many_seconds=20.0,
            storm_clients=2000,
            history_messages=1_000_000,
            setup_timeout=180.0,
        )


class Pool:
    """Worker processes, each with a pipe; commands go out to all, answers come back with deadlines."""

    def __init__(self, workers: int) -> None:
        ctx = mp.get_context("spawn")
        self.conns: list[Connection] = []
        self.procs: list[Any] = []
        for _ in range(workers):
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=worker_main, args=(child,), daemon=True)
            proc.start()
            child.close()
            self.conns.append(parent)
            self.procs.append(proc)

    def __len__(self) -> int:
        return len(self.conns)

    def send(self, name: str, kwargs: list[dict[str, Any]] | dict[str, Any]) -> None:
        """Send command ``name`` to every worker (one kwargs each, or the same for all)."""
        for i, conn in enumerate(self.conns):
            conn.send((name, kwargs[i] if isinstance(kwargs, list) else kwargs))

    def gather(self, name: str, timeout: float) -> list[dict[str, Any]]:
        """Every worker's answer to ``name``, or ScenarioError when one fails or is late."""
        results: dict[int, dict[str, Any]] = {}
        deadline = time.monotonic() + timeout
        while len(results) < len(self.conns):
            pending = [c for i, c in enumerate(self.conns) if i not in results]
            remaining = deadline - time.monotonic()
            ready = wait(pending, timeout=max(0.0, remaining)) if remaining > 0 else []
            if not ready:
                raise ScenarioError(f"workers did not answer '{name}' within {timeout:.0f} s")
            for conn in ready:
                assert isinstance(conn, Connection)
                try:
                    got, result = conn.recv()
                except EOFError:
                    raise ScenarioError(f"a worker died during '{name}'") from None
                if got != name:
                    raise ScenarioError(f"worker answered '{got}' to '{name}'")
                if "fatal" in result:
                    raise ScenarioError(f"worker failed in '{name}': {result['fatal']}")
                results[self.conns.index(conn)] = result
        return [results[i] for i in range(len(self.conns))]

    def call(
        self, name: str, kwargs: list[dict[str, Any]] | dict[str, Any], timeout: float
    ) -> list[dict[str, Any]]:
        """send() then gather()."""
        self.send(name, kwargs)
        return self.gather(name, timeout)

    def close(self) -> None:
        """Ask workers to QUIT their connections and exit; kill any that do not."""
        with contextlib.suppress(ScenarioError, OSError):
            self.call("quit", {}, 10.0)
        for proc in self.procs:
            proc.join(5.0)
            if proc.is_alive():
                proc.kill()
                proc.join(5.0)
        for conn in self.conns:
            conn.close()


def merge_errors(results: list[dict[str, Any]], key: str = "errors") -> dict[str, int]:
    """Sum error counts by reason over workers."""
    out: dict[str, int] = {}
    for r in results:
        for reason, n in r.get(key, {}).items():
            out[reason] = out.get(reason, 0) + n
    return out


def percentiles(hist: dict[int, int]) -> dict[str, float | None]:
    """p50, p99 and max latency in milliseconds from 10 µs buckets."""
    total = sum(hist.values())
    if not total:
        return {"p50_ms": None, "p99_ms": None, "max_ms": None}
    out: dict[str, float | None] = {}
    keys = sorted(hist)
    targets = {"p50_ms": 0.50 * total, "p99_ms": 0.99 * total}
    seen = 0
    for k in keys:
        seen += hist[k]
        for name, target in list(targets.items()):
            if seen >= target:
                out[name] = (k + 1) * BUCKET_NS / 1e6
                del targets[name]
    out["max_ms"] = (keys[-1] + 1) * BUCKET_NS / 1e6
    return out


def merge_hists(hists: Iterable[dict[int, int]]) -> dict[int, int]:
    """Sum histograms bucket by bucket."""
    out: dict[int, int] = {}
    for hist in hists:
        for k, v in hist.items():
            out[k] = out.get(k, 0) + v
    return out


def _split(clients: list[ClientPlan], workers: int) -> list[list[ClientPlan]]:
    return [clients[i::workers] for i in range(workers)]


def _setup(
    pool: Pool, server: Server, clients: list[ClientPlan], sizes: Sizes, websocket: bool = False
) -> dict[str, Any]:
    """Register and join ``clients`` spread round-robin over the workers (over the server's web
    door, one IRC line per WebSocket message, when ``websocket``)."""
    senders = [c for c in clients if c.sender]
    pool.send(
        "plan",
        {
            "sender_channel": {c.id: c.channel for c in senders},
            "sender_node": {c.id: c.node for c in senders},
        },
    )
    shares = _split(clients, len(pool))
    timeout = sizes.setup_timeout
    kwargs = [
        {
            "host": server.host,
            "port": server.web_port if websocket else server.port,
            "clients": s,
            "timeout": timeout,
            "check_every": sizes.check_every,
            "websocket": websocket,
            "ports": None if websocket else server.ports,
        }
        for s in shares
    ]
    results = pool.call("setup", kwargs, timeout + 30.0)
    return {
        "clients": len(clients),
        "ready": sum(r["ready"] for r in results),
        "setup_s": max(r["seconds"] for r in results),
        "caps": sorted({c for r in results for c in r["caps"]}),
        "errors": merge_errors(results),
    }


def settled_rss(server: Server, limit: float = 5.0) -> int:
    """Server RSS (KiB) once it stops changing by more than 1% between samples 0.5 s apart."""
    deadline = time.monotonic() + limit
    last = server.sample().rss_kib
    while time.monotonic() < deadline:
        time.sleep(0.5)  # sampling interval of a measurement, not a wait for an event
        now = server.sample().rss_kib
        if abs(now - last) <= last * 0.01:
            return now
        last = now
    return last


def idle(server: Server, sizes: Sizes, workers: int) -> dict[str, Any]:
    """N clients register and JOIN (channels of ``idle_channel_size``); RSS per connection."""
    n = sizes.idle_clients
    before = settled_rss(server, 2.0)
    clients = [ClientPlan(i, f"i{i}", f"#i{i // sizes.idle_channel_size}") for i in range(n)]
    pool = Pool(workers)
    try:
        setup = _setup(pool, server, clients, sizes)
        after = settled_rss(server) if server.alive() else 0
    finally:
        pool.close()
    ready = setup["ready"]
    return {
        **setup,
        "rss_before_kib": before,
        "rss_after_kib": after,
        "rss_per_conn_kib": (after - before) / ready if ready and after else None,
    }


def _phase(
    pool: Pool,
    server: Server,
    mode: str,
    seconds: float,
    window: int,
    rate: float,
    bases: dict[int, int],
) -> dict[str, Any]:
    """One measured sending phase: go, collect final sequence numbers, drain, merge counters."""
    start_ns = time.time_ns() + START_DELAY_NS
    pool.send("go", {"start_ns": start_ns, "duration": seconds, "mode": mode, "window": window, "rate": rate})
    time.sleep(max(0.0, (start_ns - time.time_ns()) / 1e9))  # measure CPU from the common start
    cpu0 = server.sample().cpu_us
    parts0 = server.cpu_parts()
    calls0 = server.bus_calls()
    sent = pool.gather("go", seconds + 30.0)
    finals: dict[int, int] = {}
    for r in sent:
        finals.update(r["sent"])
    spans = {sid: (bases.get(sid, 0), final) for sid, final in finals.items()}
    bases.update(finals)
    drain_timeout = 10.0
    stats = pool.call("drain", {"finals": spans, "timeout": drain_timeout}, drain_timeout + 30.0)
    sample = server.sample()
    parts = {k: v - parts0.get(k, 0) for k, v in server.cpu_parts().items()}
    calls = {k: n - calls0.get(k, 0) for k, n in server.bus_calls().items() if n > calls0.get(k, 0)}
    hist = merge_hists(r["hist"] for r in stats)
    late_hist = merge_hists(r["read_hist"] for r in stats)
    late = percentiles(late_hist)
    deliveries = sum(r["received"] - r["duplicates"] for r in stats)
    last_ns = max((r["last_ns"] for r in stats), default=0)
    elapsed = (last_ns - start_ns) / 1e9 if last_ns > start_ns else seconds
    cpu = sample.cpu_us - cpu0
    messages = sum(final - base for base, final in spans.values())
    return {
        "mode": mode,
        "seconds": seconds,
        "window": window if mode == "window" else None,
        "rate_per_sender": rate if mode == "rate" else None,
        "messages": messages,
        "expected": sum(r["expected"] for r in stats),
        "deliveries": deliveries,
        "deliveries_per_s": deliveries / elapsed if elapsed > 0 else None,
        "messages_per_s": messages / elapsed if elapsed > 0 else None,
        **percentiles(hist),
        "read_late_p99_ms": late["p99_ms"],
        "reads": sum(late_hist.values()),
        "lost": sum(r["lost"] for r in stats),
        "duplicated": sum(r["duplicates"] for r in stats),
        "reordered": sum(r["reordered"] for r in stats),
        # receivers that checked every line / matched a checked one byte for byte / neither
        "checked": sum(r["checked"] for r in stats),
        "matched": sum(r["matched"] for r in stats),
        "unverified": sum(r["unverified"] for r in stats),
        "lines": sum(r["lines"] for r in stats),
        "cpu_us": cpu,
        "cpu_us_per_delivery": cpu / deliveries if deliveries else None,
        "cpu_us_per_message": cpu / messages if messages else None,
        "cpu_share": cpu / 1e6 / elapsed if elapsed > 0 else None,
        "rss_kib": sample.rss_kib,
        **_cluster_figures(
            parts, deliveries, elapsed, merge_hists(r.get("cross_hist", {}) for r in stats), hist
        ),
        **(
            {"bus_calls": calls, "bus_calls_per_message": sum(calls.values()) / messages}
            if calls and messages
            else {}
        ),
        # Whether the load generator itself was near its limit: CPU cores its workers used.
        "generator_cores": sum(r["cpu_s"] for r in stats) / elapsed if elapsed > 0 else None,
        "connected": sum(r["connected"] for r in stats),
        "errors": merge_errors(stats),
    }


def _cluster_figures(
    parts: dict[str, int], deliveries: int, elapsed: float, cross: dict[int, int], hist: dict[int, int]
) -> dict[str, Any]:
    """A cluster's extra figures: CPU per node and of Redis, and the deliveries that crossed nodes."""
    if not parts:
        return {}
    redis = parts.get("redis", 0)
    checked = sum(hist.values())
    pct = percentiles(cross)
    return {
        "cpu_us_parts": parts,
        "redis_cpu_us_per_delivery": redis / deliveries if deliveries else None,
        "redis_cpu_share": redis / 1e6 / elapsed if elapsed > 0 else None,
        # Of the deliveries whose latency was checked: how many came from another node's sender.
        "cross_share": sum(cross.values()) / checked if checked else None,
        "cross_p50_ms": pct["p50_ms"],
        "cross_p99_ms": pct["p99_ms"],
        "cross_max_ms": pct["max_ms"],
    }


def fanout(server: Server, sizes: Sizes, workers: int) -> dict[str, Any]:
    """M members in one channel, K senders: as fast as a window allows, then at a fixed rate."""
    return _fanout(server, sizes, workers, websocket=False)


def wsfanout(server: Server, sizes: Sizes, workers: int) -> dict[str, Any]:
    """The fan-out with every member connected over WebSocket (the server's web door).

    Same sizes and phases as ``fanout``, so the two put TCP and WebSocket delivery side by side;
    a server without a web door is skipped.
    """
    if server.web_port is None:
        return {"skipped": "the server has no web door (IRC over WebSocket)"}
    return _fanout(server, sizes, workers, websocket=True)


def _fanout(server: Server, sizes: Sizes, workers: int, websocket: bool) -> dict[str, Any]:
    m, k = sizes.fanout_members, sizes.fanout_senders
    # Members, senders among them, take turns over the nodes of a cluster (one node: all on it).
    nodes = 1 if websocket else len(server.ports)
    channel = sizes.fanout_channel
    clients = [ClientPlan(i, f"f{i}", channel, sender=i < k, node=i % nodes) for i in range(m)]
    pool = Pool(workers)
    out: dict[str, Any] = {"members": m, "senders": k, "nodes": nodes}
    rate = sizes.fanout_rate
    if sizes.fanout_deliveries > 0:
        rate = sizes.fanout_deliveries / (k * max(1, m - 1))
    try:
        out["setup"] = setup = _setup(pool, server, clients, sizes, websocket)
        if nodes > 1:
            try:
                setup["settle_s"] = wait_members(server.host, server.ports, channel, setup["ready"], 30.0)
            except (OSError, TimeoutError) as exc:
                raise ScenarioError(f"the nodes did not all learn the channel's members: {exc}") from None
        bases: dict[int, int] = {}
        window = sizes.fanout_window or max(1, IN_FLIGHT_DELIVERIES // (k * max(1, m - 1)))
        out["max"] = _phase(pool, server, "window", sizes.fanout_seconds, window, 0.0, bases)
        out["fixed"] = _phase(pool, server, "rate", sizes.fanout_seconds, 0, rate, bases)
        out["fixed"]["offered_deliveries_per_s"] = rate * k * max(0, m - 1)
    finally:
        pool.close()
    return out


def message(server: Server, sizes: Sizes, workers: int) -> dict[str, Any]:
    """What one channel message costs: M members in one channel, K of them sending at max rate.

    A small channel keeps the per-delivery work (a write to each member) from hiding the per-message
    work (parsing, checks, stamping, recording): server CPU is reported per message sent.
    """
    m, k = sizes.message_members, sizes.message_senders
    clients = [ClientPlan(i, f"p{i}", "#msg", sender=i < k) for i in range(m)]
    pool = Pool(workers)
    out: dict[str, Any] = {"members": m, "senders": k}
    try:
        out["setup"] = _setup(pool, server, clients, sizes)
        window = sizes.fanout_window or max(1, IN_FLIGHT_DELIVERIES // (k * max(1, m - 1)))
        out["max"] = _phase(pool, server, "window", sizes.message_seconds, window, 0.0, {})
    finally:
        pool.close()
    return out


def many(server: Server, sizes: Sizes, workers: int) -> dict[str, Any]:
    """C clients in channels of 10, every one chatting at a fixed rate."""
    c = sizes.many_clients
    clients = [ClientPlan(i, f"m{i}", f"#m{i // 10}", sender=True) for i in range(c)]
    pool = Pool(workers)
    out: dict[str, Any] = {"clients": c, "channels": (c + 9) // 10}
    try:
        out["setup"] = _setup(pool, server, clients, sizes)
        out["chat"] = _phase(pool, server, "rate", sizes.many_seconds, 0, sizes.many_rate, {})
    finally:
        pool.close()
    return out


def storm(server: Server, sizes: Sizes, workers: int) -> dict[str, Any]:
    """Connect, register (wait for 001), QUIT, as fast as the server lets us."""
    n = sizes.storm_clients
    nicks = [f"s{i}" for i in range(n)]
    pool = Pool(workers)
    try:
        shares = [nicks[i :: len(pool)] for i in range(len(pool))]
        kwargs = [
            {
                "host": server.host,
                "port": server.port,
                "nicks": share,
                "concurrency": sizes.storm_concurrency,
                "timeout": sizes.setup_timeout,
            }
            for share in shares
        ]
        cpu0 = server.sample().cpu_us
        results = pool.call("storm", kwargs, sizes.setup_timeout + 30.0)
        cpu = server.sample().cpu_us - cpu0
    finally:
        pool.close()
    ok = sum(r["ok"] for r in results)
    seconds = max(r["seconds"] for r in results)
    return {
        "clients": n,
        "registered": ok,
        "seconds": seconds,
        "registrations_per_s": ok / seconds if seconds > 0 else None,
        "cpu_us_per_registration": cpu / ok if ok else None,
        "errors": merge_errors(results),
    }


def stored_messages(server: Server, target: str) -> int | None:
    """Messages the server's history store holds for ``target``; None for a server without one.

    Read from hubbub's database file in the server's data directory (a second reader, which
    SQLite's write-ahead log lets run beside the server). For a cluster, the first node's.
    """
    one = server.nodes[0] if isinstance(server, RunningCluster) else server
    path = Path(one.data_dir.name) / "hubbub.sqlite3"
    if not path.exists():
        return None
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10.0)
        try:
            (count,) = db.execute("SELECT count(*) FROM messages WHERE target = ?", (target,)).fetchone()
        finally:
            db.close()
    except sqlite3.Error:
        return None
    return int(count)


def commit(server: Server, sizes: Sizes, workers: int) -> dict[str, Any]:
    """History end to end: the per-message load (M members, K senders at max rate), and how many
    messages per second the server committed to its store, counted in the store afterwards.

    Every message a member receives from hubbub was committed first (DESIGN.md principle 5), so
    the count of stored rows over the phase is the rate at which history was written while
    members were served. A server without a history store commits nothing: its figure is "—".
    """
    m, k = sizes.commit_members, sizes.commit_senders
    channel = "#commit"
    clients = [ClientPlan(i, f"c{i}", channel, sender=i < k) for i in range(m)]
    pool = Pool(workers)
    out: dict[str, Any] = {"members": m, "senders": k}
    try:
        out["setup"] = _setup(pool, server, clients, sizes)
        before = stored_messages(server, channel)
        window = sizes.fanout_window or max(1, IN_FLIGHT_DELIVERIES // (k * max(1, m - 1)))
        phase = out["max"] = _phase(pool, server, "window", sizes.commit_seconds, window, 0.0, {})
        after = stored_messages(server, channel)
    finally:
        pool.close()
    if before is not None and after is not None:
        stored = after - before
        phase["stored"] = stored
        seconds = phase["messages"] / phase["messages_per_s"] if phase.get("messages_per_s") else None
        phase["stored_per_s"] = stored / seconds if seconds else None
    return out


HISTORY_CAPS = ("batch", "draft/chathistory")


def chathistory(server: Server, sizes: Sizes, workers: int) -> dict[str, Any]:
    """CHATHISTORY: a channel filled with N messages, then C clients asking in a loop, one request
    at a time each: LATEST 100 for a phase, then BEFORE 100 at random msgids of the channel.

    Server CPU per request and requests per second; a server that does not offer
    draft/chathistory is skipped (its figures are "—").
    """
    c, n = sizes.chathistory_clients, sizes.chathistory_messages
    channel = "#chathistory"
    clients = [ClientPlan(i, f"h{i}", channel, caps=HISTORY_CAPS) for i in range(c)]
    pool = Pool(workers)
    out: dict[str, Any] = {"clients": c}
    timeout = sizes.setup_timeout
    try:
        setup = out["setup"] = _setup(pool, server, clients, sizes)
        if "draft/chathistory" not in setup["caps"]:
            out["skipped"] = "the server does not offer draft/chathistory"
            return out
        pool.call("history_reads", {}, 30.0)
        fills = pool.call(
            "prefill",
            [{"channel": channel, "count": n if i == 0 else 0, "timeout": timeout} for i in range(len(pool))],
            timeout + 30.0,
        )
        msgids = [m for r in fills for m in r["msgids"]]
        out["prefill"] = {"messages": len(msgids), "seconds": max(r["seconds"] for r in fills)}
        stored = stored_messages(server, channel)
        if stored is not None:
            out["prefill"]["stored"] = stored
        for kind in ("LATEST", "BEFORE"):
            out[kind.lower()] = _ask_phase(pool, server, sizes, channel, kind, msgids[100:])
    finally:
        pool.close()
    return out


def _ask_phase(
    pool: Pool, server: Server, sizes: Sizes, channel: str, kind: str, msgids: list[str]
) -> dict[str, Any]:
    """One measured CHATHISTORY phase: every client asks ``kind`` in a loop; merge the counts."""
    seconds = sizes.chathistory_seconds
    start_ns = time.time_ns() + START_DELAY_NS
    kwargs = {
        "start_ns": start_ns,
        "duration": seconds,
        "channel": channel,
        "kind": kind,
        "msgids": msgids,
        "timeout": 10.0,
    }
    pool.send("ask", kwargs)
    time.sleep(max(0.0, (start_ns - time.time_ns()) / 1e9))  # measure CPU from the common start
    cpu0 = server.sample().cpu_us
    results = pool.gather("ask", seconds + 30.0)
    cpu = server.sample().cpu_us - cpu0
    requests = sum(r["requests"] for r in results)
    elapsed = max(r["seconds"] for r in results)
    hist = merge_hists(r["hist"] for r in results)
    return {
        "kind": kind,
        "requests": requests,
        "lines": sum(r["lines"] for r in results),
        "requests_per_s": requests / elapsed if elapsed > 0 else None,
        "cpu_us": cpu,
        "cpu_ms_per_request": cpu / requests / 1000 if requests else None,
        "cpu_share": cpu / 1e6 / elapsed if elapsed > 0 else None,
        "generator_cores": sum(r["cpu_s"] for r in results) / elapsed if elapsed > 0 else None,
        **percentiles(hist),
        "errors": merge_errors(results),
    }


SCENARIOS = {
    "idle": idle,
    "message": message,
    "fanout": fanout,
    "wsfanout": wsfanout,
    "many": many,
    "storm": storm,
    "commit": commit,
    "chathistory": chathistory,
}
