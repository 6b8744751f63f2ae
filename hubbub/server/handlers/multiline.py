"""BATCH from clients: ``draft/multiline`` messages (IRCv3 multiline, client-batch).

A client with the ``draft/multiline`` cap opens ``BATCH +ref draft/multiline <target>``, sends
PRIVMSG or NOTICE lines tagged ``@batch=ref`` (``draft/multiline-concat`` on a line that joins the
one before without a line feed) and closes with ``BATCH -ref``. The lines are collected on the
session (:class:`~hubbub.server.client_state.MultilineBatch`), never dispatched one by one; the closed
batch is delivered as one message (``messaging.relay_multiline``). The bounds are checked as each
line comes: ``multiline_max_bytes`` and ``multiline_max_lines`` (the cap's ``max-bytes`` and
``max-lines``), and a batch left open for ``multiline_timeout`` is dropped, as is one left open
at disconnect. Every error is a ``FAIL BATCH`` with the spec's code, answering the opening
BATCH's label.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hubbub.protocol import Message, numerics

from .. import caps as capmod
from ..client_state import MultilineBatch
from ..services import service_named
from .messaging import relay_multiline

if TYPE_CHECKING:
    from ..session import Session
    from .context import Context

BATCH_TYPE = "draft/multiline"
_MESSAGES = ("PRIVMSG", "NOTICE")
_MAX_REF = 64  # a client's batch reference is only matched, never sent back; it stays short


def handle_batch(ctx: Context, session: Session, msg: Message) -> None:
    """BATCH +<ref> draft/multiline <target> | BATCH -<ref>: open or close a multiline batch."""
    ref = msg.params[0]
    if ref.startswith("-") and len(ref) > 1:
        _close(ctx, session, ref[1:])
    elif ref.startswith("+") and 1 < len(ref) <= _MAX_REF + 1:
        _open(ctx, session, ref[1:], msg)
    else:
        session.fail("BATCH", "MULTILINE_INVALID", "Invalid batch reference", ref)


def _open(ctx: Context, session: Session, ref: str, msg: Message) -> None:
    kind = msg.param(1)
    if kind != BATCH_TYPE:
        session.fail("BATCH", "MULTILINE_INVALID", "Only draft/multiline batches are accepted", kind or "*")
        return
    if "draft/multiline" not in session.caps or "batch" not in session.caps:
        # IRCv3 multiline: the batch capability "MUST be negotiated to use multiline messages".
        session.fail("BATCH", "MULTILINE_INVALID", "Enable draft/multiline and batch first")
        return
    target = msg.param(2)
    if not target:
        session.reply(numerics.ERR_NEEDMOREPARAMS, "BATCH")
        return
    if "," in target or service_named(target) is not None:
        session.fail("BATCH", "MULTILINE_INVALID_TARGET", "Invalid multiline target", target, target)
        return
    if session.multiline is not None:
        session.fail("BATCH", "MULTILINE_INVALID", "A multiline batch is already open", ref)
        return
    replies = session.replies
    label = replies.label if replies is not None else None
    if replies is not None:
        # The label is answered by what the batch becomes (its echo, or its failure), not now.
        replies.label = None
    batch = MultilineBatch(ref=ref, target=target, label=label, tags=dict(msg.tags))
    batch.timer = ctx.clock.call_later(ctx.settings.multiline_timeout, lambda: _expire(session, batch))
    session.multiline = batch


def _expire(session: Session, batch: MultilineBatch) -> None:
    batch.timer = None
    if session.multiline is not batch:
        return
    session.multiline = None
    batch.drop()
    if not batch.failed and not session.gone:
        session.fail("BATCH", "MULTILINE_INVALID", "Multiline batch timed out", label=batch.label)


def _fail(session: Session, batch: MultilineBatch, code: str, text: str, *context: str) -> None:
    """Refuse the batch: tell the client once, keep nothing of it but its reference until it ends."""
    batch.failed = True
    batch.lines = []
    # The opening BATCH's label is answered here, unless the line itself is labelled: then the
    # line's reply buffer answers it with this FAIL (a reply carries one label).
    label = batch.label if session.replies is None else None
    session.fail("BATCH", code, text, *context, label=label)


def collect(ctx: Context, session: Session, msg: Message) -> bool:
    """Take a line tagged ``batch`` into the open multiline batch; False: dispatch it as usual.

    A PRIVMSG or NOTICE of a client with the cap that names no open batch is refused and dropped,
    never delivered as a message of its own (it was meant to be part of one); any other line, and
    every line of a client without the cap, keeps its usual meaning (the tag is ignored).
    """
    if not session.registered:
        return False
    batch = session.multiline
    ref = msg.tags.get("batch", "")
    if batch is None or batch.ref != ref:
        if msg.command not in _MESSAGES or "draft/multiline" not in session.caps:
            return False
        session.fail("BATCH", "MULTILINE_INVALID", "No such batch open", ref or "*")
        return True
    if batch.failed:
        return True
    command = msg.command
    if command not in _MESSAGES or len(msg.params) < 2:
        _fail(session, batch, "MULTILINE_INVALID", "Invalid multiline batch: only PRIVMSG or NOTICE lines")
        return True
    if batch.command and command != batch.command:
        _fail(session, batch, "MULTILINE_INVALID", "Invalid multiline batch: PRIVMSG and NOTICE mixed")
        return True
    target = msg.params[0]
    if ctx.world.fold(target) != ctx.world.fold(batch.target):
        _fail(session, batch, "MULTILINE_INVALID_TARGET", "Invalid multiline target", batch.target, target)
        return True
    text = msg.params[1]
    joined = capmod.MULTILINE_CONCAT in msg.tags
    if joined and not text:
        _fail(session, batch, "MULTILINE_INVALID", "Invalid multiline batch with concatenated blank line")
        return True
    settings = ctx.settings
    if len(batch.lines) >= settings.multiline_max_lines:
        _fail(
            session,
            batch,
            "MULTILINE_MAX_LINES",
            "Multiline batch max-lines exceeded",
            str(settings.multiline_max_lines),
        )
        return True
    # IRCv3 multiline: "Each line feed used to join line messages contributes one byte".
    size = batch.size + len(text.encode()) + (1 if batch.lines and not joined else 0)
    if size > settings.multiline_max_bytes:
        _fail(
            session,
            batch,
            "MULTILINE_MAX_BYTES",
            "Multiline batch max-bytes exceeded",
            str(settings.multiline_max_bytes),
        )
        return True
    batch.command = command
    batch.size = size
    batch.lines.append((text, joined))
    return True


def _close(ctx: Context, session: Session, ref: str) -> None:
    batch = session.multiline
    if batch is None or batch.ref != ref:
        session.fail("BATCH", "MULTILINE_INVALID", "No such batch open", ref)
        return
    session.multiline = None
    lines = batch.lines
    batch.drop()
    if batch.failed:
        return  # its client was told when it failed
    replies = session.begin_replies(batch.label) if session.replies is None else None
    try:
        if not lines:
            session.fail("BATCH", "MULTILINE_INVALID", "Invalid multiline batch with no lines")
        elif not any(text for text, _ in lines):
            session.fail("BATCH", "MULTILINE_INVALID", "Invalid multiline batch with blank lines only")
        else:
            relay_multiline(ctx, session, batch.command, batch.target, lines, batch.tags)
    finally:
        if replies is not None:
            session.end_replies(replies)


__all__ = ["collect", "handle_batch"]
