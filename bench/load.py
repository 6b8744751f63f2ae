"""The load generator's worker process: many IRC connections on one asyncio loop.

The parent process (``bench.scenarios``) sends commands over a pipe; each worker owns a share of
the clients and answers with plain dicts of counters. Reading is cheap on purpose so that the
generator is never the bottleneck: after registration a connection only counts newlines and pulls
``<sender> <seq> <ts_ns>`` triples out of each received chunk with one regular expression.

Message text is ``<sender-id> <seq> <time.time_ns() at send>``; every receiver checks, per sender,
that sequence numbers arrive once and in order, and records latency in 10 µs buckets.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import math
import os
import random
import re
import socket
import struct
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any, cast

from websockets.client import ClientProtocol
from websockets.frames import apply_mask
from websockets.http11 import Response
from websockets.typing import Subprotocol
from websockets.uri import parse_uri

from hubbub.protocol import ProtocolError, parse

from .servers import raise_nofile_limit

WANTED_CAPS = ("message-tags", "server-time", "echo-message")
BUCKET_NS = 10_000  # latency histogram resolution: 10 µs
SETUP_CONCURRENCY = 16  # registrations in flight per worker
READ_SIZE = 1 << 16  # bytes per recvmsg
# Linux's SO_TIMESTAMPNS (not exported by the socket module): the kernel stamps each arriving
# segment with the wall clock, and recvmsg reports the stamp of the last segment it returned.
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
_STAMP = struct.Struct("qq")  # struct timespec
_TRIPLE = re.compile(rb"PRIVMSG \S+ :(\d+) (\d+) (\d+)")
_PING_LINE = re.compile(rb"^(?:@\S+ )?(?::\S+ )?PING :?([^\r\n]*)\r?\n", re.MULTILINE)


@dataclass(slots=True)
class ClientPlan:
    """One simulated user: its id (also its sender id), nick, channel and whether it sends."""

    id: int
    nick: str
    channel: str
    sender: bool = False
    caps: tuple[str, ...] = ()  # asked for besides WANTED_CAPS, where offered
    node: int = 0  # which of the server's ports (the nodes of a cluster) it connects to


@dataclass(slots=True)
class Tally:
    """Counters of one worker for one measured phase."""

    lines: int = 0
    received: int = 0
    duplicates: int = 0  # seen by checked receivers so far (the drain's progress test)
    echoes: int = 0
    first_ns: int = 0
    last_ns: int = 0
    hist: dict[int, int] = field(default_factory=dict)
    read_hist: dict[int, int] = field(default_factory=dict)  # how late reads ran after arrival
    # Latency of the deliveries from senders on another node of a cluster (also counted in hist).
    cross_hist: dict[int, int] = field(default_factory=dict)


_BATCH_END = b" BATCH -"
_MSGID = re.compile(rb"[@;]msgid=([^; ]+)")


class HistoryReads:
    """What one link receives in a CHATHISTORY scenario: lines, ends of batches, msgids.

    A request is answered by one ``chathistory`` batch, so its ``BATCH -`` line ends the answer;
    nothing else is parsed (the other lines only count).
    """

    def __init__(self, link: Link) -> None:
        self.link = link
        self.buf = b""
        self.lines = 0
        self.ends = 0
        self.msgids: list[bytes] | None = None  # collected while not None
        self.want = 0
        self.waiter: asyncio.Future[None] | None = None

    def feed(self, data: bytes) -> None:
        """Count what arrived; wake the request waiting for the batch end it brought."""
        data = self.buf + data
        cut = data.rfind(b"\n") + 1
        self.buf = data[cut:]
        data = data[:cut]
        if not data:
            return
        self.lines += data.count(b"\n")
        if b"PING" in data:
            for token in _PING_LINE.findall(data):
                self.link.send(b"PONG :%s\r\n" % token)
        if self.msgids is not None:
            self.msgids += _MSGID.findall(data)
        ends = data.count(_BATCH_END)
        if ends:
            self.ends += ends
            waiter = self.waiter
            if waiter is not None and self.ends >= self.want and not waiter.done():
                waiter.set_result(None)

    async def ask(self, request: bytes, timeout: float) -> None:
        """Send ``request`` and wait (bounded) for the end of its answer."""
        self.want = self.ends + 1
        self.waiter = self.link.worker.loop.create_future()
        self.link.send(request)
        try:
            await asyncio.wait_for(self.waiter, timeout)
        finally:
            self.waiter = None


class SetupError(Exception):
    """Registration or JOIN failed; the message is the reason counted in the report."""


class Link(asyncio.Protocol):
    """One client connection: registration state, then fast counting of channel traffic."""

    def __init__(self, worker: Worker, plan: ClientPlan, on_registered: str = "join") -> None:
        self.worker = worker
        self.plan = plan
        self.on_registered = on_registered  # "join" or "quit"
        self.transport: asyncio.Transport | None = None
        self.sock: socket.socket | None = None  # our own descriptor once reading raw
        self.buf = b""
        self.fast = False
        self.closing = False
        self.offered: list[str] = []
        self.caps: list[str] = []
        self.done: asyncio.Future[None] = worker.loop.create_future()
        self.lost: asyncio.Future[None] = worker.loop.create_future()
        self.top: dict[int, int] = {}  # sender -> highest seq received
        self.missing: dict[int, set[int]] = {}  # sender -> seqs skipped over, not yet received
        self.witness_for: list[int] = []  # local senders whose window this link acknowledges
        # Senders connected to another node than this link (a cluster): their deliveries crossed
        # the bus, and their latency is also kept apart (Tally.cross_hist).
        self.remote: frozenset[int] = frozenset()
        # Checked links look at every line's sender, sequence number and time stamp; the others
        # only count lines and checksum what they received, and are verified at the end by
        # matching a checked link of the same channel byte for byte (see Worker.verdicts).
        self.checked = True
        self.crc = 0  # CRC-32 of this phase's channel messages
        self.nbytes = 0
        self.received = 0  # channel messages from others, this phase
        self.dups = 0
        self.reord = 0
        self.channel_b = plan.channel.encode()
        self.history: HistoryReads | None = None  # set for a CHATHISTORY scenario

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Start registration: CAP LS 302 first so servers with CAP hold registration for CAP END."""
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        nick = self.plan.nick.encode()
        self.transport.write(b"CAP LS 302\r\nNICK %s\r\nUSER %s 0 * :bench\r\n" % (nick, nick))

    def connection_lost(self, exc: Exception | None) -> None:
        """Count an unexpected close as an error; a close we asked for is not."""
        if self.sock is not None:
            self.stop_raw()
        if not self.lost.done():
            self.lost.set_result(None)
        if not self.done.done():
            self.done.set_exception(SetupError(f"closed during registration: {exc or 'EOF'}"))
            self.done.exception()  # retrieved here; the waiter may have given up already
        elif not self.closing:
            self.worker.error(f"connection lost: {exc or 'EOF'}")

    def data_received(self, data: bytes) -> None:
        """Dispatch to the fast counter once set up, else to the line-by-line setup handler."""
        if self.fast:
            self.scan(data)
            return
        data = self.buf + data
        lines = data.split(b"\n")
        self.buf = lines.pop()
        for i, line in enumerate(lines):
            self.setup_line(line)
            if self.fast:
                # The rest of this chunk already belongs to the fast path.
                tail, self.buf = self.buf, b""
                rest = lines[i + 1 :]
                self.scan(b"\n".join(rest) + b"\n" + tail if rest else tail)
                return

    def send(self, data: bytes) -> None:
        """Write unless the connection is gone."""
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def fail(self, reason: str) -> None:
        """Fail registration with ``reason`` and close."""
        if not self.done.done():
            self.done.set_exception(SetupError(reason))
            self.done.exception()  # retrieved here; the waiter may have given up already
        self.closing = True
        if self.transport is not None:
            self.transport.close()

    def setup_line(self, line: bytes) -> None:
        """Registration and JOIN, one parsed line at a time (not the hot path)."""
        try:
            msg = parse(line)
        except ProtocolError as exc:
            self.worker.error(f"unparsable line from server: {exc}")
            return
        cmd, params = msg.command, msg.params
        if cmd == "PING":
            self.send(b"PONG :%s\r\n" % msg.param(0).encode())
        elif cmd == "CAP" and len(params) >= 3:
            self.handle_cap(params)
        elif cmd == "001":
            if self.on_registered == "quit":
                self.closing = True
                self.send(b"QUIT :bench\r\n")
                self.done.set_result(None)
            elif self.plan.channel:
                self.send(b"JOIN %s\r\n" % self.channel_b)
            else:
                self.ready()
        elif cmd == "366" and len(params) >= 2 and params[1].lower() == self.plan.channel.lower():
            self.ready()
        elif cmd in ("432", "433", "436", "403", "405", "471", "473", "474", "475", "477"):
            self.fail(f"{cmd} {' '.join(params[1:])}")
        elif cmd == "ERROR":
            self.fail(f"ERROR {msg.param(0)}")

    def handle_cap(self, params: tuple[str, ...]) -> None:
        """CAP LS (possibly multi-line), then REQ what we want of it, then CAP END."""
        sub = params[1].upper()
        if sub == "LS":
            more = len(params) >= 4 and params[2] == "*"
            self.offered += [c.split("=", 1)[0] for c in params[-1].split()]
            if more:
                return
            wanted = [c for c in (*WANTED_CAPS, *self.plan.caps) if c in self.offered]
            if wanted:
                self.send(b"CAP REQ :%s\r\n" % " ".join(wanted).encode())
            else:
                self.send(b"CAP END\r\n")
        elif sub in ("ACK", "NAK"):
            if sub == "ACK":
                self.caps = params[-1].split()
            self.send(b"CAP END\r\n")

    def ready(self) -> None:
        """Registered and joined: switch to fast counting, reading the socket ourselves."""
        self.fast = True
        self.read_raw()
        if not self.done.done():
            self.done.set_result(None)

    def read_raw(self) -> None:
        """Take reading over from the transport, with kernel arrival stamps on what we read.

        Latency is measured to the moment a line reached the receiving socket, not to the moment
        this process got around to reading it: on a machine the server shares with its load, a
        busy load process would otherwise count its own queue as the server's latency. How late
        the reads ran is recorded separately (``Tally.read_hist``).
        """
        if self.transport is None:
            return
        fd = self.transport.get_extra_info("socket").fileno()
        # A second descriptor for the same socket: the transport keeps writing through its own.
        self.sock = socket.socket(fileno=os.dup(fd))
        self.sock.setblocking(False)
        self.sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        self.transport.pause_reading()
        self.worker.loop.add_reader(self.sock.fileno(), self.readable)

    def readable(self) -> None:
        """One recvmsg: the bytes and the kernel's arrival stamp of the last segment in them."""
        sock = self.sock
        if sock is None:
            return
        try:
            data, anc, _flags, _addr = sock.recvmsg(READ_SIZE, 64)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self.stop_raw(f"connection lost: {exc}")
            return
        if not data:
            self.stop_raw("connection lost: EOF")
            return
        now = time.time_ns()
        arrival = now
        for level, kind, stamp in anc:
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                sec, nsec = _STAMP.unpack_from(stamp)
                arrival = sec * 1_000_000_000 + nsec
        late = self.worker.tally.read_hist
        b = (now - arrival) // BUCKET_NS
        late[b] = late.get(b, 0) + 1
        self.scan(data, arrival)

    def stop_raw(self, reason: str | None = None) -> None:
        """Stop reading our descriptor and close it; count ``reason`` unless we are closing."""
        sock, self.sock = self.sock, None
        if sock is not None:
            self.worker.loop.remove_reader(sock.fileno())
            sock.close()
        if reason is not None and not self.closing:
            self.worker.error(reason)
            if not self.lost.done():
                self.lost.set_result(None)

    def scan(self, data: bytes, arrival: int = 0) -> None:
        """Count and checksum lines; on checked links also check every channel message.

        ``arrival`` is when ``data`` reached the socket (wall clock, ns); 0 means now.
        """
        if self.history is not None:
            self.history.feed(data)
            return
        if self.buf:
            data = self.buf + data
        cut = data.rfind(b"\n") + 1
        if cut < len(data):
            self.buf = data[cut:]
            if not cut:
                return
            data = data[:cut]
        else:
            self.buf = b""
        t = self.worker.tally
        n = data.count(b"\n")
        t.lines += n
        if data.count(b" PRIVMSG ") != n:
            data = self.set_aside(data)
            n = data.count(b"\n")
            if not n:
                return
        now = arrival or time.time_ns()
        if not t.first_ns:
            t.first_ns = now
        t.last_ns = now
        self.crc = zlib.crc32(data, self.crc)
        self.nbytes += len(data)
        if self.checked:
            self.check(data, now)
        else:
            self.received += n
            t.received += n

    def set_aside(self, data: bytes) -> bytes:
        """Answer PINGs in ``data`` and return only its channel messages.

        Other lines (PINGs, late JOINs from the setup) differ between connections or between
        phases, and would keep identical message streams from checksumming the same.
        """
        if b"PING" in data:
            for token in _PING_LINE.findall(data):
                self.send(b"PONG :%s\r\n" % token)
        return b"".join(line for line in data.splitlines(keepends=True) if b" PRIVMSG " in line)

    def check(self, data: bytes, now: int) -> None:
        """Every channel message's sequence number (once, in order) and latency, per sender."""
        hits = _TRIPLE.findall(data)
        if not hits:
            return
        w = self.worker
        t = w.tally
        me = self.plan.id
        top = self.top
        hist = t.hist
        cross, remote = t.cross_hist, self.remote
        dup = reord = echo = 0
        for sid_b, seq_b, ts_b in hits:
            sid = int(sid_b)
            if sid == me:
                echo += 1
                continue
            seq = int(seq_b)
            last = top.get(sid, 0)
            if seq == last + 1:
                top[sid] = seq
            elif seq > last:
                self.missing.setdefault(sid, set()).update(range(last + 1, seq))
                top[sid] = seq
            else:
                miss = self.missing.get(sid)
                if miss is not None and seq in miss:
                    miss.discard(seq)
                    reord += 1
                else:
                    dup += 1
            b = (now - int(ts_b)) // BUCKET_NS
            hist[b] = hist.get(b, 0) + 1
            if sid in remote:
                cross[b] = cross.get(b, 0) + 1
        self.received += len(hits) - echo
        self.dups += dup
        self.reord += reord
        t.received += len(hits) - echo
        t.duplicates += dup
        t.echoes += echo
        for sid in self.witness_for:
            seen = top.get(sid, 0)
            if seen > w.acked[sid]:
                w.acked[sid] = seen
                w.wake[sid].set()


