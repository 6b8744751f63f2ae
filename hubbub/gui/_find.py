"""Ctrl+F: a find bar over the message view, every match highlighted, next and previous."""

from __future__ import annotations

import tkinter as tk
from collections.abc import Callable
from tkinter import font as tkfont

from .theme import Theme

MAX_MATCHES = 1000  # highlighting more would only slow a huge buffer down; the count says "1000+"


class FindBar(tk.Frame):
    """Find text in a :class:`tk.Text`: Enter / F3 next, Shift+Enter / Shift+F3 previous, Escape closes."""

    def __init__(self, master: tk.Misc, text: tk.Text, fonts: dict[str, tkfont.Font], theme: Theme) -> None:
        super().__init__(master, padx=16, pady=6)
        self.target = text
        self.on_close: Callable[[], None] = lambda: None
        self.on_move: Callable[[], None] = lambda: None  # the text scrolled to show a match
        self.matches: list[tuple[str, str]] = []  # (start, end) text indices, top to bottom
        self.current = -1
        self.label = tk.Label(self, text="Find", font=fonts["small_bold"])
        self.label.pack(side="left")
        self.entry = tk.Entry(self, width=28, font=fonts["ui"], relief="flat", highlightthickness=1)
        self.entry.pack(side="left", padx=8)
        self.count = tk.Label(self, anchor="w", font=fonts["small"], width=14)
        self.count.pack(side="left")
        self.buttons = [
            tk.Button(
                self,
                text=title,
                command=command,
                relief="flat",
                borderwidth=0,
                highlightthickness=0,
                padx=8,
                font=fonts["small"],
            )
            for title, command in (("↑", self.previous), ("↓", self.next), ("✕", self.close))
        ]
        for button in self.buttons:
            button.pack(side="left", padx=(4, 0))
        e = self.entry
        e.bind("<KeyRelease>", self._on_key, add=True)
        e.bind("<Return>", lambda _e: self._step(1))
        e.bind("<KP_Enter>", lambda _e: self._step(1))
        e.bind("<Shift-Return>", lambda _e: self._step(-1))
        e.bind("<F3>", lambda _e: self._step(1))
        e.bind("<Shift-F3>", lambda _e: self._step(-1))
        e.bind("<Escape>", lambda _e: self._close_break())
        self._last_query: str | None = None
        self.apply_theme(theme)

    def apply_theme(self, theme: Theme) -> None:
        """Recolour for ``theme``."""
        self.configure(background=theme.header_bg)
        for w in (self.label, self.count):
            w.configure(background=theme.header_bg, foreground=theme.muted)
        self.entry.configure(
            background=theme.input_bg,
            foreground=theme.input_fg,
            insertbackground=theme.input_fg,
            highlightbackground=theme.border,
            highlightcolor=theme.accent,
        )
        for button in self.buttons:
            button.configure(
                background=theme.header_bg,
                foreground=theme.fg,
                activebackground=theme.border,
                activeforeground=theme.fg,
            )
        self.target.tag_configure("found", background=theme.mention_bg)
        self.target.tag_configure("found_current", background=theme.accent, foreground="#ffffff")
        self.target.tag_raise("found")
        self.target.tag_raise("found_current")

    # --- opening and closing ----------------------------------------------------------------------

    def open(self, before: tk.Misc) -> None:
        """Show the bar above ``before`` (the message view) with the cursor in its entry."""
        if not self.winfo_manager():
            self.pack(side="top", fill="x", before=before)
        self.entry.focus_set()
        self.entry.select_range(0, "end")
        self.refresh()

    def close(self) -> None:
        """Hide the bar and its highlights."""
        self.pack_forget()
        self._clear()
        self._last_query = None
        self.on_close()

    def _close_break(self) -> str:
        self.close()
        return "break"

    @property
    def is_open(self) -> bool:
        """Whether the bar is shown."""
        return bool(self.winfo_manager())

    # --- searching ---------------------------------------------------------------------------------

    def _clear(self) -> None:
        self.target.tag_remove("found", "1.0", "end")
        self.target.tag_remove("found_current", "1.0", "end")
        self.matches = []
        self.current = -1

    def _on_key(self, _event: tk.Event) -> None:
        if self.entry.get() != self._last_query:
            self.refresh()

    def refresh(self) -> None:
        """Find the entry's text again (the query or the buffer changed), case-insensitively."""
        query = self.entry.get()
        self._last_query = query
        self._clear()
        if query:
            needle = _lower(query)
            t = self.target
            # Searched here, not with Tk's "search -nocase", which crashes Tk 8.6 on text holding
            # characters beyond the Basic Multilingual Plane (emoji).
            for row, line in enumerate(t.get("1.0", "end-1c").split("\n"), start=1):
                hay, pos = _lower(line), 0
                while len(self.matches) < MAX_MATCHES and (pos := hay.find(needle, pos)) >= 0:
                    first, last = _column(line, pos), _column(line, pos + len(needle))
                    self.matches.append((f"{row}.{first}", f"{row}.{last}"))
                    t.tag_add("found", f"{row}.{first}", f"{row}.{last}")
                    pos += len(needle)
            if self.matches:
                # Start at the newest match: what one looks for is usually recent.
                self._select(len(self.matches) - 1)
        self._show_count()

    def _show_count(self) -> None:
        n = len(self.matches)
        if not self.entry.get():
            self.count.configure(text="")
        elif not n:
            self.count.configure(text="no matches")
        else:
            total = f"{n}+" if n >= MAX_MATCHES else str(n)
            self.count.configure(text=f"{self.current + 1} of {total}")

    def _select(self, index: int) -> None:
        t = self.target
        t.tag_remove("found_current", "1.0", "end")
        self.current = index
        start, end = self.matches[index]
        t.tag_add("found_current", start, end)
        t.see(start)
        self.on_move()

    def _step(self, step: int) -> str:
        if self.entry.get() != self._last_query:
            self.refresh()
        if self.matches:
            self._select((self.current + step) % len(self.matches))
            self._show_count()
        return "break"

    def next(self) -> None:
        """Go to the next match (wrapping around)."""
        self._step(1)

    def previous(self) -> None:
        """Go to the previous match (wrapping around)."""
        self._step(-1)


def _lower(text: str) -> str:
    """``text`` in lower case, one character for one (so offsets still match the original)."""
    lowered = text.lower()
    if len(lowered) == len(text):
        return lowered
    return "".join(c if len(c.lower()) != 1 else c.lower() for c in text)


def _column(line: str, offset: int) -> int:
    """Tk's column for Python offset ``offset`` in ``line``: Tk 8.6 counts an astral character as two."""
    return offset + sum(1 for c in line[:offset] if ord(c) > 0xFFFF)
