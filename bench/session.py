"""``python -m bench.session``: what one channel message costs inside the server, with no sockets.

A real :class:`~hubbub.server.app.Server` (its store a SQLite file in a scratch directory) gets
``--members`` connections whose transports are in memory; they register with the capabilities the
load generator asks for (``message-tags server-time echo-message``) and join one channel. Then
``--senders`` of them send ``--rounds`` rounds of ``--batch`` PRIVMSGs each, fed to their
connections as one read per sender per round, and the next round starts when every member has
received every message of the round. So each message goes the whole way a socket's would (parse,
dispatch, stamp, record, commit on the writer thread, format per view, queue, flush) but for the
kernel's ``send()``, and the figure is the process's CPU time per message.

``--profile FILE`` runs the measured part under cProfile and writes its statistics to FILE (read
them with ``python -m pstats FILE``) and prints the top functions.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import json
import pstats
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any

from hubbub.server.app import Server
from hubbub.server.config import Settings
from hubbub.server.connection import Connection

CAPS = "message-tags server-time echo-message"


class Transport:
    """Enough of an ``asyncio.Transport`` for a Connection; it notes when a round's last line came.

    It looks only at the end of each write (the bytes of every line are counted, not searched),
    so that the measured CPU is the server's, not this harness's.
    """

    def __init__(self, protocol: Connection, port: int, waiter: Waiter) -> None:
        self.protocol = protocol
        self.port = port
        self.waiter = waiter
        self.tail = b""  # everything written, during setup
        self.keep = True  # keep everything written (during setup), or only count bytes
        self.size = 0  # bytes written since setup

    def write(self, data: bytes) -> None:
        if self.keep:
            self.tail += data
            return
        self.size += len(data)
        if data.endswith(self.waiter.last_line):
            self.waiter.member_done()

    def writelines(self, chunks: list[bytes]) -> None:
        for chunk in chunks:
            self.write(chunk)

    def get_write_buffer_size(self) -> int:
        return 0

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        pass

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def can_write_eof(self) -> bool:
        return False

    def close(self) -> None:
        pass

    def abort(self) -> None:
        pass

    def is_closing(self) -> bool:
        return False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        if name == "peername":
            return ("127.0.0.1", self.port)
        if name == "sockname":
            return ("127.0.0.1", 6667)
        return default


@dataclass(slots=True)
class Waiter:
    """Wakes the driver when every member has been written the round's last line."""

    last_line: bytes = b"\0"  # what the last line of a round ends with
    members: int = 0
    done: int = 0
    event: asyncio.Event = field(default_factory=asyncio.Event)

    def member_done(self) -> None:
        self.done += 1
        if self.done >= self.members:
            self.event.set()

    async def round(self, timeout: float = 30.0) -> None:
        """Wait for the round's last line at every member, then start counting the next round."""
        if self.done < self.members:
            await asyncio.wait_for(self.event.wait(), timeout)
        self.done = 0
        self.event.clear()


