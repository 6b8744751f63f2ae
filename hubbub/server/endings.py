"""Endings: a user who quits, a member who leaves, a channel that ends.

The World changes who is where (world.py); this decides what follows: a quitting user's peers
see its QUIT once (a device leaving while another keeps the nick shows nothing), an emptied
channel ends unless it is durable, and a dropped channel kicks its members and forgets its
registration. Its history stays with the life that ended (docs/history.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hubbub.protocol import Message

from . import monitor

if TYPE_CHECKING:
    from .accounts import Accounts
    from .delivery import Delivery
    from .history import History
    from .registry import ChannelRegistry
    from .session import Session
    from .world import Channel, World


class Endings:
    """What follows when users and channels go."""

    def __init__(
        self,
        world: World[Session],
        delivery: Delivery,
        history: History,
        registry: ChannelRegistry,
        accounts: Accounts,
        name: str,
    ) -> None:
        self.world = world
        self.delivery = delivery
        self.history = history
        self.registry = registry
        self.accounts = accounts
        self.name = name  # the server's, the source of a drop's KICKs
        self.stopping = False  # shutting down empties channels, but does not end their lives

    def quit(self, session: Session, reason: str) -> None:
        """Remove a departing session from the world and show its QUIT once to each peer."""
        world = self.world
        if session.account is not None:
            world.drop_login(session, world.fold(session.account))
            self.accounts.forget_metadata(world.fold(session.account), session.account_id)
        if not session.registered:
            world.unregistered -= 1
            return
        world.forget_invites(session)
        if world.detach_device(session):
            # Another device keeps the nick and its channels: nobody else notices (devices.py).
            monitor.forget(self.world, session)
            world.forget_umodes(session)
            return
        peers = world.peers_of(session)
        quit_msg = Message.build("QUIT", reason, source=session.hostmask)
        self.delivery.publish(
            quit_msg,
            [p for p in peers if not p.gone],
            keep=list(session.channels),
            event=True,
            account=session.account,
        )
        left = list(session.channels.values())
        held_nick = world.quit(session)
        for channel in left:
            self._maybe_end(channel)
        if held_nick:
            monitor.went_offline(self.world, session, session.nick)
        monitor.forget(self.world, session)
        world.forget_umodes(session)
        world.remember(session)

    def leave(self, channel: Channel[Session], session: Session) -> None:
        """Take ``session`` out of ``channel``; an empty channel goes unless persistent (durable)."""
        self.world.leave(channel, session)  # every device of the user leaves together
        self._maybe_end(channel)

    def _maybe_end(self, channel: Channel[Session]) -> None:
        if not channel.members and not channel.persistent:
            self.end_channel(channel)

    def end_channel(self, channel: Channel[Session]) -> None:
        """Take an empty channel out of the world; a channel of that name made later starts clean."""
        self.world.remove_channel(channel)
        if not self.stopping:
            self.history.channel_ended(channel)

    def drop_channel(self, channel: Channel[Session], reason: str) -> None:
        """End ``channel`` now: forget its saved state and registration, and kick its members.

        Its history stays in the store (HISTORY DELETE removes it) but belongs to the life that
        ended: a channel of that name made later starts clean, with nobody as its operator but
        the first to join it.
        """
        channel.persistent = False
        self.history.forget_channel(channel)
        self.registry.drop(channel.key_folded)
        for member in [m for m in channel.members if m.primary is None]:
            if member not in channel.members:
                continue
            out = Message.build("KICK", channel.name, member.nick, reason, source=self.name)
            self.delivery.publish(out, list(channel.members), keep=(channel.key_folded,), event=True)
            self.leave(channel, member)
        if self.world.channels.get(channel.key_folded) is channel:
            self.end_channel(channel)
