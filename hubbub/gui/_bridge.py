"""The one module that talks to :mod:`hubbub.client`: runs it on a worker thread.

The window calls :meth:`Bridge.submit` with requests from :mod:`.events`; the bridge carries
them out on its own asyncio loop and puts the window's events on a :class:`queue.Queue`, which
the window drains with ``after()``. Nothing here touches Tk, and the window never waits on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import socket
import ssl
import threading
from collections import OrderedDict
from datetime import UTC, datetime

import hubbub.client as hc
from hubbub.protocol import Message as IRCMessage
from hubbub.protocol import parse as hc_parse

from . import events as ev
from . import replies

log = logging.getLogger(__name__)

# Numerics that mean "you cannot be in that channel" (Modern IRC: ERR_CHANNELISFULL,
# ERR_INVITEONLYCHAN, ERR_BADCHANNELKEY, ERR_NOSUCHCHANNEL, ERR_BADCHANMASK, ERR_TOOMANYCHANNELS).
_CANNOT_JOIN = {"471", "473", "475", "403", "476", "405"}
_BANNED = {"474", "465"}
_NICK_PROBLEMS = {"431", "432", "433", "436"}
_HISTORY_PAGE = 100
# Requests whose buffer of origin is remembered for routing their replies: enough for any burst
# of commands a person types; the oldest are forgotten first.
_ORIGINS_KEPT = 256
_BROWSER = "\x00browser"  # the origin of a LIST for the channel browser: its lines are not shown
LIST_TIMEOUT = 60.0  # a big network's LIST can take a while


def _now() -> datetime:
    return datetime.now(UTC)


def _why(exc: BaseException) -> str:
    """Why a first connection failed, in words for the connect form."""
    cause = exc.__cause__ or exc
    if isinstance(cause, ConnectionRefusedError):
        return "the connection was refused (is the server running, and is the port right?)"
    if isinstance(cause, socket.gaierror):
        return "no server of that name was found"
    if isinstance(cause, ssl.SSLError):
        return f"the TLS handshake failed ({cause.reason or cause})"
    if isinstance(cause, TimeoutError):
        return "no answer in time (is TLS on where the server has none, or off where it has?)"
    if isinstance(exc, hc.ClientError) and "did not complete" in str(exc):
        return "the server did not finish signing us on in time"
    return str(cause) or type(cause).__name__


class Bridge:
    """Runs a :class:`hubbub.client.Client` on a daemon thread; a queue of events out, requests in."""

    def __init__(self, options: ev.ConnectOptions, events: queue.Queue[ev.Event]) -> None:
        self.options = options
        self.events = events
        self._loop: asyncio.AbstractEventLoop | None = None
        self._requests: asyncio.Queue[ev.Request] | None = None
        self._ready = threading.Event()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="hubbub-network", daemon=True)
        self._client: hc.Client | None = None
        self._pending_history: dict[str, int] = {}
        # The last topic per channel (folded name), and channels whose join is still being reported
        # (with the member lists seen so far): a topic reported then is no change by anyone.
        self._topics: dict[str, str] = {}
        self._joining: dict[str, int] = {}
        # Set while the first registration is under way in the connect form's mode: why the
        # server refused it (a nick it does not allow, a failed login, its ERROR).
        self._refusal: asyncio.Future[str] | None = None
        # Label of a request -> the buffer it was typed in, where its replies go (labeled-response
        # where the server offers it, else a PING fence: replies come in the order of commands).
        self._origins: OrderedDict[str, str] = OrderedDict()
        self._tasks: set[asyncio.Task[None]] = set()

    # --- called from the window's thread ---------------------------------------------------------

    def start(self) -> None:
        """Start the worker thread and connect."""
        self._thread.start()
        self._ready.wait(5)

    def submit(self, request: ev.Request) -> None:
        """Queue ``request`` for the network thread; returns at once."""
        loop, requests = self._loop, self._requests
        if loop is None or requests is None or loop.is_closed():
            return
        with contextlib.suppress(RuntimeError):  # the loop just closed
            loop.call_soon_threadsafe(requests.put_nowait, request)

    def stop(self, reason: str = "", timeout: float = 3.0) -> None:
        """Quit, stop the worker and wait for it (at most ``timeout`` seconds)."""
        self._stopping = True
        self.submit(ev.QuitNetwork(reason))
        self._thread.join(timeout)

    # --- the worker thread -----------------------------------------------------------------------

    def _post(self, event: ev.Event) -> None:
        self.events.put(event)

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._requests = asyncio.Queue()
        self._ready.set()
        try:
            loop.run_until_complete(self._main())
        except Exception as exc:  # the window must hear about it, not the terminal
            log.exception("network thread failed")
            self._post(ev.ConnectionChanged("disconnected", f"internal error: {exc}"))
        finally:
            loop.close()

    async def _main(self) -> None:
        o = self.options
        config = hc.ClientConfig(
            nick=o.nick,
            realname=o.realname,
            channels=o.channels,
            sasl_username=o.nick if o.password else None,
            sasl_password=o.password or None,
            auto_fallback_nick=True,
            caps=hc.KNOWN_CAPS if o.multiline else hc.KNOWN_CAPS - {"draft/multiline"},
        )
        delay = 1.0
        while not self._stopping:
            client = hc.Client(
                o.host,
                o.port,
                config,
                tls=o.tls,
                reconnect=hc.ReconnectPolicy(initial=0.5, maximum=15.0),
                connect_timeout=o.connect_timeout,
                pacing=hc.SendPacing(burst=max(1, o.send_burst), rate=max(0.01, o.send_rate)),
            )
            self._client = client
            self._post(ev.ConnectionChanged("connecting", f"{o.host}:{o.port}"))
            pump = asyncio.create_task(self._pump(client))
            try:
                await self._first_connect(client)
            except (hc.ClientError, OSError, TimeoutError) as exc:
                pump.cancel()
                if not o.retry_first:
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(client.close(), 3)
                    self._post(ev.ConnectFailed(_why(exc)))
                    return
                self._post(
                    ev.ConnectionChanged("failed", f"{exc or type(exc).__name__}; retrying in {delay:.0f} s")
                )
                if await self._wait_request_or(delay):
                    return
                delay = min(delay * 2, 30.0)
                continue
            await self._serve_requests(client)
            pump.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await pump
            return

    async def _first_connect(self, client: hc.Client) -> None:
        """Connect and register; in the form's mode, also fail when the server refuses us."""
        if self.options.retry_first:
            await client.connect()
            return
        refusal = self._refusal = asyncio.get_running_loop().create_future()
        connecting = asyncio.ensure_future(client.connect())
        try:
            await asyncio.wait({connecting, refusal}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self._refusal = None
        if connecting.done():
            refusal.cancel()
            connecting.result()  # raises what connect() raised
            return
        connecting.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await connecting
        raise hc.ClientError(refusal.result())

    def _refused(self, event: hc.Event) -> None:
        """Before the first registration in the form's mode: note a refusal that ends it."""
        refusal = self._refusal
        if refusal is None or refusal.done():
            return
        if isinstance(event, hc.NickInUse) and event.fallback is None:
            why = f": {event.reason}" if event.reason else ""
            refusal.set_result(f"The server refused the nickname {event.nick}{why}")
        elif isinstance(event, hc.Error):
            refusal.set_result(event.text)

    async def _wait_request_or(self, seconds: float) -> bool:
        """Wait ``seconds`` for a retry; True when a quit request came meanwhile."""
        assert self._requests is not None
        try:
            request = await asyncio.wait_for(self._requests.get(), seconds)
        except TimeoutError:
            return self._stopping
        return isinstance(request, ev.QuitNetwork) or self._stopping

    async def _serve_requests(self, client: hc.Client) -> None:
        assert self._requests is not None
        while True:
            request = await self._requests.get()
            if isinstance(request, ev.QuitNetwork):
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(client.close(request.reason or "Leaving"), 3)
                self._post(ev.ConnectionChanged("disconnected", "you quit"))
                return
            try:
                await self._carry_out(client, request)
            except (hc.ClientError, OSError, ValueError) as exc:
                self._post(ev.Problem("error", f"could not {type(request).__name__}: {exc}"))

    async def _carry_out(self, client: hc.Client, r: ev.Request) -> None:
        if isinstance(r, ev.SendText):
            # Queued, not awaited: a long paste goes out paced while other requests carry on.
            if r.action:
                for line in r.lines:
                    await client.send_action(r.target, line, wait=False)
            else:
                await client.send_message(r.target, "\n".join(r.lines), wait=False)
        elif isinstance(r, ev.JoinChannels):
            for i, channel in enumerate(r.channels):
                await client.join(channel, r.keys[i] if i < len(r.keys) else None)
        elif isinstance(r, ev.PartChannel):
            await client.part(r.channel, r.reason)
        elif isinstance(r, ev.ChangeNick):
            await client.set_nick(r.nick)
        elif isinstance(r, ev.SetTopic):
            if r.topic is None:
                await client.raw(f"TOPIC {r.channel}")
            else:
                await client.set_topic(r.channel, r.topic)
        elif isinstance(r, ev.SetAway):
            await client.set_away(r.message or None)
        elif isinstance(r, ev.KickMember):
            await client.raw(
                f"KICK {r.channel} {r.nick} :{r.reason}" if r.reason else f"KICK {r.channel} {r.nick}"
            )
        elif isinstance(r, ev.SendTyping):
            await client.typing(r.target, r.state)
        elif isinstance(r, ev.DeleteMessage):
            await client.redact(r.target, r.msgid)
        elif isinstance(r, ev.RenameChannel):
            await client.rename(r.channel, r.new, r.reason)
        elif isinstance(r, ev.SetMode):
            await client.raw("MODE " + " ".join(r.args))
        elif isinstance(r, ev.Whois):
            if r.origin is None:
                await client.whois(r.nick)
            else:
                self._ask(client, r.origin, ("WHOIS", r.nick))
        elif isinstance(r, ev.SendRaw):
            if r.origin is None:
                await client.raw(r.line)
            else:
                client.protocol.raw(r.line)  # refuse a malformed line here, as raw() would
                self._ask(client, r.origin, (r.line,))
        elif isinstance(r, ev.ListChannels):
            self._ask(client, _BROWSER, ("LIST", *r.args), LIST_TIMEOUT)
        elif isinstance(r, ev.LoadOlder):
            await self._load_older(client, r)
        elif isinstance(r, ev.SearchMessages):
            await self._search(client, r)
        elif isinstance(r, ev.LoadAround) and "draft/chathistory" in client.protocol.caps_enabled:
            self._pending_history[client.protocol.casefold(r.target)] = r.limit
            await client.history_around(r.target, r.msgid, r.limit)

    async def _search(self, client: hc.Client, r: ev.SearchMessages) -> None:
        if not client.protocol.can_search:
            self._post(ev.SearchResults(r.text, r.scope, error="This server does not offer search."))
            return
        try:
            found = await client.search(r.text, target=r.scope or None, timeout=20.0)
        except (hc.ClientError, TimeoutError) as exc:
            self._post(ev.SearchResults(r.text, r.scope, error=f"Search failed: {exc or 'no answer'}"))
            return
        self._post(ev.SearchResults(r.text, r.scope, tuple(self._chat(m) for m in found)))

    def _ask(self, client: hc.Client, origin: str, params: tuple[str, ...], timeout: float = 30.0) -> None:
        """Send a labelled request in the background; its replies are shown in buffer ``origin``."""

        def remember(label: str) -> None:
            self._origins[label] = origin
            while len(self._origins) > _ORIGINS_KEPT:
                self._origins.popitem(last=False)

        async def run() -> None:
            if len(params) == 1:  # a raw line: split it as the server will
                msg = hc_parse(params[0])
                args: tuple[str, ...] = (msg.command, *msg.params)
            else:
                args = params
            try:
                lines = await client.request(*args, timeout=timeout, on_label=remember)
            except (hc.ClientError, TimeoutError, OSError) as exc:
                if origin == _BROWSER:
                    self._post(ev.ChannelListed((), f"no channel list: {exc or 'timed out'}"))
                return
            if origin == _BROWSER:
                self._post(self._channel_list(lines))

        task = asyncio.get_running_loop().create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @staticmethod
    def _channel_list(lines: list[IRCMessage]) -> ev.ChannelListed:
        entries = []
        error = ""
        for m in lines:
            p = m.params[1:]  # after our nick
            if m.command == "322" and len(p) >= 2:  # RPL_LIST <channel> <count> :<topic>
                users = int(p[1]) if p[1].isdigit() else 0
                entries.append(ev.ChannelEntry(p[0], users, p[2] if len(p) > 2 else ""))
            elif replies.is_error(m.command):
                error = replies.describe(m.command, p) or m.command
        return ev.ChannelListed(tuple(entries), error)

    async def _load_older(self, client: hc.Client, r: ev.LoadOlder) -> None:
        if "draft/chathistory" not in client.protocol.caps_enabled:
            self._post(ev.HistoryLoaded(r.target, (), older=True, exhausted=True))
            return
        before: str | datetime | None = r.before_msgid or r.before_time
        if before is None:
            self._pending_history[client.protocol.casefold(r.target)] = r.limit
            await client.history_latest(r.target, r.limit)
        else:
            self._pending_history[client.protocol.casefold(r.target)] = r.limit
            await client.history_before(r.target, before, r.limit)

    # --- events from the library -----------------------------------------------------------------

    async def _pump(self, client: hc.Client) -> None:
        async for event in client.events():
            try:
                self._refused(event)
                for out in self._translate(client, event):
                    self._post(out)
                if isinstance(event, hc.Joined) and event.is_self:
                    await self._history_on_join(client, event.channel)
            except Exception:  # one odd event must not stop the stream
                log.exception("cannot show event %r", event)

    async def _history_on_join(self, client: hc.Client, channel: str) -> None:
        if "draft/chathistory" in client.protocol.caps_enabled:
            self._pending_history[client.protocol.casefold(channel)] = _HISTORY_PAGE
            await client.history_latest(channel, _HISTORY_PAGE)

    def _members(self, client: hc.Client, channel: str) -> ev.MembersChanged:
        proto = client.protocol
        chan = proto.channel(channel)
        if chan is None:
            return ev.MembersChanged(channel, ())
        symbols = proto.isupport.prefix[1]
        members = []
        for m in chan.member_list(symbols):
            user = proto.users.get(proto.casefold(m.nick))
            shown = user.metadata.get("display-name", "") if user is not None else ""
            host = (user.host or "") if user is not None else ""
            members.append(ev.Member(m.nick, m.prefix, bool(user and user.away), shown, host))
        return ev.MembersChanged(chan.name, tuple(members))

    def _chat(self, m: hc.Message) -> ev.ChatLine:
        kind = {"privmsg": "message", "action": "action", "notice": "notice"}[m.kind]
        return ev.ChatLine(m.target, m.sender, m.text, m.time, kind, m.is_self, m.msgid)  # type: ignore[arg-type]

    def _translate(self, client: hc.Client, e: hc.Event) -> list[ev.Event]:
        o = self.options
        if isinstance(e, hc.Message):
            return [self._chat(e)]
        if isinstance(e, hc.MetadataChanged):
            # A member's display name is shown in the member lists of the channels it is in.
            if e.key != "display-name" or client.protocol.is_channel(e.target):
                return []
            key = client.protocol.casefold(e.target)
            return [
                self._members(client, c.name) for c in client.protocol.channels.values() if key in c.members
            ]
        if isinstance(e, hc.Typing):
            return [ev.Typing(e.target, e.nick, e.state)]
        if isinstance(e, hc.MessageRedacted):
            return [ev.MessageRedacted(e.target, e.msgid, e.reason, e.by)]
        if isinstance(e, hc.Connected):
            return [ev.ConnectionChanged("connected", f"{o.host}:{o.port}")]
        if isinstance(e, hc.Registered):
            return [ev.Registered(e.nick, e.isupport.network or "", e.isupport.get("ELIST") or "")]
        if isinstance(e, hc.Joined):
            if e.is_self:
                key = client.protocol.casefold(e.channel)
                self._joining[key] = 0
                self._topics.pop(key, None)
            return [ev.Joined(e.channel, e.nick, e.is_self, _now())]
        if isinstance(e, hc.Parted):
            return [ev.Parted(e.channel, e.nick, e.reason, e.is_self, _now())]
        if isinstance(e, hc.Kicked):
            return [ev.Kicked(e.channel, e.nick, e.by, e.reason, e.is_self, _now())]
        if isinstance(e, hc.Quit):
            return [ev.Quit(e.nick, e.reason, _now())]
        if isinstance(e, hc.NickChanged):
            return [ev.NickChanged(e.old, e.new, e.is_self, _now())]
        if isinstance(e, hc.TopicChanged):
            # On join, RPL_TOPIC reports the topic and RPL_TOPICWHOTIME who set it, maybe seconds ago:
            # neither is a change. A change is a new text, with its setter, while we are in.
            key = client.protocol.casefold(e.channel)
            known = self._topics.get(key, "")
            self._topics[key] = e.topic
            fresh = e.set_by is not None and key not in self._joining and e.topic != known
            return [ev.TopicChanged(e.channel, e.topic, e.set_by or "" if fresh else "", e.set_at)]
        if isinstance(e, hc.ChannelRenamed):
            old, new = client.protocol.casefold(e.old), client.protocol.casefold(e.new)
            for table in (self._topics, self._joining, self._pending_history):
                if old in table:
                    table[new] = table.pop(old)  # type: ignore[assignment]
            return [ev.ChannelRenamed(e.old, e.new, e.reason, e.by, _now())]
        if isinstance(e, hc.MembersChanged):
            key = client.protocol.casefold(e.channel)
            if key in self._joining:
                # The member list comes with our JOIN and again after NAMES, which ends what the
                # server reports on joining (the topic among it).
                self._joining[key] += 1
                if self._joining[key] >= 2:
                    del self._joining[key]
            return [self._members(client, e.channel)]
        if isinstance(e, hc.AwayChanged):
            return [ev.AwayChanged(e.nick, e.away, e.message)]
        if isinstance(e, hc.ModeChanged):
            if client.protocol.is_channel(e.target):
                text = f"{e.setter} set mode {e.modes} {' '.join(e.params)}".rstrip()
                return [ev.ServerText(text, e.target, _now())]
            return []
        if isinstance(e, hc.Invited):
            return [ev.ServerText(f"{e.by} invited {e.nick} to {e.channel}")]
        if isinstance(e, hc.HistoryBatch):
            limit = self._pending_history.pop(client.protocol.casefold(e.target), _HISTORY_PAGE)
            lines = tuple(self._chat(m) for m in e.messages)
            return [
                ev.HistoryLoaded(e.target, lines, older=e.before, exhausted=e.before and len(lines) < limit)
            ]
        if isinstance(e, hc.NickInUse):
            if e.code == "432":  # ERR_ERRONEUSNICKNAME: not taken, but not allowed at all
                why = f" ({e.reason})" if e.reason else ""
                text = f"The server does not allow the nick {e.nick}{why}. Pick another."
            elif e.fallback:
                text = f"The nick {e.nick} is taken; trying {e.fallback}. Use /nick to pick another."
            else:
                text = f"The nick {e.nick} is taken. Pick another."
            return [ev.Problem("nick_in_use", text)]
        if isinstance(e, hc.Disconnected):
            state: ev.ConnectionState = (
                "reconnecting" if e.will_reconnect and not self._stopping else "disconnected"
            )
            return [ev.ConnectionChanged(state, e.reason)]
        if isinstance(e, hc.Reconnecting):
            return [
                ev.ConnectionChanged("reconnecting", f"next attempt in {e.delay:.0f} s (attempt {e.attempt})")
            ]
        if isinstance(e, hc.ServerReply):
            return self._reply(e)
        if isinstance(e, hc.Sending):
            return [ev.SendProgress(e.target, e.sent, e.total)]
        if isinstance(e, hc.NotSent):
            first = e.texts[0].split("\n", 1)[0]
            more = len(e.texts) - 1 + e.texts[0].count("\n")
            text = f"Not sent ({e.reason}): “{first[:80]}”" + (f" and {more} more lines" if more else "")
            return [ev.Problem("error", text, e.target)]
        if isinstance(e, hc.HistoryGap):
            return [ev.ServerText("Some messages from while you were away may be missing.", e.target, _now())]
        if isinstance(e, hc.Error):
            return [ev.Problem("error", e.text)]
        return []

    def _reply(self, e: hc.ServerReply) -> list[ev.Event]:
        if e.command == "FAIL" and e.params[:1] == ("SEARCH",):
            return []  # the search that failed says so in its results (SearchResults.error)
        origin = self._origins.get(e.label) if e.label else None
        if origin == _BROWSER:
            return []  # the channel browser shows the whole answer at once
        text = replies.describe(e.command, e.params)
        if text is None:
            return []
        # An answer to something typed goes to the buffer it was typed in, not to the one it names.
        target = origin if origin is not None else e.target or ""
        if e.command in _NICK_PROBLEMS:
            return [ev.Problem("nick_in_use", text)]
        if e.command in _BANNED:
            return [ev.Problem("banned", text, target)]
        if e.command in _CANNOT_JOIN:
            return [ev.Problem("cannot_join", text, target)]
        if e.command == "421":
            return [ev.Problem("unknown_command", text, target)]
        if replies.is_error(e.command):
            return [ev.Problem("error", text, target)]
        return [ev.ServerText(text, target, _now())]
