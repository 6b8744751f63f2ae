"""The web door: one HTTP port for the browser client's files, IRC over WebSocket and /healthz.

Each accepted socket is a :class:`WebPeer`. It reads one HTTP request (the ``websockets``
library's sans-IO ``ServerProtocol`` parses it and makes the handshake), then either answers it
and closes (a file, ``/healthz``, an error) or upgrades it: from then on the socket carries IRC
lines in WebSocket messages to an ordinary Connection (``websocket.py``), counted, limited and
closed like any other. Routes are one table, :data:`ROUTES`; docs/web.md has the rules.
"""

from __future__ import annotations

import asyncio
import email.utils
import ipaddress
import logging
import os
import ssl
import stat
import urllib.parse
from collections.abc import Awaitable, Callable, Sequence
from http import HTTPStatus
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from websockets.datastructures import Headers
from websockets.frames import CloseCode
from websockets.http11 import Request, Response
from websockets.server import ServerProtocol
from websockets.typing import Subprotocol

from hubbub.protocol import MAX_LINE

from .websocket import BINARY, SUBPROTOCOLS, TEXT, WebSocketTransport

if TYPE_CHECKING:
    from .clock import Clock
    from .config import Settings
    from .connection import Connection

log = logging.getLogger(__name__)
# The protocol logs each connection opened and closed at INFO: too much for a server's log.
_ws_log = logging.getLogger(__name__ + ".frames")
_ws_log.setLevel(logging.WARNING)

STATIC_ROOT = Path(__file__).resolve().parent.parent / "web" / "static"
"""The browser client's files, shipped inside the package (package data)."""

# Bytes of a request line before the method is known (websockets bounds the rest of the head).
MAX_REQUEST_LINE = 8192
# Seconds a finished HTTP response waits for the client to close before the socket is closed.
LINGER = 2.0

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".webmanifest": "application/manifest+json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".ico": "image/x-icon",
    ".woff2": "font/woff2",
    ".wasm": "application/wasm",
    ".txt": "text/plain; charset=utf-8",
    ".map": "application/json",
}
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "[::1]")


class WebHost(Protocol):
    """What the web door needs of the server (:class:`hubbub.server.app.Server`)."""

    settings: Settings
    clock: Clock

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The loop the server runs on."""

    def new_connection(self) -> Connection:
        """A Connection for a socket just accepted (here: a WebSocket just upgraded)."""

    def health(self) -> str | None:
        """Why the server is unwell (the store), or None when it is well."""

    def metrics(self) -> tuple[bytes, str]:
        """The server's metrics in the Prometheus text format, and their Content-Type."""


Route = Callable[["WebGate", Request], Awaitable[Response]]


def text_response(status: int, text: str, headers: Sequence[tuple[str, str]] = ()) -> Response:
    """A short plain-text response that closes the connection."""
    return _response(status, text.encode(), "text/plain; charset=utf-8", headers)


def _response(
    status: int, body: bytes, content_type: str, headers: Sequence[tuple[str, str]] = ()
) -> Response:
    phrase = HTTPStatus(status).phrase
    head = Headers(
        [
            ("Date", email.utils.formatdate(usegmt=True)),
            ("Connection", "close"),
            ("Content-Type", content_type),
            ("Content-Length", str(len(body))),
            ("X-Content-Type-Options", "nosniff"),
            ("Cache-Control", "no-cache"),
            *headers,
        ]
    )
    return Response(status, phrase, head, body)


async def healthz(gate: WebGate, request: Request) -> Response:
    """200 ``ok`` when the store takes writes and the loop keeps up; else 503 and why."""
    reason = gate.host.health()
    if reason is None:
        # The loop's lag: how long a callback queued now waits for its turn.
        loop = gate.host.loop
        started = loop.time()
        turn: asyncio.Future[None] = loop.create_future()
        loop.call_soon(turn.set_result, None)
        await turn
        lag = loop.time() - started
        if lag > gate.host.settings.web_health_max_lag:
            reason = f"event loop lagging: {lag:.2f} s"
    if reason is not None:
        return text_response(503, reason + "\n")
    return text_response(200, "ok\n")


async def static(gate: WebGate, request: Request) -> Response:
    """A file under the static root, or 404; never anything outside it."""
    path = gate.static_file(request.path)
    if path is None:
        return text_response(404, "Not found\n")
    try:
        body = path.read_bytes()  # small files, read once per request: no cache to go stale
    except OSError:
        return text_response(404, "Not found\n")
    return _response(200, body, CONTENT_TYPES.get(path.suffix.lower(), "application/octet-stream"))


async def metrics(gate: WebGate, request: Request) -> Response:
    """The server's metrics, for Prometheus (hubbub.server.metrics)."""
    body, content_type = gate.host.metrics()
    return _response(200, body, content_type)