class WsLink(Link):
    """One client over the server's web door: IRC over WebSocket, one line per text message.

    The websockets library's sans-IO client makes the opening handshake and checks the answer;
    from there the link reads and writes frames itself (``unframe``, ``frame``): the library turns
    every frame into an object through a generator, which made the load generator, not the
    server, the limit of a maximum-rate run. The server sees the same frames either way: text,
    unfragmented, masked with this link's random key (RFC 6455 5.3) by the library's own C
    ``apply_mask``. No kernel arrival stamps here (the socket holds frames, not lines): latency
    runs to the moment the load process read the frames.
    """

    def __init__(self, worker: Worker, plan: ClientPlan, on_registered: str = "join") -> None:
        super().__init__(worker, plan, on_registered)
        uri = parse_uri(f"ws://{worker.host}:{worker.port}/")
        self.ws = ClientProtocol(uri, subprotocols=[Subprotocol("text.ircv3.net")], max_size=None)
        self.opened = False  # the server accepted the upgrade: frames from here on
        self.partial = b""  # a fragmented message's frames so far
        self.fbuf = b""  # the start of a frame (or of the HTTP response) the last read cut off
        self.key = os.urandom(4)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Send the opening handshake; registration starts once the server accepts it."""
        self.transport = cast(asyncio.Transport, transport)
        self.ws.send_request(self.ws.connect())
        self.flush()

    def flush(self) -> None:
        """Write what the WebSocket protocol has to send (frames, pongs, the close)."""
        out = self.ws.data_to_send()
        if out and self.transport is not None and not self.transport.is_closing():
            self.transport.write(b"".join(out))

    def data_received(self, data: bytes) -> None:
        """The handshake's answer through the library, then frames in, lines out to the TCP
        link's handling (each message plus a newline)."""
        if self.opened:
            lines = self.unframe(data)
            if lines:
                super().data_received(lines)
            return
        # Only the HTTP response goes to the library: the frames after it are ours to parse,
        # and the library's parser would swallow a cut-off frame's header.
        self.fbuf += data
        end = self.fbuf.find(b"\r\n\r\n")
        if end < 0:
            return
        head, self.fbuf = self.fbuf[: end + 4], self.fbuf[end + 4 :]
        self.ws.receive_data(head)
        for event in self.ws.events_received():
            if isinstance(event, Response):
                self.handshake(event)
        if self.opened and self.fbuf:
            self.data_received(b"")

    def unframe(self, data: bytes) -> bytes:
        """The messages of the whole server frames in ``data``, each ended by a newline.

        A server's frames are not masked (RFC 6455 5.1). Pings are answered, a close is answered
        and ends the connection; a frame cut off by the read waits for the next.
        """
        if self.fbuf:
            data = self.fbuf + data
        out: list[bytes] = []
        i, end = 0, len(data)
        while end - i >= 2:
            head, size = data[i], data[i + 1] & 0x7F
            start = i + 2
            if size == 126:
                size, start = int.from_bytes(data[start : start + 2]), start + 2
            elif size == 127:
                size, start = int.from_bytes(data[start : start + 8]), start + 8
            stop = start + size
            if stop > end:
                break
            opcode = head & 0x0F
            if opcode <= 2:  # continuation, text, binary
                if head & 0x80:
                    if self.partial:
                        out.append(self.partial)
                        self.partial = b""
                    out.append(data[start:stop])
                    out.append(b"\n")
                else:
                    self.partial += data[start:stop]
            elif opcode == 9:  # ping: pong with the same payload
                self.write_frame(0x8A, data[start:stop])
            elif opcode == 8:  # close: answer it and end
                self.write_frame(0x88, data[start : start + 2])
                if self.transport is not None:
                    self.transport.close()
                break
            i = stop
        self.fbuf = data[i:]
        return b"".join(out)

    def write_frame(self, head: int, payload: bytes) -> None:
        """One masked frame, written now."""
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(self.frame(head, payload))

    def frame(self, head: int, payload: bytes) -> bytes:
        """A client frame: ``head`` (FIN and opcode), the masked length, the key, the payload."""
        size = len(payload)
        if size < 126:
            length = bytes((0x80 | size,))
        elif size < 1 << 16:
            length = b"\xfe" + size.to_bytes(2)
        else:
            length = b"\xff" + size.to_bytes(8)
        return bytes((head,)) + length + self.key + apply_mask(payload, self.key)

    def handshake(self, response: Response) -> None:
        """The server's answer to the upgrade: register on 101 with our subprotocol, else fail."""
        if response.status_code != 101 or self.ws.handshake_exc is not None:
            self.fail(f"WebSocket handshake refused: {response.status_code} {response.reason_phrase}")
            return
        if self.ws.subprotocol != "text.ircv3.net":
            self.fail(f"WebSocket subprotocol {self.ws.subprotocol!r}, not text.ircv3.net")
            return
        self.opened = True
        nick = self.plan.nick.encode()
        self.send(b"CAP LS 302\r\nNICK %s\r\nUSER %s 0 * :bench\r\n" % (nick, nick))

    def send(self, data: bytes) -> None:
        """Each line (without its CRLF) as one text message."""
        if self.opened and self.transport is not None and not self.transport.is_closing():
            self.transport.write(b"".join(self.frame(0x81, line) for line in data.split(b"\r\n") if line))

    def read_raw(self) -> None:
        """Frames come through the transport: keep reading there."""


