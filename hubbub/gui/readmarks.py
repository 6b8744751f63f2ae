"""Read markers synced across devices (IRCv3 draft/read-marker).

The server keeps, per account and buffer, the time up to which it was read. ``ChatState.recount``
(in :mod:`.buffers`) applies its ``MARKREAD`` (after a JOIN, or when another device of the account
read further): the unread and mention counts become what is newer than the marker, and the "new
messages" line goes after the last line it covers. :class:`ReadSync` tells the server when this
window has read a buffer: shown, scrolled to the bottom, the window focused; at most once per
:data:`DELAY_MS`.
"""

from __future__ import annotations

import tkinter as tk
from datetime import datetime
from typing import Protocol

from . import events as ev
from .buffers import Buffer, ChatState


class _Bridge(Protocol):
    def submit(self, request: ev.Request) -> None: ...


class _View(Protocol):
    def at_bottom(self) -> bool: ...


class WindowLike(Protocol):
    """What :class:`ReadSync` reads of the window (``app.ChatWindow``)."""

    root: tk.Tk
    state: ChatState | None
    _focused: bool

    @property
    def bridge(self) -> _Bridge | None:
        """The network side, once connecting."""

    @property
    def view(self) -> _View:
        """The message view."""


DELAY_MS = 700
"""How long a buffer stays read before MARKREAD goes out: scrolling through sends one, not many."""
_CHAT_KINDS = ("message", "action", "notice")


def newest(buf: Buffer) -> datetime | None:
    """The time of the newest chat line of ``buf`` (what reading it to the bottom covers)."""
    return next((line.time for line in reversed(buf.lines) if line.kind in _CHAT_KINDS), None)


class ReadSync:
    """Sends MARKREAD for the buffer shown once it has been read, debounced."""

    def __init__(self, window: WindowLike) -> None:
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