ROUTES: dict[str, Route] = {
    "/healthz": healthz,
    "/metrics": metrics,
}
"""Exact paths answered by a handler; every other path is a static file."""


class WebGate:
    """The web door's shared part: its settings' rules, the static root, the sockets it holds."""

    def __init__(self, host: WebHost, tls: bool = False, root: Path = STATIC_ROOT) -> None:
        self.host = host
        self.tls = tls
        self.root = root.resolve()
        self.peers: set[WebPeer] = set()  # sockets not upgraded (yet): the door's own to close
        self.waiting: set[WebPeer] = set()  # of those, the ones not answered yet: the requests
        self.per_ip: dict[str, int] = {}  # of those, how many from each address
        self.links: set[WebSocketTransport] = set()  # the WebSockets open
        self.handshakes: set[asyncio.Task[object]] = set()
        self.stopping = False

    def new_peer(self) -> WebPeer:
        """The protocol of a socket the door just accepted."""
        return WebPeer(self)

    def accept_tls(self, sock: object, context: ssl.SSLContext) -> None:
        """An HTTPS socket: its TLS handshake, within ``tls_handshake_timeout``, then a WebPeer."""
        if len(self.handshakes) + len(self.waiting) >= self.host.settings.web_max_requests:
            # No TLS session to say it in yet: the door is full, the socket is closed.
            sock.close()  # type: ignore[attr-defined]
            return
        loop = self.host.loop
        task = loop.create_task(
            loop.connect_accepted_socket(
                self.new_peer,
                sock,  # type: ignore[arg-type]
                ssl=context,
                ssl_handshake_timeout=self.host.settings.tls_handshake_timeout,
            )
        )
        self.handshakes.add(task)
        task.add_done_callback(self._handshake_done)

    def _handshake_done(self, task: asyncio.Task[object]) -> None:
        self.handshakes.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.debug("web door TLS handshake failed: %s", task.exception())

    def close(self) -> None:
        """The server stops: drop the sockets that are not WebSockets (those are Connections)."""
        self.stopping = True
        for task in list(self.handshakes):
            task.cancel()
        for peer in list(self.peers):
            peer.abort()
        for link in self.links:
            # RFC 6455 7.4.1: 1001, "a server going down"; after the ERROR line, as on TCP.
            link.close_code = CloseCode.GOING_AWAY

    # rules -----------------------------------------------------------------------------------

    def admit(self, peer: WebPeer, ip: str) -> bool:
        """Count a request not answered yet; False past ``web_max_requests`` (overall, or per
        address unless the address is a trusted proxy's)."""
        settings = self.host.settings
        if len(self.waiting) >= settings.web_max_requests:
            return False
        if ip and not self.is_trusted_proxy(ip):
            if self.per_ip.get(ip, 0) >= settings.web_max_requests_per_ip:
                return False
            self.per_ip[ip] = self.per_ip.get(ip, 0) + 1
            peer.counted_ip = ip
        self.waiting.add(peer)
        self.peers.add(peer)
        return True

    def answered(self, peer: WebPeer) -> None:
        """``peer``'s request is answered (or it became a WebSocket): it no longer counts, though
        its socket may linger a moment (the door still closes it when the server stops)."""
        self.waiting.discard(peer)
        ip, peer.counted_ip = peer.counted_ip, ""
        if ip:
            left = self.per_ip.get(ip, 1) - 1
            if left:
                self.per_ip[ip] = left
            else:
                self.per_ip.pop(ip, None)

    def release(self, peer: WebPeer) -> None:
        """Forget ``peer``: closed, or upgraded (then a Connection, counted and closed as one)."""
        self.answered(peer)
        self.peers.discard(peer)

    def is_trusted_proxy(self, ip: str) -> bool:
        """Whether ``ip`` is one of ``web_trusted_proxies``."""
        proxies = self.host.settings.web_trusted_proxies
        if not proxies:
            return False
        try:
            address = ipaddress.ip_address(ip.split("%", 1)[0])
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return any(address in ipaddress.ip_network(entry, strict=False) for entry in proxies)

    def origin_allowed(self, origin: str, host: str | None) -> bool:
        """Whether a page from ``origin`` may open a WebSocket here (``host``: the Host header).

        A page of this very host may; so may those ``web_origins`` lists, by default pages on
        the loopback addresses. A request without Origin is not from a browser page: allowed.
        """
        origin = origin.strip().lower().rstrip("/")
        parts = urllib.parse.urlsplit(origin)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            return False
        if host is not None and parts.netloc == host.strip().lower():
            return True
        allowed = self.host.settings.web_origins
        if not allowed:
            name = parts.netloc.rsplit(":", 1)[0] if not parts.netloc.endswith("]") else parts.netloc
            return name in LOOPBACK_HOSTS
        return "*" in allowed or origin in (entry.lower().rstrip("/") for entry in allowed)

    def client_address(self, peer: tuple[str, int], forwarded: str | None) -> tuple[str, int]:
        """The client's address: the peer's, or the last X-Forwarded-For hop of a trusted proxy."""
        if not forwarded or not self.is_trusted_proxy(peer[0]):
            return peer
        hop = forwarded.rsplit(",", 1)[-1].strip()
        if hop.startswith("[") and "]" in hop:
            hop = hop[1 : hop.index("]")]  # [v6]:port
        elif hop.count(":") == 1:
            hop = hop.split(":", 1)[0]  # v4:port
        try:
            return (str(ipaddress.ip_address(hop)), 0)
        except ValueError:
            log.info("ignoring X-Forwarded-For %r from %s: not an address", forwarded[:100], peer[0])
            return peer

    def static_file(self, url_path: str) -> Path | None:
        """The file a URL path names under the static root, or None (missing, or outside it)."""
        path = urllib.parse.unquote(url_path.split("?", 1)[0].split("#", 1)[0])
        segments = [s for s in path.split("/") if s]
        if any(s in (".", "..") or "\\" in s or "\0" in s or s.startswith(".") for s in segments):
            return None
        candidate = self.root.joinpath(*segments)
        try:
            if stat.S_ISDIR(os.stat(candidate).st_mode):
                candidate = candidate / "index.html"
            resolved = candidate.resolve(strict=True)
        except (OSError, ValueError):
            return None
        if not resolved.is_relative_to(self.root) or not resolved.is_file():
            return None
        return resolved


