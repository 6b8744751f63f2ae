"""Search results (``/search``): a window of their own, and showing a found message in its buffer.

The window lists what the server found (soju.im/search), one row per message: time, where
(channel or nick), nick and text. Double-click or Enter on a row jumps to its buffer; when the
message is not loaded there, the buffer asks for the history around it (CHATHISTORY AROUND) and
shows it once it arrives, scrolled to and marked.
"""

from __future__ import annotations

import tkinter as tk
from collections.abc import Callable
from tkinter import font as tkfont
from tkinter import ttk
from typing import Protocol

from . import events as ev
from ._view import MessageView
from .buffers import ChatState, fold
from .theme import Theme

__all__ = ["FOUND_TAG", "Search", "SearchWindow", "reveal"]

FOUND_TAG = "found"
_TEXT_SHOWN = 200  # characters of a result's text in its row


def _where(line: ev.ChatLine) -> str:
    return line.target


class SearchWindow:
    """The results of the latest search, in a window of its own (made when first needed)."""

    def __init__(
        self,
        root: tk.Misc,
        fonts: dict[str, tkfont.Font],
        theme: Theme,
        on_jump: Callable[[ev.ChatLine], None],
    ) -> None:
        self.root = root
        self.fonts = fonts
        self.theme = theme
        self.on_jump = on_jump
        self.top: tk.Toplevel | None = None
        self.tree: ttk.Treeview | None = None
        self.status: tk.Label | None = None
        self.results: tuple[ev.ChatLine, ...] = ()
        self.query: tuple[str, str] | None = None  # (text, scope) of the search shown

    # --- the window ----------------------------------------------------------------------------

    @property
    def is_open(self) -> bool:
        """Whether the window is on screen."""
        return self.top is not None and bool(self.top.winfo_exists())

    def _build(self) -> None:
        th, f = self.theme, self.fonts
        top = tk.Toplevel(self.root, background=th.bg)
        top.geometry("760x380")
        top.minsize(420, 200)
        top.protocol("WM_DELETE_WINDOW", self.close)
        top.bind("<Escape>", lambda _e: self.close())
        self.top = top
        self.status = tk.Label(
            top, anchor="w", padx=12, pady=8, font=f["small"], background=th.header_bg, foreground=th.fg
        )
        self.status.pack(side="top", fill="x")
        frame = tk.Frame(top, background=th.bg)
        frame.pack(side="top", fill="both", expand=True)
        style = ttk.Style(top)
        style.configure("Search.Treeview", font=f["ui"], rowheight=f["ui"].metrics("linespace") + 6)
        style.configure("Search.Treeview.Heading", font=f["small_bold"])
        tree = ttk.Treeview(
            frame, columns=("time", "where", "nick", "text"), show="headings", style="Search.Treeview"
        )
        for column, title, width, stretch in (
            ("time", "Time", 150, False),
            ("where", "In", 110, False),
            ("nick", "From", 100, False),
            ("text", "Message", 380, True),
        ):
            tree.heading(column, text=title, anchor="w")
            tree.column(column, width=width, stretch=stretch, anchor="w")
        scroll = ttk.Scrollbar(frame, orient="vertical", command=tree.yview)
        tree.configure(yscrollcommand=scroll.set)
        scroll.pack(side="right", fill="y")
        tree.pack(side="left", fill="both", expand=True)
        tree.bind("<Double-Button-1>", self._on_double)
        tree.bind("<Return>", lambda _e: self.jump_selected())
        self.tree = tree

    def searching(self, text: str, scope: str) -> None:
        """A search was sent: show the window (making it if needed), empty, saying so."""
        if not self.is_open:
            self._build()
        assert self.top is not None and self.status is not None
        self.query = (text, scope)
        self.results = ()
        self._fill()
        self.top.title(f"Search: {text}")
        self.status.configure(text=f"Searching {scope or 'all your conversations'} for “{text}”…")
        self.top.deiconify()
        self.top.lift()

    def show(self, found: ev.SearchResults) -> None:
        """Show what a search found (or why it failed)."""
        if not self.is_open:
            self._build()
        assert self.top is not None and self.status is not None
        self.query = (found.text, found.scope)
        self.results = found.lines if not found.error else ()
        self._fill()
        self.top.title(f"Search: {found.text}")
        where = found.scope or "all your conversations"
        if found.error:
            self.status.configure(text=found.error, foreground=self.theme.error)
        else:
            count = len(found.lines)
            noun = "message" if count == 1 else "messages"
            self.status.configure(
                text=f"{count} {noun} in {where} for “{found.text}”"
                + (" — double-click one (or press Enter) to go to it" if count else ""),
                foreground=self.theme.fg,
            )
        if self.tree is not None and self.results:
            last = self.tree.get_children()[-1]  # newest last, as the buffers show them
            self.tree.selection_set(last)
            self.tree.focus(last)
            self.tree.see(last)
            self.tree.focus_set()

    def _fill(self) -> None:
        tree = self.tree
        assert tree is not None
        tree.delete(*tree.get_children())
        for i, line in enumerate(self.results):
            local = line.time.astimezone()
            text = " ".join(line.text.split())  # a multiline message on one row
            if len(text) > _TEXT_SHOWN:
                text = text[: _TEXT_SHOWN - 1] + "…"
            nick = f"* {line.nick}" if line.kind == "action" else line.nick
            tree.insert("", "end", iid=str(i), values=(f"{local:%Y-%m-%d %H:%M}", _where(line), nick, text))

    def close(self) -> None:
        """Close the window (a later search opens it again)."""
        if self.top is not None:
            top, self.top, self.tree, self.status = self.top, None, None, None
            top.destroy()

    # --- jumping -------------------------------------------------------------------------------

    def _on_double(self, event: tk.Event) -> str:
        tree = self.tree
        if tree is None:
            return "break"
        row = tree.identify_row(event.y)
        if row:
            tree.selection_set(row)
            self.jump(int(row))
        return "break"

    def jump_selected(self) -> str:
        """Go to the selected result."""
        tree = self.tree
        if tree is not None:
            chosen = tree.selection()
            if chosen:
                self.jump(int(chosen[0]))
        return "break"

    def jump(self, index: int) -> None:
        """Go to result ``index`` in its buffer."""
        if 0 <= index < len(self.results):
            self.on_jump(self.results[index])


