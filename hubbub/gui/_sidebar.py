"""The side panels: the buffer list (with unread and mention badges) and the member list."""

from __future__ import annotations

import tkinter as tk
from collections.abc import Callable
from dataclasses import dataclass
from tkinter import font as tkfont

from .buffers import Buffer, fold
from .events import Member
from .theme import Theme


@dataclass
class ServerNode:
    """One server in the tree: its node, then (unless collapsed) its channels and conversations."""

    sid: int
    title: str
    connection: str  # ev.ConnectionState
    buffers: list[Buffer]  # the server's own buffer first
    collapsed: bool
    unread: int  # summed over its buffers, shown on the node when collapsed
    mentions: int


STATE_MARK = {
    "connected": "",
    "connecting": "  ◌",
    "reconnecting": "  ◌",
    "disconnected": "  ✕",
    "failed": "  ✕",
}


class BufferList(tk.Frame):
    """Channels and conversations, one row each: name, then an unread count or a mention badge."""

    def __init__(self, master: tk.Misc, fonts: dict[str, tkfont.Font], theme: Theme) -> None:
        super().__init__(master, width=210)
        self.pack_propagate(False)
        self.fonts = fonts
        self.on_select: Callable[[str], None] = lambda _name: None
        self.on_close: Callable[[str], None] = lambda _name: None  # middle-click
        self.on_menu: Callable[[str, int, int], None] = lambda _name, _x, _y: None  # right-click
        # Several servers (refresh_tree): the entry of server ``sid`` chosen, a node folded or
        # unfolded, a node's menu.
        self.on_pick: Callable[[int, str], None] = lambda _sid, _name: None
        self.on_toggle: Callable[[int], None] = lambda _sid: None
        self.on_server_menu: Callable[[int, int, int], None] = lambda _sid, _x, _y: None
        self.title = tk.Label(self, text="hubbub", anchor="w", padx=16, pady=14, font=fonts["title"])
        self.title.pack(fill="x")
        self.rows_frame = tk.Frame(self)
        self.rows_frame.pack(fill="both", expand=True)
        # name (folded) -> (row, name label, badge label); kept for tests and for cheap updates
        self.rows: dict[str, tuple[tk.Frame, tk.Label, tk.Label]] = {}
        # With several servers: (server id, folded name) -> row, and server id -> (node row,
        # fold arrow, title, badge). ``rows`` then holds the entries of the server shown.
        self.entries: dict[tuple[int, str], tuple[tk.Frame, tk.Label, tk.Label]] = {}
        self.nodes: dict[int, tuple[tk.Frame, tk.Label, tk.Label, tk.Label]] = {}
        self.theme = theme
        self.apply_theme(theme)

    def apply_theme(self, theme: Theme) -> None:
        """Recolour for ``theme``."""
        self.theme = theme
        self.configure(background=theme.sidebar_bg)
        self.title.configure(background=theme.sidebar_bg, foreground=theme.sidebar_sel_fg)
        self.rows_frame.configure(background=theme.sidebar_bg)

    def _badge(self, parent: tk.Misc, mentions: int, unread: int) -> tk.Label:
        """The count at the right of an entry: mentions in red, else unread in the accent colour
        (shown only when there is something to count)."""
        th = self.theme
        badge = tk.Label(parent, padx=7, pady=0, font=self.fonts["tiny_bold"], foreground="#ffffff")
        if mentions:
            badge.configure(text=f"@ {mentions}", background=th.mention_badge)
            badge.pack(side="right", padx=8)
        elif unread:
            badge.configure(text=str(unread), background=th.accent)
            badge.pack(side="right", padx=8)
        return badge

    def refresh(self, buffers: list[Buffer], current: str, network: str) -> None:
        """Redraw every row (there are few) for ``buffers`` with ``current`` selected."""
        self.title.configure(text=network or "hubbub")
        for child in self.rows_frame.winfo_children():
            child.destroy()
        self.rows.clear()
        self.entries.clear()
        self.nodes.clear()
        th = self.theme
        last_kind = ""
        for buf in buffers:
            if buf.kind != last_kind and buf.kind != "server":
                heading = "CHANNELS" if buf.kind == "channel" else "DIRECT MESSAGES"
                tk.Label(
                    self.rows_frame,
                    text=heading,
                    anchor="w",
                    padx=16,
                    pady=6,
                    font=self.fonts["tiny_bold"],
                    background=th.sidebar_bg,
                    foreground=th.muted,
                ).pack(fill="x", pady=(8, 0))
                last_kind = buf.kind
            selected = fold(buf.name) == fold(current)
            bg = th.sidebar_sel_bg if selected else th.sidebar_bg
            fg = th.sidebar_sel_fg if selected or buf.unread else th.sidebar_fg
            if buf.kind == "channel" and not buf.joined:
                fg = th.muted
            row = tk.Frame(self.rows_frame, background=bg, cursor="hand2")
            row.pack(fill="x", padx=8, pady=1)
            label_text = {"server": "⌂  server", "channel": buf.name, "query": "●  " + buf.name}[buf.kind]
            font = self.fonts["bold"] if buf.unread or selected else self.fonts["ui"]
            name = tk.Label(
                row, text=label_text, anchor="w", padx=10, pady=4, background=bg, foreground=fg, font=font
            )
            name.pack(side="left", fill="x", expand=True)
            badge = self._badge(row, buf.mentions, buf.unread)
            for widget in (row, name, badge):
                widget.bind("<Button-1>", self._selector(buf.name))
                widget.bind("<Button-2>", self._closer(buf.name))
                widget.bind("<Button-3>", self._menu(buf.name))
            self.rows[fold(buf.name)] = (row, name, badge)

    def refresh_tree(self, nodes: list[ServerNode], active: int, current: str) -> None:
        """Redraw as a tree: a node per server (name, connection state, its server buffer), its
        channels and conversations under it; ``current`` of server ``active`` is selected."""
        self.title.configure(text="hubbub")
        for child in self.rows_frame.winfo_children():
            child.destroy()
        self.rows.clear()
        self.entries.clear()
        self.nodes.clear()
        th = self.theme
        for node in nodes:
            here = node.sid == active
            selected = here and current == ""
            bg = th.sidebar_sel_bg if selected else th.sidebar_bg
            fg = th.muted if node.connection in ("disconnected", "failed") else th.sidebar_sel_fg
            row = tk.Frame(self.rows_frame, background=bg, cursor="hand2")
            row.pack(fill="x", padx=8, pady=(8, 1))
            arrow = tk.Label(
                row,
                text="▸" if node.collapsed else "▾",
                padx=4,
                background=bg,
                foreground=th.muted,
                font=self.fonts["bold"],
            )
            arrow.pack(side="left")
            name = tk.Label(
                row,
                text=node.title + STATE_MARK.get(node.connection, ""),
                anchor="w",
                padx=2,
                pady=4,
                background=bg,
                foreground=fg,
                font=self.fonts["bold"],
            )
            name.pack(side="left", fill="x", expand=True)
            badge = tk.Label(row, padx=7, pady=0, font=self.fonts["tiny_bold"], foreground="#ffffff")
            server = node.buffers[0] if node.buffers and node.buffers[0].kind == "server" else None
            # Folded, the node carries the counts of everything under it; unfolded, its own.
            unread, mentions = (
                (node.unread, node.mentions)
                if node.collapsed
                else (server.unread, server.mentions)
                if server is not None
                else (0, 0)
            )
            if mentions:
                badge.configure(text=f"@ {mentions}", background=th.mention_badge)
                badge.pack(side="right", padx=8)
            elif unread:
                badge.configure(text=str(unread), background=th.accent)
                badge.pack(side="right", padx=8)
            arrow.bind("<Button-1>", self._toggler(node.sid))
            for widget in (row, name, badge):
                widget.bind("<Button-1>", self._picker(node.sid, ""))
                widget.bind("<Button-3>", self._server_menu(node.sid))
            self.nodes[node.sid] = (row, arrow, name, badge)
            if server is not None:
                self.entries[(node.sid, "")] = (row, name, badge)
                if here:
                    self.rows[""] = (row, name, badge)
            if node.collapsed:
                continue
            for buf in node.buffers:
                if buf.kind == "server":
                    continue
                selected = here and fold(buf.name) == fold(current)
                bg = th.sidebar_sel_bg if selected else th.sidebar_bg
                fg = th.sidebar_sel_fg if selected or buf.unread else th.sidebar_fg
                if buf.kind == "channel" and not buf.joined:
                    fg = th.muted
                child = tk.Frame(self.rows_frame, background=bg, cursor="hand2")
                child.pack(fill="x", padx=(22, 8), pady=1)
                text = buf.name if buf.kind == "channel" else "●  " + buf.name
                font = self.fonts["bold"] if buf.unread or selected else self.fonts["ui"]
                label = tk.Label(
                    child, text=text, anchor="w", padx=10, pady=3, background=bg, foreground=fg, font=font
                )
                label.pack(side="left", fill="x", expand=True)
                count = self._badge(child, buf.mentions, buf.unread)
                for widget in (child, label, count):
                    widget.bind("<Button-1>", self._picker(node.sid, buf.name))
                    widget.bind("<Button-2>", self._picked_then(node.sid, buf.name, self.on_close))
                    widget.bind("<Button-3>", self._picked_menu(node.sid, buf.name))
                self.entries[(node.sid, fold(buf.name))] = (child, label, count)
                if here:
                    self.rows[fold(buf.name)] = (child, label, count)

    def _picker(self, sid: int, name: str) -> Callable[[tk.Event], None]:
        return lambda _event: self.on_pick(sid, name)

    def _toggler(self, sid: int) -> Callable[[tk.Event], str]:
        def toggle(_event: tk.Event) -> str:
            self.after_idle(self.on_toggle, sid)  # the redraw destroys the arrow under the pointer
            return "break"

        return toggle

    def _server_menu(self, sid: int) -> Callable[[tk.Event], None]:
        return lambda event: self.on_server_menu(sid, event.x_root, event.y_root)

    def _picked_then(self, sid: int, name: str, then: Callable[[str], None]) -> Callable[[tk.Event], object]:
        # Another server's entry: show it first, so the action meets the server it belongs to.
        def act() -> None:
            self.on_pick(sid, name)
            then(name)

        return lambda _event: self.after_idle(act)

    def _picked_menu(self, sid: int, name: str) -> Callable[[tk.Event], None]:
        def menu(event: tk.Event) -> None:
            self.on_pick(sid, name)
            self.on_menu(name, event.x_root, event.y_root)

        return menu

    def _selector(self, name: str) -> Callable[[tk.Event], None]:
        return lambda _event: self.on_select(name)

    def _closer(self, name: str) -> Callable[[tk.Event], object]:
        # Closing destroys the row under the pointer: let Tk finish with the click first.
        return lambda _event: self.after_idle(self.on_close, name)

    def _menu(self, name: str) -> Callable[[tk.Event], None]:
        return lambda event: self.on_menu(name, event.x_root, event.y_root)