async def wait_for(predicate: Any, timeout: float = 30.0) -> None:
    """Poll ``predicate`` once per loop turn until it holds; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("setup did not finish")
        await asyncio.sleep(0)


async def run(members: int, senders: int, rounds: int, batch: int, profile: str | None) -> dict[str, Any]:
    """Build the channel, send the rounds, return the figures."""
    with tempfile.TemporaryDirectory(prefix="hubbub-bench-") as data_dir:
        settings = Settings(host="127.0.0.1", port=0, data_dir=data_dir, flood_control=False).validate()
        server = Server(settings)
        await server.start()
        try:
            waiter = Waiter()
            transports: list[Transport] = []
            for i in range(members):
                conn = Connection(server)
                t = Transport(conn, 40000 + i, waiter)
                conn.connection_made(t)  # type: ignore[arg-type]
                transports.append(t)
                lines = f"CAP LS 302\r\nCAP REQ :{CAPS}\r\nCAP END\r\nNICK m{i}\r\nUSER m{i} 0 * :m{i}\r\n"
                conn.data_received(lines.encode())
                await wait_for(lambda t=t: b" 001 " in t.tail)
                conn.data_received(b"JOIN #bench\r\n")
                await wait_for(lambda t=t: b" 366 " in t.tail)
            for t in transports:
                t.keep = False
                t.tail = b""
            await wait_for(lambda: True)
            payload = "x" * 40
            reads = [
                "".join(f"PRIVMSG #bench :{s} {k} {payload}\r\n" for k in range(batch)).encode()
                for s in range(senders)
            ]
            # Every member, the senders too (echo-message), gets every message; the last sender's
            # last line ends each member's round.
            waiter.members = members
            waiter.last_line = f" :{senders - 1} {batch - 1} {payload}\r\n".encode()
            profiler = cProfile.Profile() if profile else None
            threads0 = thread_cpu()
            cpu0, wall0 = time.process_time(), time.perf_counter()
            if profiler:
                profiler.enable()
            for r in range(rounds):
                for s in range(senders):
                    transports[s].protocol.data_received(reads[s])
                await waiter.round()
                if r == 0:
                    # Lines differ between rounds only where they are of equal length (msgid,
                    # time): each round brings each member as many bytes as the first.
                    per_round = [t.size for t in transports]
            if profiler:
                profiler.disable()
            cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
            threads1 = thread_cpu()
            short = [i for i, t in enumerate(transports) if t.size != rounds * per_round[i]]
            if short:
                raise RuntimeError(f"members {short} were not sent every message of every round")
        finally:
            await server.stop()
    messages = rounds * senders * batch
    result = {
        "members": members,
        "senders": senders,
        "rounds": rounds,
        "batch": batch,
        "messages": messages,
        "cpu_us_per_message": cpu / messages * 1e6,
        "wall_us_per_message": wall / messages * 1e6,
        "messages_per_s": messages / wall,
        **{
            f"cpu_us_per_message[{name}]": (threads1[name] - threads0.get(name, 0.0)) / messages * 1e6
            for name in sorted(threads1)
        },
        "compiled": compiled(),
    }
    if profiler and profile:
        profiler.dump_stats(profile)
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(25)
        print(out.getvalue(), file=sys.stderr)
    return result


def thread_cpu() -> dict[str, float]:
    """CPU seconds of each thread of this process by name (Linux /proc; empty elsewhere)."""
    import os
    import threading

    names = {t.native_id: t.name for t in threading.enumerate()}
    tick = os.sysconf("SC_CLK_TCK")
    out: dict[str, float] = {}
    try:
        tids = os.listdir("/proc/self/task")
    except OSError:
        return out
    for tid in tids:
        try:
            with open(f"/proc/self/task/{tid}/stat") as f:
                stat = f.read()
            name = names.get(int(tid), "other")
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        out[name] = out.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / tick
    return out


def compiled() -> bool:
    """Whether the server's hot modules run compiled (an optional build), not as Python source."""
    import hubbub.server.delivery as delivery

    return not (delivery.__file__ or "").endswith(".py")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.session", description=__doc__.split("\n")[0])
    p.add_argument("--members", type=int, default=20)
    p.add_argument("--senders", type=int, default=10)
    p.add_argument("--rounds", type=int, default=500)
    p.add_argument("--batch", type=int, default=10, help="messages per sender per round (one read)")
    p.add_argument("--profile", metavar="FILE", help="run under cProfile and write its stats to FILE")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = p.parse_args(argv)
    result = asyncio.run(run(args.members, args.senders, args.rounds, args.batch, args.profile))
    if args.json:
        print(json.dumps(result))
        return
    print("| metric | value |\n|---|---:|")
    for key, value in result.items():
        print(f"| {key} | {value:,.2f} |" if isinstance(value, float) else f"| {key} | {value} |")


if __name__ == "__main__":
    main()
