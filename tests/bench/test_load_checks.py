"""The receivers' checks: every lost, duplicated and reordered delivery is counted."""

from __future__ import annotations

import asyncio
import time

from bench.load import ClientPlan, Link, Worker
from bench.scenarios import percentiles


def _line(sender: int, seq: int, tags: bool = False) -> bytes:
    prefix = b"@time=2024-01-01T00:00:00.000Z;msgid=x " if tags else b""
    return prefix + b":f%d!f@127.0.0.1 PRIVMSG #fan :%d %d %d\r\n" % (sender, sender, seq, time.time_ns())


async def test_receiver_counts_duplicates_reordering_and_losses() -> None:
    worker = Worker(None, asyncio.get_running_loop())  # type: ignore[arg-type]
    worker.sender_channel = {7: "#fan"}
    link = Link(worker, ClientPlan(1, "f1", "#fan"))
    link.fast = True
    worker.links.append(link)
    stream = b"".join(_line(7, s, tags=s % 2 == 0) for s in (1, 2, 4, 3, 3, 6))
    # Split mid-line to exercise reassembly across reads.
    link.data_received(stream[:50])
    link.data_received(stream[50:])
    report = await worker.cmd_drain({7: (0, 8)}, timeout=0.0)
    assert report["received"] == 6
    assert report["duplicates"] == 1  # the second 3
    assert report["reordered"] == 1  # 3 after 4
    assert report["lost"] == 3  # 5 skipped, 7 and 8 never came
    assert report["lines"] == 6
    assert sum(report["hist"].values()) == 6


async def test_receiver_answers_server_pings_on_the_fast_path() -> None:
    worker = Worker(None, asyncio.get_running_loop())  # type: ignore[arg-type]
    link = Link(worker, ClientPlan(1, "f1", "#fan"))
    link.fast = True
    written: list[bytes] = []

    class Recorder(asyncio.Transport):
        def write(self, data: bytes | bytearray | memoryview) -> None:
            written.append(bytes(data))

        def is_closing(self) -> bool:
            return False

    link.transport = Recorder()
    link.data_received(_line(7, 1) + b"PING :abc\r\n:srv PING :def\r\n")
    assert written == [b"PONG :abc\r\n", b"PONG :def\r\n"]


def test_percentiles_come_from_the_histogram_buckets() -> None:
    hist = {0: 50, 9: 49, 99: 1}  # 10 µs buckets
    p = percentiles(hist)
    assert p == {"p50_ms": 0.01, "p99_ms": 0.1, "max_ms": 1.0}
    assert percentiles({})["p50_ms"] is None
