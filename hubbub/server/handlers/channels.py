"""Channel membership and channel state: JOIN, PART, TOPIC, NAMES, KICK, INVITE."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from hubbub.protocol import Message, format_body, numerics, valid_channel_name

from .burst import names_replies, send_marker, send_names, send_topic
from .metadata import sync_on_join

if TYPE_CHECKING:
    from collections.abc import Iterator

    from ..session import Session
    from ..world import Channel
    from .context import Context


def handle_join(ctx: Context, session: Session, msg: Message) -> None:
    """JOIN <channel>{,<channel>} [<key>{,<key>}], or ``JOIN 0`` to leave every channel."""
    if msg.params[0] == "0":
        # Modern IRC: JOIN 0 parts all channels
        for channel in list(session.channels.values()):
            part(ctx, session, channel, "")
        return
    names = msg.params[0].split(",")
    keys = msg.param(1).split(",")
    for i, name in enumerate(names):
        if not name:
            continue
        join(ctx, session, name, keys[i] if i < len(keys) else "")


def join(ctx: Context, session: Session, name: str, key: str = "") -> None:
    """Join one channel, creating it (with ``session`` as operator) when it does not exist."""
    settings = ctx.settings
    world = ctx.world
    if not valid_channel_name(name, settings.channellen):
        session.reply(numerics.ERR_NOSUCHCHANNEL, name)
        return
    channel = world.find_channel(name)
    if channel is None and _lookalike_refused(ctx, session, name):
        return
    if channel is not None and session in channel.members:
        return
    actor = session  # the device that asked hears the refusals
    session = session.primary or session  # the nick holder's membership decides (devices.py)
    if len(session.channels) >= settings.max_channels:
        actor.reply(numerics.ERR_TOOMANYCHANNELS, name)
        return
    created = channel is None
    if channel is None:
        channel = world.add_channel(name)
        ctx.channel_created(channel)
    else:
        refusal = _join_refusal(ctx, session, channel, key)
        if refusal is not None:
            actor.reply(refusal[0], channel.name, refusal[1])
            return
    # The first one in gets ops, unless the channel lived on empty after having operators: then
    # being first (perhaps a banned user coming back) is no claim to it (history.py).
    # In a cluster, of two nodes making one channel at the same moment, the one that claimed its
    # name founds it, whichever of the two joins arrives first.
    founder = ctx.founds(channel)
    first = founder or ((created or not channel.members) and ctx.first_gets_ops(channel))
    devices = session.devices
    world.join(channel, session, "o" if first else "")
    if first:
        ctx.history.operator_given(channel)
    world.use_invite(channel, session)
    plain = Message.build("JOIN", channel.name, source=session.hostmask)
    extended = Message.build(
        "JOIN", channel.name, session.account or "*", session.realname, source=session.hostmask
    )
    members = list(channel.members)
    publish = ctx.delivery.publish
    publish(
        plain,
        [m for m in members if "extended-join" not in m.caps],
        keep=(channel.key_folded,),
        event=True,
        account=session.account,
        also=((extended, [m for m in members if "extended-join" in m.caps]),),
    )
    if session.away is not None:
        away = Message.build("AWAY", session.away, source=session.hostmask)
        away_audience = [m for m in members if "away-notify" in m.caps and m not in devices]
        publish(away, away_audience, event=True, account=session.account)
    for device in devices:
        if channel.topic:
            send_topic(device, channel)
        # IRCv3 draft/read-marker: after the JOIN, before the end of NAMES
        send_marker(ctx, device, channel.name)
        send_names(device, channel)
        sync_on_join(ctx, device, channel)  # draft/metadata-2, after NAMES as the spec shows
    ctx.replay_on_join(session, channel)
    for device in devices[1:]:
        ctx.history.replay_on_join(device, channel)


def _lookalike_refused(ctx: Context, session: Session, name: str) -> bool:
    # A channel that passes for an existing one is not made (403, as Ergo answers): joining
    # the existing one instead would answer a JOIN for another name than the client asked for, and
    # every later command naming the look-alike would have to be redirected too.
    alike = ctx.world.lookalike_channel(name)
    if alike is None:
        return False
    if "s" in alike.modes and session not in alike.members:
        text = "That channel name looks like one that exists"
    else:
        text = f"That channel name looks like {alike.name}, which exists"
    session.reply(numerics.ERR_NOSUCHCHANNEL, name, text=text)
    return True


def _join_refusal(
    ctx: Context, session: Session, channel: Channel[Session], key: str
) -> tuple[str, str] | None:
    """Why ``session`` may not join ``channel`` (numeric, text), or None.

    Only a channel operator's invite is kept (handle_invite): it lets its user past +i, past +l
    (``invite_overrides_limit``) and past +b and +k (``invite_overrides_bans``).
    """
    settings = ctx.settings
    casemapping = ctx.world.casemapping
    invited = channel.invited is not None and session in channel.invited
    past_bans = invited and settings.invite_overrides_bans
    if channel.key is not None and key != channel.key and not past_bans:
        return numerics.ERR_BADCHANNELKEY, "Cannot join channel (+k)"
    users = sum(1 for m in channel.members if m.primary is None)  # devices count once
    past_limit = invited and settings.invite_overrides_limit
    if channel.limit is not None and users >= channel.limit and not past_limit:
        return numerics.ERR_CHANNELISFULL, "Cannot join channel (+l)"
    if "i" in channel.modes and not invited and not channel.matches(channel.invex, session, casemapping):
        return numerics.ERR_INVITEONLYCHAN, "Cannot join channel (+i)"
    if channel.is_banned(session, casemapping) and not past_bans:
        return numerics.ERR_BANNEDFROMCHAN, "Cannot join channel (+b)"
    return None


def handle_part(ctx: Context, session: Session, msg: Message) -> None:
    """PART <channel>{,<channel>} [<reason>]."""
    reason = msg.param(1)[: ctx.settings.kicklen]
    for name in msg.params[0].split(","):
        if not name:
            continue
        channel = session.find_channel(name)
        if channel is None:
            continue
        if session not in channel.members:
            session.reply(numerics.ERR_NOTONCHANNEL, channel.name)
        else:
            part(ctx, session, channel, reason)


def part(ctx: Context, session: Session, channel: Channel[Session], reason: str) -> None:
    """Leave ``channel``, telling every member (``session`` included)."""
    params = (channel.name, reason) if reason else (channel.name,)
    out = Message("PART", params, session.hostmask)
    ctx.delivery.publish(
        out, list(channel.members), keep=(channel.key_folded,), event=True, account=session.account
    )
    ctx.remove_member(channel, session)


def handle_topic(ctx: Context, session: Session, msg: Message) -> None:
    """TOPIC <channel> [<topic>]: show or set the topic."""
    channel = session.find_channel(msg.params[0])
    if channel is None:
        return
    member = session in channel.members
    if len(msg.params) < 2:
        if not member and "s" in channel.modes:
            session.reply(numerics.ERR_NOTONCHANNEL, channel.name)
        elif channel.topic:
            send_topic(session, channel)
        else:
            session.reply(numerics.RPL_NOTOPIC, channel.name)
        return
    if not member:
        session.reply(numerics.ERR_NOTONCHANNEL, channel.name)
        return
    if "t" in channel.modes and not channel.is_op(session):
        session.reply(numerics.ERR_CHANOPRIVSNEEDED, channel.name)
        return
    topic = msg.params[1][: ctx.settings.topiclen]
    channel.topic = topic
    channel.topic_setter = session.hostmask
    channel.topic_time = time.time()
    out = Message.build("TOPIC", channel.name, topic, source=session.hostmask)
    ctx.delivery.publish(
        out, list(channel.members), keep=(channel.key_folded,), event=True, account=session.account
    )
    ctx.channel_changed(channel)


def handle_names(ctx: Context, session: Session, msg: Message) -> None:
    """NAMES [<channel>{,<channel>}].

    The reply may name every user in every channel: it is paced by the asker's reading
    (``Session.send_paced``).
    """
    session.send_paced(_names_replies(ctx, session, msg))


def _names_replies(ctx: Context, session: Session, msg: Message) -> Iterator[None]:
    if not msg.params or not msg.params[0]:
        # RFC 2812 3.2.5: without a channel, every channel the client may see, then one end
        for listed in list(ctx.world.channels.values()):
            if session in listed.members or "s" not in listed.modes:
                yield from names_replies(session, listed, end=False)
        session.reply(numerics.RPL_ENDOFNAMES, "*")
        return
    world = ctx.world
    for name in msg.params[0].split(","):
        channel = world.find_channel(name)
        if channel is None or (session not in channel.members and "s" in channel.modes):
            session.reply(numerics.RPL_ENDOFNAMES, name)
        else:
            yield from names_replies(session, channel)


def operated_channel(session: Session, name: str) -> Channel[Session] | None:
    """The channel ``name`` if ``session`` is one of its operators; else None, after 403, 442 or 482."""
    channel = session.find_channel(name)
    if channel is None:
        return None
    if session not in channel.members:
        session.reply(numerics.ERR_NOTONCHANNEL, channel.name)
        return None
    if not channel.is_op(session):
        session.reply(numerics.ERR_CHANOPRIVSNEEDED, channel.name)
        return None
    return channel


def handle_kick(ctx: Context, session: Session, msg: Message) -> None:
    """KICK <channel> <nick>{,<nick>} [<reason>]."""
    channel = operated_channel(session, msg.params[0])
    if channel is None:
        return
    reason = (msg.param(2) or session.nick)[: ctx.settings.kicklen]
    # Modern IRC: servers "MAY limit the number of target users per KICK command via the TARGMAX
    # parameter of RPL_ISUPPORT, and silently drop targets if the number of targets exceeds the
    # limit". Each kick goes out as a KICK of its own, as clients expect.
    nicks = [nick for nick in msg.params[1].split(",") if nick][: ctx.settings.max_kick_targets]
    for nick in nicks:
        target = ctx.world.find_user(nick)
        if target is None:
            session.reply(numerics.ERR_NOSUCHNICK, nick)
            continue
        if target not in channel.members:
            session.reply(numerics.ERR_USERNOTINCHANNEL, target.nick, channel.name)
            continue
        out = Message.build("KICK", channel.name, target.nick, reason, source=session.hostmask)
        ctx.delivery.publish(
            out, list(channel.members), keep=(channel.key_folded,), event=True, account=session.account
        )
        ctx.remove_member(channel, target)


def handle_invite(ctx: Context, session: Session, msg: Message) -> None:
    """INVITE <nick> <channel>: only an operator may invite into a +i channel, and only an
    operator's invite lets its user in (see _join_refusal)."""
    world = ctx.world
    target = world.find_user(msg.params[0])
    if target is None:
        session.reply(numerics.ERR_NOSUCHNICK, msg.params[0])
        return
    channel = session.find_channel(msg.params[1])
    if channel is None:
        return
    if session not in channel.members:
        session.reply(numerics.ERR_NOTONCHANNEL, channel.name)
        return
    if target in channel.members:
        session.reply(numerics.ERR_USERONCHANNEL, target.nick, channel.name)
        return
    operator = channel.is_op(session)
    if "i" in channel.modes and not operator:
        session.reply(numerics.ERR_CHANOPRIVSNEEDED, channel.name)
        return
    if operator:
        # Modern IRC lets any member invite into a channel that is not +i, but a plain member's
        # invite is only a notification: kept, it would let anyone a member asks for past the
        # bans, the key and the limit the operators set (and past +i, were it set later).
        ctx.world.invite(channel, target)
    session.reply(numerics.RPL_INVITING, target.nick, channel.name)
    out = Message.build("INVITE", target.nick, channel.name, source=session.hostmask)
    ctx.delivery.publish(out, (target,), event=True, account=session.account)
    if target.away is not None:
        session.reply(numerics.RPL_AWAY, target.nick, target.away)
    # IRCv3 invite-notify: other members with the cap who could have invited too
    notify = [
        m
        for m in channel.members
        if "invite-notify" in m.caps and m is not session and ("i" not in channel.modes or channel.is_op(m))
    ]
    ctx.delivery.publish(out, notify, event=True, account=session.account)


__all__ = ["format_body", "join", "operated_channel", "part"]
