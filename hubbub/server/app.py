"""The server: start-up, the listening door, the per-turn flush, and graceful shutdown.

The map of the server's modules and layers is docs/architecture.md.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from hubbub import __version__
from hubbub.protocol import Casemapping, Message
from hubbub.store import SQLiteStore, datadir
from hubbub.store.postgres import PostgresStore

from . import startup
from .accounts import Accounts
from .bans import Bans
from .clock import Clock, Deadlines, SystemClock, Timer
from .cluster import STATELESS, Cluster, ClusterError
from .committed import StoreHealth, release
from .config import Settings
from .connection import Connection
from .delivery import Delivery
from .directs import Directs
from .doors import Door
from .endings import Endings
from .handlers import devices, metadata
from .handlers.chghost import change_host
from .handlers.context import NickClaims
from .handlers.dispatch import dispatch
from .handlers.registration import become_device
from .history import History
from .isupport import isupport_tokens, offered_caps
from .limits import ConnectionCounter, RefusalLog, connection_room
from .metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from .metrics import Metrics
from .outbox import Epoch, Outboxes
from .registry import ChannelRegistry
from .session import Session
from .stats import Stats
from .tls import server_context, trust_clients
from .tutorial import TutorialBridge
from .watch import DatabaseWatch
from .web import WebGate
from .world import Channel, World

log = logging.getLogger(__name__)

SHUTDOWN_GRACE = 3.0
# Seconds between the probes that measure how late the event loop runs a timer (/metrics).
LAG_PROBE_INTERVAL = 1.0


class Server:
    """One hubbub node: its settings, world, delivery and listeners."""

    def __init__(self, settings: Settings, clock: Clock | None = None) -> None:
        self.settings = settings
        # Where sessions and connections read the time and start their timers (clock.py).
        self.clock: Clock = clock if clock is not None else SystemClock()
        # Every client's registration or ping deadline, on one timer (Session.deadline_passed).
        self.deadlines: Deadlines[Session] = Deadlines(self.clock)
        self.name = settings.server_name
        self.version = f"hubbub-{__version__}"
        casemapping: Casemapping = "rfc1459" if settings.casemapping == "rfc1459" else "ascii"
        self.world: World[Session] = World(casemapping, settings.whowas_size)
        # What each connection is queued, flushed once at the end of the loop turn (outbox.py).
        self.outboxes = Outboxes(settings.sendq)
        self.stats = Stats()
        self._lag_timer: Timer | None = None
        self._metrics: Metrics | None = None  # made at the first scrape
        self.delivery = Delivery(self._committed, self.clock, self.outboxes, self.stats)
        self.store_health = StoreHealth(self.notify_opers)
        self.created = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
        # A dict as a set: about half the memory of a set's table per connection, and ordered.
        self.connections: dict[Connection, None] = {}
        self.limits = ConnectionCounter(
            settings.max_connections, settings.max_per_ip, settings.exempt_loopback
        )
        # Refused connections and failed TLS handshakes, logged a burst at a time.
        self.refusals = RefusalLog()
        self.failed_handshakes = RefusalLog()
        # Numerics every registration sends unchanged (002-005, MOTD), formatted once; REHASH
        # clears it (handlers.registration.constant_replies).
        self.reply_cache: dict[str, list[tuple[str, str]]] = {}
        self.doors: list[Door] = []
        self.stopping = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self.port = settings.port
        self.host = settings.host
        self.stopped = asyncio.Event()
        # Set while stopping whenever a connection closes or a commit returns (stop() waits on it).
        self._shutdown_progress = asyncio.Event()
        # The domain services, each given what it uses (docs/architecture.md, "Layers").
        world, delivery = self.world, self.delivery
        self.history = History(settings, world, delivery)
        self.accounts = Accounts(settings, world, self.history, delivery)
        self.directs = Directs(settings, world, self.history, self.accounts, delivery)
        self.bans = Bans(world, self.accounts)
        self.registry = ChannelRegistry(world, self.accounts, self.history, delivery)
        self.history.registered = self.channel_registered_key
        self.endings = Endings(world, delivery, self.history, self.registry, self.accounts, self.name)
        self.history.end_channel = self.endings.end_channel
        self.accounts.logged_in = self.account_logged_in
        self.tasks: set[asyncio.Future[None]] = set()  # logins and registrations being checked
        # Cluster mode (cluster_url): this node's part in the network, made at start (its default
        # name has the port in it); None on a single node.
        self.cluster: Cluster | None = None
        self.nick_claims: NickClaims | None = None
        self.tls_port: int | None = None
        # The web door (web.py), when web_port is set: its port and the URL to open.
        self.web: WebGate | None = None
        self.web_port: int | None = None
        self.web_url: str | None = None
        self.tutorial_port: int | None = None  # the tutorial door's real port, once it is open
        self.tls_context: ssl.SSLContext | None = None
        self.web_tls_context: ssl.SSLContext | None = None
        # One server per data directory: start() locks it until stop(). Only tests that run
        # several servers on one directory on purpose turn this off.
        self.exclusive = True
        self.data_lock: datadir.DataDirLock | None = None
        self.watch: DatabaseWatch | None = None
        # REHASH reads the settings again through this (the serve command passes one that reads
        # the configuration file, the environment and the flags); None: keep the settings.
        self.settings_loader: Callable[[], Settings] | None = None
        self.config_name = "hubbub.toml"
        self._caps: dict[str, str] = {}
        self.isupport: list[str] = []
        self.motd: list[str] = []
        self._apply_settings()

    # start and stop ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Bind the listeners, lock the data directory, open the store, then accept clients.

        Binding comes first, so a port in use leaves no data directory or database behind; a
        failure is a StartupError or StoreError whose message tells the operator what to do.
        """
        self._loop = asyncio.get_running_loop()
        try:
            if self.settings.tls_enabled:
                self.tls_context = startup.tls_context(self.settings)
            plain = Door(self.new_connection, "plain", self.settings.host, self.settings.port)
            await startup.bind(plain)
            self.doors.append(plain)
            self.host, self.port = plain.host, plain.port
            if self.tls_context is not None:
                tls = Door(
                    self.new_connection,
                    "tls",
                    self.settings.host,
                    self.settings.tls_port,
                    self.tls_context,
                    accept_tls=self.accept_tls,
                )
                await startup.bind(tls)
                self.doors.append(tls)
                self.tls_port = tls.port
            if self.settings.web_port is not None:
                await self._open_web_door()
            if self.settings.tutorial_port is not None:
                tutorial = Door(
                    self.new_tutorial_connection, "tutorial", self.settings.host, self.settings.tutorial_port
                )
                await startup.bind(tutorial)
                self.doors.append(tutorial)
                self.tutorial_port = tutorial.port
            if self.exclusive:
                self.data_lock = datadir.lock(self.settings.data_dir)
            self.history.open()
            self.accounts.open()
            if self.settings.cluster_url:
                cluster = Cluster(self)
                try:
                    await cluster.start()
                except ClusterError as exc:
                    raise startup.StartupError(str(exc)) from exc
                self.cluster = self.nick_claims = cluster
                store = self.history.store
                if isinstance(store, PostgresStore):
                    cluster.read_gap = lambda target, after, upto: [
                        message for _seq, message in store.since_seq(target, after, upto - after)
                    ]
                    cluster.read_last = store.last_seq
                else:
                    log.warning(
                        "cluster mode without store_url: this node keeps its own history, and the "
                        "nodes agree on no order (docs/cluster.md: --store postgresql://...)"
                    )
        except BaseException:
            for door in self.doors:
                door.close()
            self.history.close()
            if self.data_lock is not None:
                self.data_lock.release()
            raise
        self.bans.load()
        self.registry.load()
        for key in self.registry.channels:
            if key not in self.world.channels:
                self.world.add_channel(key).persistent = True  # its saved state was lost
        if self.tls_context is not None:
            self._trust_client_certificates()
            self._caps = offered_caps(self.settings, self.tls_port)
        if isinstance(self.history.store, SQLiteStore):  # a file that can be replaced under it
            self.watch = DatabaseWatch(self.world, self.history.store.path)
            self.watch.start()
        for door in self.doors:
            await door.start_serving()
        self._probe_lag(self.clock.monotonic())

    def _probe_lag(self, due: float) -> None:
        """Note how late this ran (the loop's lag, for /metrics), and run again in a second."""
        now = self.clock.monotonic()
        self.stats.loop_lag = max(0.0, now - due)
        if not self.stopping:
            self._lag_timer = self.clock.call_later(
                LAG_PROBE_INTERVAL, self._probe_lag, now + LAG_PROBE_INTERVAL
            )

    async def _open_web_door(self) -> None:
        """Bind the web door (HTTPS with the TLS listener's certificate, if there is one)."""
        settings = self.settings
        context = None
        if settings.tls_enabled:
            # Its own context: browsers are never asked for a client certificate.
            context = startup.tls_context(replace(settings, tls_client_ca=""))
            self.web_tls_context = context
        self.web = WebGate(self, tls=context is not None)
        door = Door(
            self.web.new_peer,
            "web",
            settings.web_host or settings.host,
            settings.web_port or 0,
            context,
            accept_tls=self.web.accept_tls if context is not None else None,
        )
        await startup.bind(door)
        self.doors.append(door)
        self.web_port = door.port
        host = f"[{door.host}]" if ":" in door.host else door.host
        self.web_url = f"{'https' if context is not None else 'http'}://{host}:{door.port}/"

    def metrics(self) -> tuple[bytes, str]:
        """``GET /metrics``: the metrics now in the Prometheus text format, and their Content-Type."""
        if self._metrics is None:
            self._metrics = Metrics(self)
        return self._metrics.render(), METRICS_CONTENT_TYPE

    def health(self) -> str | None:
        """Why the server is unwell (``/healthz`` answers 503 with it), or None.

        Cheap: flags the store writer and the commit path keep anyway.
        """
        writer = self.history.writer
        if self.history.store is None or writer is None:
            return "store not open"
        if writer.waiting_for_lock:
            return "store locked by another process: messages wait"
        if self.store_health.failing_since is not None:
            return "store failing: messages are not delivered"
        if self.delivery.backlogged:
            return "store behind: senders wait"
        return None

    def rehash(self) -> None:
        """Apply freshly loaded settings without dropping anyone (REHASH, SIGHUP).

        Where to listen and where the data lives stay as they are until a restart. What can fail
        (the file, the MOTD file, the certificate) is tried before anything changes, so a
        configuration that does not load leaves the running one whole.
        """
        if self.settings_loader is not None:
            fresh = self.settings_loader()
            fresh = replace(
                fresh,
                host=self.settings.host,
                port=self.settings.port,
                data_dir=self.settings.data_dir,
                store_url=self.settings.store_url,
                tls_port=self.settings.tls_port,
                web_port=self.settings.web_port,
                web_host=self.settings.web_host,
                tutorial_port=self.settings.tutorial_port,
            ).validate()
            fresh.motd_lines()
            if self.tls_context is not None and fresh.tls_enabled:
                server_context(fresh.tls_cert, fresh.tls_key, fresh.tls_client_ca)
            self.settings = fresh
        self._apply_settings()
        self.bans.load()
        self.reload_tls()

    def _apply_settings(self) -> None:
        """Hand ``self.settings`` to every part that keeps some of it (start-up and REHASH)."""
        settings = self.settings
        self.history.settings = self.accounts.settings = self.directs.settings = settings
        self.outboxes.sendq = settings.sendq
        self.delivery.backlog_limit = settings.store_backlog
        self.delivery.keep_events = settings.history_events
        # Past the descriptors the process may open, a client could not even be told it is
        # refused: the server counts itself full before then (limits.DESCRIPTOR_RESERVE).
        room = connection_room()
        self.limits.max_total = (
            settings.max_connections if room is None else min(settings.max_connections, room)
        )
        self.limits.max_per_ip = settings.max_per_ip
        self.limits.exempt_loopback = settings.exempt_loopback
        self.accounts.throttle.configure(settings)
        self.accounts.registrations.configure(settings)
        self._caps = offered_caps(settings, self.tls_port)
        self.isupport = isupport_tokens(settings)
        self.motd = settings.motd_lines()
        self.reply_cache.clear()

    def reload_tls(self) -> None:
        """Load the certificate, key and trusted client certificates again (REHASH).

        New connections use the new files; established ones keep their session. The listener's
        context is changed in place, as asyncio keeps a reference to it.
        """
        if self.tls_context is None or not self.settings.tls_enabled:
            return
        s = self.settings
        self.tls_context.load_cert_chain(s.tls_cert, s.tls_key)
        if self.web_tls_context is not None:
            self.web_tls_context.load_cert_chain(s.tls_cert, s.tls_key)
        self._trust_client_certificates()

    def _trust_client_certificates(self) -> None:
        """Trust the client certificates stored on accounts and the configured client CA."""
        if self.tls_context is not None:
            store = self.accounts.store
            pems = store.client_certificates() if store is not None else []
            trust_clients(self.tls_context, pems, self.settings.tls_client_ca)

    async def stop(self, reason: str = "Server shutting down") -> None:
        """Close listeners, tell every client why, flush, and close the store."""
        self.stopping = self.endings.stopping = True
        if self._lag_timer is not None:
            self._lag_timer.cancel()
        for door in self.doors:
            door.close()
        if self.web is not None:
            self.web.close()  # its sockets that are not WebSockets; those are connections
        for conn in list(self.connections):
            session = conn.session
            if session is not None and not session.gone:
                session.disconnect(reason)
            elif not conn.closed:
                conn.close_with_error(reason)
        if self.cluster is not None:
            # Devices whose connections are on other nodes: those nodes close them on our ERROR.
            for session in list(self.cluster.handover.adopted.values()):
                session.disconnect(reason)
        self.outboxes.flush()
        # Lines held for a commit (goodbyes included) go out when it returns; the store writer
        # gives up on a store locked elsewhere after a while (writer.STOP_PATIENCE).
        deadline = time.monotonic() + SHUTDOWN_GRACE
        await self._shutdown_step(lambda: not self.delivery.pending, deadline)
        # Every goodbye is now written or in its transport's buffer, which close() still sends:
        # a half-closed connection need not linger for its peer's EOF (Connection.shut), as the
        # process is about to go and take its sockets with it.
        for conn in list(self.connections):
            if conn.closed and not conn.lost and conn.transport is not None:
                conn.transport.close()
        await self._shutdown_step(lambda: not self.connections, deadline)
        for conn in list(self.connections):
            if conn.transport is not None:
                conn.transport.abort()
        for door in self.doors:
            await door.wait_closed()
        for task in list(self.tasks):
            task.cancel()
        self.outboxes.flush()
        if self.cluster is not None:
            await self.cluster.stop()
        self.history.close()
        self.accounts.close()
        if self.watch is not None:
            self.watch.stop()
        if self.data_lock is not None:
            self.data_lock.release()
        self.stopped.set()

    async def _shutdown_step(self, done: Callable[[], bool], deadline: float) -> None:
        """Wait until ``done()``, re-checked whenever a connection closes or a commit returns."""
        while not done():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            self._shutdown_progress.clear()
            try:
                await asyncio.wait_for(self._shutdown_progress.wait(), left)
            except TimeoutError:
                return

    # connections ------------------------------------------------------------------------------

    def admit(self, conn: Connection) -> str | None:
        """Count a connection just accepted (before any TLS handshake); why it is refused, or None.

        Refusals are logged, a burst of them in one line (limits.RefusalLog).
        """
        refusal = self.limits.admit(conn.peer_ip)
        if refusal is None:
            conn.peer_ip = self.limits.address(conn.peer_ip)
            self.connections[conn] = None
        else:
            line = self.refusals.note(refusal, conn.peer_ip, self.clock.monotonic())
            if line is not None:
                log.warning("refused %s", line)
        return refusal

    def handshake_failed(self, conn: Connection, reason: str) -> None:
        """A TLS handshake failed or timed out: logged, a burst of them in one line."""
        line = self.failed_handshakes.note(f"TLS handshake {reason}", conn.peer_ip, self.clock.monotonic())
        if line is not None:
            log.info("dropped %s", line)

    def dispatch(self, session: Session, message: Message, line: bytes) -> None:
        """Run a command of ``session`` through the command table, with this server as context."""
        cluster = self.cluster
        if cluster is not None:
            handed = cluster.handover.handed
            if handed and session in handed:
                cluster.handover.forward(session, line)  # a device whose session is on another node
                return
            if message.command == "JOIN" and cluster.claims_channels(session, message, line):
                return  # the new channels' names are claimed in the network first, then it runs again
        dispatch(self, session, message, line)
        if cluster is not None and message.command not in STATELESS:
            cluster.touch(session, message)

    def new_connection(self) -> Connection:
        """The protocol of a socket the plain door just accepted."""
        return Connection(self)

    def new_tutorial_connection(self) -> TutorialBridge:
        """The protocol of a socket the tutorial door accepted: a Connection behind a translator.

        The channel is read now: REHASH changes it for later arrivals, not for those inside.
        """
        return TutorialBridge(self, self.settings.tutorial_channel)

    def accept_tls(self, sock: socket.socket, context: ssl.SSLContext) -> None:
        """A socket the TLS door just accepted: counted now, then its handshake (Connection)."""
        Connection(self).tls_accepted(sock, context)

    def new_session(self, conn: Connection) -> Session:
        """The session of a connection just admitted (the wire knows nothing of its inside)."""
        self.world.unregistered += 1
        return Session(self, conn)

    def connection_closed(self, conn: Connection) -> None:
        """Forget a closed connection."""
        if conn in self.connections:
            del self.connections[conn]
            self.limits.release(conn.peer_ip)
            if self.stopping:
                self._shutdown_progress.set()

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The loop the server runs on (asking asyncio costs a getpid() system call each time)."""
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        return self._loop

    def _committed(self, epoch: Epoch, error: BaseException | None) -> None:
        """An epoch's commit returned: report on the store, write what waited for it."""
        self.store_health.committed(epoch, error)
        if self.cluster is not None:
            self.cluster.committed(epoch, error)  # in the store's order across the nodes
        else:
            release(epoch, error)
        if self.stopping:
            self._shutdown_progress.set()

    def founds(self, channel: Channel[Session]) -> bool:
        """In a cluster: whether this node claimed ``channel``'s name when it was made."""
        return self.cluster is not None and self.cluster.founds(channel.key_folded)

    def node_of(self, session: Session) -> str | None:
        """In a cluster, the name of the node ``session`` is connected to; else None."""
        return self.cluster.node_of(session) if self.cluster is not None else None

    def notify_opers(self, text: str) -> None:
        """A server notice to every operator."""
        for session in self.world.users.values():
            if "o" in session.umodes and not session.gone:
                session.notice(f"*** {text}")

    # sessions ---------------------------------------------------------------------------------

    def session_gone(self, session: Session, reason: str) -> None:
        """A session left the network (endings.py shows its QUIT and ends emptied channels)."""
        if self.cluster is not None and self.cluster.handover.connection_gone(session, reason):
            return  # a device whose session is on another node: that node ends it
        self.endings.quit(session, reason)
        self.directs.forget(session)
        if self.cluster is not None:
            self.cluster.gone(session)

    def account_dropped(self, key: str, *, here_only: bool = False) -> None:
        """The account ``key`` was dropped from the store: forget its channel registrations and
        log its users of this node out; tell the other nodes (unless ``here_only``)."""
        self.registry.load()
        cluster = self.cluster
        for user in list(self.world.accounts.get(key, ())):
            if cluster is None or user not in cluster.remote_of:  # the others' nodes log them out
                self.accounts.log_out(user)
        if cluster is not None and not here_only:
            cluster.share(["dropped", key])

    def leaves_elsewhere(self, session: Session, reason: str, quit_message: str | None) -> bool:
        """In a cluster: whether ``session`` is another node's user, whose node is asked to
        disconnect it (a KILL, a ban); that node's QUIT then reaches everyone."""
        return self.ask_home(session, "quit", reason, quit_message)

    def ask_home(self, session: Session, what: str, *args: Any) -> bool:
        """In a cluster: whether ``session`` is another node's user, whose node is asked to do
        ``what`` to it (:meth:`asked` there)."""
        return self.cluster is not None and self.cluster.ask(session, what, list(args))

    def asked(self, session: Session, what: str, args: list[Any]) -> None:
        """Another node asked this one to do ``what`` to its user ``session``."""
        if what == "quit":
            session.disconnect(args[0], quit_message=args[1])
            return
        if what == "host":
            change_host(self, session, args[0], args[1])
        elif what == "meta":
            by = self.world.find_user(args[0]) or session  # the operator, a user of that node
            metadata.change(self, by, session, args[1], args[2])
        else:
            log.warning("cluster: another node asked for %r, which this node does not do", what)
            return
        if self.cluster is not None:
            self.cluster.touch(session)  # the network learns the user's new state

    def hand_over_device(self, session: Session, holder: Session) -> bool:
        """In a cluster: make ``session`` a device of ``holder`` on ``holder``'s node, if that is
        another node (handover.py); False if ``holder`` is a user of this node."""
        return self.cluster is not None and self.cluster.handover.hand_over(session, holder)

    def adopt_device(self, session: Session) -> bool:
        """Make ``session``, another node's connection, a device of its account's user here."""
        holder = devices.online_holder(self, session)
        if holder is None or (self.cluster is not None and holder in self.cluster.remote_of):
            return False
        become_device(self, session, holder)
        self.deadlines.cancel(session)  # its pings are its connection's node's
        return True

    def remove_member(self, channel: Channel[Session], session: Session) -> None:
        """Take ``session`` out of ``channel``; an empty channel ends unless durable."""
        self.endings.leave(channel, session)

    def drop_channel(self, channel: Channel[Session], reason: str) -> None:
        """End ``channel`` now, kicking its members (CHANNEL DROP)."""
        self.endings.drop_channel(channel, reason)

    # hooks for history, persistence and accounts ------------------------------------------------

    def capabilities(self, session: Session | None = None) -> dict[str, str]:
        """Capabilities offered now (to ``session``), with their CAP LS 302 values."""
        if session is not None and session.auth.tls and "sts" in self._caps:
            # IRCv3 sts: over TLS the policy is only its duration (persistence).
            return {**self._caps, "sts": f"duration={self.settings.sts_duration}"}
        return self._caps

    def account_logged_in(self, session: Session) -> None:
        """A registered client just logged in to an account: show what was sent to it meanwhile."""
        self.directs.replay_direct(session)
        if self.cluster is not None:
            self.cluster.touch(session)

    def replay_on_join(self, session: Session, channel: Channel[Session]) -> None:
        """``session`` just joined ``channel``: apply its registered access, send recent history."""
        self.registry.apply_on_join(session, channel)
        self.history.replay_on_join(session, channel)

    def channel_created(self, channel: Channel[Session]) -> None:
        """A channel came into being."""
        self.history.channel_created(channel)

    def channel_changed(self, channel: Channel[Session]) -> None:
        """A channel's topic, modes or lists changed: it becomes durable; persistent ones are saved."""
        self.history.channel_used(channel)
        self.history.channel_changed(channel)

    def channel_registered(self, channel: Channel[Session]) -> bool:
        """Whether ``channel`` has registered owners (then nobody gets ops just by joining)."""
        return self.channel_registered_key(channel.key_folded)

    def channel_registered_key(self, key: str) -> bool:
        """Whether the channel of casefolded name ``key`` is registered with ChanServ."""
        return key in self.registry.channels

    def first_gets_ops(self, channel: Channel[Session]) -> bool:
        """Whether the first to join empty ``channel`` becomes its operator: only if it is not
        registered (ChanServ's access list decides) and nobody ever was its operator."""
        if self.cluster is not None and self.cluster.founded_elsewhere(channel.key_folded):
            return False
        return not channel.had_ops and not self.channel_registered(channel)
