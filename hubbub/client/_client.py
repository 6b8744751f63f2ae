"""The asyncio driver: a socket, reconnects with backoff, and an event stream over ClientProtocol."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import ssl
from collections.abc import AsyncIterator, Callable
from datetime import datetime

from hubbub.protocol import Message as IRCMessage

from ._config import ClientConfig, ReconnectPolicy
from ._errors import ClientError
from ._events import (
    Connected,
    Disconnected,
    Error,
    Event,
    LabeledResponse,
    Message,
    MessageKind,
    Reconnecting,
    Registered,
    TypingState,
)
from ._pacing import SendPacing
from ._protocol import ClientProtocol
from ._sender import Outgoing, Sender, Unit

log = logging.getLogger(__name__)

_READ_SIZE = 65536
_SECRET_COMMANDS = (b"PASS ", b"AUTHENTICATE ", b"OPER ")


def _redact_line(line: bytes) -> bytes:
    # A labelled request ("@label=x OPER ...") has its tags before the command.
    tags, body = line.split(b" ", 1) if line.startswith(b"@") and b" " in line else (b"", line)
    if not body.upper().startswith(_SECRET_COMMANDS):
        return line
    return (tags + b" " if tags else b"") + body.split(b" ", 1)[0] + b" <hidden>"


def _redact(data: bytes) -> bytes:
    """``data`` for the debug log, with passwords (PASS, SASL payloads, OPER) blanked out."""
    if not any(word in data.upper() for word in _SECRET_COMMANDS):
        return data
    return b"\r\n".join(_redact_line(line) for line in data.split(b"\r\n"))


class Client:
    """An IRC client on asyncio: connect, read events, send commands; reconnects by itself.

    ``tls`` is ``False`` for plain TCP, ``True`` for TLS with a default context, or an
    :class:`ssl.SSLContext`. With ``tls=True``, ``tls_verify=False`` accepts any certificate and
    ``ca_file`` names the CA bundle to trust. ``reconnect`` sets the backoff (see
    :class:`ReconnectPolicy`); ``ping_interval`` is how long a silent connection waits before it
    sends PING, and it is declared dead after as long again without an answer. ``pacing``
    (:class:`SendPacing`) keeps what the application sends within the server's flood limits:
    commands past them wait in order in a queue that survives reconnects.

    Events queue up until read (:meth:`events`, :meth:`next_event`), so read them steadily.
    """

    def __init__(
        self,
        host: str,
        port: int,
        config: ClientConfig,
        *,
        tls: bool | ssl.SSLContext = False,
        tls_verify: bool = True,
        ca_file: str | None = None,
        reconnect: ReconnectPolicy | None = None,
        connect_timeout: float = 10.0,
        ping_interval: float = 60.0,
        pacing: SendPacing | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.config = config
        self.reconnect_policy = reconnect or ReconnectPolicy()
        self.connect_timeout = connect_timeout
        self.ping_interval = ping_interval
        self._ssl = self._ssl_context(tls, tls_verify, ca_file)
        self._proto = ClientProtocol(config)
        self._queue: asyncio.Queue[Event | None] = asyncio.Queue()
        self._writer: asyncio.StreamWriter | None = None
        self._task: asyncio.Task[None] | None = None
        self._closing = asyncio.Event()
        self._registered = asyncio.Event()
        self._pending: dict[str, asyncio.Future[list[IRCMessage]]] = {}
        self._ended = False
        self._random = random.Random()
        self.pacing = pacing or SendPacing()
        self._sender: Sender | None = None
        self._sender_task: asyncio.Task[None] | None = None

    @staticmethod
    def _ssl_context(tls: bool | ssl.SSLContext, verify: bool, ca_file: str | None) -> ssl.SSLContext | None:
        if isinstance(tls, ssl.SSLContext):
            return tls
        if not tls:
            return None
        context = ssl.create_default_context(cafile=ca_file)
        if not verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    @property
    def protocol(self) -> ClientProtocol:
        """The state machine: our nick, channels and members, ISUPPORT, capabilities."""
        return self._proto

    @property
    def connected(self) -> bool:
        """Whether a registered connection is open right now."""
        return self._writer is not None and self._registered.is_set()

    # -- connection lifecycle -------------------------------------------------------------
    async def _open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        try:
            return await asyncio.wait_for(
                asyncio.open_connection(
                    self.host,
                    self.port,
                    ssl=self._ssl,
                    server_hostname=self.host if self._ssl else None,
                ),
                self.connect_timeout,
            )
        except (OSError, TimeoutError, ssl.SSLError) as exc:
            raise ClientError(f"cannot connect to {self.host}:{self.port}: {exc or 'timed out'}") from exc

    async def connect(self, timeout: float | None = None) -> None:
        """Connect and register; return once :class:`Registered` is seen.

        Raises :class:`ClientError` when the first connection fails or registration does not
        complete within ``timeout`` (the connect timeout by default). After that, dropped
        connections are retried in the background according to the reconnect policy.
        """
        if self._task is not None:
            raise ClientError("already connected")
        reader, writer = await self._open()
        sender = self._sender = Sender(
            self.pacing,
            emit=self._put,
            sent=self._unit_sent,
            multiline=lambda: "draft/multiline" in self._proto.caps_enabled,
            name=self.config.nick,
        )
        self._sender_task = asyncio.create_task(sender.run(), name=f"hubbub-sender-{self.config.nick}")
        self._task = asyncio.create_task(self._run(reader, writer), name=f"hubbub-client-{self.config.nick}")
        registered = asyncio.ensure_future(self._registered.wait())
        try:
            done, _ = await asyncio.wait(
                {registered, self._task},
                timeout=timeout or self.connect_timeout,
                return_when=asyncio.FIRST_COMPLETED,
            )
        finally:
            registered.cancel()
        if registered not in done or not self._registered.is_set():
            await self._abort()
            raise ClientError(f"registration with {self.host}:{self.port} did not complete")

    async def _abort(self) -> None:
        self._closing.set()
        if self._writer is not None:
            self._writer.close()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(self._task, 5)
        self._task = None

    async def _run(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        policy = self.reconnect_policy
        attempt = 0
        reason = "connection closed"
        try:
            while True:
                reason = await self._session(reader, writer)
                if self._closing.is_set():
                    reason = "closed"
                if self._registered.is_set():
                    attempt = 0
                self._registered.clear()
                will = policy.enabled and not self._closing.is_set()
                while True:
                    if will and policy.max_attempts and attempt >= policy.max_attempts:
                        will = False
                    self._put(Disconnected(reason, will))
                    if not will:
                        return
                    attempt += 1
                    delay = policy.delay(attempt, self._random.random())
                    self._put(Reconnecting(delay, attempt))
                    # Wait out the backoff, but wake at once when close() is called.
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._closing.wait(), delay)
                    if self._closing.is_set():
                        self._put(Disconnected("closed", False))
                        return
                    try:
                        reader, writer = await self._open()
                        break
                    except ClientError as exc:
                        reason = str(exc)
        finally:
            self._stop_sender(reason if not self._closing.is_set() else "the client was closed")
            self._end_stream()

    def _stop_sender(self, reason: str) -> None:
        """Report what is still queued as not sent, and stop the sending task."""
        if self._sender is not None:
            self._sender.fail(reason)
        if self._sender_task is not None:
            self._sender_task.cancel()
            self._sender_task = None

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> str:
        """Run one connection until it ends; return why it ended."""
        self._writer = writer
        reason = "connection closed by the server"
        try:
            self._put(Connected())
            writer.write(self._proto.connection_made())
            await writer.drain()
            waiting_for_pong = False
            while True:
                try:
                    data = await asyncio.wait_for(reader.read(_READ_SIZE), self.ping_interval)
                except TimeoutError:
                    if waiting_for_pong:
                        return "ping timeout"
                    waiting_for_pong = True
                    writer.write(b"PING :hubbub-keepalive\r\n")
                    await writer.drain()
                    continue
                if not data:
                    return reason
                if log.isEnabledFor(logging.DEBUG):
                    log.debug("%s << %r", self.config.nick, data)
                waiting_for_pong = False
                for event in self._proto.receive_data(data):
                    if isinstance(event, Error):
                        reason = event.text
                    self._dispatch(event)
                out = self._proto.data_to_send()
                if out:
                    log.debug("%s >> %r", self.config.nick, _redact(out))
                    writer.write(out)
                    if self._registered.is_set() and self._sender is not None:
                        # The server counts these too (rejoins, gap fills, PONG).
                        self._sender.pacer.spend(out, asyncio.get_running_loop().time())
                    await writer.drain()
        except (OSError, ssl.SSLError) as exc:
            return f"connection lost: {exc}"
        finally:
            self._writer = None
            if self._sender is not None:
                self._sender.detach()
            self._proto.connection_lost()
            for future in self._pending.values():
                if not future.done():
                    future.set_exception(ClientError("connection lost before the reply"))
            self._pending.clear()
            writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), 2)

    def _dispatch(self, event: Event) -> None:
        if isinstance(event, LabeledResponse):
            future = self._pending.pop(event.label, None)
            if future is not None:
                if not future.done():
                    future.set_result(list(event.messages))
                return
        if isinstance(event, Registered):
            self._registered.set()
            self._put(event)
            # Queued commands go after what registration itself sends (the rejoins).
            if self._sender is not None and self._writer is not None:
                self._sender.attach(self._writer)
            return
        self._put(event)

    def _put(self, event: Event) -> None:
        self._queue.put_nowait(event)

    def _end_stream(self) -> None:
        if not self._ended:
            self._ended = True
            self._queue.put_nowait(None)

    async def close(self, reason: str = "") -> None:
        """QUIT, close the connection and stop reconnecting; the event stream ends.

        Messages still queued (paced) are not sent: each is reported as :class:`NotSent`. Call
        :meth:`flush` first to send them.
        """
        self._closing.set()
        writer = self._writer
        if writer is not None:
            with contextlib.suppress(Exception):
                writer.write(self._proto.quit(reason))
                await asyncio.wait_for(writer.drain(), 2)
            writer.close()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(self._task, 5)
            self._task = None
        self._stop_sender("the client was closed")
        self._end_stream()

    async def flush(self, timeout: float | None = None) -> None:
        """Wait until every queued command and message has been written to the server.

        Raises :class:`TimeoutError` after ``timeout`` seconds.
        """
        if self._sender is not None:
            await asyncio.wait_for(self._sender.flush(), timeout)

    @property
    def queued(self) -> bool:
        """Whether commands wait in the queue for the pacing (or for a reconnect)."""
        return self._sender is not None and self._sender.busy

    # -- events ---------------------------------------------------------------------------------
    async def events(self) -> AsyncIterator[Event]:
        """Iterate over events as they come; ends after :meth:`close` (or when reconnecting gives up)."""
        while True:
            event = await self._queue.get()
            if event is None:
                self._queue.put_nowait(None)  # let other readers see the end too
                return
            yield event

    async def next_event(self, timeout: float | None = None) -> Event:
        """The next event; raises :class:`TimeoutError` after ``timeout`` seconds.

        Raises :class:`ClientError` once the stream has ended.
        """
        event = await asyncio.wait_for(self._queue.get(), timeout)
        if event is None:
            self._queue.put_nowait(None)
            raise ClientError("the client is closed")
        return event

    async def wait_for(self, kind: type[Event], timeout: float, **fields: object) -> Event:
        """Skip events until one of type ``kind`` whose attributes equal ``fields``; return it.

        Raises :class:`TimeoutError` when none comes within ``timeout`` seconds.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            event = await self.next_event(max(0.0, deadline - loop.time()))
            if isinstance(event, kind) and all(getattr(event, k, None) == v for k, v in fields.items()):
                return event

    # -- commands ---------------------------------------------------------------------------------
    def _unit_sent(self, entry: Outgoing, unit: Unit) -> None:
        # Without echo-message our own message is reported once it is written, not when queued.
        if entry.kind is not None and unit.shown is not None:
            own = self._proto.own_message(entry.target, unit.shown, entry.kind)
            if own is not None:
                self._put(own)

    def _live_sender(self, *, queue_offline: bool = False) -> Sender:
        """The sender, when a command may be queued now: connected, or (``queue_offline``)
        waiting to reconnect."""
        sender = self._sender
        if sender is None or self._closing.is_set() or self._ended:
            raise ClientError("not connected")
        if self._writer is None and not queue_offline:
            raise ClientError("not connected")
        return sender

    async def _write(self, data: bytes) -> None:
        """Write ``data`` now, ahead of the queue (history reads, typing): counted, not paced."""
        writer = self._writer
        if writer is None or self._closing.is_set():
            raise ClientError("not connected")
        log.debug("%s >> %r", self.config.nick, _redact(data))
        writer.write(data)
        if self._sender is not None:
            self._sender.pacer.spend(data, asyncio.get_running_loop().time())
        await writer.drain()

    async def _command(self, data: bytes, *, resend: bool = True) -> None:
        """Send ``data`` (one command) in order behind the queue: now if nothing waits.

        Before registration it goes at once: the queue waits for registration, which may
        need this very command (a NICK answering ``NickInUse``).
        """
        sender = self._live_sender()
        if not self._registered.is_set():
            await self._write(data)
            return
        lines = tuple(line + b"\r\n" for line in data.split(b"\r\n") if line)
        entry = Outgoing("", [Unit(lines)], resend=resend)
        if sender.push(entry):
            log.debug("%s >> %r", self.config.nick, _redact(data))
            writer = self._writer
            if writer is not None:
                await writer.drain()

    async def _send_chat(self, target: str, text: str, kind: MessageKind, wait: bool) -> None:
        sender = self._live_sender(queue_offline=True)
        units = [
            Unit(tuple(line + b"\r\n" for line in data.split(b"\r\n") if line), weight, shown)
            for data, shown, weight in self._proto.message_units(target, text, kind=kind)
        ]
        entry = Outgoing(target, units, kind)
        written = sender.push(entry)
        if not written and wait:
            await sender.waiter(entry)
        elif written and self._writer is not None:
            await self._writer.drain()

    async def send_message(self, target: str, text: str, *, wait: bool = True) -> None:
        """Send ``text`` to a channel or nick (split and batched as :meth:`ClientProtocol.send_message`).

        Paced to the server's flood limits (``pacing``): with ``wait`` it returns once the
        whole text has been written, else once it is queued. While the client reconnects it
        is queued and sent after. Raises :class:`ClientError` when it will never be sent (the
        client is closed, or gives up reconnecting: a :class:`NotSent` event says so too).
        """
        await self._send_chat(target, text, "privmsg", wait)

    async def send_notice(self, target: str, text: str, *, wait: bool = True) -> None:
        """Send ``text`` as a NOTICE (queued and paced as :meth:`send_message`)."""
        await self._send_chat(target, text, "notice", wait)

    async def send_action(self, target: str, text: str, *, wait: bool = True) -> None:
        """Send ``text`` as a CTCP ACTION (``/me``), queued and paced as :meth:`send_message`."""
        await self._send_chat(target, text, "action", wait)

    async def typing(self, target: str, state: TypingState = "active") -> None:
        """Tell ``target`` we are typing: throttled, with message-tags only (see the protocol's).

        A notification would only delay messages while the queue is busy or the pacing nearly
        spent: then it is left out (the typing spec's notifications are hints).
        """
        sender = self._sender
        if sender is None or self._writer is None:
            return
        if sender.busy or sender.pacer.spare_messages(asyncio.get_running_loop().time()) < 2:
            return
        data = self._proto.typing(target, state)
        if data:
            await self._write(data)

    async def join(self, channel: str, key: str | None = None) -> None:
        """Join ``channel`` (and rejoin it after reconnects); while disconnected it is joined on return."""
        data = self._proto.join(channel, key)
        if self._writer is not None and self._registered.is_set():
            await self._command(data)

    async def part(self, channel: str, reason: str = "") -> None:
        """Leave ``channel``."""
        data = self._proto.part(channel, reason)
        if self._writer is not None and self._registered.is_set():
            await self._command(data)

    async def set_nick(self, nick: str) -> None:
        """Change our nick."""
        await self._command(self._proto.set_nick(nick))

    async def set_topic(self, channel: str, topic: str) -> None:
        """Set the topic of ``channel``."""
        await self._command(self._proto.set_topic(channel, topic))

    async def rename(self, channel: str, new_name: str, reason: str = "") -> None:
        """Rename ``channel`` to ``new_name`` (draft/channel-rename; channel operators only)."""
        await self._command(self._proto.rename(channel, new_name, reason))

    async def redact(self, target: str, msgid: str, reason: str | None = None) -> None:
        """Delete the message ``msgid`` of ``target`` (draft/message-redaction), with ``reason``."""
        await self._command(self._proto.redact(target, msgid, reason))

    async def set_away(self, message: str | None) -> None:
        """Mark ourselves away with ``message``, or back with ``None``."""
        await self._command(self._proto.set_away(message))

    async def whois(self, nick: str) -> None:
        """Ask about ``nick``; replies arrive as :class:`ServerReply` events."""
        await self._command(self._proto.whois(nick))

    async def raw(self, line: str) -> None:
        """Send one raw IRC line (in order behind any queued messages)."""
        await self._command(self._proto.raw(line))

    async def request(
        self, *params: str, timeout: float = 10.0, on_label: Callable[[str], None] | None = None
    ) -> list[IRCMessage]:
        """Send a command and return the server's reply lines (labeled-response, or a PING fence).

        It goes in order behind any queued messages. ``on_label`` is called with the request's
        label before it is sent, so a caller can tell its replies (:attr:`ServerReply.label`) from
        others as they stream in. Raises :class:`TimeoutError` when the reply does not complete
        within ``timeout``.
        """
        self._live_sender()
        label, data = self._proto.request(*params)
        future: asyncio.Future[list[IRCMessage]] = asyncio.get_running_loop().create_future()
        self._pending[label] = future
        if on_label is not None:
            on_label(label)
        try:
            await self._command(data, resend=False)
            return await asyncio.wait_for(future, timeout)
        finally:
            self._pending.pop(label, None)

    async def search(
        self,
        text: str,
        *,
        target: str | None = None,
        sender: str | None = None,
        after: datetime | None = None,
        before: datetime | None = None,
        limit: int | None = None,
        timeout: float = 10.0,
    ) -> list[Message]:
        """Search the server's history (soju.im/search) for messages holding every word of ``text``.

        ``target`` limits it to one channel or direct conversation (a nick), ``sender`` to one
        sender's nick, ``after``/``before`` to a time range; ``limit`` to that many (the newest,
        or with ``after`` the first from then on). Returns :class:`Message` values, oldest first,
        each with ``target`` set to the buffer it belongs in. Raises :class:`ClientError` when
        the server does not offer search or refuses this one (its reason as the text), and
        :class:`TimeoutError` after ``timeout`` seconds.
        """
        attrs = self._proto.search_attributes(
            text, target=target, sender=sender, after=after, before=before, limit=limit
        )
        lines = await self.request("SEARCH", attrs, timeout=timeout)
        return self._proto.take_search_results(lines)

    async def history_before(self, target: str, before: str | datetime, limit: int | None = None) -> None:
        """Ask for messages of ``target`` before a msgid or time; they arrive as a :class:`HistoryBatch`."""
        await self._write(self._proto.history_before(target, before, limit))

    async def history_around(self, target: str, msgid: str, limit: int | None = None) -> None:
        """Ask for the messages of ``target`` around ``msgid``; they arrive as a :class:`HistoryBatch`."""
        await self._write(self._proto.history_around(target, msgid, limit))

    async def history_latest(self, target: str, limit: int | None = None) -> None:
        """Ask for the latest messages of ``target``; they arrive as a :class:`HistoryBatch`."""
        await self._write(self._proto.history_latest(target, limit))
