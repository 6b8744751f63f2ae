"""How a session answers its own client: numerics, notices, standard replies, batches, labels.

Everything goes through the command's reply buffer (replies.py) when one is open, so that a
labelled command is answered in one place and every line carries the one batch tag it should
(docs/architecture.md, "The two seams"). :class:`Answering` is the part of
:class:`~hubbub.server.session.Session` that does this.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Iterable, Iterator
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from hubbub.protocol import Message, format_body, numerics

from . import caps as capmod
from .replies import MAX_BODY, Kept, Replies, Steps, fit_params, safe_param

if TYPE_CHECKING:
    from .config import Settings
    from .outbox import Link, Outboxes

log = logging.getLogger(__name__)

# A long reply is sent in pieces of a quarter of the sendq (send_paced): with the socket's buffer
# below a quarter too (Link.writable), a piece never takes it past the sendq.
PACE_SHARE = 4


class ReplyHost(Protocol):
    """What answering needs of the server: its name and settings, the turn's outboxes, off-loop work."""

    name: str
    settings: Settings
    outboxes: Outboxes
    tasks: set[asyncio.Future[None]]


H = TypeVar("H", bound=ReplyHost)


class Answering(Generic[H]):
    """A session's output: its client's replies, in order, through the command's reply buffer.

    Generic in the server it answers for, so that Session (an ``Answering[Host]``) sees all of
    its :class:`~hubbub.server.session.Host` while this module knows only a ReplyHost.
    """

    # The command's reply buffer (while it is labelled or has a batch open), the one run_async
    # took over, the counter of batch references, and the bytes of replies written while a piece
    # of a long reply is sent (send_paced measures its pieces by it; None otherwise, so that an
    # idle client keeps no count); Session.__init__ sets them.
    __slots__ = ("_batch_seq", "_taken_replies", "_written", "replies")
    replies: Replies | None
    _taken_replies: Replies | None
    _batch_seq: int
    _written: int | None

    # Session's, declared here for the methods below (Session lists them in its __slots__).
    server: H
    conn: Link
    caps: frozenset[str]
    view: int
    nick: str
    gone: bool

    # the reply buffer ---------------------------------------------------------------------------

    def begin_replies(self, label: str | None) -> Replies | None:
        """A labelled command collects its replies (hubbub.server.replies); others need none."""
        if label is None:
            self.replies = None
            return None
        replies = self.replies = Replies(self.conn.write, label)
        self.server.outboxes.labelling += 1  # shared segments must not take this client's lines meanwhile
        return replies

    def end_replies(self, replies: Replies | None) -> None:
        """The command is done: answer its label (unless run_async took the buffer over)."""
        if self.replies is replies:
            self.replies = None
        if replies is None:
            return
        if self._taken_replies is replies:
            # run_async answers the label when its work is done, and has already stopped counting
            # this command as labelling.
            self._taken_replies = None
            return
        self.server.outboxes.labelling -= 1
        if replies.label is not None and not self.gone:
            self._answer(replies)

    def _answer(self, replies: Replies) -> None:
        ref = self.next_batch_id()
        name = self.server.name
        replies.finish(
            capmod.render(Message.build("ACK", source=name), self.view),
            ref,
            capmod.render(Message.build("BATCH", "+" + ref, "labeled-response", source=name), self.view),
            capmod.render(Message.build("BATCH", "-" + ref, source=name), self.view),
        )

    def open_batch(self, kind: str, *params: str) -> str | None:
        """Start a batch of ``kind`` in this command's replies; its ref, or None without ``batch``.

        Lines sent until :meth:`close_batch` carry this batch's tag, and only it (IRCv3 batch);
        inside a labelled response the batch nests in the labelled one.
        """
        if "batch" not in self.caps:
            return None
        if self.replies is None:
            self.replies = Replies(self.conn.write)
        ref = self.next_batch_id()
        self.replies.open_batch(ref, self._server_line("BATCH", "+" + ref, kind, *params))
        return ref

    def close_batch(self, ref: str | None) -> None:
        """End the batch :meth:`open_batch` started (nothing when it gave None)."""
        replies = self.replies
        if ref is None or replies is None:
            return
        replies.close_batch(ref, self._server_line("BATCH", "-" + ref))
        if replies.label is None and not replies.open:
            self.replies = None  # an unlabelled command's buffer lives only as long as its batches

    def _server_line(self, command: str, *params: str) -> bytes:
        """A line from the server with no tags of its own, for this client's view: the bytes
        :func:`caps.render` makes of it (server-time's tag is the only one it can get), without
        building a Message (every CHATHISTORY answer opens and closes a batch)."""
        body = format_body(command, params, self.server.name)
        if self.view & capmod.TIME:
            return f"@time={capmod.server_time()} {body}\r\n".encode()
        return f"{body}\r\n".encode()

    def run_async(self, work: Coroutine[Any, Any, None]) -> None:
        """Finish the command being handled with ``work``, which may wait for threads.

        The client's later commands wait until ``work`` is done, so its replies keep the order of
        its commands; the command's reply buffer (its label, IRCv3 labeled-response) answers with
        what ``work`` replies, however many steps it takes.
        """
        replies, self.replies = self.replies, None  # the dispatcher must not answer the label now
        if replies is not None:
            self._taken_replies = replies
            if replies.label is not None:
                self.server.outboxes.labelling -= 1  # counted again only while work runs (enter and leave)
        conn = self.conn
        conn.hold_input()

        def enter() -> None:
            if replies is not None:
                self.replies = replies
                self.server.outboxes.labelling += 1

        def leave() -> None:
            if replies is not None:
                self.replies = None
                self.server.outboxes.labelling -= 1

        async def run() -> None:
            try:
                await Steps(work, enter, leave)
            finally:
                if replies is not None and replies.label is not None and not self.gone:
                    self._answer(replies)
                conn.release_input()

        tasks = self.server.tasks
        task = asyncio.ensure_future(run())
        tasks.add(task)

        def done(t: asyncio.Future[None]) -> None:
            tasks.discard(t)
            if not t.cancelled() and t.exception() is not None:
                log.error("command finished off the loop failed for %r", self, exc_info=t.exception())

        task.add_done_callback(done)

    def send_paced(self, steps: Iterator[object]) -> None:
        """Send a reply that may be long (WHO, LIST, NAMES, WHOWAS) as fast as the client reads it.

        ``steps`` sends the reply's lines, a few per step (a generator that yields after each
        line or so). It runs now until it has sent a quarter of the sendq; the rest, if any,
        follows in pieces of that size, each once the client has taken most of what it was
        sent (``Link.writable``). Meanwhile the client's later commands wait, as for
        :meth:`run_async`, so replies keep their order, and a labelled response is streamed as
        its ``labeled-response`` batch instead of being held whole. A long reply thus never
        overflows the sendq: the asker is never dropped for asking.
        """
        budget = max(self.server.settings.sendq // PACE_SHARE, 1)
        if self._pace(steps, budget):
            return
        replies = self.replies
        if replies is not None and replies.label is not None:
            ref = self.next_batch_id()
            name = self.server.name
            replies.stream(
                ref,
                capmod.render(Message.build("BATCH", "+" + ref, "labeled-response", source=name), self.view),
                capmod.render(Message.build("BATCH", "-" + ref, source=name), self.view),
            )
        conn = self.conn

        async def rest() -> None:
            while True:
                await conn.writable()
                if self.gone or conn.closed or self._pace(steps, budget):
                    return

        self.run_async(rest())

    def _pace(self, steps: Iterator[object], budget: int) -> bool:
        """Run ``steps`` until about ``budget`` bytes are sent; whether they are all done."""
        outer = self._written
        self._written = 0
        try:
            return all(self._written < budget for _ in steps)
        finally:
            if outer is not None:
                outer += self._written
            self._written = outer

    def next_batch_id(self) -> str:
        """A batch reference unique on this connection."""
        self._batch_seq += 1
        return f"b{self._batch_seq}"

    # output -----------------------------------------------------------------------------------

    def write(self, data: bytes, kept: Kept | None = None) -> None:
        """Queue one line already formatted for this client's view, through the command's replies.

        ``kept``: the epoch keeping the message ``data`` carries, if any (see replies.Kept).
        """
        if self._written is not None:
            self._written += len(data)
        replies = self.replies
        if replies is None:
            self.conn.write(data)
        else:
            replies.add(data, kept)

    def write_batch(self, ref: str | None, data: bytes) -> None:
        """Queue lines (CRLF after each) formatted for this client's view that already carry the
        tag of batch ``ref``, the one :meth:`open_batch` just opened (None: no batch).

        They go out as one piece, not line by line: a CHATHISTORY page.
        """
        if not data:
            return
        replies = self.replies
        if replies is not None and ref is None:
            for line in data.splitlines(keepends=True):
                self.write(line)
            return
        if self._written is not None:
            self._written += len(data)
        if replies is None:
            self.conn.write(data)
        else:
            replies.add_tagged(data)

    def send(self, message: Message) -> None:
        """Format ``message`` for this client's view and queue it."""
        self.write(capmod.render(message, self.view))

    def reply(self, numeric: str, *params: str, text: str | None = None) -> None:
        """Send a numeric reply addressed to this client (``*`` before it has a nick).

        The text after the parameters is the numeric's from ``numerics.TEXTS`` unless ``text``
        gives another; a numeric without one there takes its last parameter as the trailing one.
        Middle parameters often echo what the client sent; one that could not stand in the middle
        (empty, with a space or a leading colon) becomes ``*``, as Ergo does.
        """
        if text is None:
            text = numerics.TEXTS.get(numeric)
        if text is not None:
            params = (*params, text)
        if len(params) > 1:
            params = (*(safe_param(p) for p in params[:-1]), params[-1])
        # A numeric carries no tags but server-time's, so it is written directly rather than
        # through a Message and render(): a registration sends about twenty of them.
        body = format_body(numeric, (self.nick, *params), self.server.name)
        if len(body) > MAX_BODY // 4 and len(body.encode()) > MAX_BODY:
            body = format_body(
                numeric, fit_params(numeric, (self.nick, *params), self.server.name), self.server.name
            )
        if self.view & capmod.TIME:
            self.write(f"@time={capmod.server_time()} {body}\r\n".encode())
        else:
            self.write(f"{body}\r\n".encode())

    def reply_lines(self, lines: Iterable[tuple[str, str]]) -> None:
        """Send numerics given as (numeric, everything after the nick, already formatted).

        For bursts whose text is formatted once and kept (see ``constant_replies``) or built
        from numbers alone, where :meth:`reply`'s checks would only repeat themselves.
        """
        write = self.write
        head = f":{self.server.name} "
        if self.view & capmod.TIME:
            head = f"@time={capmod.server_time()} {head}"
        nick = self.nick
        for numeric, rest in lines:
            write(f"{head}{numeric} {nick} {rest}\r\n".encode())

    def fail(self, command: str, code: str, text: str, *context: str, label: str | None = None) -> None:
        """Send a standard-replies ``FAIL`` (IRCv3 standard-replies).

        The context often echoes what the client sent; like numerics, a part that cannot stand in the
        middle of a line becomes ``*``. ``label``: the label of a command answered only now (a
        message whose commit failed), outside any command's replies.
        """
        self._standard("FAIL", command, code, text, context, label)

    def note(self, command: str, code: str, text: str, *context: str) -> None:
        """Send a standard-replies ``NOTE`` (context made safe as in :meth:`fail`)."""
        self._standard("NOTE", command, code, text, context)

    def _standard(
        self,
        kind: str,
        command: str,
        code: str,
        text: str,
        context: tuple[str, ...],
        label: str | None = None,
    ) -> None:
        params = (*(safe_param(p) for p in (command, code, *context)), text)
        name = self.server.name
        line = capmod.render(Message.build(kind, *fit_params(kind, params, name), source=name), self.view)
        self.write(capmod.add_tag(line, "label", label) if label is not None else line)

    def notice(self, text: str) -> None:
        """A server NOTICE to this client."""
        self.send(Message.build("NOTICE", self.nick, text, source=self.server.name))
