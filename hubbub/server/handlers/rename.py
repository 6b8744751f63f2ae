"""RENAME: a channel operator gives a channel a new name (IRCv3 draft/channel-rename).

"A channel rename preserves all channel state, such as membership, mode and topic": the World
renames the channel in place (``World.rename_channel``), and what the store keeps under the
channel's name (its history, life, saved record, ChanServ registration and read markers) moves to
the new name in one transaction on the store writer (``History.channel_renamed``), so CHATHISTORY
on the new name returns the old messages and the old name is free again. Members with the
capability are sent ``RENAME``; the rest the spec's fallback, a PART of the old name and a JOIN of
the new one with its topic and NAMES (none for a change of case only).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hubbub.protocol import Message, valid_channel_name

from .burst import send_marker, send_names, send_topic
from .channels import operated_channel

if TYPE_CHECKING:
    from ..session import Session
    from ..world import Channel
    from .context import Context

CAP = "draft/channel-rename"


def handle_rename(ctx: Context, session: Session, msg: Message) -> None:
    """RENAME <channel> <new name> [<reason>]."""
    old_name, new_name = msg.params[0], msg.params[1]
    reason = msg.param(2)[: ctx.settings.kicklen]
    channel = operated_channel(session, old_name)
    if channel is None:
        return
    refusal = _refusal(ctx, session, channel, new_name)
    if refusal is not None:
        code, text = refusal
        session.fail("RENAME", code, text, channel.name, new_name)
        return
    rename(ctx, session, channel, new_name, reason)


def _refusal(
    ctx: Context, session: Session, channel: Channel[Session], new_name: str
) -> tuple[str, str] | None:
    """Why ``channel`` may not be called ``new_name`` (a FAIL code and text), or None."""
    world = ctx.world
    settings = ctx.settings
    if settings.cluster_url:
        # Every node would have to move the channel, its numbering and its name claim at one
        # point of its order (docs/cluster.md, "Not yet"); the capability is not offered then.
        return "CANNOT_RENAME", "Channels cannot be renamed on a network of several nodes"
    if not valid_channel_name(new_name, settings.channellen):
        return "CANNOT_RENAME", "Invalid channel name"
    # The spec allows refusing a change of prefix type; a local (&) channel made global (#), or
    # the other way round, would change more than the name.
    if new_name[0] != channel.name[0]:
        return "CANNOT_RENAME", "You cannot change a channel prefix type"
    if new_name == channel.name:
        return "CANNOT_RENAME", "That is the channel's name already"
    holder = world.find_channel(new_name)
    if holder is not None and holder is not channel:
        return "CHANNEL_NAME_IN_USE", "Channel already exists"
    alike = world.lookalike_channel(new_name, besides=channel)
    if alike is not None:
        if "s" in alike.modes and session not in alike.members:
            return "CHANNEL_NAME_IN_USE", "That channel name looks like one that exists"
        return "CHANNEL_NAME_IN_USE", f"That channel name looks like {alike.name}, which exists"
    # A configured channel is made again under its configured name at every start.
    if any(world.fold(name) == channel.key_folded for name in settings.persistent_channels):
        return "CANNOT_RENAME", "This channel is configured by the server and keeps its name"
    interval = settings.channel_rename_interval
    if channel.renamed_at is not None and ctx.clock.monotonic() - channel.renamed_at < interval:
        return "CANNOT_RENAME", "This channel has been renamed recently"
    if ctx.history.holds_newer_history(world.fold(new_name), channel):
        return "CANNOT_RENAME", "That name holds the history of an earlier channel"
    return None


def rename(ctx: Context, session: Session, channel: Channel[Session], new_name: str, reason: str) -> None:
    """Rename ``channel`` to ``new_name`` and tell every member."""
    old_name = channel.name
    old_key = ctx.world.rename_channel(channel, new_name)
    channel.renamed_at = ctx.clock.monotonic()
    ctx.history.channel_renamed(channel, old_key)
    ctx.registry.channel_renamed(old_key, channel.key_folded)
    members = list(channel.members)
    aware = [m for m in members if CAP in m.caps]
    out = Message.build("RENAME", old_name, new_name, reason, source=session.hostmask)
    publish = ctx.delivery.publish
    publish(out, aware, keep=(channel.key_folded,), event=True, account=session.account)
    if old_key == channel.key_folded:
        return  # a change of case only: the spec's fallback SHOULD NOT be used for it
    for member in members:
        if CAP not in member.caps:
            _fallback(ctx, member, channel, old_name, reason)


def _fallback(ctx: Context, member: Session, channel: Channel[Session], old_name: str, reason: str) -> None:
    """The spec's fallback: a PART of the old name, then a JOIN of the new one as if just joined."""
    mask = member.hostmask
    publish = ctx.delivery.publish
    part = Message("PART", (old_name, reason) if reason else (old_name,), mask)
    publish(part, (member,), event=True, account=member.account)
    if "extended-join" in member.caps:
        join = Message.build("JOIN", channel.name, member.account or "*", member.realname, source=mask)
    else:
        join = Message.build("JOIN", channel.name, source=mask)
    publish(join, (member,), event=True, account=member.account)
    if channel.topic:
        send_topic(member, channel)
    send_marker(ctx, member, channel.name)
    send_names(member, channel)
