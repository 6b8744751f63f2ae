"""MARKREAD (IRCv3 ``draft/read-marker``): how far an account has read each conversation.

Markers are stored per account (by its immutable id, so a later account of the same name starts
with none) and target (a casefolded channel or nick) and only move forward. A client not logged
in has markers too, kept with its connection (at most ``read_markers_per_connection``) and gone
with it.
Setting one from any connection sends the result to every connection of that account with the
cap, so a phone and a laptop agree on what is read. The server also sends the marker when such a
client joins a channel (before the end of NAMES) and before the first direct message it receives
from each sender.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from hubbub.protocol import Message
from hubbub.store import StoreError

from .burst import READ_MARKER, keep_connection_marker, markread, send_marker, stored_marker
from .chathistory import BadReference, one_conversation, parse_timestamp

if TYPE_CHECKING:
    from ..session import Session
    from .context import Context

log = logging.getLogger(__name__)


def marker_before_direct(ctx: Context, session: Session, sender_nick: str) -> None:
    """Before the first direct message from ``sender_nick`` on this connection, its marker."""
    if READ_MARKER not in session.caps:
        return
    key = ctx.world.fold(sender_nick)
    sent = session.markers_sent
    if sent is None:
        sent = session.markers_sent = set()
    elif key in sent:
        return
    sent.add(key)
    send_marker(ctx, session, sender_nick)


def handle_markread(ctx: Context, session: Session, msg: Message) -> None:
    """MARKREAD <target> [timestamp=<time>]: ask for or move the read marker of ``target``."""
    if not msg.params or not msg.params[0]:
        session.fail("MARKREAD", "NEED_MORE_PARAMS", "Missing parameters")
        return
    name = msg.params[0]
    if not one_conversation(name):
        # read-marker: the target is a single buffer, a channel or a nickname.
        session.fail("MARKREAD", "INVALID_PARAMS", "The target must be one channel or nick", name)
        return
    accounts = ctx.accounts
    account_id = session.account_id
    key = ctx.world.fold(name)
    try:
        if len(msg.params) < 2:
            session.send(markread(ctx, session, name, stored_marker(ctx, session, key)))
            return
        kind, _, value = msg.params[1].partition("=")
        try:
            if kind != "timestamp":
                raise BadReference(msg.params[1])
            wanted = parse_timestamp(value)
        except BadReference:
            # "FAIL MARKREAD INVALID_PARAMS [invalid_parameters]": the parameter at fault.
            text = "Give timestamp=YYYY-MM-DDThh:mm:ss.sssZ"
            session.fail("MARKREAD", "INVALID_PARAMS", text, msg.params[1])
            return
    except StoreError:
        log.exception("cannot read the read marker of %s", name)
        session.fail("MARKREAD", "INTERNAL_ERROR", "The read marker could not be read", name)
        return
    if session.account is None or account_id is None or accounts.store is None:
        # Not logged in: the marker lives with this connection, the only client of its user.
        limit = ctx.settings.read_markers_per_connection
        session.send(markread(ctx, session, name, keep_connection_marker(session, key, wanted, limit)))
        return
    account = accounts.fold(session.account)

    async def store_marker() -> None:
        # On the store writer (markers only move forward: the store answers with the one kept);
        # this client's later commands wait for the answer.
        try:
            stored = await accounts.write(lambda store: store.set_read_marker(account_id, key, wanted))
        except StoreError:
            log.exception("cannot store the read marker of %s", name)
            session.fail("MARKREAD", "INTERNAL_ERROR", "The read marker could not be stored", name)
            return
        out = markread(ctx, session, name, stored)
        # Every connection of the account with the cap learns the new marker, this one included.
        siblings = [
            s
            for s in ctx.world.accounts.get(account, ())
            if READ_MARKER in s.caps and s.registered and s.account_id == account_id and not s.gone
        ]
        if session not in siblings and not session.gone:
            siblings.append(session)
        for sibling in siblings:
            sibling.send(out)

    session.run_async(store_marker())
