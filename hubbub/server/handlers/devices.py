"""Multiple devices: several connections logged in to one account share one nick and presence.

Design (the lighter of two): the World still maps a nick to one Session, the *holder*, and every
other connection of that user is a *sibling* listed on the holder (``holder.siblings``, and
``sibling.primary`` points back). Siblings are also members of the holder's channels, so channel
fan-out reaches every device without any change to :meth:`hubbub.server.delivery.Delivery.fanout` (the
hot path); their membership value is a placeholder, and prefixes, op checks and NAMES always
read the holder's entry. Handlers that change who is where (JOIN, PART, KICK, NICK) act on every
device through :attr:`Session.devices`; direct messages go to every device of the recipient and
to the sender's siblings. When a device leaves, nobody else notices unless it was the last one;
when the holder leaves first, the next sibling becomes the holder.

A connection joins its account's user when it logs in with SASL before registration completes,
the account is already online, and it asks for that user's nick or the account's name, with the
``multi_device`` setting on (the default).

In a cluster the user may be another node's (its holder here is a mirror). Then the connection is
handed over to that node, the account's *home* (hubbub/server/handover.py): its session is made
there and goes through :func:`show_channels` and every handler there, as a local device's does,
while this node keeps the socket and forwards its lines. So every rule above holds across nodes
by construction; other nodes know the user by its holder alone, and the home node gives each
device a copy of what they send it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hubbub.protocol import Message

from .burst import send_marker, send_names, send_topic

if TYPE_CHECKING:
    from ..session import Session
    from .context import Context


def online_holder(ctx: Context, session: Session) -> Session | None:
    """The nick holder ``session`` should join as another device, if any.

    That is a registered user logged in to the same account (in a cluster, maybe another node's),
    when ``session`` asks for the holder's nick or for the account's name (as Ergo does); a client
    asking for some other nick is left to be a user of its own.
    """
    if session.account is None or not ctx.settings.multi_device:
        return None
    world = ctx.world
    account = world.fold(session.account)
    wanted = world.fold(session.nick)
    for other in world.accounts.get(account, ()):
        usable = other is not session and other.registered and other.primary is None and not other.gone
        if usable and world.users.get(other.folded) is other and wanted in (other.folded, account):
            return other
    return None


def show_channels(ctx: Context, session: Session) -> None:
    """A device that just attached: JOIN echo, topic, read marker and NAMES for each channel."""
    for channel in ctx.world.seat_device(session):
        if "extended-join" in session.caps:
            join = Message.build(
                "JOIN", channel.name, session.account or "*", session.realname, source=session.hostmask
            )
        else:
            join = Message.build("JOIN", channel.name, source=session.hostmask)
        session.send(join)
        if channel.topic:
            send_topic(session, channel)
        send_marker(ctx, session, channel.name)
        send_names(session, channel)
        ctx.history.replay_on_join(session, channel)