class MemberList(tk.Frame):
    """The members of the shown channel: highest prefix first, away members dimmed.

    A read-only Text widget rather than a Listbox: the prefix (``@``, ``+``) gets a column of its
    own, so every nick starts at the same place whatever its prefix.
    """

    def __init__(self, master: tk.Misc, fonts: dict[str, tkfont.Font], theme: Theme) -> None:
        super().__init__(master, width=190)
        self.pack_propagate(False)
        self.fonts = fonts
        self.on_open: Callable[[str], None] = lambda _nick: None
        self.on_menu: Callable[[str, int, int], None] = lambda _nick, _x, _y: None  # right-click
        self.header = tk.Label(self, anchor="w", padx=14, pady=14, font=fonts["tiny_bold"])
        self.header.pack(fill="x")
        self.text = tk.Text(
            self,
            borderwidth=0,
            highlightthickness=0,
            font=fonts["ui"],
            takefocus=0,
            cursor="arrow",
            wrap="none",
            padx=14,
            pady=0,
            spacing1=2,
            spacing3=2,
            exportselection=False,
        )
        self.text.pack(fill="both", expand=True)
        self.text.bind("<Double-Button-1>", self._open)
        self.text.bind("<Button-1>", self._select)
        self.text.bind("<Button-3>", self._context)
        self.members: list[Member] = []
        self.selected = -1
        self.apply_theme(theme)

    def apply_theme(self, theme: Theme) -> None:
        """Recolour for ``theme``."""
        self.theme = theme
        self.configure(background=theme.sidebar_bg)
        self.header.configure(background=theme.sidebar_bg, foreground=theme.muted)
        self.text.configure(
            background=theme.sidebar_bg,
            foreground=theme.sidebar_fg,
            selectbackground=theme.sidebar_bg,
            selectforeground=theme.sidebar_fg,
            inactiveselectbackground=theme.sidebar_bg,
        )
        self.text.tag_configure("prefix", foreground=theme.muted, font=self.fonts["bold"])
        self.text.tag_configure("away", foreground=theme.away)
        self.text.tag_configure("display", foreground=theme.muted, font=self.fonts["small"])
        self.text.tag_configure("chosen", background=theme.sidebar_sel_bg, foreground=theme.sidebar_sel_fg)
        self.show(self.members)

    def show(self, members: list[Member]) -> None:
        """Show ``members`` (already sorted)."""
        self.members = members
        t = self.text
        # The prefix column is as wide as the widest prefix shown, and absent when nobody has one.
        widest = max((self.fonts["bold"].measure(m.prefix) for m in members), default=0)
        t.configure(state="normal", tabs=(widest + 6 if widest else 1,))
        t.delete("1.0", "end")
        self.header.configure(text=f"MEMBERS — {len(members)}" if members else "")
        for i, m in enumerate(members):
            nick_tags = ("away",) if m.away else ()
            if i:
                t.insert("end", "\n")
            if widest:
                t.insert("end", m.prefix, ("prefix",))
                t.insert("end", "\t")
            t.insert("end", m.nick, nick_tags)
            if m.display_name and m.display_name != m.nick:
                # draft/metadata-2 display-name: beside the nick, which stays what others type.
                t.insert("end", "  " + m.display_name.replace("\n", " "), ("display",))
        t.configure(state="disabled")
        self.selected = -1

    def rows(self) -> list[str]:
        """The rows as shown (prefix, a tab when there is a prefix column, the nick)."""
        return self.text.get("1.0", "end-1c").split("\n") if self.members else []

    def _index_at(self, event: tk.Event) -> int:
        row = int(self.text.index(f"@{event.x},{event.y}").split(".")[0]) - 1
        return row if 0 <= row < len(self.members) else -1

    def _select(self, event: tk.Event) -> str:
        self.text.tag_remove("chosen", "1.0", "end")
        self.selected = self._index_at(event)
        if self.selected >= 0:
            row = self.selected + 1
            self.text.tag_add("chosen", f"{row}.0", f"{row}.end+1c")
        return "break"

    def _context(self, event: tk.Event) -> str:
        self._select(event)
        if self.selected >= 0:
            self.on_menu(self.members[self.selected].nick, event.x_root, event.y_root)
        return "break"

    def _open(self, event: tk.Event) -> str:
        index = self._index_at(event)
        if index >= 0:
            self.on_open(self.members[index].nick)
        return "break"
