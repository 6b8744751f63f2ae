"""Devices of one account on several nodes: each device's session lives on the account's home node.

Cluster mode (docs/cluster.md, "Devices on several nodes"). On one node a second connection of an
account becomes a *sibling* of the nick holder (handlers/devices.py). In a cluster the holder may
be another node's user; then the connection is *handed over* to that node, its home:

- This node (the connection's) sends the home node an adopt event with what registration
  learned (nick, user, host, account, caps, TLS). The home node makes a Session on a
  :class:`~hubbub.server.remote.DeviceLink` back to this node and runs the single-node path on it:
  it becomes a sibling of the holder, with the welcome, its metadata and its channels. Every
  handler then runs on the home node, so a device behaves as on one node by construction.
- This node keeps the socket, its flood control and its pings, and holds no user for it: each line
  the client sends is forwarded to the home node, in order, one batch per loop turn; what the home
  node sends the device comes back like any mirror's lines (``Cluster.deliver``).
- The connection closing here tells the home node, which ends the device as if its own connection
  closed; the home node ending it sends the ``ERROR`` line, on which this node closes the socket.
- Other nodes know the user through its holder only: the home node gives every device a copy of
  what they send the holder (:func:`to_siblings`), rendered for each device's capabilities.
- A home node that dies takes its devices' sessions with it: their connections here are closed
  with an ``ERROR`` saying so (the clients reconnect); a node that dies takes the devices it held
  the connections of, which the home node ends as lost connections.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any, Protocol

from hubbub.protocol import ProtocolError, parse

from . import caps as capmod
from .client_state import AuthState
from .remote import DeviceLink, NodeOutbox
from .session import Session

if TYPE_CHECKING:
    from .clock import Clock, Deadlines
    from .delivery import Delivery
    from .outbox import Outboxes, Part
    from .world import World

log = logging.getLogger(__name__)

# What a connection whose account's home node died is told: it reconnects, and is home here then.
HOME_GONE = "The node holding this account's session is gone; reconnect"
# What a device is told when its account's user left the network while it was being handed over.
HOLDER_GONE = "The account's user left the network meanwhile; reconnect"


class HomeNode(Protocol):
    """What the handover needs of its node (:class:`hubbub.server.app.Server`)."""

    clock: Clock
    deadlines: Deadlines[Session]
    delivery: Delivery
    outboxes: Outboxes

    def adopt_device(self, session: Session) -> bool:
        """Make ``session`` a device of its account's user here; False if that user is not here."""


class Network(Protocol):
    """What the handover needs of the node's part in the network (:class:`hubbub.server.cluster.Cluster`)."""

    world: World[Session]
    local: dict[int, Session]
    remote_of: dict[Session, tuple[str, int]]

    @property
    def server(self) -> HomeNode:
        """The node."""

    def reserve_uid(self, session: Session) -> int:
        """A number for our connection ``session`` that is no user here."""

    def outbox_for(self, node: str) -> NodeOutbox:
        """What this loop turn queues for ``node``'s users."""

    def schedule_send(self) -> None:
        """Send what is queued at the end of this loop turn."""

    def touch(self, session: Session) -> None:
        """After a change of our user ``session``: tell the network."""