def _single(headers: Headers, name: str) -> str | None:
    """The one value of header ``name``; None if it is missing or given more than once."""
    values = headers.get_all(name)
    return values[0] if len(values) == 1 else None


def _select_subprotocol(protocol: ServerProtocol, offered: Sequence[Subprotocol]) -> Subprotocol | None:
    # IRCv3 WebSocket: the server "MUST accept any subprotocol it supports, respecting the
    # client's order of preference"; none agreed on: go on without one (then text).
    for name in offered:
        if name in SUBPROTOCOLS:
            return name
    return None


class WebPeer(asyncio.Protocol):
    """One socket of the web door: an HTTP request answered, or a WebSocket for IRC."""

    def __init__(self, gate: WebGate) -> None:
        self.gate = gate
        self.transport: asyncio.Transport | None = None
        self.ws = ServerProtocol(
            subprotocols=[Subprotocol(TEXT), Subprotocol(BINARY)],
            select_subprotocol=_select_subprotocol,
            max_size=MAX_LINE - 2,  # IRCv3 WebSocket: the line limit less the CRLF
            logger=_ws_log,
        )
        self.link: WebSocketTransport | None = None
        self._head = b""  # the request's first bytes, until its method is known
        self._method: bytes | None = None
        self._answering: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._done = False
        self.counted_ip = ""  # the address it is counted on while not a WebSocket (WebGate.admit)

    # asyncio.Protocol -------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Start the clock on the request."""
        self.transport = transport  # type: ignore[assignment]
        if self.gate.stopping:
            self.abort()
            return
        peer = transport.get_extra_info("peername")
        if not self.gate.admit(self, str(peer[0]) if isinstance(peer, tuple) else ""):
            self.gate.peers.add(self)  # not a request counted, but a socket to close on stopping
            busy = "Too many connections, try again later\n"
            self._answer(text_response(503, busy, [("Retry-After", "10")]))
            return
        self._timer = self.gate.host.loop.call_later(
            self.gate.host.settings.web_request_timeout, self._timed_out
        )

    def data_received(self, data: bytes) -> None:
        """Request bytes, then (once upgraded) WebSocket frames."""
        if self.link is not None:
            self.link.receive(data)
            return
        if self._done or self._answering is not None:
            return  # the request is being answered: what else comes is discarded
        if self._method is None:
            self._head += data
            if b"\r\n" not in self._head:
                if len(self._head) > MAX_REQUEST_LINE:
                    self._answer(text_response(414, "Request line too long\n"))
                return
            method = self._head.split(b" ", 1)[0]
            self._method = method
            if method == b"HEAD":
                # Parsed as the GET it asks about; only the body is left out of the answer.
                data = b"GET" + self._head[4:]
            elif method == b"GET":
                data = self._head
            else:
                self._answer(text_response(405, "Method not allowed\n", [("Allow", "GET, HEAD")]))
                return
            self._head = b""
        self.ws.receive_data(data)
        events = self.ws.events_received()
        if not events:
            self._flush()  # a head too large is answered by the protocol itself
            return
        request = events[0]
        if not isinstance(request, Request):
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._method == b"GET" and (_single(request.headers, "Upgrade") or "").lower() == "websocket":
            self._upgrade(request, events[1:])
        else:
            self._answering = self.gate.host.loop.create_task(self._route(request))

    def eof_received(self) -> bool | None:
        """The client closed its side."""
        if self.link is not None:
            self.link.eof_received()
            return True  # the WebSocket closes the socket itself
        if self._answering is not None and not self._done:
            return True  # a client may half-close once its request is sent: it still gets the answer
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        """The socket is closed."""
        self.gate.release(self)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._answering is not None:
            self._answering.cancel()
        if self.link is not None:
            self.gate.links.discard(self.link)
            self.link.connection_lost(exc)

    def pause_writing(self) -> None:
        """The socket's buffer is full: tell the Connection (its long replies wait)."""
        if self.link is not None and self.link.conn is not None:
            self.link.conn.pause_writing()

    def resume_writing(self) -> None:
        """The socket's buffer drained."""
        if self.link is not None and self.link.conn is not None:
            self.link.conn.resume_writing()

    # answering -------------------------------------------------------------------------------

    async def _route(self, request: Request) -> None:
        path = request.path.split("?", 1)[0]
        handler = ROUTES.get(path, static)
        try:
            response = await handler(self.gate, request)
        except Exception:
            log.exception("web request %s failed", path)
            response = text_response(500, "Internal server error\n")
        self._answer(response)

    def _answer(self, response: Response) -> None:
        """Send ``response`` and close: written here, not by the protocol, whatever its state."""
        if self._done:
            return
        if self._method == b"HEAD" and response.body:
            # HEAD: the headers the GET would have, Content-Length included, and no body.
            response = Response(response.status_code, response.reason_phrase, response.headers, b"")
        self._write(response.serialize())
        self._finish()

    def _upgrade(self, request: Request, rest: Sequence[object]) -> None:
        """Accept the WebSocket (or refuse it) and hand it to a new Connection."""
        gate = self.gate
        transport = self.transport
        assert transport is not None
        path = request.path.split("?", 1)[0]
        origins = request.headers.get_all("Origin")
        origin = ",".join(origins) if origins else None  # several: allowed by none of the rules
        if path not in ("/", "/irc"):
            self._answer(text_response(404, "Not found: WebSocket IRC is on / and /irc\n"))
            return
        if origin is not None and not gate.origin_allowed(origin, _single(request.headers, "Host")):
            # Checked before any upgrade: a page of another site never speaks for a browser's user.
            log.info("web door refused a WebSocket from origin %r", origin[:200])
            self._answer(text_response(403, "Origin not allowed\n"))
            return
        response = self.ws.accept(request)
        if response.status_code != 101:
            self._answer(response)  # a handshake that is not one (a missing key, a bad version)
            return
        self.ws.send_response(response)
        peer = transport.get_extra_info("peername")
        real = (str(peer[0]), int(peer[1])) if isinstance(peer, tuple) else ("", 0)
        # Several X-Forwarded-For lines are one list (RFC 9110 5.3): the last hop is the last's.
        forwarded = ",".join(request.headers.get_all("X-Forwarded-For")) or None
        address = gate.client_address(real, forwarded)
        host = gate.host
        link = WebSocketTransport(self.ws, transport, address, host.clock, host.settings.web_ping_interval)
        self.link = link
        gate.links.add(link)
        gate.release(self)  # a Connection now: closed and counted as the server's connections are
        link._send()  # the 101 response
        conn = host.new_connection()
        conn.door = "web"
        link.attach(conn)
        link.handle(rest)

    def _timed_out(self) -> None:
        self._timer = None
        if self.link is None and not self._done:
            self._answer(text_response(408, "Request timeout\n"))

    # the socket ------------------------------------------------------------------------------

    def _write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def _flush(self) -> None:
        for chunk in self.ws.data_to_send():
            if chunk:
                self._write(chunk)
            else:
                self._finish()

    def _finish(self) -> None:
        """The response is out: half-close, discard what the client still sends, then close.

        Closing with unread input would reset the connection, and the client could lose the
        response (as Connection.shut does for an IRC ERROR).
        """
        if self._done:
            return
        self._done = True
        # Answered: no longer a request waiting, whatever its socket's linger (a page is a dozen
        # requests, one connection each, and must not find the door full of its own goodbyes).
        self.gate.answered(self)
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        if transport.can_write_eof():
            transport.write_eof()
            self.gate.host.loop.call_later(LINGER, transport.close)
        else:
            transport.close()

    def abort(self) -> None:
        """Drop the socket now (the server stops)."""
        if self.transport is not None:
            self.transport.abort()
