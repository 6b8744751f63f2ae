"""``python -m bench.memory``: where an idle registered connection's memory goes, with no sockets.

A real :class:`~hubbub.server.app.Server` (its store a SQLite file in a scratch directory) gets
``--clients`` connections whose transports are in memory (``bench.session``); they register as
the load generator does (``CAP LS 302``, NICK, USER, ``CAP REQ`` of ``message-tags server-time
echo-message``, ``CAP END``) and join channels of ``--channel-size``, as in the idle scenario of
``python -m bench``. With :mod:`tracemalloc` on, the figure is the Python heap still held per
connection once every client has joined, and the lines that allocated it, largest first.

This is the server's own part of the idle scenario's RSS: the bench's figure adds the real
socket transports (asyncio's or uvloop's) and the allocator's slack.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import linecache
import tempfile
import tracemalloc
from typing import Any

from hubbub.server.app import Server
from hubbub.server.config import Settings
from hubbub.server.connection import Connection

from .session import Transport, Waiter, wait_for

CAPS = "message-tags server-time echo-message"


async def run(clients: int, channel_size: int, top: int, frames: int) -> dict[str, Any]:
    """Register and join ``clients`` connections; the heap they hold, grouped by allocating line."""
    with tempfile.TemporaryDirectory(prefix="hubbub-bench-") as data_dir:
        settings = Settings(host="127.0.0.1", port=0, data_dir=data_dir, flood_control=False).validate()
        server = Server(settings)
        await server.start()
        try:
            waiter = Waiter()
            transports: list[Transport] = []
            # Warm up with one client that registers, joins and leaves, so that caches filled once
            # per process (formatted constants, the store's statements) are not charged to the rest.
            await _register(server, -1, "#warm", waiter).__anext__()
            gc.collect()
            tracemalloc.start(frames)
            before = tracemalloc.take_snapshot()
            for i in range(clients):
                t = await _register(server, i, f"#i{i // channel_size}", waiter).__anext__()
                t.keep = False
                t.tail = b""
                transports.append(t)
            await wait_for(lambda: True)
            gc.collect()
            after = tracemalloc.take_snapshot()
            tracemalloc.stop()
        finally:
            await server.stop()
    key = "traceback" if frames > 1 else "lineno"
    stats = after.compare_to(before, key)
    total = sum(s.size_diff for s in stats)
    rows = []
    for s in stats[:top]:
        where = [f"{f.filename.split('/hubbub/')[-1]}:{f.lineno}" for f in s.traceback]
        frame = s.traceback[0]
        rows.append(
            {
                "bytes_per_conn": s.size_diff / clients,
                "blocks_per_conn": s.count_diff / clients,
                "where": " < ".join(where),
                "code": linecache.getline(frame.filename, frame.lineno).strip(),
            }
        )
    return {"clients": clients, "bytes_per_conn": total / clients, "top": rows}


async def _register(server: Server, i: int, channel: str, waiter: Waiter) -> Any:
    conn = Connection(server)
    t = Transport(conn, 40000 + i if i >= 0 else 39999, waiter)
    conn.connection_made(t)  # type: ignore[arg-type]
    nick = f"i{i}" if i >= 0 else "warm"
    conn.data_received(f"CAP LS 302\r\nNICK {nick}\r\nUSER {nick} 0 * :bench\r\n".encode())
    await wait_for(lambda: b"CAP * LS" in t.tail)
    conn.data_received(f"CAP REQ :{CAPS}\r\nCAP END\r\n".encode())
    await wait_for(lambda: b" 001 " in t.tail)
    conn.data_received(f"JOIN {channel}\r\n".encode())
    await wait_for(lambda: b" 366 " in t.tail)
    if i < 0:
        conn.data_received(b"QUIT\r\n")
        await wait_for(lambda: conn.closed)
    yield t


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.memory", description=__doc__.split("\n")[0])
    p.add_argument("--clients", type=int, default=10_000)
    p.add_argument("--channel-size", type=int, default=10)
    p.add_argument("--top", type=int, default=25, help="allocating lines (or tracebacks) to list")
    p.add_argument("--frames", type=int, default=1, help="frames per traceback (1: group by line)")
    args = p.parse_args(argv)
    result = asyncio.run(run(args.clients, args.channel_size, args.top, args.frames))
    print(f"{result['clients']} clients: {result['bytes_per_conn']:,.0f} bytes of Python heap per connection")
    print("| bytes/conn | blocks/conn | where | code |\n|---:|---:|---|---|")
    for row in result["top"]:
        size, blocks = row["bytes_per_conn"], row["blocks_per_conn"]
        print(f"| {size:,.0f} | {blocks:.2f} | {row['where']} | `{row['code']}` |")


if __name__ == "__main__":
    main()