class Worker:
    """Owns a share of the clients and executes the parent's commands against the server."""

    def __init__(self, conn: Connection, loop: asyncio.AbstractEventLoop) -> None:
        self.conn = conn
        self.loop = loop
        self.host = "127.0.0.1"
        self.port = 0
        self.links: list[Link] = []
        self.tally = Tally()
        self.errors: dict[str, int] = {}
        self.acked: dict[int, int] = {}
        self.wake: dict[int, asyncio.Event] = {}
        self.seq: dict[int, int] = {}
        self.stopped = False
        self.cpu_start = 0.0
        self.sender_channel: dict[int, str] = {}  # every sender's channel, from the parent's plan
        self.sender_node: dict[int, int] = {}  # every sender's node (a cluster), from the same plan

    def error(self, reason: str) -> None:
        """Count one error by reason (the report shows counts and the first reasons)."""
        self.errors[reason] = self.errors.get(reason, 0) + 1

    async def connect(self, link: Link, timeout: float, port: int = 0) -> None:
        """Open one connection (to ``port``, else the worker's) and wait (bounded) for its setup."""
        try:
            await asyncio.wait_for(
                self.loop.create_connection(lambda: link, self.host, port or self.port), timeout
            )
            await asyncio.wait_for(asyncio.shield(link.done), timeout)
        except TimeoutError:  # before OSError, of which it is a subclass
            self.error("setup: timed out")
            link.fail("timed out")
        except (OSError, SetupError) as exc:
            self.error(f"setup: {exc or type(exc).__name__}")
            link.fail(str(exc))

    # commands -----------------------------------------------------------------------------
    async def cmd_setup(
        self,
        host: str,
        port: int,
        clients: list[ClientPlan],
        timeout: float,
        check_every: int = 1,
        websocket: bool = False,
        ports: list[int] | None = None,
    ) -> dict[str, Any]:
        """Connect, register and JOIN every client; choose window witnesses for local senders.

        Senders, witnesses and every ``check_every``-th other member of each channel check each
        line they receive; the rest count and checksum (``Link.checked``). With ``websocket``
        the clients connect to a web door (``WsLink``). ``ports`` are the nodes of a cluster: a
        client connects to ``ports[plan.node]``.
        """
        self.host, self.port = host, port
        gate = asyncio.Semaphore(SETUP_CONCURRENCY)
        deadline = self.loop.time() + timeout

        async def one(plan: ClientPlan) -> None:
            link = WsLink(self, plan) if websocket else Link(self, plan)
            self.links.append(link)
            node_port = ports[plan.node % len(ports)] if ports else 0
            async with gate:
                await self.connect(link, max(0.1, deadline - self.loop.time()), node_port)

        started = time.perf_counter()
        await asyncio.gather(*(one(p) for p in clients))
        ok = [link for link in self.links if link.fast]
        for link in ok:
            if link.plan.sender:
                sid = link.plan.id
                self.acked[sid] = self.seq[sid] = 0
                self.wake[sid] = asyncio.Event()
                witnesses = [o for o in ok if o is not link and o.plan.channel == link.plan.channel]
                witnesses.sort(key=lambda o: (o.plan.sender, o.plan.id))  # prefer pure receivers
                if witnesses:
                    witnesses[len(self.acked) % len(witnesses)].witness_for.append(sid)
        if len(set(self.sender_node.values())) > 1:
            for link in ok:
                node = link.plan.node
                link.remote = frozenset(s for s, n in self.sender_node.items() if n != node)
        # Counted per node too: each node of a cluster interleaves the senders in its own order,
        # so an unchecked link can only match a checked one on its own node.
        seen: dict[tuple[str, int], int] = {}
        for link in ok:
            group = (link.plan.channel, link.plan.node)
            i = seen[group] = seen.get(group, -1) + 1
            link.checked = link.plan.sender or bool(link.witness_for) or i % max(1, check_every) == 0
        caps = sorted({c for link in ok for c in link.caps})
        return {
            "clients": len(clients),
            "ready": len(ok),
            "seconds": time.perf_counter() - started,
            "caps": caps,
            "errors": dict(self.errors),
        }

    async def cmd_go(
        self, start_ns: int, duration: float, mode: str, window: int, rate: float
    ) -> dict[str, Any]:
        """Send from every local sender between start and start+duration; report final seqs."""
        self.tally = Tally()
        self.errors = {}
        self.stopped = False
        for link in self.links:
            link.missing.clear()  # gaps of an earlier phase were already reported as lost
            link.crc = link.nbytes = link.received = link.dups = link.reord = 0
        start = self.loop.time() + (start_ns - time.time_ns()) / 1e9
        end = start + duration
        senders = [link for link in self.links if link.plan.sender and link.fast]
        await asyncio.sleep(max(0.0, start - self.loop.time()))  # pacing: wait for the common start
        self.cpu_start = time.process_time()

        def stop() -> None:
            self.stopped = True
            for ev in self.wake.values():
                ev.set()

        handle = self.loop.call_at(end, stop)
        try:
            if mode == "window":
                await asyncio.gather(*(self.window_sender(link, window) for link in senders))
            else:
                await self.paced_senders(senders, rate, start, end)
        finally:
            handle.cancel()
        return {"sent": {link.plan.id: self.seq[link.plan.id] for link in senders}}

    async def window_sender(self, link: Link, window: int) -> None:
        """Keep ``window`` messages unacknowledged (not yet seen by this worker's witness)."""
        sid = link.plan.id
        fmt = b"PRIVMSG " + link.channel_b + b" :%d %d %d\r\n"
        ev = self.wake[sid]
        while not self.stopped and link.transport is not None and not link.transport.is_closing():
            seq = self.seq[sid]
            room = window - (seq - self.acked[sid])
            if room > 0:
                ts = time.time_ns()
                link.send(b"".join([fmt % (sid, s, ts) for s in range(seq + 1, seq + room + 1)]))
                self.seq[sid] = seq + room
            ev.clear()
            await ev.wait()

    async def paced_senders(self, senders: list[Link], rate: float, start: float, end: float) -> None:
        """Each sender sends ``rate`` messages per second, open loop, spread evenly in time.

        Sender ``i`` of the ``n`` senders of the whole run (every worker's, ordered by id) sends its
        ``j``-th message at ``start + (i / n + j) / rate``: the senders take turns through each
        period instead of all sending on the same tick. Open loop: a sender that wakes late sends
        every message it owes by now, whatever the server's answers.
        """
        if not senders or rate <= 0:
            await asyncio.sleep(max(0.0, end - self.loop.time()))  # pacing: nothing to send
            return
        period = 1.0 / rate
        everyone = sorted(self.sender_channel) or sorted(link.plan.id for link in senders)
        place = {sid: i for i, sid in enumerate(everyone)}
        fmts = {link.plan.id: b"PRIVMSG " + link.channel_b + b" :%d %d %d\r\n" for link in senders}
        # (next send time, sender id, first send time, messages sent so far, link)
        due = [
            (start + place.get(link.plan.id, 0) / len(everyone) * period, link.plan.id) for link in senders
        ]
        queue = [(at, sid, at, 0, link) for (at, sid), link in zip(due, senders, strict=True)]
        heapq.heapify(queue)
        while queue and not self.stopped:
            delay = queue[0][0] - self.loop.time()
            if delay > 0:
                await asyncio.sleep(delay)  # pacing: the next send of a fixed-rate schedule
                continue
            now = self.loop.time()
            if now >= end:
                return
            _at, sid, first, count, link = heapq.heappop(queue)
            owed = min(int((now - first) / period) + 1, math.ceil((end - first) / period)) - count
            if owed > 0:
                seq = self.seq[sid]
                ts = time.time_ns()
                link.send(b"".join([fmts[sid] % (sid, q, ts) for q in range(seq + 1, seq + owed + 1)]))
                self.seq[sid] = seq + owed
                count += owed
            nxt = first + count * period
            if nxt < end:
                heapq.heappush(queue, (nxt, sid, first, count, link))
        if not self.stopped:
            await asyncio.sleep(max(0.0, end - self.loop.time()))  # pacing: hold to the phase's end

    def expected(self, finals: dict[int, tuple[int, int]]) -> int:
        """Deliveries this worker's receivers should see in this phase: (base, final] per sender."""
        members = self.channel_senders(finals)
        return sum(self.due(link, members) for link in self.links if link.fast)

    @staticmethod
    def due(link: Link, members: dict[str, list[tuple[int, tuple[int, int]]]]) -> int:
        """Deliveries ``link`` should see: every other sender's (base, final] in its channel."""
        return sum(
            final - base for sid, (base, final) in members.get(link.plan.channel, []) if sid != link.plan.id
        )

    def channel_senders(
        self, finals: dict[int, tuple[int, int]]
    ) -> dict[str, list[tuple[int, tuple[int, int]]]]:
        """Channel -> [(sender, (base, final))], from the plan every worker shares."""
        out: dict[str, list[tuple[int, tuple[int, int]]]] = {}
        for sid, span in finals.items():
            out.setdefault(self.sender_channel[sid], []).append((sid, span))
        return out

    async def cmd_drain(self, finals: dict[int, tuple[int, int]], timeout: float) -> dict[str, Any]:
        """Wait (bounded) until every expected delivery arrived, then report the phase's counters."""
        expected = self.expected(finals)
        deadline = self.loop.time() + timeout
        t = self.tally
        while t.received - t.duplicates < expected and self.loop.time() < deadline:
            await asyncio.sleep(0.02)  # polling counters updated by the protocol callbacks
        v = self.verdicts(finals)
        return {
            "expected": expected,
            "lines": t.lines,
            "received": t.received,
            "duplicates": v["duplicates"],
            "reordered": v["reordered"],
            "lost": v["lost"],
            "checked": v["checked"],
            "matched": v["matched"],
            "unverified": v["unverified"],
            "echoes": t.echoes,
            "first_ns": t.first_ns,
            "last_ns": t.last_ns,
            "hist": t.hist,
            "read_hist": t.read_hist,
            "cross_hist": t.cross_hist,
            "cpu_s": time.process_time() - self.cpu_start,
            "errors": dict(self.errors),
            "connected": sum(1 for link in self.links if link.fast and not link.lost.done()),
        }

    def verdicts(self, finals: dict[int, tuple[int, int]]) -> dict[str, int]:
        """Lost, duplicated and reordered deliveries over every receiver of this worker.

        A checked link knows its own from its sequence numbers. An unchecked link whose lines
        are byte for byte those of a checked link in its channel (same CRC-32 and length) had the
        same deliveries, so it shares that link's verdict. One that matches none (a server that
        interleaves senders differently per member, say) is *unverified*: its count of lines
        against the expected count is all that is known, so a shortfall counts as lost and an
        excess as duplicated.
        """
        members = self.channel_senders(finals)
        out = dict.fromkeys(("lost", "duplicates", "reordered", "checked", "matched", "unverified"), 0)
        known: dict[tuple[str, int, int], tuple[int, int, int]] = {}
        links = [link for link in self.links if link.fast]
        for link in links:
            if not link.checked:
                continue
            lost = 0
            for sid, (base, final) in members.get(link.plan.channel, []):
                if sid != link.plan.id:
                    top = max(base, link.top.get(sid, 0))
                    lost += max(0, final - top) + len(link.missing.get(sid, ()))
            verdict = (lost, link.dups, link.reord)
            known[(link.plan.channel, link.crc, link.nbytes)] = verdict
            self.add_verdict(out, verdict)
            out["checked"] += 1
        for link in links:
            if link.checked:
                continue
            found = known.get((link.plan.channel, link.crc, link.nbytes))
            if found is not None:
                self.add_verdict(out, found)
                out["matched"] += 1
                continue
            want = self.due(link, members)
            self.add_verdict(out, (max(0, want - link.received), max(0, link.received - want), 0))
            out["unverified"] += 1
        return out

    @staticmethod
    def add_verdict(out: dict[str, int], verdict: tuple[int, int, int]) -> None:
        """Add one receiver's (lost, duplicated, reordered) to the totals."""
        out["lost"] += verdict[0]
        out["duplicates"] += verdict[1]
        out["reordered"] += verdict[2]

    async def cmd_history_reads(self) -> dict[str, Any]:
        """Every link counts CHATHISTORY answers from now on instead of channel messages."""
        for link in self.links:
            if link.fast:
                link.history = HistoryReads(link)
        return {}

    async def cmd_prefill(self, channel: str, count: int, timeout: float) -> dict[str, Any]:
        """Send ``count`` messages to ``channel`` from the first link; return their msgids.

        The msgids are read from the link's own echoes (echo-message) and the answers to the
        CHATHISTORY requests between the pieces (which repeat the newest of each: kept once).
        """
        links = [link for link in self.links if link.fast and link.history is not None]
        if count <= 0 or not links:
            return {"msgids": [], "seconds": 0.0}
        reads = links[0].history
        assert reads is not None
        reads.msgids = []
        started = time.perf_counter()
        words = "the quick brown fox jumps over a lazy dog while we chat about history"
        # In pieces, each ended by a CHATHISTORY request, answered only once the piece is stored and
        # sent to every member: all at once, the members' sendqs would not hold the burst.
        chunk = 500
        ask = f"CHATHISTORY LATEST {channel} * 1\r\n".encode()
        for first in range(0, count, chunk):
            lines = [
                f"PRIVMSG {channel} :message {i} {words}\r\n" for i in range(first, min(count, first + chunk))
            ]
            links[0].send("".join(lines).encode())
            await reads.ask(ask, timeout)
        msgids = reads.msgids
        reads.msgids = None
        # The echoes come first; the last msgid is the CHATHISTORY answer's copy of the newest one.
        found = list(dict.fromkeys(m.decode() for m in msgids))
        return {"msgids": found, "seconds": time.perf_counter() - started}

    async def cmd_ask(
        self, start_ns: int, duration: float, channel: str, kind: str, msgids: list[str], timeout: float
    ) -> dict[str, Any]:
        """Each link asks CHATHISTORY ``kind`` (LATEST or BEFORE a random msgid), one request at a
        time, from start for ``duration`` seconds; report requests, lines and latency."""
        self.errors = {}
        links = [link for link in self.links if link.fast and link.history is not None]
        start = self.loop.time() + (start_ns - time.time_ns()) / 1e9
        end = start + duration
        hist: dict[int, int] = {}
        done = 0
        lines0 = sum(link.history.lines for link in links if link.history is not None)
        await asyncio.sleep(max(0.0, start - self.loop.time()))  # pacing: wait for the common start
        cpu0 = time.process_time()
        latest = f"CHATHISTORY LATEST {channel} * 100\r\n".encode()
        rng = random.Random(start_ns ^ os.getpid())

        async def one(link: Link) -> None:
            nonlocal done
            reads = link.history
            assert reads is not None
            while self.loop.time() < end and not link.lost.done():
                if kind == "BEFORE" and msgids:
                    request = f"CHATHISTORY BEFORE {channel} msgid={rng.choice(msgids)} 100\r\n".encode()
                else:
                    request = latest
                t0 = time.perf_counter_ns()
                try:
                    await reads.ask(request, timeout)
                except TimeoutError:
                    self.error("chathistory: no answer in time")
                    return
                b = (time.perf_counter_ns() - t0) // BUCKET_NS
                hist[b] = hist.get(b, 0) + 1
                done += 1

        t0 = time.perf_counter()
        await asyncio.gather(*(one(link) for link in links))
        return {
            "requests": done,
            "seconds": time.perf_counter() - t0,
            "lines": sum(link.history.lines for link in links if link.history is not None) - lines0,
            "hist": hist,
            "cpu_s": time.process_time() - cpu0,
            "errors": dict(self.errors),
        }

    async def cmd_storm(
        self, host: str, port: int, nicks: list[str], concurrency: int, timeout: float
    ) -> dict[str, Any]:
        """Connect, register, QUIT, for each nick, ``concurrency`` at a time."""
        self.host, self.port = host, port
        self.errors = {}
        gate = asyncio.Semaphore(concurrency)
        deadline = self.loop.time() + timeout
        ok = 0

        async def one(i: int, nick: str) -> None:
            nonlocal ok
            async with gate:
                link = Link(self, ClientPlan(i, nick, ""), on_registered="quit")
                remaining = deadline - self.loop.time()
                if remaining <= 0:
                    self.error("storm: deadline passed")
                    return
                await self.connect(link, remaining)
                if link.done.done() and not link.done.exception():
                    ok += 1
                    with contextlib.suppress(TimeoutError):
                        # the server closes after QUIT; bound the wait so a silent server cannot hang us
                        await asyncio.wait_for(asyncio.shield(link.lost), 1.0)
                if link.transport is not None:
                    link.transport.abort()

        started = time.perf_counter()
        await asyncio.gather(*(one(i, n) for i, n in enumerate(nicks)))
        return {"ok": ok, "seconds": time.perf_counter() - started, "errors": dict(self.errors)}

    async def cmd_quit(self) -> dict[str, Any]:
        """QUIT every connection and close it."""
        for link in self.links:
            link.closing = True
            link.stop_raw()
            link.send(b"QUIT :bench done\r\n")
            if link.transport is not None:
                link.transport.close()
        pending = [link.lost for link in self.links if link.transport is not None]
        if pending:
            await asyncio.wait(pending, timeout=3.0)
        for link in self.links:
            if link.transport is not None:
                link.transport.abort()
        return {}

    async def serve(self) -> None:
        """Read commands from the parent until ``quit``; answer each with (name, result)."""
        handlers: dict[str, Callable[..., Any]] = {
            "setup": self.cmd_setup,
            "go": self.cmd_go,
            "drain": self.cmd_drain,
            "storm": self.cmd_storm,
            "history_reads": self.cmd_history_reads,
            "prefill": self.cmd_prefill,
            "ask": self.cmd_ask,
            "quit": self.cmd_quit,
        }
        while True:
            # A blocking recv in a thread: a large command arrives in several pipe reads, which a
            # non-blocking reader on the loop would have to reassemble itself.
            try:
                name, kwargs = await self.loop.run_in_executor(None, self.conn.recv)
            except EOFError:  # the parent is gone
                name, kwargs = "quit", {}
            if name == "plan":
                self.sender_channel = kwargs["sender_channel"]
                self.sender_node = kwargs.get("sender_node", {})
                continue
            try:
                result = await handlers[name](**kwargs)
            except Exception as exc:  # report, never hang the parent
                result = {"fatal": f"{type(exc).__name__}: {exc}"}
            with contextlib.suppress(BrokenPipeError, OSError):
                self.conn.send((name, result))
            if name == "quit":
                return


def worker_main(conn: Connection) -> None:
    """Entry point of a worker process."""
    raise_nofile_limit()
    try:
        import uvloop

        factory: Callable[[], asyncio.AbstractEventLoop] | None = uvloop.new_event_loop
    except ImportError:
        factory = None
    with asyncio.Runner(loop_factory=factory) as runner:
        worker = Worker(conn, runner.get_loop())
        runner.run(worker.serve())
