"""Replying and reacting from the window: the message menu, the "replying to" strip, jumps.

- A message's right-click menu offers Reply, React (a few common emoji, or any text) and, where
  allowed, Delete; Alt+R replies to the newest message of someone else in the buffer shown.
- While replying, a strip above the input says "replying to alice: first words… ✕"; Enter sends
  the text with ``+draft/reply``; Escape or the ✕ drops the reply.
- Clicking a reply's quote jumps to the original: scrolled to and flashed; when it is not loaded,
  CHATHISTORY AROUND fetches the messages around it (or the window says it cannot).
"""

from __future__ import annotations

import tkinter as tk
from tkinter import font as tkfont
from typing import Protocol

from . import events as ev
from ._banner import Banner
from ._view import MessageView
from .buffers import ChatState, Line, fold
from .reactions import QUICK_REACTIONS, counts, find, preview
from .theme import Theme


class _Bridge(Protocol):
    def submit(self, request: ev.Request) -> None: ...


class WindowLike(Protocol):
    """What :class:`ReplyControl` uses of the window (``app.ChatWindow``)."""

    state: ChatState | None

    @property
    def root(self) -> tk.Tk: ...
    @property
    def fonts(self) -> dict[str, tkfont.Font]: ...
    @property
    def theme(self) -> Theme: ...
    @property
    def input_area(self) -> tk.Frame: ...
    @property
    def input_box(self) -> tk.Frame: ...
    @property
    def entry(self) -> tk.Entry: ...
    @property
    def banner(self) -> Banner: ...
    @property
    def view(self) -> MessageView: ...
    @property
    def bridge(self) -> _Bridge | None: ...

    def _render(self) -> None: ...


_CHAT_KINDS = ("message", "action", "notice")


def can_answer(line: Line | None) -> bool:
    """Whether ``line`` can be replied or reacted to: a chat line with a msgid, not deleted."""
    return line is not None and bool(line.msgid) and line.kind in _CHAT_KINDS and not line.deleted


