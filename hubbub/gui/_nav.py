"""Getting around the window: quick switcher, next unread, closing buffers, context menus, channel
browser and "Connect to…". The window makes one :class:`Navigator`, which binds its keys."""

from __future__ import annotations

import tkinter as tk
from tkinter import font as tkfont
from typing import Protocol

from . import events as ev
from ._browser import ChannelBrowser
from ._sidebar import BufferList, MemberList
from .buffers import SERVER, ChatState, fold
from .navigation import ban_mask, label, nick_matches, switcher_matches
from .profiles import Settings
from .servers import Entry, Session
from .theme import Theme


class _Submits(Protocol):
    def submit(self, request: ev.Request) -> None:
        """Carry out ``request``."""


class NavWindow(Protocol):
    """What the navigator uses of the window (:class:`.app.ChatWindow`), read-only."""

    @property
    def root(self) -> tk.Tk: ...
    @property
    def theme(self) -> Theme: ...
    @property
    def fonts(self) -> dict[str, tkfont.Font]: ...
    @property
    def settings(self) -> Settings: ...
    @property
    def state(self) -> ChatState | None: ...
    @property
    def bridge(self) -> _Submits | None: ...
    @property
    def chat(self) -> tk.Frame | None: ...
    @property
    def entry(self) -> tk.Entry: ...
    @property
    def sidebar(self) -> BufferList: ...
    @property
    def members(self) -> MemberList: ...
    @property
    def topbar(self) -> tk.Frame: ...
    @property
    def theme_button(self) -> tk.Label: ...

    def switch(self, name: str) -> None:
        """Show buffer ``name``."""

    def open_query(self, nick: str) -> None:
        """Open a conversation with ``nick``."""

    def mute(self, buffer: str, muted: bool = True) -> None:
        """Mute or unmute ``buffer`` (the window's preferences), remembered."""

    @property
    def sessions(self) -> list[Session]: ...
    @property
    def session(self) -> Session | None: ...

    def connect_elsewhere(self) -> None:
        """Show the connect form to add another server."""

    def listed(self, *, visible: bool = False) -> list[Entry]:
        """Every buffer of every server, in sidebar order."""

    def show_entry(self, entry: Entry) -> None:
        """Show the buffer of ``entry``, on its server."""

    def jump_unread(self) -> None:
        """Show the next buffer to read, on any server."""

    def close_server(self, session: Session) -> None:
        """Leave a server and take its node away."""

    def _render(self) -> None: ...
    def _save_settings(self) -> None: ...
    def _expect_join(self, channels: tuple[str, ...]) -> None: ...


SWITCHER_ROWS = 8


