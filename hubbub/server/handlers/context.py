"""What a command handler may use of the server: one narrow context.

Every handler is called as ``handler(ctx, session, msg)``: ``session`` is the client that sent
``msg``, and ``ctx`` is the server as handlers see it, no more: the world, the settings, the
publish seam and the domain services, and the few server-wide actions a command may take.
:class:`hubbub.server.app.Server` is the one implementation; tests may pass their own. As in
Ergo, where every handler gets ``(server, client, msg, rb)``, nothing reaches the server through
``session.server``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from ..accounts import Accounts
    from ..bans import Bans
    from ..clock import Clock
    from ..config import Settings
    from ..delivery import Delivery
    from ..directs import Directs
    from ..history import History
    from ..registry import ChannelRegistry
    from ..session import Session
    from ..world import Channel, World


class NickClaims(Protocol):
    """Where a nick is taken network-wide before it is used (cluster mode: Redis)."""

    def holds(self, session: Session, nick: str) -> bool:
        """Whether ``session`` already holds ``nick`` in the network."""

    def claim(self, session: Session, nick: str, then: Callable[[bool], None]) -> None:
        """Take ``nick`` for ``session``'s user (of which ``session`` may be a device), then call
        ``then(taken)`` within the client's command."""


class Context(Protocol):
    """The server as a command handler sees it."""

    name: str
    version: str
    created: str  # when the server started, as RPL_CREATED shows it
    config_name: str  # the configuration file REHASH reads
    settings: Settings
    clock: Clock
    world: World[Session]
    delivery: Delivery  # the publish seam
    history: History
    directs: Directs
    accounts: Accounts
    bans: Bans
    registry: ChannelRegistry  # ChanServ's registered channels
    nick_claims: NickClaims | None  # cluster mode: nicks are taken in the network first
    isupport: list[str]
    motd: list[str]
    # Numerics every registration sends unchanged, formatted once (replies.constant_replies).
    reply_cache: dict[str, list[tuple[str, str]]]

    def capabilities(self, session: Session | None = None) -> dict[str, str]:
        """Capabilities offered now (to ``session``), with their CAP LS 302 values."""

    def rehash(self) -> None:
        """Read the configuration again and apply it."""

    def remove_member(self, channel: Channel[Session], session: Session) -> None:
        """Take ``session`` out of ``channel``; an empty channel ends unless it is durable."""

    def drop_channel(self, channel: Channel[Session], reason: str) -> None:
        """End ``channel`` now, kicking its members (CHANNEL DROP)."""

    def channel_created(self, channel: Channel[Session]) -> None:
        """A channel came into being."""

    def channel_changed(self, channel: Channel[Session]) -> None:
        """A channel's topic, modes or lists changed."""

    def first_gets_ops(self, channel: Channel[Session]) -> bool:
        """Whether the first to join empty ``channel`` becomes its operator."""

    def replay_on_join(self, session: Session, channel: Channel[Session]) -> None:
        """``session`` just joined ``channel``: apply its registered access, send recent history."""

    def account_logged_in(self, session: Session) -> None:
        """A registered client just logged in: show it what was sent to its account meanwhile."""

    def notify_opers(self, text: str) -> None:
        """A server notice to every operator."""

    def founds(self, channel: Channel[Session]) -> bool:
        """In a cluster: whether this node claimed ``channel``'s name when it was made, so the
        user joining it now is its founder though another node's user got in first."""

    def node_of(self, session: Session) -> str | None:
        """In a cluster, the name of the node ``session`` is connected to; else None."""

    def account_dropped(self, key: str) -> None:
        """The account ``key`` was dropped from the store: forget its channel registrations and
        log its users out (in a cluster, on every node)."""

    def ask_home(self, session: Session, what: str, *args: Any) -> bool:
        """In a cluster: whether ``session`` is another node's user, whose node was just asked
        to do ``what`` to it (``"host"``: CHGHOST's change); it changes there, and is shown from
        there to everyone."""

    def hand_over_device(self, session: Session, holder: Session) -> bool:
        """In a cluster: make ``session`` a device of ``holder`` on ``holder``'s node, when that
        is another node; False if ``holder`` is a user of this node."""
