"""Benchmark of the history store: sustained commit rate and CHATHISTORY page latency.

``python -m hubbub.store.bench --messages 1000000`` fills a fresh store the way the server does
(group commits of ``--batch`` messages), then times LATEST 100 and BEFORE 100 (at random points
of the history) on it; also LATEST 1, a read's round trip. ``--json`` prints one JSON object for
the benchmark reports. ``--store postgresql://...`` measures a PostgreSQL store instead of the
SQLite file (the database should be empty: its conversations are named ``#bench<n>``).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence

from .model import MessageRef, Store, StoredMessage
from .sqlite import open_store
from .url import open_store_url

_WORDS = ("the", "quick", "brown", "fox", "jumps", "over", "a", "lazy", "dog", "while", "we", "chat")


def _msgid(i: int) -> str:
    # Time-ordered like the server's ids: a fixed-width sequence part first.
    return f"{i:012d}bench{(i * 2654435761) & 0xFFFFFF:06x}"


def _percentile(samples: Sequence[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def run_bench(
    messages: int, batch: int, targets: int, queries: int, data_dir: str, seed: int = 1, store_url: str = ""
) -> dict[str, float]:
    """Fill a store in ``data_dir`` (or at ``store_url``) and time it; returns the figures by name."""
    rng = random.Random(seed)
    keys = [f"#bench{n}" for n in range(targets)]
    store: Store = open_store_url(store_url) if store_url else open_store(data_dir)
    try:
        start_ms = int(time.time() * 1000) - messages // 10
        commit_s: list[float] = []
        commit_cpu = 0.0
        for first in range(0, messages, batch):
            chunk = []
            for i in range(first, min(first + batch, messages)):
                target = keys[i % targets]
                text = " ".join(rng.choices(_WORDS, k=10))
                chunk.append(
                    StoredMessage(
                        _msgid(i),
                        start_ms + i // 10,
                        target,
                        "PRIVMSG",
                        f"user{i % 50}!u@host",
                        (target, text),
                    )
                )
            t0, c0 = time.perf_counter(), time.thread_time()
            store.append(chunk)
            commit_s.append(time.perf_counter() - t0)
            commit_cpu += time.thread_time() - c0
        total_commit = sum(commit_s)

        hot = keys[0]
        latest_s: list[float] = []
        c0 = time.thread_time()
        for _ in range(queries):
            t0 = time.perf_counter()
            page = store.latest(hot, 100)
            latest_s.append(time.perf_counter() - t0)
        latest_cpu = time.thread_time() - c0
        assert len(page) == min(100, messages)

        # The smallest read: on PostgreSQL, about one round trip to the database.
        latest1_s: list[float] = []
        for _ in range(queries):
            t0 = time.perf_counter()
            store.latest(hot, 1)
            latest1_s.append(time.perf_counter() - t0)

        before_s: list[float] = []
        in_hot = range(0, messages, targets)
        before_cpu = 0.0
        for _ in range(queries):
            ref = MessageRef(msgid=_msgid(rng.choice(in_hot)))
            t0, c0 = time.perf_counter(), time.thread_time()
            store.before(hot, ref, 100)
            before_s.append(time.perf_counter() - t0)
            before_cpu += time.thread_time() - c0
    finally:
        store.close()
    ms = 1000.0
    return {
        "messages": messages,
        "batch": batch,
        "targets": targets,
        "commit_rate_msgs_per_s": messages / total_commit if total_commit else 0.0,
        "commit_median_ms": statistics.median(commit_s) * ms,
        "commit_p99_ms": _percentile(commit_s, 0.99) * ms,
        # CPU time of this thread: what a loaded machine's other work does not inflate.
        "commit_cpu_us_per_msg": commit_cpu / messages * 1e6,
        "latest100_cpu_ms": latest_cpu / queries * ms,
        "before100_cpu_ms": before_cpu / queries * ms,
        "latest100_median_ms": statistics.median(latest_s) * ms,
        "latest100_p99_ms": _percentile(latest_s, 0.99) * ms,
        "before100_median_ms": statistics.median(before_s) * ms,
        "before100_p99_ms": _percentile(before_s, 0.99) * ms,
        "latest1_median_ms": statistics.median(latest1_s) * ms,
        "database_mb": 0.0 if store_url else os.path.getsize(os.path.join(data_dir, "hubbub.sqlite3")) / 1e6,
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point: run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(prog="python -m hubbub.store.bench", description=__doc__)
    parser.add_argument("--messages", type=int, default=100_000, help="messages to store (default 100000)")
    parser.add_argument("--batch", type=int, default=100, help="messages per commit (default 100)")
    parser.add_argument(
        "--targets", type=int, default=1, help="conversations to spread them over (default 1)"
    )
    parser.add_argument(
        "--queries", type=int, default=1000, help="queries of each kind to time (default 1000)"
    )
    parser.add_argument("--data-dir", help="where to build the store (default: a temporary directory)")
    parser.add_argument(
        "--store", metavar="URL", default="", help="an empty PostgreSQL database to measure instead of SQLite"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    args = parser.parse_args(argv)
    if args.messages < 1 or args.batch < 1 or args.targets < 1 or args.queries < 1:
        parser.error("--messages, --batch, --targets and --queries must be positive")
    with tempfile.TemporaryDirectory(prefix="hubbub-bench-") as tmp:
        data_dir = args.data_dir or tmp
        if os.path.exists(os.path.join(data_dir, "hubbub.sqlite3")):
            parser.error(f"{data_dir} already holds a store; give an empty directory")
        result = run_bench(
            args.messages, args.batch, args.targets, args.queries, data_dir, store_url=args.store
        )
    if args.json:
        print(json.dumps(result))
        return 0
    print(
        f"stored {result['messages']:,} messages in batches of {result['batch']}"
        f" over {args.targets} target(s)"
    )
    print(
        f"commit rate      {result['commit_rate_msgs_per_s']:>12,.0f} msg/s"
        f"   (per batch: median {result['commit_median_ms']:.3f} ms, p99 {result['commit_p99_ms']:.3f} ms)"
    )
    print(f"commit CPU       {result['commit_cpu_us_per_msg']:>12.2f} us/msg")
    for name in ("latest100", "before100"):
        label = name.replace("100", " 100").upper()
        print(
            f"{label:<16} median {result[name + '_median_ms']:.3f} ms   p99 {result[name + '_p99_ms']:.3f} ms"
            f"   CPU {result[name + '_cpu_ms']:.3f} ms"
        )
    print(f"LATEST 1         median {result['latest1_median_ms']:.3f} ms")
    if not args.store:
        print(f"database size    {result['database_mb']:.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