class QuickSwitcher(tk.Frame):
    """A small palette over the window: type part of a name, arrows choose, Enter switches, Escape closes."""

    def __init__(self, nav: Navigator) -> None:
        w = nav.window
        th, f = w.theme, w.fonts
        super().__init__(w.root, background=th.border, padx=1, pady=1)
        self.nav = nav
        inner = tk.Frame(self, background=th.bg, padx=8, pady=8)
        inner.pack(fill="both", expand=True)
        tk.Label(
            inner, text="Switch to…", anchor="w", background=th.bg, foreground=th.muted, font=f["small"]
        ).pack(fill="x")
        self.query = tk.StringVar(self)
        self.entry = tk.Entry(
            inner,
            textvariable=self.query,
            font=f["ui"],
            relief="flat",
            background=th.input_bg,
            foreground=th.input_fg,
            insertbackground=th.input_fg,
            highlightthickness=1,
            highlightbackground=th.border,
            highlightcolor=th.accent,
        )
        self.entry.pack(fill="x", pady=(4, 6), ipady=4)
        self.listbox = tk.Listbox(
            inner,
            height=SWITCHER_ROWS,
            width=40,
            font=f["ui"],
            activestyle="none",
            relief="flat",
            highlightthickness=0,
            background=th.bg,
            foreground=th.fg,
            selectbackground=th.sidebar_sel_bg,
            selectforeground=th.sidebar_sel_fg,
            exportselection=False,
        )
        self.listbox.pack(fill="both", expand=True)
        self.matches: list[str] = []  # buffer names, then nicks to open a conversation with
        self.targets: list[Entry | None] = []  # per match: its server and buffer (None: a nick)
        self.query.trace_add("write", lambda *_a: self.refresh())
        e = self.entry
        e.bind("<Down>", lambda _e: self.move(1))
        e.bind("<Up>", lambda _e: self.move(-1))
        e.bind("<Return>", lambda _e: self.choose())
        e.bind("<KP_Enter>", lambda _e: self.choose())
        e.bind("<Escape>", lambda _e: self.close())
        e.bind("<Control-k>", lambda _e: self.close())
        self.listbox.bind("<Double-Button-1>", lambda _e: self.choose())
        self.listbox.bind("<ButtonRelease-1>", lambda _e: self.choose())

    def open(self) -> None:
        """Show the palette, empty, with the buffers to read first."""
        self.query.set("")
        self.refresh()
        chat = self.nav.window.chat
        assert chat is not None
        self.place(in_=chat, relx=0.5, y=56, anchor="n")
        self.lift()
        self.entry.focus_force()

    def is_open(self) -> bool:
        """Whether the palette is shown."""
        return bool(self.winfo_manager())

    def refresh(self) -> None:
        """List the buffers matching what is typed."""
        state = self.nav.window.state
        if state is None:
            return
        w = self.nav.window
        entries = w.listed()  # every server's buffers: the switcher reaches all of them
        owner = {id(buf): session for session, buf in entries}
        buffers = [buf for _, buf in entries]
        shown = state.buffer(state.current)
        # Leaving out the buffer shown goes by the object: another server may have one of its name.
        # ("\0" names no buffer: none is left out by name, then the one shown is, when nothing is typed.)
        found = switcher_matches(buffers, self.query.get(), "\0")
        if not self.query.get().strip():
            found = [b for b in found if b is not shown]
        nicks = nick_matches(state.ordered(), self.query.get())
        self.matches = [b.name for b in found] + nicks
        self.targets = [(owner[id(b)], b) for b in found] + [None] * len(nicks)
        several = len(w.sessions) > 1
        self.listbox.delete(0, "end")
        for buf in found:
            badge = f"   @ {buf.mentions}" if buf.mentions else f"   {buf.unread}" if buf.unread else ""
            left = "   (left)" if buf.parted else ""
            where = f"   — {owner[id(buf)].title}" if several else ""
            self.listbox.insert("end", f"{label(buf)}{badge}{left}{where}")
        for nick in nicks:
            self.listbox.insert("end", f"{nick}   (new conversation)")
        if self.matches:
            self.listbox.selection_set(0)

    def selected(self) -> int:
        """The index of the chosen row (-1 when nothing matches)."""
        chosen = self.listbox.curselection()  # type: ignore[no-untyped-call]
        return int(chosen[0]) if chosen else -1

    def move(self, step: int) -> str:
        """Choose the row above (-1) or below (+1)."""
        if self.matches:
            i = (self.selected() + step) % len(self.matches)
            self.listbox.selection_clear(0, "end")
            self.listbox.selection_set(i)
            self.listbox.see(i)
        return "break"

    def choose(self) -> str:
        """Switch to the chosen buffer and close."""
        i = self.selected()
        name = self.matches[i] if 0 <= i < len(self.matches) else None
        target = self.targets[i] if 0 <= i < len(self.targets) else None
        self.close()
        if target is not None:
            self.nav.window.show_entry(target)
        elif name is not None:
            self.nav.window.switch(name)  # a nick: a conversation on the server shown
        return "break"

    def close(self) -> str:
        """Hide the palette and give the input line the focus back."""
        self.place_forget()
        self.nav.window.entry.focus_set()
        return "break"