def reveal(view: MessageView, msgid: str, colour: str) -> bool:
    """Scroll ``view`` to the message ``msgid`` and mark it with ``colour``; False when it is not
    drawn there."""
    rows = sorted(row for row, line in view.rows.items() if line.msgid == msgid)
    if not rows:
        return False
    text = view.text
    text.tag_remove(FOUND_TAG, "1.0", "end")
    text.tag_configure(FOUND_TAG, background=colour)
    text.tag_add(FOUND_TAG, f"{rows[0]}.0", f"{rows[-1]}.end")
    text.tag_raise(FOUND_TAG)
    text.see(f"{rows[-1]}.0")
    text.see(f"{rows[0]}.0")
    view.user_scrolled()  # moved for the reader: stop following new lines unless at the bottom
    return True


class _Bridge(Protocol):
    def submit(self, request: ev.Request) -> None: ...


class SearchHost(Protocol):
    """What :class:`Search` uses of the chat window (``app.ChatWindow``)."""

    root: tk.Tk
    fonts: dict[str, tkfont.Font]
    theme: Theme
    view: MessageView

    @property
    def state(self) -> ChatState | None: ...

    @property
    def bridge(self) -> _Bridge | None: ...

    def switch(self, name: str) -> None: ...


class Search:
    """The chat window's search: the results window, and the jump from a result to its message."""

    def __init__(self, window: SearchHost) -> None:
        self.window = window
        self.results: SearchWindow | None = None
        self.pending: tuple[str, str] | None = None  # (folded buffer, msgid) to show once loaded
        self.revealed: str | None = None  # the msgid last scrolled to and marked (tests read it)

    def _results(self) -> SearchWindow:
        w = self.window
        if self.results is None:
            self.results = SearchWindow(w.root, w.fonts, w.theme, self.jump)
        if not self.results.is_open:
            self.results.theme = w.theme  # drawn anew in the theme of the moment
        return self.results

    def sent(self, request: ev.SearchMessages) -> None:
        """``/search`` went to the server: open the results window, waiting."""
        self._results().searching(request.text, request.scope)

    def found(self, event: ev.SearchResults) -> None:
        """The server answered a search."""
        state = self.window.state
        if event.error and state is not None:
            state.info(event.error, kind="error")  # also where the user typed /search
        self._results().show(event)

    def jump(self, line: ev.ChatLine) -> None:
        """Show ``line``'s buffer scrolled to it, loading the history around it if needed."""
        w = self.window
        state, bridge = w.state, w.bridge
        if state is None or bridge is None:
            return
        w.switch(line.target)
        w.root.lift()
        if not line.msgid:
            return
        buf = state.buffer(line.target)
        self.pending = (fold(line.target), line.msgid)
        if buf is not None and any(ln.msgid == line.msgid for ln in buf.lines):
            self.after_render()
        elif state.connection == "connected":
            bridge.submit(ev.LoadAround(line.target, line.msgid))

    def after_render(self) -> None:
        """The view was drawn: if it shows the message a jump waits for, scroll to it and mark it."""
        w = self.window
        if self.pending is None or w.state is None or fold(w.state.current) != self.pending[0]:
            return
        if reveal(w.view, self.pending[1], w.theme.sidebar_sel_bg):
            self.revealed = self.pending[1]
            self.pending = None
