"""The channel browser: a window listing the server's channels, filtered, sorted, joined on Enter.

A big network answers LIST with thousands of channels; the rows go into the tree a chunk per
``after()`` turn, so the window answers the keyboard while they load.
"""

from __future__ import annotations

import tkinter as tk
from collections.abc import Callable
from tkinter import font as tkfont
from tkinter import ttk

from .events import ChannelEntry
from .navigation import filter_channels, sort_channels
from .theme import Theme

CHUNK = 300  # rows inserted per turn of the event loop


class ChannelBrowser(tk.Toplevel):
    """A LIST window: filter box, "at least N members", a sortable table, join on double-click or Enter.

    ``on_join(name)`` joins a channel; ``on_refresh(min_users)`` asks the server again (with
    ``LIST >n`` where the server offers ELIST U).
    """

    def __init__(
        self,
        master: tk.Misc,
        fonts: dict[str, tkfont.Font],
        theme: Theme,
        on_join: Callable[[str], None],
        on_refresh: Callable[[int], None],
    ) -> None:
        super().__init__(master, background=theme.bg)
        self.title("Channels — hubbub")
        self.geometry("640x460")
        self.on_join = on_join
        self.on_refresh = on_refresh
        self.entries: list[ChannelEntry] = []
        self.shown: list[ChannelEntry] = []  # filtered and sorted: what the tree holds once loaded
        self.sort_by, self.descending = "members", True
        self._pending: list[ChannelEntry] = []
        self._job: str | None = None
        top = tk.Frame(self, background=theme.bg, padx=10, pady=8)
        top.pack(fill="x")
        tk.Label(top, text="Filter", background=theme.bg, foreground=theme.muted, font=fonts["small"]).pack(
            side="left"
        )
        self.filter_var = tk.StringVar(self)
        self.filter = ttk.Entry(top, textvariable=self.filter_var, width=28, font=fonts["ui"])
        self.filter.pack(side="left", padx=(6, 12))
        tk.Label(top, text="at least", background=theme.bg, foreground=theme.muted, font=fonts["small"]).pack(
            side="left"
        )
        self.min_var = tk.StringVar(self, value="0")
        self.min_users = ttk.Spinbox(top, from_=0, to=100000, width=5, textvariable=self.min_var)
        self.min_users.pack(side="left", padx=6)
        tk.Label(top, text="members", background=theme.bg, foreground=theme.muted, font=fonts["small"]).pack(
            side="left"
        )
        self.refresh_button = ttk.Button(top, text="Refresh", command=self.refresh)
        self.refresh_button.pack(side="right")
        self.tree = ttk.Treeview(self, columns=("users", "topic"), selectmode="browse")
        self.tree.heading("#0", text="Channel", command=lambda: self.sort("name"))
        self.tree.heading("users", text="Members ▾", command=lambda: self.sort("members"))
        self.tree.heading("topic", text="Topic")
        self.tree.column("#0", width=170, stretch=False)
        self.tree.column("users", width=110, anchor="e", stretch=False)
        self.tree.column("topic", width=360)
        scroll = ttk.Scrollbar(self, orient="vertical", command=self.tree.yview)
        self.tree.configure(yscrollcommand=scroll.set)
        self.status = tk.Label(
            self, anchor="w", padx=10, pady=4, background=theme.header_bg, foreground=theme.muted
        )
        self.status.pack(side="bottom", fill="x")
        scroll.pack(side="right", fill="y")
        self.tree.pack(fill="both", expand=True)
        self.tree.bind("<Double-Button-1>", self._join_clicked)
        self.tree.bind("<Return>", lambda _e: self.join_selected())
        self.filter.bind("<Return>", lambda _e: self.join_selected())
        self.filter.bind("<Down>", self._into_tree)
        self.filter_var.trace_add("write", lambda *_a: self.show())
        self.min_var.trace_add("write", lambda *_a: self.show())
        self.bind("<Escape>", lambda _e: self.destroy())
        self.status.configure(text="Asking the server for its channels…")

    def min_members(self) -> int:
        """The "at least N members" box as a number (0 when it holds no number)."""
        text = self.min_var.get().strip()
        return int(text) if text.isdigit() else 0

    def refresh(self) -> None:
        """Ask the server for the list again."""
        self.status.configure(text="Asking the server for its channels…")
        self.on_refresh(self.min_members())

    def load(self, entries: tuple[ChannelEntry, ...], error: str = "") -> None:
        """Show a LIST answer (replacing the last one)."""
        if error:
            self.status.configure(text=error)
            return
        self.entries = list(entries)
        self.show()

    def sort(self, by: str) -> None:
        """Sort by ``members`` or ``name``; the same column again reverses the order."""
        if by == self.sort_by:
            self.descending = not self.descending
        else:
            self.sort_by, self.descending = by, by == "members"
        arrow = " ▾" if self.descending else " ▴"
        self.tree.heading("#0", text="Channel" + (arrow if by == "name" else ""))
        self.tree.heading("users", text="Members" + (arrow if by == "members" else ""))
        self.show()

    def show(self) -> None:
        """Fill the tree with the entries passing the filter, in order, a chunk per turn."""
        shown = filter_channels(self.entries, self.filter_var.get(), self.min_members())
        self.shown = sort_channels(shown, self.sort_by, self.descending)
        if self._job is not None:
            self.after_cancel(self._job)
            self._job = None
        self.tree.delete(*self.tree.get_children())
        self._pending = list(self.shown)
        self._insert_some()

    def loaded(self) -> bool:
        """Whether every row shown is in the tree."""
        return not self._pending and self._job is None

    def _insert_some(self) -> None:
        self._job = None
        chunk, self._pending = self._pending[:CHUNK], self._pending[CHUNK:]
        for e in chunk:
            self.tree.insert("", "end", text=e.name, values=(e.users, e.topic))
        done = len(self.shown) - len(self._pending)
        total = len(self.entries)
        if self._pending:
            self.status.configure(text=f"Loading… {done} of {len(self.shown)}")
            self._job = self.after(1, self._insert_some)
        else:
            hidden = f" ({total - len(self.shown)} hidden by the filter)" if total > len(self.shown) else ""
            self.status.configure(text=f"{len(self.shown)} channels{hidden}. Double-click or Enter joins.")
            if self.shown and not self.tree.selection():
                first = self.tree.get_children()[0]
                self.tree.selection_set(first)
                self.tree.focus(first)

    def _into_tree(self, _event: tk.Event) -> str:
        self.tree.focus_set()
        return "break"

    def _join_clicked(self, event: tk.Event) -> str:
        row = self.tree.identify_row(event.y)
        if row:
            self.on_join(self.tree.item(row, "text"))
        return "break"

    def join_selected(self) -> str:
        """Join the selected channel."""
        chosen = self.tree.selection()
        if chosen:
            self.on_join(self.tree.item(chosen[0], "text"))
        return "break"

    def destroy(self) -> None:
        """Stop loading and close."""
        if self._job is not None:
            self.after_cancel(self._job)
            self._job = None
        super().destroy()
