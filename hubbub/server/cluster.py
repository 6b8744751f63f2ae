"""Cluster mode: several nodes, one network, with Redis as the bus between them.

docs/cluster.md is the design; this module is the node's side of it. In short:

- Every node mirrors every user of the network in its World: another node's user is a Session on
  a :class:`~hubbub.server.remote.RemoteLink`. Handlers run unchanged on that mirror, so a
  command is decided on the node of the client that sent it, with the whole network in view.
- What a node queues to another node's users (the lines of a channel message, a reply to a
  private message, a QUIT ...) is sent to that node after the commit it waits for, one batch per
  loop turn, on that node's Redis stream; the node writes the bytes to its users as they are.
- What changes state (a user registering or changing nick, caps or away; a membership; a
  channel's modes, topic or lists) is sent on the network's shared stream as small idempotent
  upserts, and kept in Redis hashes so that a node starting, or one whose Redis restarted, can
  read the whole picture again.
- A nick is held in Redis (``SET NX`` on its look-alike skeleton) before it is used, so two nodes
  never give one nick to two users.
- Each node keeps a lease; when one runs out (the node was killed), every other node shows its
  users' QUITs to its own users and clears what the node held.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import socket
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from hubbub.protocol import Message, numerics, skeleton
from hubbub.store import StoredMessage, StoreError
from hubbub.store.accounts import RegisteredChannel, ServerBan

from . import caps as capmod
from . import monitor
from .bus import BusConnection, BusError, Reply
from .committed import release
from .handover import Handover, to_siblings
from .outbox import Epoch
from .playback import to_message
from .remote import NodeOutbox, RemoteLink
from .session import Session
from .world import ListEntry

if TYPE_CHECKING:
    from .accounts import Accounts
    from .bans import Bans
    from .clock import Clock, Deadlines
    from .config import Settings
    from .delivery import Delivery
    from .outbox import Outboxes
    from .registry import ChannelRegistry
    from .world import Channel, World

log = logging.getLogger(__name__)

# Commands that change no state another node mirrors: no look at the client after them (the hot
# path of a channel message stays as it is on one node).
STATELESS = frozenset(
    {
        "PRIVMSG",
        "NOTICE",
        "TAGMSG",
        "PING",
        "PONG",
        "WHO",
        "WHOIS",
        "WHOWAS",
        "NAMES",
        "LIST",
        "LUSERS",
        "MOTD",
        "VERSION",
        "TIME",
        "ISON",
        "USERHOST",
        "CHATHISTORY",
        "SEARCH",
        "MONITOR",
        "HELP",
        "INFO",
        "ADMIN",
        "STATS",
        "LINKS",
        "MARKREAD",
    }
)
# Entries kept in each stream (approximately): a node that falls further behind resyncs.
STREAM_LENGTH = 100_000
# What a node keeps of what it sent, to send again once a restarted Redis is back (receivers
# drop what they already had): the last this many seconds, at most this many bytes.
RESEND_WINDOW = 30.0
RESEND_BYTES = 64 << 20
# Batches one read takes at most: a short reply is parsed at once (the next read follows at once).
READ_COUNT = 32
# Seconds a blocking read waits before it looks again (and notices a stop).
READ_BLOCK_MS = 1000
# Seconds between attempts to reach Redis again.
RETRY_DELAYS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0)
# Forget who said what on the shared stream once it is this many batches old (dedupe window).
NETSPLIT_REASON = "*.net *.split"

# Releases a nick only if this node's user still holds it.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
# Clears what a dead node held: its nicks (those still its own), its users, its place.
_REAP = """
local nicks = redis.call('SMEMBERS', KEYS[1])
for _, entry in ipairs(nicks) do
  local sep = string.find(entry, '\\t', 1, true)
  local key = string.sub(entry, 1, sep - 1)
  local value = string.sub(entry, sep + 1)
  if redis.call('GET', key) == value then redis.call('DEL', key) end
