"""REDACT: IRCv3 draft/message-redaction.

``REDACT <target> <msgid> [:reason]`` deletes a PRIVMSG, NOTICE or TAGMSG from the history of a
channel or of a direct conversation and tells the clients that negotiated
``draft/message-redaction`` (the others are sent nothing; the spec leaves a fallback optional and
it would be noise). As in Ergo: a message is one's own when it carries one's account, so only a
logged-in client redacts its own messages; a channel operator may redact any message of the
channel, a server operator any message of a channel or of its own direct conversations. The
redacted message is deleted through the store writer, after everything recorded before it, and
the REDACT is published (its own msgid and time) only once the deletion is committed, so a
CHATHISTORY or a join that sees the REDACT never sees the message again.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from hubbub.protocol import Message, is_channel_name
from hubbub.store import StoreError

if TYPE_CHECKING:
    from ..session import Session
    from ..world import Channel
    from .context import Context

log = logging.getLogger(__name__)

CAP = "draft/message-redaction"
# The spec: "<msgid> is the id of the message to be redacted, which MUST be a PRIVMSG, NOTICE, or
# TAGMSG"; events (JOIN, TOPIC ...) kept in history cannot be redacted.
REDACTABLE = frozenset({"PRIVMSG", "NOTICE", "TAGMSG"})


def _fail(session: Session, code: str, text: str, *context: str) -> None:
    session.fail("REDACT", code, text, *context)


def handle_redact(ctx: Context, session: Session, msg: Message) -> None:
    """REDACT <target> <msgid> [:reason]: delete a message from history and tell who can hear it."""
    target_name, msgid = msg.params[0], msg.params[1]
    reason = msg.param(2)
    oper = "o" in session.umodes
    channel: Channel[Session] | None = None
    peer: Session | None = None
    if is_channel_name(target_name):
        channel = ctx.world.find_channel(target_name)
        # Only members (and server operators) may name a channel here: anyone else would learn
        # from the answers which msgids exist in it.
        if channel is None or (session not in channel.members and not oper):
            _fail(session, "INVALID_TARGET", f"You cannot delete messages from {target_name}", target_name)
            return
        key = channel.key_folded
        # A server operator may redact any of it; a member what it may read (a channel made anew
        # does not show, nor let anyone name, the messages of the one before).
        since = 0 if oper else ctx.history.visible_since(session, channel.key_folded, channel)
        moderator = oper or channel.is_op(session)
    else:
        direct = ctx.directs.dm_target(session, target_name)
        if direct is None:
            _fail(session, "INVALID_TARGET", f"You cannot delete messages from {target_name}", target_name)
            return
        key = direct
        peer = ctx.world.find_user(target_name)
        since = 0
        moderator = oper
    store = ctx.history.reading()
    row = None
    if store is not None:
        try:
            row = store.message(key, msgid)
        except StoreError as exc:
            log.warning("could not look up %s in %s: %s", msgid, target_name, exc)
    if row is None or row.command not in REDACTABLE or since is None or row.time_ms < since:
        _fail(session, "UNKNOWN_MSGID", "This message does not exist or is too old", target_name, msgid)
        return
    own = (
        session.account is not None
        and row.account is not None
        and ctx.world.fold(row.account) == ctx.world.fold(session.account)
    )
    if not own and not moderator:
        _fail(
            session, "REDACT_FORBIDDEN", "You are not authorised to delete this message", target_name, msgid
        )
        return
    window = ctx.settings.redact_window
    if not moderator and window > 0 and int(ctx.clock.now() * 1000) - row.time_ms > window * 1000:
        # The window is the author's: moderation of a channel does not expire.
        _fail(
            session,
            "REDACT_WINDOW_EXPIRED",
            "You can no longer edit this message",
            target_name,
            msgid,
            str(window),
        )
        return
    params = (channel.name if channel is not None else target_name, msgid) + ((reason,) if reason else ())
    out = Message("REDACT", params, session.hostmask)

    async def redact() -> None:
        # After this turn's messages (they go to the store first), off the loop; the REDACT goes
        # out once the message is gone, so nobody who saw it can still fetch the message.
        try:
            deleted = await ctx.delivery.run(lambda store: store.delete_message(key, msgid))
        except StoreError as exc:
            log.error("could not redact %s in %s: %s", msgid, target_name, exc)
            _fail(session, "MESSAGE_ERROR", "The history store cannot delete now", target_name, msgid)
            return
        if not deleted:  # redacted (or pruned) meanwhile
            _fail(session, "UNKNOWN_MSGID", "This message does not exist or is too old", target_name, msgid)
            return
        log.info("%s redacted %s in %s", session.nick, msgid, target_name)
        if channel is not None:
            hearers = [*channel.members, *session.devices]
        else:
            hearers = [*session.devices, *(peer.devices if peer is not None and not peer.gone else ())]
        audience = [s for s in dict.fromkeys(hearers) if CAP in s.caps and not s.gone]
        ctx.delivery.publish(out, audience, account=session.account)

    session.run_async(redact())


__all__ = ["CAP", "REDACTABLE", "handle_redact"]
