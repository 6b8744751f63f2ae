"""The receivers' checks: every lost, duplicated and reordered delivery is counted."""

from __future__ import annotations

import asyncio
import socket
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


def _receivers(worker: Worker, checked: list[bool]) -> list[Link]:
    links = []
    for i, check in enumerate(checked):
        link = Link(worker, ClientPlan(10 + i, f"f{10 + i}", "#fan"))
        link.fast = True
        link.checked = check
        worker.links.append(link)
        links.append(link)
    return links


async def test_unchecked_receivers_share_the_verdict_of_a_checked_one_with_the_same_stream() -> None:
    worker = Worker(None, asyncio.get_running_loop())  # type: ignore[arg-type]
    worker.sender_channel = {7: "#fan"}
    checked, same, other = _receivers(worker, [True, False, False])
    stream = b"".join(_line(7, s, tags=True) for s in (1, 2, 4, 3, 5))
    checked.data_received(stream)
    # The same bytes in other reads, with a PING and a late JOIN that only this one got.
    same.data_received(stream[:70])
    same.data_received(stream[70:] + b"PING :x\r\n:f99!f@127.0.0.1 JOIN #fan\r\n")
    # A stream that matches nobody's: 3 never came and 5 came twice.
    other.data_received(b"".join(_line(7, s, tags=True) for s in (1, 2, 4, 5, 5)))
    report = await worker.cmd_drain({7: (0, 5)}, timeout=0.0)
    assert (report["checked"], report["matched"], report["unverified"]) == (1, 1, 1)
    # checked and same: one reordered each; other: counted by lines only, 5 of 5 expected.
    assert report["reordered"] == 2
    assert report["lost"] == 0
    assert report["duplicates"] == 0
    assert report["received"] == 15
    assert sum(report["hist"].values()) == 5  # only checked receivers time their deliveries


async def test_an_unverified_receiver_with_a_short_stream_counts_the_shortfall_as_lost() -> None:
    worker = Worker(None, asyncio.get_running_loop())  # type: ignore[arg-type]
    worker.sender_channel = {7: "#fan"}
    checked, short = _receivers(worker, [True, False])
    checked.data_received(b"".join(_line(7, s) for s in (1, 2, 3)))
    short.data_received(_line(7, 1))
    report = await worker.cmd_drain({7: (0, 3)}, timeout=0.0)
    assert (report["lost"], report["duplicates"], report["unverified"]) == (2, 0, 1)


async def test_latency_is_taken_from_the_kernel_arrival_stamp_not_the_read() -> None:
    loop = asyncio.get_running_loop()
    accepted: asyncio.Future[socket.socket] = loop.create_future()
    listener = socket.create_server(("127.0.0.1", 0))
    listener.setblocking(False)
    loop.add_reader(listener.fileno(), lambda: accepted.done() or accepted.set_result(listener.accept()[0]))
    worker = Worker(None, loop)  # type: ignore[arg-type]
    worker.sender_channel = {7: "#fan"}
    link = Link(worker, ClientPlan(1, "f1", "#fan"))
    worker.links.append(link)
    try:
        await loop.create_connection(lambda: link, *listener.getsockname())
        peer = await asyncio.wait_for(accepted, 5)
        link.ready()
        assert link.sock is not None
        before = time.time_ns()
        peer.sendall(_line(7, 1))
        after = time.time_ns()  # the loop cannot read before this coroutine yields
        deadline = loop.time() + 5
        while not worker.tally.lines and loop.time() < deadline:
            await asyncio.sleep(0.001)  # polling a counter updated by the reader callback
        assert worker.tally.lines == 1
        assert before <= worker.tally.last_ns <= after
        assert sum(worker.tally.read_hist.values()) == 1
    finally:
        loop.remove_reader(listener.fileno())
        link.closing = True
        link.stop_raw()
        if link.transport is not None:
            link.transport.close()
        listener.close()
        if accepted.done():
            accepted.result().close()


def test_percentiles_come_from_the_histogram_buckets() -> None:
    hist = {0: 50, 9: 49, 99: 1}  # 10 µs buckets
    p = percentiles(hist)
    assert p == {"p50_ms": 0.01, "p99_ms": 0.1, "max_ms": 1.0}
    assert percentiles({})["p50_ms"] is None


async def test_fixed_rate_senders_are_spread_evenly_over_the_period() -> None:
    """Open loop at a fixed rate: sender i of n starts i/n of a period late, and none sends more
    or fewer than rate x duration messages."""
    loop = asyncio.get_running_loop()
    worker = Worker(None, loop)  # type: ignore[arg-type]
    worker.sender_channel = {0: "#fan", 1: "#fan"}
    sent: dict[int, list[tuple[float, bytes]]] = {0: [], 1: []}

    class Recorder(asyncio.Transport):
        def __init__(self, sid: int) -> None:
            super().__init__()
            self.sid = sid

        def write(self, data: bytes | bytearray | memoryview) -> None:
            sent[self.sid].append((loop.time(), bytes(data)))

        def is_closing(self) -> bool:
            return False

    senders = []
    for sid in (0, 1):
        link = Link(worker, ClientPlan(sid, f"f{sid}", "#fan", sender=True))
        link.transport = Recorder(sid)
        worker.seq[sid] = 0
        senders.append(link)
    start = loop.time() + 0.05
    await worker.paced_senders(senders, 10.0, start, start + 0.3)  # a period of 100 ms

    for sid in (0, 1):
        lines = b"".join(data for _, data in sent[sid]).splitlines()
        assert lines == [
            b"PRIVMSG #fan :%d %d " % (sid, seq) + line.split()[-1] for seq, line in enumerate(lines, 1)
        ]
        assert len(lines) == 3
    # The median over the periods, so that one late wake-up of a busy machine cannot decide.
    gaps = sorted(b[0] - a[0] for a, b in zip(sent[0], sent[1], strict=False))
    offset = gaps[len(gaps) // 2]
    assert 0.03 <= offset <= 0.07, (
        f"the second sender should start half a period (50 ms) later: {offset:.3f} s"
    )


async def test_a_websocket_client_refused_by_a_server_that_is_no_web_door_fails_its_setup_cleanly() -> None:
    """A WebSocket member sent to a plain IRC port gets an IRC line, not a 101: its setup fails
    with a counted error within the deadline, never a hang."""

    async def irc_only(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1024)  # the HTTP upgrade request
        writer.write(b":srv NOTICE * :this is an IRC port\r\nERROR :Closing link\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(irc_only, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        worker = Worker(None, asyncio.get_running_loop())  # type: ignore[arg-type]
        plans = [ClientPlan(i, f"w{i}", "#fan") for i in range(3)]
        result = await worker.cmd_setup("127.0.0.1", port, plans, timeout=5.0, websocket=True)
    finally:
        server.close()
        await server.wait_closed()
    assert result["ready"] == 0
    assert sum(result["errors"].values()) == 3, result["errors"]
    assert all(reason.startswith("setup: ") for reason in result["errors"]), result["errors"]