class Navigator:
    """Keys, menus and windows for moving around; owned by the chat layout of the window."""

    def __init__(self, window: NavWindow) -> None:
        self.window = window
        self.switcher = QuickSwitcher(self)
        self.browser: ChannelBrowser | None = None
        self.menu = tk.Menu(window.root, tearoff=0)
        self.context: tuple[str, str] | None = None  # (kind, name) the open context menu is about
        w, root, entry = window, window.root, window.entry
        for widget in (root, entry):
            # The entry's own Ctrl+K (delete to the end) and Down (input history) would come first.
            widget.bind("<Control-k>", lambda _e: self.open_switcher())
            widget.bind("<Control-K>", lambda _e: self.open_switcher())
            widget.bind("<Alt-a>", lambda _e: self.jump_unread())
            widget.bind("<Alt-A>", lambda _e: self.jump_unread())
            widget.bind("<Control-Shift-Down>", lambda _e: self.jump_unread())
            widget.bind("<Control-w>", lambda _e: self.close_current())
            widget.bind("<Control-W>", lambda _e: self.close_current())
        w.sidebar.on_close = self.close_buffer
        w.sidebar.on_menu = self.buffer_menu
        w.members.on_menu = self.member_menu
        self.more = tk.Label(w.topbar, text="⋯", font=w.fonts["title"], cursor="hand2", padx=6)
        self.more.pack(side="right", before=w.theme_button)
        self.more.bind("<Button-1>", self._main_menu)
        self.more.configure(background=w.theme.bg, foreground=w.theme.muted)

    def paint(self) -> None:
        """Recolour for the window's theme."""
        th = self.window.theme
        self.more.configure(background=th.bg, foreground=th.muted)
        if not self.switcher.is_open():  # made again in the theme's colours
            self.switcher.destroy()
            self.switcher = QuickSwitcher(self)

    # --- quick switcher, next unread -------------------------------------------------------------

    def open_switcher(self) -> str:
        """Ctrl+K: open the quick switcher (or close it when open)."""
        if self.switcher.is_open():
            return self.switcher.close()
        self.switcher.open()
        return "break"

    def jump_unread(self) -> str:
        """Alt+A, Ctrl+Shift+Down: show the next buffer with mentions, else with unread messages."""
        if self.window.state is not None:
            self.window.jump_unread()
        return "break"

    # --- closing ---------------------------------------------------------------------------------

    def close_current(self) -> str:
        """Ctrl+W, /close: close the buffer shown."""
        if self.window.state is not None:
            self.close_buffer(self.window.state.current)
        return "break"

    def close_buffer(self, name: str) -> None:
        """Close ``name``: a channel is left first (unless already left); a conversation just closes."""
        w = self.window
        state = w.state
        buf = state.buffer(name) if state is not None else None
        if state is None or buf is None:
            return
        if buf.kind == "server" and len(w.sessions) > 1 and w.session is not None:
            w.close_server(w.session)  # several servers: closing a server's buffer leaves that server
            return
        if buf.kind == "server":
            state.info("The server buffer stays open; /quit leaves the network.", kind="error")
            w._render()
            return
        if buf.kind == "channel" and not buf.parted and w.bridge is not None:
            w.bridge.submit(ev.PartChannel(buf.name))
        ordered = [b.key for b in state.ordered()]
        was_current = buf.key == fold(state.current)
        state.close(buf.name)
        if was_current:
            # Show the neighbour above, as closing a tab shows the one beside it.
            i = ordered.index(buf.key)
            rest = [k for k in ordered if k != buf.key]
            w.switch(state.buffers[rest[max(0, i - 1)]].name if rest else SERVER)
        else:
            w._render()

    # --- context menus ---------------------------------------------------------------------------

    def _popup(self, x: int, y: int) -> None:
        try:
            self.menu.tk_popup(x, y)
        finally:
            self.menu.grab_release()

    def buffer_menu(self, name: str, x: int, y: int) -> None:
        """Right-click on a sidebar entry: mark read, mute, part/close, copy the name."""
        state = self.window.state
        buf = state.buffer(name) if state is not None else None
        if buf is None or buf.kind == "server":
            return
        m = self.menu
        m.delete(0, "end")
        m.add_command(label="Mark as read", command=lambda: self.mark_read(buf.name))
        m.add_command(
            label="Unmute notifications" if buf.muted else "Mute notifications",
            command=lambda: self.set_muted(buf.name, not buf.muted),
        )
        if buf.kind == "channel" and buf.joined:
            m.add_command(label="Leave channel", command=lambda: self._part(buf.name))
        m.add_command(
            label="Close" if buf.kind == "query" or buf.parted else "Leave and close",
            command=lambda: self.close_buffer(buf.name),
        )
        m.add_separator()
        m.add_command(label="Copy name", command=lambda: self.copy(buf.name))
        self.context = ("buffer", buf.name)
        self._popup(x, y)

    def member_menu(self, nick: str, x: int, y: int) -> None:
        """Right-click on a member: conversation, whois, and operator actions when we are one."""
        w = self.window
        state = w.state
        buf = state.buffer(state.current) if state is not None else None
        if state is None or buf is None or buf.kind != "channel":
            return
        member = buf.members.get(fold(nick))
        if member is None:
            return
        channel = buf.name
        m = self.menu
        m.delete(0, "end")
        m.add_command(label="Open conversation", command=lambda: w.open_query(member.nick))
        m.add_command(label="Whois", command=lambda: self._submit(ev.Whois(member.nick, origin=channel)))
        me = buf.members.get(fold(state.nick))
        if me is not None and any(c in "~&@" for c in me.prefix) and fold(nick) != fold(state.nick):
            m.add_separator()
            op = "@" in member.prefix
            voiced = "+" in member.prefix
            m.add_command(
                label="Take operator" if op else "Give operator",
                command=lambda: self._submit(ev.SetMode((channel, "-o" if op else "+o", member.nick))),
            )
            m.add_command(
                label="Take voice" if voiced else "Give voice",
                command=lambda: self._submit(ev.SetMode((channel, "-v" if voiced else "+v", member.nick))),
            )
            m.add_command(label="Kick", command=lambda: self._submit(ev.KickMember(channel, member.nick)))
            mask = ban_mask(member)
            m.add_command(
                label=f"Ban {mask}", command=lambda: self._submit(ev.SetMode((channel, "+b", mask)))
            )
        self.context = ("member", member.nick)
        self._popup(x, y)

    def mark_read(self, name: str) -> None:
        """Clear the unread counts of ``name``."""
        if self.window.state is not None:
            self.window.state.mark_read(name)
            self.window._render()

    def set_muted(self, name: str, muted: bool) -> None:
        """Mute or unmute ``name``, remembered in the settings."""
        self.window.mute(name, muted)

    def copy(self, text: str) -> None:
        """Put ``text`` on the clipboard."""
        root = self.window.root
        root.clipboard_clear()
        root.clipboard_append(text)

    def _part(self, channel: str) -> None:
        self._submit(ev.PartChannel(channel))

    def _submit(self, request: ev.Request) -> None:
        if self.window.bridge is not None:
            self.window.bridge.submit(request)

    # --- the "⋯" menu: channel browser, connect to… ------------------------------------------------

    def _main_menu(self, event: tk.Event) -> None:
        m = self.menu
        m.delete(0, "end")
        m.add_command(label="Connect to…", command=self.window.connect_elsewhere)
        m.add_command(label="Channel list…", command=self.open_browser)
        m.add_separator()
        m.add_command(label="Quick switcher", accelerator="Ctrl+K", command=self.open_switcher)
        m.add_command(label="Next unread", accelerator="Alt+A", command=self.jump_unread)
        m.add_command(label="Close buffer", accelerator="Ctrl+W", command=self.close_current)
        self.context = ("main", "")
        self._popup(event.x_root, event.y_root)

    def open_browser(self, text: str = "") -> ChannelBrowser:
        """Open (or raise) the channel browser, filtered by ``text``, and ask for the list."""
        w = self.window
        if self.browser is None or not self.browser.winfo_exists():
            self.browser = ChannelBrowser(w.root, w.fonts, w.theme, self._join_listed, self._ask_list)
        text = text.strip()
        if text[:1] == ">" and text[1:].isdigit():  # "/list >5", as servers with ELIST U take it
            self.browser.min_var.set(str(int(text[1:]) + 1))
            text = ""
        self.browser.filter_var.set(text)
        self.browser.lift()
        self.browser.filter.focus_force()
        self._ask_list(self.browser.min_members())
        return self.browser

    def _ask_list(self, min_users: int) -> None:
        state = self.window.state
        # ELIST U: the server filters by member count ("LIST >n"), so a big list stays small.
        args = (f">{min_users - 1}",) if min_users > 1 and state is not None and "U" in state.elist else ()
        self._submit(ev.ListChannels(args))

    def _join_listed(self, channel: str) -> None:
        self.window._expect_join((channel,))
        self._submit(ev.JoinChannels((channel,)))

    def channel_list(self, listed: ev.ChannelListed) -> None:
        """A LIST answer arrived: into the browser, when it is open."""
        if self.browser is not None and self.browser.winfo_exists():
            self.browser.load(listed.entries, listed.error)

    def close(self) -> None:
        """The chat layout goes away: so do the windows and menus opened from it."""
        if self.browser is not None and self.browser.winfo_exists():
            self.browser.destroy()
        self.browser = None
        self.switcher.destroy()
        self.menu.destroy()
