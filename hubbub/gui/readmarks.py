"""Read markers synced across devices (IRCv3 draft/read-marker).

The server keeps, per account and buffer, the time up to which it was read. :func:`apply_marker`
takes its ``MARKREAD`` (after a JOIN, or when another device of the account read further): the
unread and mention counts become what is newer than the marker, and the "new messages" line goes
after the last line it covers. :class:`ReadSync` tells the server when this window has read a
buffer: shown, scrolled to the bottom, the window focused; at most once per :data:`DELAY_MS`.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from . import events as ev
from .buffers import Buffer, ChatState, Line, fold

if TYPE_CHECKING:
    from .app import ChatWindow

DELAY_MS = 700
"""How long a buffer stays read before MARKREAD goes out: scrolling through sends one, not many."""
_CHAT_KINDS = ("message", "action", "notice")


def apply_marker(state: ChatState, buf: Buffer, time: datetime | None) -> None:
    """The server says ``buf`` is read up to ``time``: count unread from there."""
    if time is not None and (buf.server_read is None or time > buf.server_read):
        buf.server_read = time
    recount(state, buf)


def recount(state: ChatState, buf: Buffer) -> None:
    """Unread and mentions of ``buf``: the lines of others newer than the server's marker."""
    marker = buf.server_read
    if marker is None:
        return  # no marker (a server without draft/read-marker): the counts stay the window's own
    covered: Line | None = None
    unread: list[Line] = []
    for line in buf.lines:
        if line.time <= marker:
            covered = line
        elif line.kind in _CHAT_KINDS and not line.own:
            unread.append(line)
    current = fold(buf.name) == fold(state.current)
    if covered is not None and covered is not buf.read_marker:
        old = buf.read_marker
        if old is None or old not in buf.lines or covered.time >= old.time:
            buf.read_marker = covered
            if current:
                state.changes.appended.pop(buf.key, None)
                state.changes.rebuilt.add(buf.key)
    if current:
        return  # what is shown is being read
    mentions = sum(1 for line in unread if line.mention or buf.kind == "query")
    if (buf.unread, buf.mentions) != (len(unread), mentions):
        buf.unread, buf.mentions = len(unread), mentions
        state.changes.buffer_list = True


def newest(buf: Buffer) -> datetime | None:
    """The time of the newest chat line of ``buf`` (what reading it to the bottom covers)."""
    return next((line.time for line in reversed(buf.lines) if line.kind in _CHAT_KINDS), None)


class ReadSync:
    """Sends MARKREAD for the buffer shown once it has been read, debounced."""

    def __init__(self, window: ChatWindow) -> None:
        self.window = window
        self._after: str | None = None

    def soon(self) -> None:
        """The shown buffer may have been read: check in :data:`DELAY_MS` (once, however often asked)."""
        if self._after is None:
            self._after = self.window.root.after(DELAY_MS, self._check)

    def cancel(self) -> None:
        """Forget a pending check (the window closes)."""
        if self._after is not None:
            self.window.root.after_cancel(self._after)
            self._after = None

    def _check(self) -> None:
        self._after = None
        w = self.window
        state, bridge = w.state, w.bridge
        if state is None or bridge is None or state.connection != "connected" or not w._focused:
            return
        buf = state.buffer(state.current)
        if buf is None or buf.kind == "server" or not w.view.at_bottom():
            return
        last = newest(buf)
        if last is None:
            return
        known = max((t for t in (buf.server_read, buf.sent_read) if t is not None), default=None)
        if known is not None and last <= known:
            return
        buf.sent_read = last
        bridge.submit(ev.MarkRead(buf.name, last))