class Handover:
    """This node's devices handed to other nodes, and other nodes' devices it is home to."""

    def __init__(self, cluster: Network) -> None:
        self.cluster = cluster
        # Connections of ours whose sessions live on another node: session -> (that node, our uid).
        self.handed: dict[Session, tuple[str, int]] = {}
        # Devices whose connections are on another node: (that node, its uid) <-> their sessions.
        self.adopted: dict[tuple[str, int], Session] = {}
        self.adopted_from: dict[Session, tuple[str, int]] = {}
        # This loop turn's events for each node, in order: adopt, lines, closed.
        self._events: dict[str, list[list[Any]]] = {}

    # the connection's node ---------------------------------------------------------------------------

    def hand_over(self, session: Session, holder: Session) -> bool:
        """Make ``session`` a device of ``holder``, another node's user, on that node; False if
        ``holder`` is not another node's user."""
        where = self.cluster.remote_of.get(holder)
        if where is None:
            return False
        cluster = self.cluster
        world = cluster.world
        node = where[0]
        uid = cluster.reserve_uid(session)
        world.unregistered -= 1
        if session.account is not None:
            # Its account's sessions are the home node's to index: here it is no user at all.
            world.drop_login(session, world.fold(session.account))
        session.registration_done()  # its pings, and its flood control, stay here
        self.handed[session] = (node, uid)
        auth = session.auth
        state = {
            "nick": session.nick,
            "user": session.user,
            "host": session.host,
            "ip": session.conn.peer_ip,
            "real": session.realname,
            "acct": session.account,
            "aid": session.account_id,
            "caps": sorted(session.caps),
            "cv": session.cap_version,
            "tls": auth.tls,
            "certfp": auth.certfp,
            "on": session.connected_at,
        }
        self._send(node, ["a", uid, state])
        log.info("cluster: %r is a device of %s on %s", session, holder.nick, node)
        return True

    def forward(self, session: Session, line: bytes) -> None:
        """A line of a connection handed over: to the home node, after the ones before it."""
        node, uid = self.handed[session]
        text = line.decode("utf-8", "surrogateescape")
        events = self._events.get(node)
        if events and events[-1][0] == "i" and events[-1][1] == uid:
            events[-1].append(text)
            return
        self._send(node, ["i", uid, text])

    def connection_gone(self, session: Session, reason: str) -> bool:
        """A connection handed over closed here: tell its home node; False if it is not one."""
        where = self.handed.pop(session, None)
        if where is None:
            return False
        node, uid = where
        self.cluster.local.pop(uid, None)
        self._send(node, ["q", uid, reason])
        return True

    def delivered(self, session: Session, parts: list[Part]) -> None:
        """The home node's lines were written to ``session``'s connection: an ERROR closes it."""
        for part in parts:
            if isinstance(part, bytes) and part.startswith(b"ERROR "):
                self._close(session, None)
                return

    def _close(self, session: Session, reason: str | None) -> None:
        """End a connection handed over, without a word to its home node (it knows or is gone).

        ``reason``: say it in an ``ERROR`` line; None: the home node's ``ERROR`` was written.
        """
        where = self.handed.pop(session, None)
        if where is not None:
            self.cluster.local.pop(where[1], None)
        session.gone = True
        self.cluster.server.deadlines.cancel(session)
        conn = session.conn
        if reason is not None:
            conn.close_with_error(f"Closing Link: {session.host} ({reason})")
        elif not conn.closed:
            conn.closed = True
            conn.shut()

    # the home node ----------------------------------------------------------------------------------

    def apply(self, node: str, events: list[list[Any]]) -> None:
        """Events another node sent about the devices it holds the connections of, in order."""
        for event in events:
            kind, uid = event[0], event[1]
            if kind == "a":
                self._adopt(node, uid, event[2])
                continue
            session = self.adopted.get((node, uid))
            if session is None:
                continue
            if kind == "i":
                link = session.conn
                assert isinstance(link, DeviceLink)
                link.last_seen = self.cluster.server.clock.monotonic()
                link.take([text.encode("utf-8", "surrogateescape") for text in event[2:]])
            elif kind == "q":
                self._lost(session, event[2])

    def _adopt(self, node: str, uid: int, state: dict[str, Any]) -> None:
        cluster = self.cluster
        server = cluster.server
        world = cluster.world
        delivery = server.delivery
        link = DeviceLink(
            cluster.outbox_for(node),
            uid,
            state["ip"],
            lambda: delivery.committed_seq,
            server.outboxes,
            delivery.after_commit,
            lambda callback: asyncio.get_running_loop().call_soon(callback),
        )
        session = Session(server, link)  # type: ignore[arg-type]  # the server is its Host
        server.deadlines.cancel(session)  # its pings are its connection's node's
        link.handle = session.handle_line
        session.nick = state["nick"]
        session.user = state["user"]
        session.host = state["host"]
        session.realname = state["real"]
        session.account = state["acct"]
        session.account_id = state["aid"]
        session.set_caps(state["caps"])
        session.cap_version = state["cv"]
        session.connected_at = state["on"]
        if state["tls"] or state["certfp"]:
            session.auth = AuthState(tls=state["tls"], certfp=state["certfp"])
        if session.account is not None:
            world.add_login(session, world.fold(session.account))
        if not server.adopt_device(session):
            if session.account is not None:
                world.drop_login(session, world.fold(session.account))
            session.gone = True
            link.close_with_error(f"Closing Link: {session.host} ({HOLDER_GONE})")
            return
        self.adopted[(node, uid)] = session
        self.adopted_from[session] = (node, uid)
        cluster.touch(session)

    def _lost(self, session: Session, reason: str) -> None:
        """The device's connection is gone: end its session as a closed connection's."""
        self.forget(session)
        link = session.conn
        link.closed = True
        link.lost = True
        session.disconnect(reason)

    def forget(self, session: Session) -> None:
        """A device of ours left: nothing more comes for it or goes to it."""
        where = self.adopted_from.pop(session, None)
        if where is not None:
            self.adopted.pop(where, None)

    # both -----------------------------------------------------------------------------------------

    def node_died(self, node: str) -> None:
        """``node`` is gone: the devices it was home to close here; those it held connections of end."""
        for session, (home, _uid) in list(self.handed.items()):
            if home == node:
                self._close(session, HOME_GONE)
        for (holder_node, _uid), session in list(self.adopted.items()):
            if holder_node == node:
                self._lost(session, "*.net *.split")

    def _send(self, node: str, event: list[Any]) -> None:
        events = self._events.get(node)
        if events is None:
            events = self._events[node] = []
        events.append(event)
        self.cluster.schedule_send()

    @property
    def pending(self) -> bool:
        """Whether events wait to be sent."""
        return bool(self._events)

    def take_events(self) -> dict[str, list[list[Any]]]:
        """This turn's events per node, to send (and forget here)."""
        events, self._events = self._events, {}
        return events


def to_siblings(holder: Session, parts: list[Part]) -> None:
    """What another node sent ``holder`` goes to its other devices too, each in its own form.

    Other nodes know the user by its holder alone; on one node a channel's or a private
    message's lines reach every device itself.
    """
    view = holder.view
    rendered: dict[int, list[Part]] = {view: parts}
    for sibling in holder.siblings:
        if sibling.gone:
            continue
        mine = rendered.get(sibling.view)
        if mine is None:
            mine = rendered[sibling.view] = _render(parts, sibling.view)
        sibling.conn.send_parts(mine)


def _render(parts: list[Part], view: int) -> list[Part]:
    """``parts`` (whole lines) again for a client with ``view``: the tags it may see."""
    out: list[Part] = []
    for part in parts:
        data = part if isinstance(part, bytes) else part.joined()
        for raw in data.split(b"\r\n"):
            if not raw:
                continue
            try:
                out.append(capmod.render(parse(raw), view))
            except ProtocolError:
                out.append(raw + b"\r\n")
    return out