end
redis.call('DEL', KEYS[1], KEYS[2])
return redis.call('SREM', KEYS[3], ARGV[1])
"""


class ClusterHost(Protocol):
    """What the cluster needs of its node (:class:`hubbub.server.app.Server`)."""

    name: str
    settings: Settings
    clock: Clock
    world: World[Session]
    delivery: Delivery
    outboxes: Outboxes
    deadlines: Deadlines[Session]
    port: int
    bans: Bans
    registry: ChannelRegistry
    accounts: Accounts

    def dispatch(self, session: Session, message: Message, line: bytes) -> None:
        """Run a command of ``session``."""

    def asked(self, session: Session, what: str, args: list[Any]) -> None:
        """Another node asks this one to do ``what`` to its user ``session`` (Cluster.ask)."""

    def account_dropped(self, key: str, *, here_only: bool = False) -> None:
        """An account was dropped (on another node): forget it here."""

    def adopt_device(self, session: Session) -> bool:
        """Make ``session`` (another node's connection) a device of its account's user here, as a
        connection registering here would be; False if that user is not online here."""


class Cluster:
    """This node's part in the network: its mirrors of other nodes' users, and the bus."""

    def __init__(self, server: ClusterHost) -> None:
        self.server = server
        settings = server.settings
        self.url = settings.cluster_url
        self.lease = settings.cluster_lease
        self.node = settings.node_name or f"{socket.gethostname()}:{server.port}"
        # This run of the node: a restarted node is a new incarnation, and the old one's users are
        # gone (the others saw its lease run out, or see it now).
        self.me = f"{self.node}/{secrets.token_hex(4)}"
        self.k = f"hubbub:{settings.network}:"
        self.redis: Any = None  # redis.asyncio.Redis, once started (its replies are untyped)
        self.world = server.world
        # Our own users: uid <-> session (uids are small numbers, never reused in a run).
        self._next_uid = 0
        self.uid_of: dict[Session, int] = {}
        self.local: dict[int, Session] = {}
        # Other nodes' users: (node, uid) <-> mirror.
        self.mirrors: dict[tuple[str, int], Session] = {}
        self.remote_of: dict[Session, tuple[str, int]] = {}
        self.outboxes: dict[str, NodeOutbox] = {}
        # What the network was last told (or told us) of each user and channel: the base of the
        # next difference.
        self.sent_users: dict[Session, dict[str, Any]] = {}
        self.sent_chans: dict[str, tuple[dict[str, Any], dict[tuple[str, int], str]]] = {}
        # The version of each channel's state last made or applied: (created, count, node).
        self._chan_versions: dict[str, tuple[float, int, str]] = {}
        self.nick_keys: dict[Session, str] = {}  # the nick key each of our users holds in Redis
        # Channels whose names this node claimed in Redis (or found claimed for the same name),
        # and those of them another node founded.
        self._claimed: set[str] = set()
        self._was_in: dict[Session, set[str]] = {}  # the channels each of our users was last in
        self._founded_elsewhere: set[str] = set()
        self._founding: set[str] = set()  # won here, its founder not joined yet
        self._ops: list[list[Any]] = []
        self._out: list[tuple[bytes, dict[bytes, bytes]]] = []
        self._flush_due = False  # a send of what is queued is scheduled for this loop turn
        self._batch = 0
        self._seen: dict[tuple[str, bytes], int] = {}  # (node, stream) -> last batch number taken
        self._last_ids: dict[bytes, bytes] = {}
        self._tasks: list[asyncio.Future[Any]] = []
        self._stopping = False
        self._reconnecting: asyncio.Future[None] | None = None
        # The bus's hot path: batches out, batches in, each on a plain connection of its own (bus.py).
        self._pub: BusConnection | None = None
        self._sub: BusConnection | None = None
        # Ordering (docs/cluster.md): the store numbers each conversation's messages in commit
        # order; here, the last number delivered to our users per conversation, and what waits
        # for an earlier number, per sender ("" for our own commits), first in first out.
        self.delivered: dict[str, int] = {}
        self._waiting: dict[str, deque[_Pending]] = {}
        # Joins (docs/cluster.md, "Joining"): our members that joined a conversation lately, by
        # uid; where this node's own numbering stood when it learnt of each member that joined
        # (here or elsewhere), until a commit turns it into the member's first number; and, for
        # a JOIN being run, where the store and our numbering stood just before it.
        self._fresh: dict[str, dict[int, _Fresh]] = {}
        self._marks: dict[str, list[_Mark]] = {}
        self._joining: dict[str, tuple[int | None, _Mark]] = {}
        self._gap_timer: asyncio.TimerHandle | None = None
        self.order_wait = settings.cluster_order_wait
        # The store's messages of a conversation after one number up to another, and its last
        # number (PostgreSQL; app.py sets them): what a node reads when a number never came.
        self.read_gap: Callable[[str, int, int], list[StoredMessage]] | None = None
        self.read_last: Callable[[str], int] | None = None
        # What was sent lately, kept to send again after Redis restarts: (when, bytes, batch).
        self._sent: deque[tuple[float, int, tuple[bytes, dict[bytes, bytes]]]] = deque()
        self._sent_bytes = 0
        self.connected = False
        self.connected_at = 0.0
        self._missing_since: dict[str, float] = {}
        self.nodes: set[str] = set()  # other nodes seen alive
        self._release_script: Any = None
        self._reap_script: Any = None
        # Bans set here reach every node; each enforces them on its own users.
        server.bans.shared = server.registry.shared = self.share
        server.bans.elsewhere = self.remote_of.__contains__
        # Devices of one account on several nodes (handover.py).
        self.handover = Handover(self)

    @property
    def waiting_to_send(self) -> list[tuple[bytes, dict[bytes, bytes]]]:
        """Batches queued for the bus and not sent yet (metrics)."""
        return self._out

    @property
    def waiting_for_order(self) -> dict[str, deque[_Pending]]:
        """Per sender, what waits for an earlier message of its conversation (metrics)."""
        return self._waiting

    def node_of(self, session: Session) -> str:
        """The name of the node ``session`` is connected to."""
        where = self.remote_of.get(session)
        if where is None:
            return self.node
        return where[0].rsplit("/", 1)[0]  # an incarnation is "name/random"

    # keys ------------------------------------------------------------------------------------------

    @property
    def all_stream(self) -> bytes:
        """The shared stream of state changes."""
        return (self.k + "all").encode()

    def to_stream(self, node: str) -> bytes:
        """The stream of lines for ``node``'s users."""
        return (self.k + "to:" + node).encode()

    def _lease_key(self, node: str) -> str:
        return self.k + "lease:" + node

    def _users_key(self, node: str) -> str:
        return self.k + "users:" + node

    def _nicks_key(self, node: str) -> str:
        return self.k + "nicks:" + node

    def _nick_key(self, nick: str) -> str:
        return self.k + "nick:" + skeleton(nick)

    # start and stop -------------------------------------------------------------------------------

    async def start(self) -> None:
        """Join the network: lease, snapshot of the others, then the bus tasks."""
        self.redis = aioredis.from_url(self.url)
        self._release_script = self.redis.register_script(_RELEASE)
        self._reap_script = self.redis.register_script(_REAP)
        try:
            await self.redis.ping()
        except (RedisError, OSError) as exc:
            await self.redis.aclose()
            raise ClusterError(f"cannot reach the cluster bus at {self.url}: {exc}") from exc
        await self._announce()
        last = await self.redis.xrevrange(self.all_stream, count=1)
        self._last_ids[self.all_stream] = last[0][0] if last else b"0-0"
        self._last_ids[self.to_stream(self.me)] = b"0-0"
        await self._load_snapshot()
        self.connected = True
        self.connected_at = self.server.clock.monotonic()
        log.info("node %s joined the cluster (%d users elsewhere)", self.me, len(self.mirrors))
        try:
            self._pub = await BusConnection.open(self.url)
            self._sub = await BusConnection.open(self.url)
        except BusError as exc:
            await self.redis.aclose()
            raise ClusterError(f"cannot reach the cluster bus at {self.url}: {exc}") from exc
        self._read_next()
        self._tasks.append(asyncio.create_task(self._keeper()))

    async def stop(self) -> None:
        """Leave the network: what is queued goes out, then our users and place are cleared."""
        self._stopping = True
        if self.redis is None:
            return
        try:
            await asyncio.wait_for(self._drain(), 3.0)
        except (TimeoutError, RedisError, OSError):
            log.warning("cluster: could not send everything before stopping")
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, RedisError, OSError):
                await task
        with contextlib.suppress(RedisError, OSError):
            await self.redis.delete(self._lease_key(self.me))
            await self._reap_script(
                keys=[self._nicks_key(self.me), self._users_key(self.me), self.k + "nodes"], args=[self.me]
            )
        await self.redis.aclose()
        for conn in (self._pub, self._sub):
            if conn is not None:
                conn.close()

    async def _drain(self) -> None:
        while self._out or self._ops or self.handover.pending:
            await asyncio.sleep(0)
            self._queue_ops()
            if self._out:
                await self._send(self._out[:])

    # the node's place -----------------------------------------------------------------------------

    async def _announce(self) -> None:
        """Take (again) our lease and place, and write our users and their nicks."""
        assert self.redis is not None
        ttl = int(self.lease * 600)  # 0.6 lease, renewed every lease/5
        pipe = self.redis.pipeline(transaction=False)
        pipe.set(self._lease_key(self.me), b"1", px=ttl)
        pipe.sadd(self.k + "nodes", self.me)
        for session, key in self.nick_keys.items():
            value = f"{self.me}:{self.uid_of[session]}"
            pipe.set(key, value, nx=True)
            pipe.sadd(self._nicks_key(self.me), f"{key}\t{value}")
        for session in self.uid_of:
            if session.registered and not session.gone:
                pipe.hset(self._users_key(self.me), str(self.uid_of[session]), self._user_entry(session))
        await pipe.execute()

    async def _load_snapshot(self) -> None:
        """Mirror every user of the other live nodes, and every channel's state."""
        assert self.redis is not None
        nodes = [n.decode() for n in await self.redis.smembers(self.k + "nodes")]
        chans = await self.redis.hgetall(self.k + "chans")
        for name, props in chans.items():
            loaded = json.loads(props)
            self._apply_chan(name.decode(), loaded, loaded.pop("v", None))
        for node in nodes:
            if node == self.me:
                continue
            if not await self.redis.exists(self._lease_key(node)):
                continue  # dead: the keeper clears it
            self.nodes.add(node)
            users = await self.redis.hgetall(self._users_key(node))
            for uid, entry in users.items():
                data = json.loads(entry)
                self._apply_user(node, int(uid), data["u"])
                for chan, prefix in data["c"].items():
                    self._apply_member(chan, node, int(uid), prefix)

    async def _keeper(self) -> None:
        """Renew our lease; notice the nodes whose lease ran out."""
        assert self.redis is not None
        while not self._stopping:
            await asyncio.sleep(self.lease / 5)
            try:
                if not self.connected:
                    continue
                await self.redis.set(self._lease_key(self.me), b"1", px=int(self.lease * 600))
                self._forget_old_marks()
                await self._reap()
            except (RedisError, OSError) as exc:
                log.debug("cluster keeper: %s", exc)

    async def _reap(self) -> None:
        """Nodes whose lease is gone are dead: their users quit here, their keys are cleared."""
        assert self.redis is not None
        now = self.server.clock.monotonic()
        # Just (re)connected: a node whose Redis restarted has not taken its lease again yet.
        if now - self.connected_at < self.lease * 0.6:
            return
        nodes = {n.decode() for n in await self.redis.smembers(self.k + "nodes")}
        nodes |= {node for node, _uid in self.mirrors}
        for node in nodes:
            if node == self.me:
                continue
            if await self.redis.exists(self._lease_key(node)):
                self.nodes.add(node)
                continue
            self.node_died(node)
            await self._reap_script(
                keys=[self._nicks_key(node), self._users_key(node), self.k + "nodes"], args=[node]
            )

    def node_died(self, node: str) -> None:
        """``node`` is gone: its users quit (shown to ours), its channel seats are emptied."""
        self.nodes.discard(node)
        gone = [m for (n, _uid), m in self.mirrors.items() if n == node]
        if gone:
            log.warning("cluster: node %s is gone; %d of its users quit", node, len(gone))
        for mirror in gone:
            self.drop_mirror(mirror, NETSPLIT_REASON, tell=True)
        self.handover.node_died(node)
        self.outboxes.pop(node, None)
        if self._waiting:  # what waited for its numbers is read from the store now
            asyncio.get_running_loop().call_soon(self._fill_gaps_now)

    # our users -----------------------------------------------------------------------------------

    def uid(self, session: Session) -> int:
        """The number of our user ``session`` on the network."""
        uid = self.uid_of.get(session)
        if uid is None:
            self._next_uid += 1
            uid = self.uid_of[session] = self._next_uid
            self.local[uid] = session
        return uid

    def reserve_uid(self, session: Session) -> int:
        """A number for our connection ``session`` that is no user here (a device handed over)."""
        self._next_uid += 1
        self.local[self._next_uid] = session
        return self._next_uid

    def outbox_for(self, node: str) -> NodeOutbox:
        """What this loop turn queues for ``node``'s users."""
        out = self.outboxes.get(node)
        if out is None:
            out = self.outboxes[node] = NodeOutbox(node, self._schedule_node)
        return out

    def schedule_send(self) -> None:
        """Send what is queued at the end of this loop turn."""
        self._schedule()

    def member_key(self, session: Session) -> tuple[str, int]:
        """Who ``session`` is on the network: (node, uid)."""
        remote = self.remote_of.get(session)
        return remote if remote is not None else (self.me, self.uid(session))

    def is_local(self, session: Session) -> bool:
        """Whether ``session`` is a client of this node."""
        return session not in self.remote_of

    def holds(self, session: Session, nick: str) -> bool:
        """Whether our user ``session`` holds ``nick`` in the network (or one it passes for)."""
        return self.nick_keys.get(session) == self._nick_key(nick)

    def claim(self, session: Session, nick: str, then: Callable[[bool], None]) -> None:
        """Take ``nick`` in the network for ``session``'s user, then ``then(taken)`` (in the
        command of ``session``, which may be a device of that user: its later lines wait)."""
        key = self._nick_key(nick)
        user = session.primary or session

        async def work() -> None:
            taken = await self._claim(user, key)
            if user.gone:
                if taken:
                    await self._release(user, key)
                return
            if session.gone:  # the device that asked left: the user keeps the nick it has
                if taken and key != self._nick_key(user.nick):
                    await self._claim(user, self._nick_key(user.nick))
                return
            then(taken)
            self.touch(user)

        session.run_async(work())

    async def _claim(self, session: Session, key: str) -> bool:
        assert self.redis is not None
        value = f"{self.me}:{self.uid(session)}"
        try:
            if not await self.redis.set(key, value, nx=True):
                held = await self.redis.get(key)
                if held != value.encode():
                    return False
            await self.redis.sadd(self._nicks_key(self.me), f"{key}\t{value}")
        except (RedisError, OSError) as exc:
            log.warning("cluster: cannot claim a nick (%s)", exc)
            session.fail("NICK", "TEMPORARILY_UNAVAILABLE", "The network cannot check nicks now; try again")
            return False
        old = self.nick_keys.get(session)
        self.nick_keys[session] = key
        if old is not None and old != key:
            await self._release(session, old)
        return True

    async def _release(self, session: Session, key: str) -> None:
        value = f"{self.me}:{self.uid_of.get(session, 0)}"
        try:
            await self._release_script(keys=[key], args=[value])
            assert self.redis is not None
            await self.redis.srem(self._nicks_key(self.me), f"{key}\t{value}")
        except (RedisError, OSError) as exc:
            log.warning("cluster: cannot release a nick (%s); it is freed when this node's place is", exc)

    def touch(self, session: Session, message: Message | None = None) -> None:
        """After a command of our user ``session``: tell the network what it changed."""
        if session in self.remote_of or session in self.handover.handed:
            return
        if session.registered and not session.gone and session.primary is None:
            snap = _user_snap(session, self.server.accounts.metadata_of(session))
            if self.sent_users.get(session) != snap:
                self.sent_users[session] = snap
                self._ops.append(["u", self.uid(session), snap])
                self._write_user(session)
        keys = set(session.channels)
        was_in = self._was_in.get(session)
        if was_in is not None:
            keys |= was_in  # a PART, a KICK: where it is no longer
        if message is not None and message.command == "INVITE" and len(message.params) >= 2:
            self._share_invite(message.params[0], message.params[1])
        if message is not None:
            for param in message.params[:2]:
                for name in param.split(","):
                    if name[:1] in "#&":
                        keys.add(self.world.fold(name))
        for key in keys:
            self.diff_channel(key)
        if session.channels:
            self._was_in[session] = set(session.channels)
        else:
            self._was_in.pop(session, None)
        self._joining.clear()
        self._schedule()

    # channel names -------------------------------------------------------------------------------

    def _chan_key(self, name: str) -> str:
        return self.k + "chan:" + skeleton(name)

    def founds(self, key: str) -> bool:
        """Whether this node won the name of channel ``key`` just now (once: its first joiner)."""
        if key in self._founding:
            self._founding.discard(key)
            return True
        return False

    def founded_elsewhere(self, key: str) -> bool:
        """Whether the channel ``key`` was made on another node at the moment it was made here."""
        return key in self._founded_elsewhere

    def claims_channels(self, session: Session, message: Message, line: bytes) -> bool:
        """Claim the names of the channels a JOIN would make; True if it waits for that.

        A name is claimed on its look-alike skeleton (``SET NX``): of two nodes making one channel
        at once, only the first founds it (its creator gets ops); of two making look-alike
        channels, the second is refused as on one node. Then the JOIN runs again.
        """
        if not session.registered or not message.params:
            return False
        world = self.world
        if self.read_last is not None:
            self._note_joins(session, message.params[0])
        new = [
            name
            for name in dict.fromkeys(message.params[0].split(","))
            if name[:1] in "#&" and world.find_channel(name) is None and world.fold(name) not in self._claimed
        ]
        if not new:
            return False

        async def work() -> None:
            refused = await self._claim_channels(new)
            if session.gone:
                return
            names = message.params[0].split(",")
            keys = message.params[1].split(",") if len(message.params) > 1 else []
            kept = [(n, keys[i] if i < len(keys) else "") for i, n in enumerate(names) if n not in refused]
            for name, alike in refused.items():
                session.reply(
                    numerics.ERR_NOSUCHCHANNEL,
                    name,
                    text=f"That channel name looks like {alike}, which exists",
                )
            if kept:
                again = Message(
                    "JOIN",
                    (",".join(n for n, _k in kept), ",".join(k for _n, k in kept)),
                    message.source,
                    message.tags,
                )
                self.server.dispatch(session, again, line)

        session.run_async(work())
        return True

    def _note_joins(self, session: Session, names: str) -> None:
        """Before a JOIN runs: where each channel's numbering stands in the store and here.

        Read before the JOIN, the member's first number is never past what it is shown on
        joining (history replayed, its own JOIN), so nothing falls between the two.
        """
        world = self.world
        self._joining.clear()
        for name in names.split(","):
            key = world.fold(name)
            if name[:1] not in "#&" or key in session.channels or key in self._joining:
                continue
            self._joining[key] = (self._read_last(key), self._mark((self.me, self.uid(session))))

    async def _claim_channels(self, names: list[str]) -> dict[str, str]:
        """Claim ``names``; return those refused, with the name of the channel each looks like."""
        refused: dict[str, str] = {}
        world = self.world
        for name in names:
            folded = world.fold(name)
            key = self._chan_key(name)
            try:
                taken = await self.redis.set(key, folded, nx=True)
                holder = None if taken else await self.redis.get(key)
            except (RedisError, OSError) as exc:
                log.warning("cluster: cannot claim a channel name (%s); it is made without", exc)
                taken, holder = True, None
            if taken or holder is None:
                self._claimed.add(folded)
                self._founding.add(folded)
            elif holder.decode() == folded:
                # made elsewhere just now: joined, not founded
                self._claimed.add(folded)
                self._founded_elsewhere.add(folded)
            else:
                refused[name] = holder.decode()
        return refused

    def _share_invite(self, nick: str, name: str) -> None:
        """An INVITE of another node's user: that node lets the user in, as ours would."""
        invited = self.world.find_user(nick)
        channel = self.world.find_channel(name)
        where = self.remote_of.get(invited) if invited is not None else None
        if where is None or channel is None or channel.invited is None or invited not in channel.invited:
            return
        self._ops.append(["i", channel.key_folded, where[0], where[1]])

    def gone(self, session: Session) -> None:
        """Our user ``session`` left the network (its QUIT went to every peer, mirrors too)."""
        self.handover.forget(session)
        uid = self.uid_of.pop(session, None)
        if uid is None:
            return
        heir = self.world.users.get(session.folded)
        if (
            heir is not None
            and heir is not session
            and heir not in self.remote_of
            and heir not in self.uid_of
        ):
            # Multiple devices: the holder left first and its next device holds the nick now
            # (World.detach_device). The network goes on knowing the user by the same number, its
            # nick claim and memberships included: nobody elsewhere sees anything.
            self._inherit(session, heir, uid)
            return
        self.local.pop(uid, None)
        self.sent_users.pop(session, None)
        member = (self.me, uid)
        for key in self._was_in.pop(session, ()):
            sent = self.sent_chans.get(key)
            if sent is not None:
                sent[1].pop(member, None)
            if key not in self.world.channels:
                self.diff_channel(key)
        self._ops.append(["x", uid])
        nick_key = self.nick_keys.pop(session, None)
        if self.redis is not None:
            self._jobs(self._forget_user(uid, session, nick_key))
        self._schedule()

    def _inherit(self, session: Session, heir: Session, uid: int) -> None:
        self.uid_of[heir] = uid
        self.local[uid] = heir
        sent = self.sent_users.pop(session, None)
        if sent is not None:
            self.sent_users[heir] = sent
        key = self.nick_keys.pop(session, None)
        if key is not None:
            self.nick_keys[heir] = key
        was_in = self._was_in.pop(session, None)
        if was_in is not None:
            self._was_in[heir] = was_in
        self.touch(heir)  # its caps, and so its view elsewhere, may differ

    async def _forget_user(self, uid: int, session: Session, key: str | None) -> None:
        assert self.redis is not None
        try:
            await self.redis.hdel(self._users_key(self.me), str(uid))
            if key is not None:
                value = f"{self.me}:{uid}"
                await self._release_script(keys=[key], args=[value])
                await self.redis.srem(self._nicks_key(self.me), f"{key}\t{value}")
        except (RedisError, OSError) as exc:
            log.warning("cluster: cannot clear a user who left (%s)", exc)

    def share(self, op: list[Any]) -> None:
        """Tell every node of a change of shared state (a ban, a registration ...), in order."""
        self._ops.append(op)
        self._schedule()

    def _jobs(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.append(task)
        task.add_done_callback(lambda t: self._tasks.remove(t) if t in self._tasks else None)

    def _user_entry(self, session: Session) -> str:
        """Our user as the users hash keeps it: who, and where with which prefix."""
        channels = {}
        for key, channel in session.channels.items():
            channels[key] = channel.members.get(session, "")
        return json.dumps(
            {"u": _user_snap(session, self.server.accounts.metadata_of(session)), "c": channels}
        )

    def _write_user(self, session: Session) -> None:
        if self.redis is None or session.gone:
            return
        uid = self.uid(session)
        entry = self._user_entry(session)
        self._jobs(self._hset_user(uid, entry))

    async def _hset_user(self, uid: int, entry: str) -> None:
        assert self.redis is not None
        with contextlib.suppress(RedisError, OSError):
            await self.redis.hset(self._users_key(self.me), str(uid), entry)

    # channels ------------------------------------------------------------------------------------

    def diff_channel(self, key: str) -> None:
        """Tell the network how channel ``key`` differs from what it was last told."""
        channel = self.world.channels.get(key)
        before = self.sent_chans.get(key)
        if channel is None:
            if before is not None:
                del self.sent_chans[key]
                for node, uid in before[1]:
                    if node == self.me:
                        self._ops.append(["m", key, node, uid, None])
                self._ops.append(["cx", key])
                self._chan_versions.pop(key, None)
                self._jobs(self._hdel_chan(key))
                self._forget_claim(key)
            return
        props = _chan_props(channel)
        members: dict[tuple[str, int], str] = {}
        for member, prefix in channel.members.items():
            if member.primary is None:
                members[self.member_key(member)] = prefix
        old_props, old_members = before if before is not None else ({}, {})
        if props != old_props:
            # Versioned: of two changes made at once on two nodes, every node keeps the same
            # one (the higher version, then the node's name), instead of each its last applied.
            # The channel's creation first: a channel made again later is a new life.
            held = self._chan_versions.get(key)
            count = held[1] + 1 if held is not None and held[0] == channel.created else 1
            version = [channel.created, count, self.me]
            self._chan_versions[key] = (channel.created, count, self.me)
            self._ops.append(["c", channel.name, props, version])
            self._jobs(self._hset_chan(key, {**props, "v": version}))
        touched_local: set[int] = set()
        fresh = self._fresh.get(key)
        for who, prefix in members.items():
            if old_members.get(who) != prefix:
                self._ops.append(["m", key, who[0], who[1], prefix])
                if who[0] == self.me:
                    touched_local.add(who[1])
                    if who not in old_members and self.read_gap is not None:
                        if fresh is None:
                            fresh = self._fresh[key] = {}
                        fresh[who[1]] = self._joined(key, who)
        for who in old_members:
            if who not in members:
                self._ops.append(["m", key, who[0], who[1], None])
                if who[0] == self.me:
                    touched_local.add(who[1])
                    if fresh is not None:
                        fresh.pop(who[1], None)
        if fresh is not None and not fresh:
            del self._fresh[key]
        self.sent_chans[key] = (props, members)
        if touched_local and not any(node == self.me for node, _uid in old_members):
            # Our first member of the channel: its order here starts at the store's last number
            # (those given meanwhile were never meant for this node; the new member reads them
            # as history).
            start = fresh.get(min(touched_local)) if fresh is not None else None
            if start is not None:
                self.delivered[key] = start.after
            else:
                self.delivered.pop(key, None)  # no store numbers it: no order to keep
        self._joining.pop(key, None)
        for uid in touched_local:
            session = self.local.get(uid)
            if session is not None:
                self._write_user(session)

    async def _hset_chan(self, key: str, props: dict[str, Any]) -> None:
        assert self.redis is not None
        with contextlib.suppress(RedisError, OSError):
            await self.redis.hset(self.k + "chans", key, json.dumps(props))

    async def _hdel_chan(self, key: str) -> None:
        assert self.redis is not None
        with contextlib.suppress(RedisError, OSError):
            await self.redis.hdel(self.k + "chans", key)

    # order ------------------------------------------------------------------------------------------

    def committed(self, epoch: Epoch, error: BaseException | None) -> None:
        """Our commit returned: release it (and send its lines on) in the store's order."""
        seqs = epoch.seqs if error is None else None
        self._enqueue("", _Pending(seqs, epoch=epoch, error=error))

    def _enqueue(self, sender: str, pending: _Pending) -> None:
        queue = self._waiting.get(sender)
        if queue is None:
            queue = self._waiting[sender] = deque()
        queue.append(pending)
        if len(queue) == 1:
            self._drain_waiting()

    def _ready(self, pending: _Pending) -> bool:
        seqs = pending.seqs
        if not seqs:
            return True
        delivered = self.delivered
        for target, (first, _last) in seqs.items():
            done = delivered.get(target)
            if done is not None and done < first - 1:
                return False
        return True

    def _drain_waiting(self) -> None:
        """Release every queue's head that is next in its conversations, until none is."""
        progress = True
        while progress:
            progress = False
            for sender, queue in list(self._waiting.items()):
                while queue and self._ready(queue[0]):
                    self._let_out(sender, queue.popleft())
                    progress = True
                if not queue:
                    del self._waiting[sender]
        if not self._waiting:
            return
        # Each head that waits is timed from when it began to: a number is "never coming" only
        # once its successor has waited cluster_order_wait for it.
        now = self.server.clock.monotonic()
        first_due = None
        for queue in self._waiting.values():
            head = queue[0]
            if head.blocked_at is None:
                head.blocked_at = now
                head.check_at = now + self.order_wait
            due = head.check_at
            first_due = due if first_due is None else min(first_due, due)
        if self._gap_timer is None and first_due is not None:
            self._gap_timer = asyncio.get_running_loop().call_later(
                max(0.0, first_due - now), self._fill_gaps
            )

    def _let_out(self, sender: str, pending: _Pending) -> None:
        seqs = pending.seqs
        epoch = pending.epoch
        if epoch is not None:
            firsts = self._resolve(epoch, seqs) if seqs and self._marks else None
            if seqs and self._fresh:
                if firsts:
                    self._known(self.me, _firsts_of(firsts, self.me))
                self._catch_up(self.me, seqs)  # what came before a member's join mark goes first
            self._seal(None)  # what was queued to other nodes before this commit goes first
            release(epoch, pending.error)
            self._seal(seqs, firsts)
        else:
            head = pending.header or {"p": [], "r": []}
            if self._fresh:
                self._known(sender, head.get("k"))  # of a late copy too
            stale = seqs is not None and all(
                last <= self.delivered.get(target, -1) for target, (_first, last) in seqs.items()
            )
            if not stale:  # else read from the store after a wait, and delivered then
                if seqs and self._fresh:
                    self._catch_up(sender, seqs)
                self.deliver(head, pending.blob)
            for uid, what, args in head.get("a", ()):
                session = self.local.get(uid)
                if session is not None and not session.gone:
                    self.server.asked(session, what, args)
        if seqs:
            delivered = self.delivered
            for target, (_first, last) in seqs.items():
                if delivered.get(target, 0) < last:
                    delivered[target] = last

    # joins --------------------------------------------------------------------------------------
    #
    # A node fans a message out to the members it knows of when it handles it, and the store
    # numbers it at the commit. A member that joined on another node is learnt of a little later:
    # what the sender's node numbered after the join but fanned out before it learnt of it did
    # not go to the member. Each node notes where its own numbering stood when it learnt of a
    # member (a mark), and its next commit in that conversation turns the mark into the member's
    # first number from this node, sent with the batch; the member's node reads what came
    # before that number, and after the join, from the store, in its place.

    def _mark(self, who: tuple[str, int]) -> _Mark:
        epoch, at, seq = self.server.delivery.position()
        return _Mark(who, epoch, at, seq, self.server.clock.monotonic())

    def _learn(self, key: str, who: tuple[str, int], mark: _Mark | None = None) -> None:
        """This node learnt that ``who`` is a member of ``key``: note where its numbering stands.

        Every node sends a mark for every member it learns of (a starting node for all of them):
        the member's node reads from the store everything of a node that has sent none yet.
        """
        marks = self._marks.get(key)
        if marks is None:
            marks = self._marks[key] = []
        marks.append(mark if mark is not None else self._mark(who))

    def _forget_old_marks(self) -> None:
        """Marks older than a lease: no member is fresh that long (a conversation gone quiet)."""
        old = self.server.clock.monotonic() - self.lease
        for key, marks in list(self._marks.items()):
            marks[:] = [m for m in marks if m.since >= old]
            if not marks:
                del self._marks[key]

    def _joined(self, key: str, who: tuple[str, int]) -> _Fresh:
        """Our member ``who`` joined ``key``: where its numbers start, and our own mark for it."""
        last, mark = self._joining.get(key) or (None, None)
        if mark is None or mark.who != who:
            last, mark = self._read_last(key), None
        self._learn(key, who, mark)
        fresh = _Fresh(
            self.server.clock.monotonic(), last if last is not None else self.delivered.get(key, 0)
        )
        delivery = self.server.delivery
        if delivery.epoch is None and not delivery.in_flight:
            fresh.known[self.me] = 0  # nothing of ours is numbered yet and fanned out without it
        return fresh

    def _read_last(self, key: str) -> int | None:
        if self.read_last is None:
            return None
        try:
            return self.read_last(key)
        except StoreError as exc:
            log.warning("cluster: cannot read where %s stands (%s)", key, exc)
            return None

    def _resolve(self, epoch: Epoch, seqs: dict[str, list[int]]) -> dict[str, dict[tuple[str, int], int]]:
        """The marks this commit settles: per conversation, each member's first number from here.

        A mark taken before ``epoch`` began settles at its first number; one taken while it was
        being gathered, at the number of the first message written after the mark.
        """
        firsts: dict[str, dict[tuple[str, int], int]] = {}
        for key, (first, _last) in seqs.items():
            marks = self._marks.get(key)
            if not marks:
                continue
            settled = firsts[key] = {}
            within: list[_Mark] = []
            keep: list[_Mark] = []
            for mark in marks:
                if mark.epoch is epoch:
                    within.append(mark)
                elif (mark.epoch.seq if mark.epoch is not None else mark.seq) < epoch.seq:
                    settled[mark.who] = first
                else:
                    keep.append(mark)  # taken after this epoch was sent to the store
            if within:
                within.sort(key=lambda m: m.at)
                count = 0
                at = 0
                writes = epoch.writes
                for mark in within:
                    for item in writes[at : mark.at]:
                        if isinstance(item, StoredMessage) and item.target == key:
                            count += 1
                    at = mark.at
                    settled[mark.who] = first + count
            if keep:
                self._marks[key] = keep
            else:
                del self._marks[key]
        return firsts

    def _known(self, node: str, firsts: dict[str, list[list[int]]] | None) -> None:
        """``node`` says from which of its numbers it sends our members of each conversation."""
        if not firsts:
            return
        for key, pairs in firsts.items():
            fresh = self._fresh.get(key)
            if fresh:
                for uid, number in pairs:
                    entry = fresh.get(uid)
                    if entry is not None:
                        entry.known[node] = number

    def _catch_up(self, node: str, seqs: dict[str, list[int]]) -> None:
        """Read from the store, for members that joined lately, what ``node`` numbered after their
        join but fanned out before it learnt of it (all of it until its mark for them comes)."""
        now = self.server.clock.monotonic()
        for target, (first, last) in seqs.items():
            fresh = self._fresh.get(target)
            if not fresh:
                continue
            done = self.delivered.get(target, first - 1)
            wants: dict[tuple[int, int], list[Session]] = {}
            for uid, entry in list(fresh.items()):
                session = self.local.get(uid)
                if (
                    session is None
                    or session.gone
                    or target not in session.channels
                    or now - entry.since > self.lease
                ):
                    del fresh[uid]
                    continue
                upto = min(last, entry.known.get(node, last + 1) - 1)
                after = max(first - 1, done, entry.after)
                if after < upto:
                    wants.setdefault((after, upto), []).append(session)
                if node in entry.known and self.me in entry.known and self.nodes.issubset(entry.known):
                    del fresh[uid]  # every node sends it everything from now on
            if not fresh:
                del self._fresh[target]
            for (after, upto), members in wants.items():
                try:
                    rows = self.read_gap(target, after, upto) if self.read_gap is not None else []
                except StoreError as exc:
                    log.warning(
                        "cluster: cannot read %s after %d for members that just joined (%s)",
                        target,
                        after,
                        exc,
                    )
                    continue
                self._send_rows(members, rows)

    def _fill_gaps_now(self) -> None:
        for queue in self._waiting.values():
            queue[0].blocked_at = queue[0].check_at = 0.0  # its numbers' node is gone: no more waiting
        if self._gap_timer is not None:
            self._gap_timer.cancel()
        self._fill_gaps()

    def _fill_gaps(self) -> None:
        """An earlier message did not come: read it from the store and deliver it here.

        Its node died after committing it, or committed it before it knew of this node's members
        (a member that just joined), or is slow. Only numbers that nothing waiting here holds are
        read: those below every waiting batch's first number of the conversation. A batch that
        comes after all is dropped as delivered already.
        """
        self._gap_timer = None
        now = self.server.clock.monotonic()
        lowest: dict[str, int] = {}
        for queue in self._waiting.values():
            for pending in queue:
                for target, (first, _last) in (pending.seqs or {}).items():
                    if first < lowest.get(target, first + 1):
                        lowest[target] = first
        for queue in self._waiting.values():
            head = queue[0]
            if head.blocked_at is None or now < head.check_at:
                continue  # not waited long enough yet: the timer comes back for it
            for target in head.seqs or {}:
                done = self.delivered.get(target)
                upto = lowest[target] - 1
                if done is None or done >= upto:
                    continue
                rows = self.read_gap(target, done, upto) if self.read_gap is not None else []
                log.warning(
                    "cluster: messages %d..%d of %s did not come; %d read from the store",
                    done + 1,
                    upto,
                    target,
                    len(rows),
                )
                self._deliver_rows(target, rows)
                self.delivered[target] = upto
        self._drain_waiting()

    def _deliver_rows(self, target: str, rows: list[StoredMessage]) -> None:
        channel = self.world.channels.get(target)
        if channel is None:
            return
        self._send_rows([m for m in channel.members if m not in self.remote_of and not m.gone], rows)

    def _send_rows(self, members: list[Session], rows: list[StoredMessage]) -> None:
        for row in rows:
            message = to_message(row)
            tagmsg = row.command == "TAGMSG"  # only for clients with message-tags, as live
            for member in members:  # straight to the socket, as deliver() does
                if not tagmsg or member.view & capmod.TAGS:
                    member.conn.send_parts([capmod.render(message, member.view)])

    def _seal(
        self, seqs: dict[str, list[int]] | None, firsts: dict[str, dict[tuple[str, int], int]] | None = None
    ) -> None:
        """Close what is queued to each node as one batch (numbered: ``seqs``, the commit's).

        A node is given the numbers of the channels it has members of (and of every direct
        conversation), not of the others: it keeps no order for those, and the lines it is sent
        for them (to a device of one of our users, handover.py) come in this node's order.
        """
        per_node: dict[str, dict[str, list[int]]] = {}
        directs: dict[str, list[int]] = {}
        if seqs:
            for target, numbers in seqs.items():
                channel = self.world.channels.get(target)
                if channel is None:
                    directs[target] = numbers
                    continue
                for member in channel.members:
                    where = self.remote_of.get(member)
                    if where is not None:
                        per_node.setdefault(where[0], {})[target] = numbers
        for node, out in self.outboxes.items():
            mine = per_node.get(node)
            if out.parts or out.asks or mine is not None:
                numbered = {**directs, **mine} if mine is not None else directs
                self._out.append((self.to_stream(node), self._batch_fields(out, numbered or None, firsts)))
        self._schedule()

    def _batch_fields(
        self,
        out: NodeOutbox,
        seqs: dict[str, list[int]] | None,
        firsts: dict[str, dict[tuple[str, int], int]] | None = None,
    ) -> dict[bytes, bytes]:
        pieces, users = out.take()
        head: dict[str, Any] = {"p": [len(p) for p in pieces], "r": users}
        if seqs:
            head["s"] = seqs
        theirs = _firsts_of(firsts, out.node) if firsts else None
        if theirs:
            head["k"] = theirs
        if out.asks:
            head["a"], out.asks = out.asks, []
        fields = self._fields(b"h", json.dumps(head).encode())
        fields[b"d"] = b"".join(pieces)
        return fields

    # what others tell us ---------------------------------------------------------------------------

    def _apply_user(self, node: str, uid: int, snap: dict[str, Any]) -> None:
        mirror = self.mirrors.get((node, uid))
        world = self.world
        if mirror is None:
            out = self.outbox_for(node)
            delivery = self.server.delivery
            link = RemoteLink(out, uid, snap["host"], lambda: delivery.committed_seq, self.server.outboxes)
            mirror = Session(self.server, link)  # type: ignore[arg-type]
            self.server.deadlines.cancel(mirror)
            mirror.registered = True
            self.mirrors[(node, uid)] = mirror
            self.remote_of[mirror] = (node, uid)
            mirror.nick = snap["nick"]
            _set_user(mirror, snap, world, self.server.accounts)
            world.claim_nick(mirror)
            monitor.came_online(world, mirror)
            return
        if mirror.nick != snap["nick"]:
            old = mirror.nick
            world.remember(mirror)
            world.rename(mirror, snap["nick"])
            if world.fold(old) != mirror.folded:
                monitor.went_offline(world, mirror, old)
                monitor.came_online(world, mirror)
        _set_user(mirror, snap, world, self.server.accounts)

    def _apply_member(self, key: str, node: str, uid: int, prefix: str | None) -> None:
        session = self.local.get(uid) if node == self.me else self.mirrors.get((node, uid))
        if session is None:
            return
        world = self.world
        channel = world.channels.get(key)
        before = self.sent_chans.get(key)
        if prefix is None:
            if channel is not None and session in channel.members:
                world.leave(channel, session)
                if not channel.members and not channel.persistent:
                    world.remove_channel(channel)
            if before is not None:
                before[1].pop((node, uid), None)
            if node == self.me:
                self._write_user(session)
            return
        if channel is None:
            channel = world.add_channel(key)
        if session in channel.members:
            world.set_prefix(channel, session, prefix)
        else:
            world.join(channel, session, prefix)
            if node != self.me and self.read_last is not None:
                self._learn(key, (node, uid))
        if before is None:
            before = self.sent_chans[key] = (_chan_props(channel), {})
        before[1][(node, uid)] = prefix
        if node == self.me:
            self._write_user(session)

    def _apply_invite(self, key: str, node: str, uid: int) -> None:
        session = self.local.get(uid) if node == self.me else None
        channel = self.world.channels.get(key)
        if session is not None and channel is not None and not session.gone:
            self.world.invite(channel, session)

    def _apply_chan(self, name: str, props: dict[str, Any], version: list[Any] | None) -> None:
        world = self.world
        key = world.fold(name)
        if version is not None:
            stamp = (float(version[0]), int(version[1]), str(version[2]))
            held = self._chan_versions.get(key)
            if held is not None and stamp <= held:
                return  # a change made at the same time elsewhere wins: every node keeps it
            self._chan_versions[key] = stamp
        channel = world.channels.get(key)
        if channel is None:
            channel = world.add_channel(props.get("name", name))
        _set_chan(channel, props)
        before = self.sent_chans.get(key)
        self.sent_chans[key] = (_chan_props(channel), before[1] if before is not None else {})

    def _forget_claim(self, key: str) -> None:
        """The channel ``key`` ended in the network: a channel of that name made later is new."""
        self._founded_elsewhere.discard(key)
        self._founding.discard(key)
        if key in self._claimed:
            self._claimed.discard(key)
            if self.redis is not None:
                self._jobs(self._release_script(keys=[self._chan_key(key)], args=[key]))

    def _apply_chan_gone(self, key: str) -> None:
        self._founded_elsewhere.discard(key)
        self._founding.discard(key)
        self._claimed.discard(key)
        channel = self.world.channels.get(key)
        if channel is not None and not channel.members:
            self.world.remove_channel(channel)
        self.sent_chans.pop(key, None)
        self._chan_versions.pop(key, None)

    def ask(self, session: Session, what: str, args: list[Any]) -> bool:
        """Ask the node of ``session``, if it is another node's user, to do ``what`` to it (an
        operator's KILL, CHGHOST ...: its node changes it, and tells everyone); True then.

        What was queued to it goes first, in the same batch or an earlier one.
        """
        where = self.remote_of.get(session)
        if where is None:
            return False
        session.conn.flush()
        out = self.outboxes.get(where[0])
        if out is not None:
            out.asks.append([where[1], what, args])
            self._schedule()
        return True

    def drop_mirror(self, mirror: Session, reason: str, *, tell: bool) -> None:
        """Take another node's user out of our world; ``tell``: show its QUIT to our users."""
        where = self.remote_of.pop(mirror, None)
        if where is None:
            return
        self.mirrors.pop(where, None)
        world = self.world
        if tell:
            peers = [p for p in world.peers_of(mirror) if p not in self.remote_of and not p.gone]
            if peers:
                quit_msg = Message.build("QUIT", reason, source=mirror.hostmask)
                self.server.delivery.publish(quit_msg, peers, event=True)
        mirror.gone = True
        mirror.conn.closed = True
        if mirror.account is not None:
            world.drop_login(mirror, world.fold(mirror.account))
        world.forget_invites(mirror)
        left = list(mirror.channels.values())
        held = world.quit(mirror)
        for channel in left:
            before = self.sent_chans.get(channel.key_folded)
            if before is not None:
                before[1].pop(where, None)
            if not channel.members and not channel.persistent:
                world.remove_channel(channel)
        if held:
            monitor.went_offline(world, mirror, mirror.nick)
        world.remember(mirror)

    def apply(self, node: str, ops: Iterable[list[Any]]) -> None:
        """Apply state changes another node sent, in order."""
        for op in ops:
            kind = op[0]
            if kind == "u":
                self._apply_user(node, op[1], op[2])
            elif kind == "m":
                self._apply_member(op[1], op[2], op[3], op[4])
            elif kind == "c":
                self._apply_chan(op[1], op[2], op[3] if len(op) > 3 else None)
            elif kind == "cx":
                self._apply_chan_gone(op[1])
            elif kind == "i":
                self._apply_invite(op[1], op[2], op[3])
            elif kind == "ban":
                ban = ServerBan(*op[1])
                self.server.bans.put(ban)
                self.server.bans.enforce(ban)
            elif kind == "unban":
                self.server.bans.lift(op[1], op[2])
            elif kind == "reg":
                record = RegisteredChannel(*op[1])
                self.server.registry.channels[record.key] = record
            elif kind == "unreg":
                self.server.registry.channels.pop(op[1], None)
            elif kind == "dropped":
                self.server.account_dropped(op[1], here_only=True)
            elif kind == "x":
                mirror = self.mirrors.get((node, op[1]))
                if mirror is not None:
                    self.drop_mirror(mirror, "", tell=False)

    def deliver(self, head: dict[str, Any], blob: bytes) -> None:
        """Write what another node queued for our users to their connections."""
        pieces: list[bytes] = []
        at = 0
        for size in head["p"]:
            pieces.append(blob[at : at + size])
            at += size
        local = self.local
        handed = self.handover.handed
        for entry in head["r"]:
            session = local.get(entry[0])
            if session is None or session.gone:
                continue
            # Straight to the socket, past any output of ours still waiting for a commit: what
            # another node committed comes before every message of ours not committed yet (the
            # store numbers them after it), and before those of ours waiting for their turn.
            parts = [pieces[index] for index in entry[1:]]
            session.conn.send_parts(parts)
            if session.siblings:
                to_siblings(session, parts)  # other nodes know the user by its holder alone
            elif handed and session in handed:
                self.handover.delivered(session, parts)

    # the bus ------------------------------------------------------------------------------------

    def _schedule_node(self, out: NodeOutbox) -> None:
        self._schedule()

    def _schedule(self) -> None:
        """Send what is queued once this loop turn's flush has queued it (once per turn)."""
        if not self._flush_due:
            self._flush_due = True
            asyncio.get_running_loop().call_soon(self._flush_bus)

    def _flush_bus(self) -> None:
        """Write this turn's batches to Redis, pipelined, without waiting for the replies.

        A batch written is kept (``_keep_sent``) until it is old: if the connection fails, the
        reconnection sends every kept batch again and receivers drop those they had.
        """
        self._flush_due = False
        self._queue_ops()
        conn = self._pub
        if not self._out or not self.connected or self._stopping or conn is None:
            return
        if conn.closed:
            self._lost("the connection to Redis is closed")
            return
        batch, self._out = self._out, []
        for reply in self._write_xadds(conn, batch):
            reply.add_done_callback(self._sent_one)
        self._keep_sent(batch)

    def _sent_one(self, reply: asyncio.Future[Any]) -> None:
        if reply.cancelled():
            return
        error = reply.exception()
        if error is not None and not self._stopping:
            self._lost(f"a batch was not taken ({error})")

    def _lost(self, why: str) -> None:
        """The bus failed: reconnect (once), then send again what was sent lately."""
        if self._reconnecting is None or self._reconnecting.done():
            log.warning("cluster: lost the bus (%s); reconnecting", why)
            self._reconnecting = asyncio.ensure_future(self._reconnect())
            self._tasks.append(self._reconnecting)
            self._reconnecting.add_done_callback(
                lambda t: self._tasks.remove(t) if t in self._tasks else None
            )

    def _read_next(self) -> None:
        """Ask for what others sent since the last entries read (a blocking XREAD)."""
        conn = self._sub
        if conn is None or self._stopping:
            return
        keys = list(self._last_ids)
        ids = [self._last_ids[k] for k in keys]
        reply = conn.send("XREAD", "COUNT", READ_COUNT, "BLOCK", READ_BLOCK_MS, "STREAMS", *keys, *ids)
        reply.add_done_callback(self._on_read)

    def _on_read(self, reply: asyncio.Future[Any]) -> None:
        if reply.cancelled():
            return
        error = reply.exception()  # read even when stopping: the closed connection fails it
        if self._stopping:
            return
        if error is not None:
            self._lost(str(error))
            return
        for stream, entries in reply.result() or ():
            for entry_id, flat in entries:
                self._last_ids[stream] = entry_id
                self._take(stream, dict(zip(flat[::2], flat[1::2], strict=True)))
        self._read_next()

    def _queue_ops(self) -> None:
        """Move this turn's state changes and per-node lines onto the send queue, in order."""
        if self._ops:
            ops, self._ops = self._ops, []
            self._out.append((self.all_stream, self._fields(b"o", json.dumps(ops).encode())))
        for node, out in self.outboxes.items():
            if out.parts or out.asks:
                self._out.append((self.to_stream(node), self._batch_fields(out, None)))
        if self.handover.pending:
            for node, events in self.handover.take_events().items():
                self._out.append((self.to_stream(node), self._fields(b"v", json.dumps(events).encode())))

    def _fields(self, key: bytes, value: bytes) -> dict[bytes, bytes]:
        """A new batch's fields: who sent it, its number (receivers drop repeats), and ``key``."""
        self._batch += 1
        return {b"n": self.me.encode(), b"b": str(self._batch).encode(), key: value}

    async def _send(self, batch: list[tuple[bytes, dict[bytes, bytes]]]) -> None:
        await self._xadd(batch)
        del self._out[: len(batch)]
        self._keep_sent(batch)

    async def _xadd(self, batch: list[tuple[bytes, dict[bytes, bytes]]]) -> None:
        """Append every batch to its stream and wait until Redis took them all."""
        conn = self._pub
        if conn is None or conn.closed:
            conn = self._pub = await BusConnection.open(self.url)
        try:
            await asyncio.gather(*self._write_xadds(conn, batch))
        except Reply as exc:
            raise BusError(f"Redis refused a batch: {exc}") from exc

    @staticmethod
    def _write_xadds(
        conn: BusConnection, batch: list[tuple[bytes, dict[bytes, bytes]]]
    ) -> list[asyncio.Future[Any]]:
        replies = []
        for stream, fields in batch:
            args: list[bytes | str | int] = ["XADD", stream, "MAXLEN", "~", STREAM_LENGTH, "*"]
            for key, value in fields.items():
                args.append(key)
                args.append(value)
            replies.append(conn.send(*args))
        return replies

    def _keep_sent(self, batch: list[tuple[bytes, dict[bytes, bytes]]]) -> None:
        """Keep what was sent a while: a Redis that restarts loses what nobody had read yet."""
        now = self.server.clock.monotonic()
        sent = self._sent
        for item in batch:
            size = sum(len(v) for v in item[1].values())
            sent.append((now, size, item))
            self._sent_bytes += size
        while sent and (sent[0][0] < now - RESEND_WINDOW or self._sent_bytes > RESEND_BYTES):
            self._sent_bytes -= sent.popleft()[1]

    async def _reconnect(self) -> None:
        """Wait until Redis answers again, then take our place again and read the others."""
        assert self.redis is not None
        self.connected = False
        for delay in _delays():
            if self._stopping:
                return
            await asyncio.sleep(delay)
            try:
                await self.redis.ping()
                for conn in (self._pub, self._sub):
                    if conn is not None:
                        conn.close()
                self._pub = await BusConnection.open(self.url)
                self._sub = await BusConnection.open(self.url)
                await self._announce()
                await self._load_snapshot()
                # What we sent lately goes again: receivers drop what they had (batch numbers).
                resend = [item for _at, _size, item in self._sent]
                if resend:
                    await self._xadd(resend)
                pipe = self.redis.pipeline(transaction=False)
                for key, (props, _members) in self.sent_chans.items():
                    pipe.hset(self.k + "chans", key, json.dumps(props))
                await pipe.execute()
            except (RedisError, OSError):
                continue
            break
        self.connected = True
        self.connected_at = self.server.clock.monotonic()
        # Everything we told the network goes again: a restarted Redis lost it.
        self.sent_users.clear()
        for session in list(self.uid_of):
            if not session.gone:
                self.touch(session)
        log.warning("cluster: the bus is reachable again; membership resynced")
        self._read_next()
        self._schedule()  # what waited meanwhile

    def _take(self, stream: bytes, fields: dict[bytes, bytes]) -> None:
        node = fields[b"n"].decode()
        if node == self.me:
            return
        number = int(fields[b"b"])
        seen = self._seen.get((node, stream), 0)
        if number <= seen:
            return  # sent again after a reconnect
        self._seen[(node, stream)] = number
        self.nodes.add(node)
        try:
            if b"o" in fields:
                self.apply(node, json.loads(fields[b"o"]))
            elif b"v" in fields:
                self.handover.apply(node, json.loads(fields[b"v"]))
            else:
                head = json.loads(fields[b"h"])
                self._enqueue(node, _Pending(head.get("s"), header=head, blob=fields[b"d"]))
        except (KeyError, ValueError, IndexError, TypeError):
            log.exception("cluster: a malformed batch from %s was skipped", node)


class _Pending:
    """A commit of ours, or a batch of another node's, waiting for its turn (see Cluster._ready)."""

    __slots__ = ("blob", "blocked_at", "check_at", "epoch", "error", "header", "seqs")

    def __init__(
        self,
        seqs: dict[str, list[int]] | None,
        *,
        epoch: Epoch | None = None,
        error: BaseException | None = None,
        header: dict[str, Any] | None = None,
        blob: bytes = b"",
    ) -> None:
        self.seqs = seqs
        self.epoch = epoch
        self.error = error
        self.header = header
        self.blob = blob
        # When it began to wait at the head of its queue, and when the store is next asked about
        # the numbers it waits for.
        self.blocked_at: float | None = None
        self.check_at = 0.0


def _firsts_of(firsts: dict[str, dict[tuple[str, int], int]], node: str) -> dict[str, list[list[int]]]:
    """The first numbers settled for ``node``'s members: per conversation, ``[uid, number]``."""
    out: dict[str, list[list[int]]] = {}
    for key, settled in firsts.items():
        pairs = [[uid, number] for (where, uid), number in settled.items() if where == node]
        if pairs:
            out[key] = pairs
    return out


class _Fresh:
    """A member of ours that joined lately: since when, the store's last number when it joined,
    and from which number each node (this one too) sends it the conversation."""

    __slots__ = ("after", "known", "since")

    def __init__(self, since: float, after: int) -> None:
        self.since = since
        self.after = after
        self.known: dict[str, int] = {}


class _Mark:
    """Where this node's numbering stood when it learnt that ``who`` joined a conversation: the
    epoch being gathered (None: none was) and how many writes it held, and the last epoch begun."""

    __slots__ = ("at", "epoch", "seq", "since", "who")

    def __init__(self, who: tuple[str, int], epoch: Epoch | None, at: int, seq: int, since: float) -> None:
        self.who = who
        self.epoch = epoch
        self.at = at
        self.seq = seq
        self.since = since


class ClusterError(Exception):
    """The cluster bus cannot be reached or used."""


def _delays() -> Iterable[float]:
    yield from RETRY_DELAYS
    while True:
        yield RETRY_DELAYS[-1]


def _user_snap(session: Session, metadata: Mapping[str, str]) -> dict[str, Any]:
    snap: dict[str, Any] = {
        "nick": session.nick,
        "user": session.user,
        "host": session.host,
        "real": session.realname,
        "acct": session.account,
        "aid": session.account_id,
        "away": session.away,
        "um": "".join(sorted(session.umodes)),
        "caps": sorted(session.caps),
        "id": session.made_identity,
        "on": session.connected_at,
    }
    # draft/metadata-2: the user's values (its account's, for a logged-in user) and the keys it
    # subscribed to, so that every node shows them and tells it of changes (few users have any).
    if metadata:
        snap["md"] = dict(metadata)
    if session.metadata_subs:
        snap["subs"] = sorted(session.metadata_subs)
    return snap


def _set_user(mirror: Session, snap: dict[str, Any], world: World[Session], accounts: Accounts) -> None:
    mirror.user = snap["user"]
    mirror.host = snap["host"]
    mirror.realname = snap["real"]
    if mirror.account != snap["acct"]:
        # Logged-in users of an account are indexed (read markers, direct conversations'
        # names, metadata reach every one of them, on whichever node).
        if mirror.account is not None:
            world.drop_login(mirror, world.fold(mirror.account))
        if snap["acct"] is not None:
            world.add_login(mirror, world.fold(snap["acct"]))
    mirror.account = snap["acct"]
    mirror.account_id = snap["aid"]
    mirror.away = snap["away"]
    mirror.umodes = frozenset(snap["um"])
    caps = frozenset(snap["caps"])
    if caps != mirror.caps:
        mirror.caps = capmod.shared(caps)
        mirror.view = capmod.view_of(mirror.caps)
    mirror.connected_at = snap["on"]
    if snap.get("id") is not None and mirror.made_identity is None:
        mirror.adopt_identity(snap["id"])
    mirror.metadata_subs = frozenset(snap.get("subs", ()))
    values = snap.get("md") or {}
    if mirror.account_id is None:
        mirror.metadata = dict(values) if values else None
    else:  # the account's, shared with this node's users logged in to it
        accounts.metadata[mirror.account_id] = dict(values)


def _chan_props(channel: Channel[Session]) -> dict[str, Any]:
    return {
        "name": channel.name,
        "modes": "".join(sorted(channel.modes)),
        "key": channel.key,
        "limit": channel.limit,
        "topic": channel.topic,
        "tsetter": channel.topic_setter,
        "ttime": channel.topic_time,
        "created": channel.created,
        "durable": channel.persistent,
        "b": [[e.mask, e.setter, e.set_at] for e in channel.bans],
        "e": [[e.mask, e.setter, e.set_at] for e in channel.excepts],
        "I": [[e.mask, e.setter, e.set_at] for e in channel.invex],
        "md": dict(channel.metadata),
    }


def _set_chan(channel: Channel[Session], props: dict[str, Any]) -> None:
    channel.modes = frozenset(props["modes"])
    channel.key = props["key"]
    channel.limit = props["limit"]
    channel.topic = props["topic"]
    channel.topic_setter = props["tsetter"]
    channel.topic_time = props["ttime"]
    channel.created = props["created"]
    channel.persistent = props.get("durable", False)
    channel.metadata = dict(props.get("md", {}))
    for mode in "beI":
        channel.set_list(mode, tuple(ListEntry(m, s, t) for m, s, t in props[mode]))


__all__ = ["Cluster", "ClusterError"]