class ReplyControl:
    """The reply state of one window: what the next message answers, and jumps to originals."""

    def __init__(self, window: WindowLike) -> None:
        self.window = window
        self.target: tuple[str, Line] | None = None  # (buffer key, the line answered)
        self._jump_wanted: tuple[str, str] | None = None  # (buffer key, msgid) asked with AROUND
        w = window
        f = w.fonts
        self.strip = tk.Frame(w.input_area)
        self.label = tk.Label(self.strip, anchor="w", font=f["small"], padx=2)
        self.label.pack(side="left", fill="x", expand=True)
        self.close = tk.Label(self.strip, text="✕", font=f["bold"], cursor="hand2", padx=6)
        self.close.pack(side="right")
        self.close.bind("<Button-1>", lambda _e: self.cancel())
        self.react_menu = tk.Menu(w.root, tearoff=0)
        w.view.extras.on_jump = self.jump
        w.view.extras.on_react = self.toggle
        w.entry.bind("<Escape>", self._on_escape, add=True)
        w.root.bind("<Alt-r>", self._on_alt_r, add=True)
        self.apply_theme()

    def apply_theme(self) -> None:
        """Colour the strip for the window's theme."""
        th = self.window.theme
        for widget in (self.strip, self.label, self.close):
            widget.configure(background=th.bg)
        self.label.configure(foreground=th.muted)
        self.close.configure(foreground=th.muted)

    # --- replying ----------------------------------------------------------------------------------

    def start(self, line: Line) -> None:
        """Make the next message of the buffer shown a reply to ``line``."""
        state = self.window.state
        if state is None or not can_answer(line):
            return
        self.target = (fold(state.current), line)
        self.label.configure(text=f"replying to {line.nick}: {preview(line.text)}")
        if not self.strip.winfo_manager():
            self.strip.pack(side="top", fill="x", pady=(0, 4), before=self.window.input_box)
        self.window.entry.focus_set()

    def cancel(self) -> None:
        """Drop the reply: the next message answers nothing."""
        self.target = None
        if self.strip.winfo_manager():
            self.strip.pack_forget()

    def take(self, buffer: str) -> str | None:
        """The msgid the message being sent to ``buffer`` answers (and the reply is done), or None."""
        if self.target is None or self.target[0] != fold(buffer):
            return None
        msgid = self.target[1].msgid
        self.cancel()
        return msgid

    def switched(self) -> None:
        """Another buffer is shown: a reply belongs to the buffer it was started in."""
        state = self.window.state
        if self.target is not None and state is not None and self.target[0] != fold(state.current):
            self.cancel()

    def _on_escape(self, _event: tk.Event) -> str | None:
        if self.target is None:
            return None
        self.cancel()
        return "break"

    def _on_alt_r(self, _event: tk.Event) -> str:
        state = self.window.state
        buf = state.buffer(state.current) if state is not None else None
        if buf is not None:
            line = next((ln for ln in reversed(buf.lines) if can_answer(ln) and not ln.own), None)
            if line is not None:
                self.start(line)
        return "break"

    # --- reacting ----------------------------------------------------------------------------------

    def toggle(self, msgid: str, reaction: str) -> None:
        """Add our ``reaction`` to ``msgid`` in the buffer shown, or take it back when it is ours."""
        w = self.window
        state, bridge = w.state, w.bridge
        if state is None or bridge is None:
            return
        buf = state.buffer(state.current)
        if buf is None or buf.kind == "server":
            return
        mine = any(r == reaction and own for r, _n, own in counts(buf, msgid, state.nick))
        bridge.submit(ev.React(buf.name, msgid, reaction, remove=mine))

    def fill_menu(self, menu: tk.Menu, line: Line) -> None:
        """Add Reply and React to a message's menu (nothing for a line one cannot answer)."""
        if not can_answer(line) or line.msgid is None:
            return
        msgid = line.msgid
        menu.add_command(label="Reply", command=lambda: self.start(line))
        sub = self.react_menu
        sub.delete(0, "end")
        for reaction in QUICK_REACTIONS:
            sub.add_command(label=reaction, command=lambda r=reaction: self.toggle(msgid, r))  # type: ignore[misc]
        sub.add_separator()
        sub.add_command(label="Other…", command=lambda: self.ask_reaction(msgid))
        menu.add_cascade(label="React", menu=sub)

    def ask_reaction(self, msgid: str) -> None:
        """Ask for a reaction of one's own words (the strip above the input)."""
        w = self.window

        def send() -> None:
            text = w.banner.entry.get().strip()
            w.banner.hide()
            if text:
                self.toggle(msgid, text)
            w.entry.focus_set()

        def cancel() -> None:
            w.banner.hide()
            w.entry.focus_set()

        w.banner.ask("react", "React with:", [("React", send), ("Cancel", cancel)], entry_value="")
        w.banner.entry.focus_set()

    # --- jumping to the original ---------------------------------------------------------------------

    def jump(self, msgid: str) -> None:
        """Show the message ``msgid`` of the buffer shown: scroll to it and flash it, or fetch it."""
        w = self.window
        state, bridge = w.state, w.bridge
        if state is None:
            return
        buf = state.buffer(state.current)
        if buf is None:
            return
        line = find(buf, msgid)
        if line is not None and w.view.extras.jump(line):
            return
        if bridge is not None and state.connection == "connected" and buf.kind != "server":
            self._jump_wanted = (buf.key, msgid)
            bridge.submit(ev.LoadAround(buf.name, msgid))
            return
        state.info("The original message is not loaded.", buf.name)
        w._render()

    def rendered(self) -> None:
        """After a redraw: jump to the original an AROUND page brought, or say it is gone."""
        state = self.window.state
        if state is None or state.jump_to is None:
            return
        key, msgid = state.jump_to
        state.jump_to = None
        if self._jump_wanted != (key, msgid):
            return
        self._jump_wanted = None
        buf = state.buffers.get(key)
        if buf is None or fold(state.current) != key:
            return
        line = find(buf, msgid)
        if line is None or not self.window.view.extras.jump(line):
            state.info("The original message is no longer in the history.", buf.name)
            self.window._render()
