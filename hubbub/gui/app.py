"""The main window: buffer list, message view, member list, input line and status bar.

Events from the network come through a :class:`._wakeup.WakeQueue`, whose pipe wakes Tk when
something arrives; :meth:`ChatWindow._tick` then drains it, at most :data:`BATCH` per tick, so a
flood never freezes the window, and an idle window runs no timer at all.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import logging
import queue
import signal
import time
import tkinter as tk
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from tkinter import font as tkfont
from tkinter import ttk
from typing import Protocol

from . import events as ev
from . import profiles
from ._banner import Banner
from ._connect import ConnectForm
from ._find import FindBar
from ._nav import Navigator
from ._panes import Panes
from ._prefs import Preferences
from ._search import Search
from ._sidebar import BufferList, MemberList, ServerNode
from ._view import MessageView
from ._wakeup import WakeQueue
from .appearance import resolve_theme
from .buffers import SERVER, Buffer, ChatState, Line, fold, is_channel
from .readmarks import ReadSync
from .replying import ReplyControl
from .servers import Entry, Session, SessionQueue, Tagged, listed, next_unread, position, step
from .slash import interpret
from .theme import MONO_FAMILIES, THEMES, UI_FAMILIES, Theme, pick_family

log = logging.getLogger(__name__)

BATCH = 250  # events applied per tick at most: bounded work between two looks at the keyboard
TYPING_CHECK_MS = 1000  # while someone is typing: how often to look whether their notice ran out
INPUT_HISTORY = 200

BridgeFactory = Callable[[ev.ConnectOptions, "queue.Queue[ev.Event]"], "BridgeLike"]


class BridgeLike(Protocol):
    """What the window needs from the network side (see :class:`._bridge.Bridge`)."""

    def start(self) -> None:
        """Start connecting."""

    def submit(self, request: ev.Request) -> None:
        """Carry out ``request``."""

    def stop(self, reason: str = "", timeout: float = 3.0) -> None:
        """Quit and stop."""


def _default_bridge(options: ev.ConnectOptions, events: queue.Queue[ev.Event]) -> BridgeLike:
    from ._bridge import Bridge  # the client library loads only when connecting

    return Bridge(options, events)


def make_fonts(root: tk.Misc, size: int) -> dict[str, tkfont.Font]:
    """The named fonts of the window, from the best UI family installed, at ``size`` points."""
    families = set(root.tk.splitlist(root.tk.call("font", "families")))
    ui = pick_family(families, UI_FAMILIES)
    mono = pick_family(families, MONO_FAMILIES)
    return {
        "ui": tkfont.Font(root, family=ui, size=size),
        "bold": tkfont.Font(root, family=ui, size=size, weight="bold"),
        "italic": tkfont.Font(root, family=ui, size=size, slant="italic"),
        "small": tkfont.Font(root, family=ui, size=max(6, size - 1)),
        "small_bold": tkfont.Font(root, family=ui, size=max(6, size - 1), weight="bold"),
        "tiny_bold": tkfont.Font(root, family=ui, size=max(6, size - 2), weight="bold"),
        "title": tkfont.Font(root, family=ui, size=size + 3, weight="bold"),
        "mono": tkfont.Font(root, family=mono, size=size),
    }


class ChatWindow(Preferences):
    """The whole application in one Tk root: the connect form first, then the chat layout."""

    def __init__(
        self,
        root: tk.Tk,
        settings: profiles.Settings,
        config_dir: Path,
        *,
        bridge_factory: BridgeFactory = _default_bridge,
    ) -> None:
        self.root = root
        self.settings = settings
        self.config_dir = config_dir
        self.bridge_factory = bridge_factory
        self.theme: Theme = THEMES[resolve_theme(settings.theme)]
        self.fonts = make_fonts(root, settings.font_size)
        # Events of every server, each tagged with its session (see .servers.SessionQueue).
        self.events: WakeQueue[Tagged | ev.Event] = WakeQueue()
        root.createfilehandler(self.events.read_fd, tk.READABLE, self._on_wake)
        self.bridge: BridgeLike | None = None
        self.state: ChatState | None = None
        self.options: ev.ConnectOptions | None = None
        # Several servers at once: one session each; ``session`` is the one whose buffer is shown,
        # and ``state``, ``bridge`` and ``options`` above are its.
        self.sessions: list[Session] = []
        self.session: Session | None = None
        self._next_sid = 0
        self.form: ConnectForm | None = None
        self.chat: tk.Frame | None = None
        # Measurements: tests read them to check the window keeps up (they are not perf claims).
        self.max_tick_gap = 0.0
        self.events_applied = 0
        self.bells = 0
        self._last_tick = 0.0
        self._tick_id: str | None = None
        self._busy = False  # the last tick left events in the queue
        self._focused = True
        self._mention_pending = False
        self._history: list[str] = []
        self._typing_to: str | None = None  # where our "+typing=active" went last
        self._history_pos = 0
        self._completion: tuple[str, list[str], int, int] | None = None  # text, matches, i, start
        self._older_anchor: dict[str, object] = {}
        # What the connect form was given, until the server accepts it: saved only then, and
        # shown again in the form if the first connection fails.
        self._form_choice: tuple[profiles.Profile, bool] | None = None
        self._init_preferences()
        self.search = Search(self)  # /search: the results window and jumps to results
        root.title("hubbub")
        root.geometry(settings_geometry())
        root.minsize(720, 420)
        root.protocol("WM_DELETE_WINDOW", self.close)
        root.bind("<FocusIn>", self._on_focus_in, add=True)
        root.bind("<FocusOut>", self._on_focus_out, add=True)
        self._style()

    # --- look ------------------------------------------------------------------------------------

    def _style(self) -> None:
        th = self.theme
        style = ttk.Style(self.root)
        style.theme_use("clam")
        style.configure(
            ".",
            background=th.bg,
            foreground=th.fg,
            fieldbackground=th.input_bg,
            bordercolor=th.border,
            lightcolor=th.border,
            darkcolor=th.border,
            font=self.fonts["ui"],
        )
        style.configure("TEntry", padding=6, foreground=th.input_fg, insertcolor=th.input_fg)
        style.configure("TCombobox", padding=4, foreground=th.input_fg, arrowcolor=th.muted)
        style.map("TCombobox", fieldbackground=[("readonly", th.input_bg)])
        style.configure("TCheckbutton", background=th.bg, foreground=th.fg, indicatorbackground=th.input_bg)
        style.configure("TRadiobutton", background=th.bg, foreground=th.fg, indicatorbackground=th.input_bg)
        style.configure("TSpinbox", foreground=th.input_fg, arrowcolor=th.muted, padding=4)
        style.configure(
            "Accent.TButton",
            background=th.accent,
            foreground="#ffffff",
            padding=(18, 6),
            borderwidth=0,
            font=self.fonts["bold"],
        )
        style.map("Accent.TButton", background=[("active", th.accent)])
        self.root.configure(background=th.bg)

    def set_theme(self, name: str) -> None:
        """Switch to the ``light`` or ``dark`` theme, or follow the ``system``, and remember it."""
        self.theme = THEMES[resolve_theme(name)]
        self.settings.theme = name
        self._style()
        if self.chat is not None:
            self._paint_chat()
            if self.state is not None:
                self._refresh_all()
        if self.settings_screen is not None:
            self.settings_screen.apply_theme(self.theme)
        self._save_settings()
        self._changed("theme")

    def set_font_size(self, size: int) -> None:
        """Resize every font to ``size`` points and remember it."""
        size = max(7, min(size, 32))
        self.settings.font_size = size
        for name, f in self.fonts.items():
            delta = {"small": -1, "small_bold": -1, "tiny_bold": -2, "title": 3}.get(name, 0)
            f.configure(size=max(6, size + delta))
        if self.chat is not None:
            self.view.apply_theme(self.theme)  # the view re-sticks to the bottom once reflowed
        self._save_settings()
        self._changed("font_size")

    def _save_settings(self) -> None:
        try:
            profiles.save(self.config_dir, self.settings)
        except OSError as exc:
            log.warning("cannot save settings: %s", exc)

    # --- connect form ----------------------------------------------------------------------------

    def show_connect_form(self, error: str = "", typed: tuple[profiles.Profile, bool] | None = None) -> None:
        """Show the connect form (with ``error`` when a previous attempt failed, and the
        ``typed`` profile and "remember password" choice to fill it with)."""
        self.form = ConnectForm(self.root, self.fonts, self.theme, self.settings, self._form_submitted)
        self.form.pack(fill="both", expand=True)
        if typed is not None:
            self.form.fill(typed[0])
            self.form.remember.set(typed[1])
        if error:
            self.form.error.configure(text=error)

    def _form_submitted(self, profile: profiles.Profile, remember_password: bool) -> None:
        self._form_choice = (profile, remember_password)
        if self.form is not None:
            self.form.destroy()
            self.form = None
            # Free the form's Tk variables now, on this thread, not later on the network thread.
            gc.collect()
        self.connect(
            ev.ConnectOptions(
                profile.host,
                profile.port,
                profile.nick,
                profile.tls,
                profile.password,
                tuple(profile.channels),
                retry_first=False,
            ),
            profile=profile.name,
        )

    def _save_form_choice(self, session: Session) -> None:
        """The server accepted what the form was given: remember it as a profile."""
        if session.form_choice is None:
            return
        profile, remember_password = session.form_choice
        session.form_choice = None
        saved = replace(profile, password=profile.password if remember_password else "")
        saved.channels = list(profile.channels)
        self.settings.remember(saved)
        self._save_settings()

    def _back_to_form(self, reason: str) -> None:
        """The first connection from the form failed: say why in the form, filled as it was."""
        typed = self.session.form_choice if self.session is not None else None
        if self._tick_id is not None:
            self.root.after_cancel(self._tick_id)
            self._tick_id = None
        for session in self.sessions:
            if session.bridge is not None:
                session.bridge.stop(timeout=2.0)
        self.sessions.clear()
        self.session = None
        self.bridge = None
        if self.chat is not None:
            self.message_menu.destroy()
            self.chat.destroy()
            self.chat = None
        self.state = None
        self._new_events()  # nothing of the failed attempt is left to apply
        self.root.title("hubbub")
        gc.collect()
        target = f"{self.options.host}:{self.options.port}" if self.options else "the server"
        self.show_connect_form(f"Could not connect to {target}: {reason}", typed)

    # --- chat layout -----------------------------------------------------------------------------

    def reopen_servers(self) -> bool:
        """Connect again to the servers open at the last exit (their profiles); whether there were any."""
        names = [n for n in self.settings.reopen if self.settings.profile(n) is not None]
        for name in names:
            profile = self.settings.profile(name)
            assert profile is not None
            self._form_choice = None  # saved already: nothing to remember on success
            options = ev.ConnectOptions(
                profile.host,
                profile.port,
                profile.nick,
                profile.tls,
                profile.password,
                tuple(profile.channels),
            )
            self.connect(replace(options, retry_first=False), profile=name)
        return bool(names)

    def connect(self, options: ev.ConnectOptions, *, profile: str = "") -> None:
        """Build the chat layout (the first time) and start the network side for ``options``: one
        more server in the window. ``profile``: the saved profile it comes from, if any."""
        s = self.settings
        options = replace(
            options,
            send_burst=s.send_burst,
            send_rate=s.send_rate,
            multiline=s.multiline,
            connect_timeout=s.connect_timeout,
        )
        state = ChatState(options.nick, self.settings.max_lines)
        state.muted = set(self.settings.muted)
        state.expect_join(options.channels)
        session = Session(self._next_sid, options, state, form_choice=self._form_choice, profile=profile)
        self._next_sid += 1
        self._form_choice = None
        self.sessions.append(session)
        self._activate(session)
        if self.chat is None:
            self._build_chat()
        tagged = SessionQueue(self.events, session.sid)
        session.bridge = self.bridge = self.bridge_factory(options, tagged)  # type: ignore[arg-type]
        session.bridge.start()
        self._completion = None
        self._refresh_all()
        self._last_tick = time.monotonic()
        if self._tick_id is None:
            self._tick_id = self.root.after_idle(self._tick)

    # --- several servers ---------------------------------------------------------------------------

    def _activate(self, session: Session) -> None:
        """Make ``session`` the server whose buffers are shown and where typed commands go."""
        old = self.session
        if old is session:
            return
        if old is not None:
            left = old.state.buffer(old.state.current)
            if left is not None and left.lines:
                left.read_marker = left.lines[-1]  # as switching buffers within a server does
            old.state.shown = False
            old.state.changes.buffer_list = True
        self.session = session
        self.state, self.bridge, self.options = session.state, session.bridge, session.options
        session.state.shown = True
        self._typing_to = None

    def show_in(self, session: Session, name: str) -> None:
        """Show buffer ``name`` of ``session`` (another server's, or this one's)."""
        if session not in self.sessions:
            return
        changed = session is not self.session
        if session.collapsed and name != SERVER:
            session.collapsed = False  # a buffer shown is a row in view: its node unfolds
        self._activate(session)
        self.switch(name)
        if changed:
            problems, session.problems = session.problems, []
            for problem in problems:  # asked while another server was shown
                self._on_problem(problem)

    def show_entry(self, entry: Entry) -> None:
        """Show the buffer of ``entry`` (a server and one of its buffers)."""
        self.show_in(entry[0], entry[1].name)

    def listed(self, *, visible: bool = False) -> list[Entry]:
        """Every buffer of every server in sidebar order (only the rows shown with ``visible``)."""
        return listed(self.sessions, visible=visible)

    def _pick(self, sid: int, name: str) -> None:
        session = next((s for s in self.sessions if s.sid == sid), None)
        if session is not None:
            self.show_in(session, name)

    def _toggle_server(self, sid: int) -> None:
        session = next((s for s in self.sessions if s.sid == sid), None)
        if session is not None:
            session.collapsed = not session.collapsed
            self._refresh_sidebar()

    def _server_menu(self, sid: int, x: int, y: int) -> None:
        session = next((s for s in self.sessions if s.sid == sid), None)
        if session is None:
            return
        m = self.nav.menu
        m.delete(0, "end")
        m.add_command(label="Show server buffer", command=lambda: self.show_in(session, SERVER))
        m.add_command(
            label="Expand" if session.collapsed else "Collapse", command=lambda: self._toggle_server(sid)
        )
        m.add_command(label="Connect to…", command=self.connect_elsewhere)
        m.add_separator()
        m.add_command(label="Disconnect and close", command=lambda: self.close_server(session))
        self.nav.context = ("server", session.title)
        try:
            m.tk_popup(x, y)
        finally:
            m.grab_release()

    def _drop_session(self, session: Session, reason: str) -> None:
        """Quit ``session``'s server with ``reason`` and take its node away; show its neighbour
        when it was the one shown."""
        if session.bridge is not None:
            session.bridge.stop(reason, timeout=2.0)
            session.bridge = None
        i = self.sessions.index(session)
        self.sessions.remove(session)
        if session is self.session:
            self.session = None
            other = self.sessions[max(0, i - 1)]
            self.show_in(other, other.state.current)
        else:
            self._refresh_sidebar()

    def close_server(self, session: Session) -> None:
        """Leave ``session``'s server (QUIT) and take its node away; the other servers carry on.

        The last server stays: /quit (or closing the window) leaves it.
        """
        if session not in self.sessions:
            return
        if len(self.sessions) == 1:
            session.state.info("This is the only server: /quit leaves it.", kind="error")
            if session is self.session:
                self._render()
            return
        self._drop_session(session, "Leaving")

    def _refresh_sidebar(self) -> None:
        state, session = self.state, self.session
        if state is None or session is None or self.chat is None:
            return
        if len(self.sessions) <= 1:
            # One server: the flat list it always was.
            self.sidebar.refresh(state.ordered(), state.current, state.network)
            return
        nodes = []
        for s in self.sessions:
            unread, mentions = s.summed()
            nodes.append(
                ServerNode(
                    s.sid, s.title, s.state.connection, s.state.ordered(), s.collapsed, unread, mentions
                )
            )
        self.sidebar.refresh_tree(nodes, session.sid, state.current)

    def _render_background(self, session: Session) -> bool:
        """Take what changed on a server not shown; whether its node needs drawing again."""
        ch = session.state.take_changes()
        if ch.mentions:
            self._alert(ch.mentions, session.state)
        session.problems.extend(ch.problems)
        if ch.channel_list is not None and session is self.session:
            self.nav.channel_list(ch.channel_list)
        return bool(ch.buffer_list or ch.status or ch.appended)

    def _build_chat(self) -> None:
        f = self.fonts
        chat = tk.Frame(self.root)
        self.chat = chat
        status_bar = tk.Frame(chat)
        status_bar.pack(side="bottom", fill="x")
        self.status_bar = status_bar
        self.status_dot = tk.Label(status_bar, text="●", padx=0, pady=4, font=f["small"])
        self.status_dot.pack(side="left", padx=(14, 6))
        self.status = tk.Label(status_bar, anchor="w", pady=4, font=f["small"])
        self.status.pack(side="left", fill="x", expand=True)
        # The side panels and the centre are columns with sashes between them (see _panes.py).
        self.panes = Panes(chat, self.settings, self.theme, self._panel_dragged)
        self.panes.paned.pack(fill="both", expand=True)
        self.sidebar = BufferList(self.panes.paned, f, self.theme)
        self.sidebar.on_select = self.switch
        self.sidebar.on_pick = self._pick
        self.sidebar.on_toggle = self._toggle_server
        self.sidebar.on_server_menu = self._server_menu
        self.members = MemberList(self.panes.paned, f, self.theme)
        self.members.on_open = self.open_query
        centre = tk.Frame(self.panes.paned)
        self.panes.place(self.sidebar, centre, self.members)
        self.centre = centre
        top = tk.Frame(centre, padx=16, pady=10)
        top.pack(side="top", fill="x")
        self.topbar = top
        self.buffer_title = tk.Label(top, font=f["title"], anchor="w")
        self.buffer_title.pack(side="left")
        self.theme_button = tk.Label(top, text="◐", font=f["title"], cursor="hand2", padx=6)
        self.theme_button.pack(side="right")
        self.menu_button = tk.Label(top, text="⚙", font=f["title"], cursor="hand2", padx=6)
        self.menu_button.pack(side="right")
        self.menu_button.bind("<Button-1>", self._on_window_menu)
        self.theme_button.bind(
            "<Button-1>", lambda _e: self.set_theme("dark" if self.theme.name == "light" else "light")
        )
        self.topic = tk.Label(top, anchor="w", font=f["small"], padx=14)
        self.topic.pack(side="left", fill="x", expand=True)
        self.topic_rule = tk.Frame(centre, height=1)
        self.topic_rule.pack(side="top", fill="x")
        bottom = tk.Frame(centre, padx=16, pady=12)
        bottom.pack(side="bottom", fill="x")
        self.input_area = bottom
        box = tk.Frame(bottom, highlightthickness=1)
        box.pack(fill="x")
        self.input_box = box
        self.entry = tk.Entry(box, font=f["ui"], relief="flat", borderwidth=0, highlightthickness=0)
        self.entry.pack(fill="x", padx=10, pady=8)
        # "alice is typing…" for the buffer shown (IRCv3 typing notifications).
        self.typing_label = tk.Label(bottom, anchor="w", font=f["small"], padx=2, pady=0)
        self.typing_label.pack(fill="x", pady=(4, 0))
        self._typing_to = None
        self.banner = Banner(centre, f, self.theme)
        self.view = MessageView(centre, f, self.theme)
        self.view.time_format = self.settings.strftime()
        self.view.pack(side="top", fill="both", expand=True)
        self.view.presence_mode = self.settings.join_parts
        self.on_setting("join_parts", self._apply_join_parts)
        self.find = FindBar(centre, self.view.text, f, self.theme)
        self.find.on_close = self.entry.focus_set
        self.find.on_move = self.view.user_scrolled
        self.banner.before = bottom
        self.view.on_top = self.load_older
        self.message_menu = tk.Menu(self.root, tearoff=0)
        self._menu_line: tuple[str, Line] | None = None  # (buffer, line) the menu was opened on
        self.view.text.bind("<Button-3>", self._on_message_menu)
        self._bind_keys()
        self.nav = Navigator(self)
        self.replies = ReplyControl(self)  # Reply and React, the "replying to" strip, jumps
        self.reads = ReadSync(self)  # MARKREAD once a buffer has been read
        for seq in ("<MouseWheel>", "<Button-5>"):
            self.view.text.bind(seq, lambda _e: self.reads.soon(), add=True)
        self._paint_chat()
        chat.pack(fill="both", expand=True)
        self.root.bind("<Configure>", self._on_resize, add=True)
        if self.root.winfo_ismapped():  # a new layout in a window already shown (another server)
            self._fit_panels(self.root.winfo_width())
        self.entry.focus_set()

    def _paint_chat(self) -> None:
        th = self.theme
        assert self.chat is not None
        for w in (self.chat, self.centre, self.topbar, self.input_area):
            w.configure(background=th.bg)
        self.status.configure(background=th.header_bg, foreground=th.muted)
        self.status_bar.configure(background=th.header_bg)
        self.status_dot.configure(background=th.header_bg)
        self.buffer_title.configure(background=th.bg, foreground=th.fg)
        self.topic.configure(background=th.bg, foreground=th.muted)
        self.theme_button.configure(background=th.bg, foreground=th.muted)
        self.menu_button.configure(background=th.bg, foreground=th.muted)
        self.typing_label.configure(background=th.bg, foreground=th.muted)
        self.topic_rule.configure(background=th.border)
        self.input_box.configure(
            background=th.input_bg, highlightbackground=th.border, highlightcolor=th.accent
        )
        self.entry.configure(
            background=th.input_bg,
            foreground=th.input_fg,
            insertbackground=th.input_fg,
            disabledbackground=th.input_bg,
        )
        for part in (self.panes, self.sidebar, self.members, self.view, self.banner, self.find):
            part.apply_theme(th)
        self.nav.paint()
        self.replies.apply_theme()

    def _bind_keys(self) -> None:
        e = self.entry
        e.bind("<Return>", self._on_enter)
        e.bind("<KeyRelease>", self._on_typed, add=True)
        e.bind("<KP_Enter>", self._on_enter)
        e.bind("<Up>", lambda _e: self._recall(-1))
        e.bind("<Down>", lambda _e: self._recall(1))
        e.bind("<Tab>", self._on_tab)
        e.bind("<<Paste>>", self._on_paste)
        # The entry's own PgUp/PgDn would swallow Ctrl+PgUp/PgDn before the window sees them.
        e.bind("<Control-Prior>", lambda _e: self._cycle(-1))
        e.bind("<Control-Next>", lambda _e: self._cycle(1))
        e.bind("<Prior>", lambda _e: self._page(-1))
        e.bind("<Next>", lambda _e: self._page(1))
        # End moves the cursor in the line and also brings the newest messages back in view.
        e.bind("<End>", lambda _e: self.view.scroll_to_bottom(), add=True)
        e.bind("<Control-End>", lambda _e: self.view.scroll_to_bottom(), add=True)
        e.bind("<Control-f>", self._open_find)
        r = self.root
        for n in range(1, 10):
            r.bind(f"<Alt-Key-{n}>", self._switcher(n - 1))
        r.bind("<Control-Prior>", lambda _e: self.switch_relative(-1))
        r.bind("<Control-Next>", lambda _e: self.switch_relative(1))
        r.bind("<Control-equal>", lambda _e: self.set_font_size(self.settings.font_size + 1))
        r.bind("<Control-plus>", lambda _e: self.set_font_size(self.settings.font_size + 1))
        r.bind("<Control-minus>", lambda _e: self.set_font_size(self.settings.font_size - 1))
        r.bind("<Control-f>", self._open_find)
        r.bind("<F3>", lambda _e: self.find.next() if self.find.is_open else None)
        r.bind("<Shift-F3>", lambda _e: self.find.previous() if self.find.is_open else None)

    def _open_find(self, _event: tk.Event) -> str:
        self.find.open(before=self.view)
        return "break"

    def _switcher(self, index: int) -> Callable[[tk.Event], None]:
        return lambda _event: self.switch_index(index)

    def _cycle(self, step: int) -> str:
        self.switch_relative(step)
        return "break"

    def _page(self, step: int) -> str:
        self.view.scroll_pages(step)
        self.reads.soon()
        if step < 0 and self.view.at_top():
            self.load_older()
        return "break"

    # --- the event pump --------------------------------------------------------------------------

    def _new_events(self) -> None:
        """A fresh event queue (and pipe) for the next connection; the old one is closed."""
        old, self.events = self.events, WakeQueue()
        with contextlib.suppress(tk.TclError):
            self.root.deletefilehandler(old.read_fd)
        self.root.createfilehandler(self.events.read_fd, tk.READABLE, self._on_wake)
        self._busy = False
        # `hubbub gui` has signals wake Tk through this pipe: move them to the new one.
        with contextlib.suppress(ValueError):  # not the main thread: signals are not ours
            previous = signal.set_wakeup_fd(-1)
            signal.set_wakeup_fd(
                self.events.write_fd if previous == old.write_fd else previous, warn_on_full_buffer=False
            )
        old.close()

    def _on_wake(self, _fd: int, _mask: int) -> None:
        # The network put events in the queue: take them now, unless a tick is due anyway.
        self.events.drain_wakeups()
        if self._busy or self.state is None:
            return  # a tick is due at once anyway
        if self._tick_id is not None:
            self.root.after_cancel(self._tick_id)  # only the typing check: do it now too
        self._tick()

    def _tick(self) -> None:
        self._tick_id = None
        now = time.monotonic()
        if self._busy:
            # Measured only while events wait: an idle window has no ticks to measure.
            self.max_tick_gap = max(self.max_tick_gap, now - self._last_tick)
        self._last_tick = now
        state = self.state
        if state is None:
            return
        applied = 0
        background: dict[int, Session] = {}
        while applied < BATCH:
            try:
                item = self.events.get_nowait()
            except queue.Empty:
                break
            applied += 1
            if isinstance(item, Tagged):
                session = next((s for s in self.sessions if s.sid == item.sid), None)
                event = item.event
            else:  # put there directly: for the server shown
                session, event = self.session, item
            if session is None:
                continue  # a server closed since: its last events go with it
            if isinstance(event, ev.ConnectFailed):
                if len(self.sessions) == 1:
                    self._back_to_form(event.reason)
                    return
                self._added_server_failed(session, event.reason)
                state = self.state
                assert state is not None
                continue
            if isinstance(event, ev.Registered):
                self._save_form_choice(session)
            try:
                if isinstance(event, ev.SearchResults):
                    self.search.found(event)
                else:
                    session.state.apply(event)
            except Exception:  # a bad event must not take the window down
                log.exception("cannot apply %r", event)
            if session is not self.session:
                background[session.sid] = session
        self.events_applied += applied
        redraw = False
        for session in background.values():
            if session in self.sessions and session is not self.session:
                redraw = self._render_background(session) or redraw
        if redraw:
            state.changes.buffer_list = True  # the tree shows every server: draw it again
        expired = state.expire_typing()
        if applied or expired:
            self._render()
        self._busy = applied == BATCH
        if self._busy:
            # More waiting: come back at once (after Tk handled input).
            self._tick_id = self.root.after(1, self._tick)
        elif state.typing_pending():
            # Someone's "is typing" runs out after a while, with or without news from the network.
            self._tick_id = self.root.after(TYPING_CHECK_MS, self._tick)

    def _render(self) -> None:
        state = self.state
        assert state is not None
        ch = state.take_changes()
        cur = fold(state.current)
        buf = state.buffer(state.current)
        assert buf is not None
        self.view.extras.me = state.nick
        if self.find.is_open and (ch.switched or cur in ch.rebuilt):
            self.find.refresh()  # the text was drawn again: find the matches again
        if ch.switched:
            # A channel the user asked for was joined and is now shown.
            self._completion = None
            self._draw_current()
            self.entry.focus_set()
        elif cur in ch.rebuilt:
            anchor = self._older_anchor.pop(cur, None)
            if anchor is None and not self.view.at_bottom():
                anchor = self.view.line_at("@0,0")  # a reaction or a deletion: keep the reader's place
            self.view.show(buf, anchor=anchor if anchor in buf.lines else None)  # type: ignore[arg-type]
        elif cur in ch.appended:
            self.view.append(ch.appended[cur])
        if ch.buffer_list or (ch.status and len(self.sessions) > 1):
            self._refresh_sidebar()
        if cur in ch.members:
            self._show_members(buf)
        if cur in ch.topic:
            self._show_topic(buf)
        if cur in ch.typing:
            self._show_typing()
        if ch.status:
            self._show_status()
        if ch.mentions:
            self._alert(ch.mentions)
        for problem in ch.problems:
            self._on_problem(problem)
        if ch.channel_list is not None:
            self.nav.channel_list(ch.channel_list)
        if ch.buffer_list and not ch.typing:
            self._show_typing()  # a channel left or joined again changes the hint under the input
        self.search.after_render()
        if ch.switched or cur in ch.appended or cur in ch.rebuilt:
            self.reads.soon()
        self.replies.rendered()

    def _refresh_all(self) -> None:
        assert self.state is not None
        self.state.take_changes()
        self._draw_current()

    def _draw_current(self) -> None:
        state = self.state
        assert state is not None
        buf = state.buffer(state.current)
        assert buf is not None
        self.view.extras.me = state.nick
        self.view.show(buf)
        self.replies.switched()
        self._refresh_sidebar()
        self._show_members(buf)
        self._show_topic(buf)
        self._show_typing()
        self._show_status()

    def _show_typing(self) -> None:
        assert self.state is not None
        # In a channel we left, the line under the input says how to rejoin (nobody types there).
        current = self.state.current
        self.typing_label.configure(text=self.state.typing_text(current) or self.state.parted_hint(current))

    def _on_typed(self, _event: tk.Event) -> None:
        # Typing notifications: "active" while there is text to send (the library sends one per
        # 3 s at most, and none without message-tags), "done" once the line is emptied unsent.
        state, bridge = self.state, self.bridge
        if state is None or bridge is None:
            return
        text = self.entry.get()
        buf = state.buffer(state.current)
        # Not in a channel we left: the server would answer each notification with an error.
        if text and not text.startswith("/") and buf is not None and buf.kind != "server" and not buf.parted:
            if self._typing_to is not None and fold(self._typing_to) != buf.key:
                bridge.submit(ev.SendTyping(self._typing_to, "done"))
            self._typing_to = buf.name
            bridge.submit(ev.SendTyping(buf.name, "active"))
        elif not text and self._typing_to is not None:
            bridge.submit(ev.SendTyping(self._typing_to, "done"))
            self._typing_to = None

    def _on_resize(self, event: tk.Event) -> None:
        if event.widget is self.root and self.chat is not None:
            self._fit_panels(event.width)

    def _fit_panels(self, width: int) -> None:
        # Below a width the side panels fold away (see _panes.py); the member list may come back.
        if self.panes.fit(width) and self.state is not None:
            buf = self.state.buffer(self.state.current)
            if buf is not None:
                self._show_members(buf)

    def _panel_dragged(self) -> None:
        # A side panel was given a new width by its sash: remember it, and fold by the new widths.
        self._save_settings()
        self._fit_panels(self.root.winfo_width())

    def _show_members(self, buf: Buffer) -> None:
        # Only a channel has members, and only a wide window has room for them.
        visible = buf.kind == "channel" and not self.panes.folded[0]
        self.panes.show_members(visible)
        if visible:
            self.members.show(buf.sorted_members())

    def _show_topic(self, buf: Buffer) -> None:
        if buf.kind == "server":
            title = self.state.network if self.state and self.state.network else "server"
            self.buffer_title.configure(text=title)
            self.topic.configure(text=f"{self.options.host}:{self.options.port}" if self.options else "")
        else:
            self.buffer_title.configure(text=buf.name)
            self.topic.configure(text=buf.topic if buf.kind == "channel" else "direct message")

    def _show_status(self) -> None:
        state = self.state
        assert state is not None and self.options is not None
        th = self.theme
        words = {
            "connecting": ("◌", th.muted, "Connecting to {host}…"),
            "connected": ("●", "#2f9e44", "Connected to {host} as {nick}"),
            "disconnected": ("●", th.error, "Disconnected"),
            "reconnecting": ("◌", "#f08c00", "Reconnecting to {host}"),
            "failed": ("●", th.error, "Cannot connect to {host}"),
        }
        mark, colour, text = words[state.connection]
        line = text.format(host=f"{self.options.host}:{self.options.port}", nick=state.nick)
        if state.connection_detail and state.connection not in ("connected", "connecting"):
            line += f" — {state.connection_detail}"
        if state.sending is not None:
            target, sent, total = state.sending
            line += f"   ·   sending {sent} of {total} lines to {target}…"
        if state.away:
            line += "   ·   you are away (/back to return)"
        self.status_dot.configure(text=mark, foreground=colour)
        self.status.configure(text=line)
        self._show_title()

    def _show_title(self) -> None:
        state = self.state
        where = state.current if state and state.current else (state.network if state else "") or "server"
        mark = "(@) " if self._mention_pending else ""
        # On the server buffer of a network called hubbub, "hubbub — hubbub" would say it twice.
        self.root.title(f"{mark}{where} — hubbub" if where != "hubbub" else f"{mark}hubbub")

    # --- focus, buffers --------------------------------------------------------------------------

    def _on_focus_in(self, _event: tk.Event) -> None:
        self._focused = True
        self.notifier.discard()  # the user is here: a summary of what they can see is noise
        if self.chat is not None:
            self.reads.soon()
        if self._mention_pending:
            self._mention_pending = False
            self._show_title()

    def _on_focus_out(self, _event: tk.Event) -> None:
        # FocusOut also fires when focus moves between our own widgets; ask Tk who has it now.
        self.root.after_idle(self._check_focus)

    def _check_focus(self) -> None:
        try:
            self._focused = self.root.focus_displayof() is not None
        except (KeyError, tk.TclError):  # focus on a widget being destroyed
            self._focused = False

    def switch(self, name: str) -> None:
        """Show the buffer ``name`` and give the input line the focus."""
        state = self.state
        assert state is not None
        buf = state.switch(name)
        self._completion = None
        self._refresh_all()
        self.view.show(buf)
        self.reads.soon()
        self.entry.focus_set()

    def switch_index(self, index: int) -> None:
        """Show the buffer at ``index`` in the list (Alt+1 is the first), over every server."""
        assert self.state is not None
        entries = self.listed(visible=True)
        if 0 <= index < len(entries):
            self.show_entry(entries[index])

    def switch_relative(self, by: int) -> None:
        """Show the previous (-1) or next (+1) buffer in the list, wrapping around, over every server."""
        assert self.state is not None
        entries = self.listed(visible=True)
        target = step(entries, position(entries, self.session, self.state.current), by)
        if target is not None:
            self.show_entry(target)

    def jump_unread(self) -> None:
        """Show the next buffer with mentions, else with unread messages, on any server."""
        assert self.state is not None
        entries = self.listed()
        target = next_unread(entries, position(entries, self.session, self.state.current))
        if target is not None:
            self.show_entry(target)

    def _expect_join(self, channels: tuple[str, ...]) -> None:
        """Show the first of ``channels`` once joined; at once when we are already in it."""
        state = self.state
        assert state is not None
        first = state.buffer(channels[0]) if channels else None
        if first is not None and first.joined:
            self.switch(first.name)
        else:
            state.expect_join(channels)

    def open_query(self, nick: str) -> None:
        """Open (or show) the private conversation with ``nick``."""
        self.switch(nick)

    def load_older(self) -> None:
        """Ask for the messages before the oldest one shown (scrolled to the top)."""
        state, bridge = self.state, self.bridge
        if state is None or bridge is None:
            return
        buf = state.buffer(state.current)
        if buf is None or buf.kind == "server" or buf.loading_older or buf.history_exhausted:
            return
        if state.connection != "connected":
            return
        oldest = buf.oldest()
        buf.loading_older = True
        if buf.lines:
            self._older_anchor[buf.key] = buf.lines[0]
        bridge.submit(
            ev.LoadOlder(buf.name, oldest.msgid if oldest else None, oldest.time if oldest else None)
        )

    # --- deleting messages -------------------------------------------------------------------------

    def can_delete(self, line: Line | None) -> bool:
        """Whether to offer deleting ``line`` (REDACT): one's own message, or any as a channel operator.

        The server has the last word (one's own needs an account); its refusal is shown as an error.
        """
        state = self.state
        if state is None or line is None or not line.msgid or line.deleted:
            return False
        if line.kind not in ("message", "action", "notice"):
            return False
        buf = state.buffer(state.current)
        if buf is None or buf.kind == "server":
            return False
        if line.own:
            return True
        me = buf.members.get(fold(state.nick))
        return buf.kind == "channel" and me is not None and any(c in "~&@" for c in me.prefix)

    def _on_message_menu(self, event: tk.Event) -> str:
        line = self.view.line_at(f"@{event.x},{event.y}")
        state = self.state
        buf = state.buffer(state.current) if state is not None else None
        if state is None or line is None or buf is None or buf.kind == "server":
            return "break"
        self._menu_line = (state.current, line)
        self.message_menu.delete(0, "end")
        self.replies.fill_menu(self.message_menu, line)
        if self.can_delete(line):
            self.message_menu.add_command(label="Delete message", command=self._delete_menu_line)
        if self.message_menu.index("end") is not None:
            self.message_menu.tk_popup(event.x_root, event.y_root)
        return "break"

    def _delete_menu_line(self) -> None:
        chosen, self._menu_line = self._menu_line, None
        if self.bridge is None or chosen is None or not chosen[1].msgid:
            return
        self.bridge.submit(ev.DeleteMessage(chosen[0], chosen[1].msgid))

    # --- input -----------------------------------------------------------------------------------

    def _on_enter(self, _event: tk.Event) -> str:
        text = self.entry.get()
        if text.strip():
            self.entry.delete(0, "end")
            self._history = [*self._history[-INPUT_HISTORY:], text]
            self._history_pos = len(self._history)
            self.submit_input(text)
        return "break"

    def submit_input(self, text: str) -> None:
        """Act on one input line as if typed in the current buffer."""
        state, bridge = self.state, self.bridge
        assert state is not None and bridge is not None
        current = state.current
        self._typing_to = None  # a message sent ends the typing for those who see it
        hint = state.parted_hint(current)
        if hint and not text.startswith("/"):
            state.info(hint, kind="error")  # the server would refuse it: say how to get back in
            self._render()
            return
        result = interpret(text, current)
        for request in result.requests:
            if (
                isinstance(request, ev.SendText)
                and not request.action
                and fold(request.target) == fold(current)
            ):
                request = dataclasses.replace(request, reply_to=self.replies.take(current))
            if isinstance(request, ev.JoinChannels):
                self._expect_join(request.channels)
            elif isinstance(request, ev.SearchMessages):
                self.search.sent(request)
            bridge.submit(request)
        if result.open_query:
            self.switch(result.open_query)
        if result.mute is not None:
            self.mute(*result.mute)
        if result.open_settings:
            self.open_settings()
        if result.notice:
            for line in result.notice.splitlines():
                state.info(line, kind="error" if result.error else "info")
            self._render()
        if result.close:
            self.nav.close_current()
        if result.browse is not None:
            self.nav.open_browser(result.browse)
        if result.quit:
            self.root.after(300, self.close)

    def _apply_join_parts(self, mode: object) -> None:
        # The settings screen changed how joins, parts and quits show: draw the buffer again.
        self.view.presence_mode = str(mode)
        if self.state is not None:
            buf = self.state.buffer(self.state.current)
            if buf is not None:
                self.view.show(buf)

    def _recall(self, step: int) -> str:
        if not self._history:
            return "break"
        self._history_pos = max(0, min(len(self._history), self._history_pos + step))
        text = self._history[self._history_pos] if self._history_pos < len(self._history) else ""
        self.entry.delete(0, "end")
        self.entry.insert(0, text)
        return "break"

    def _on_tab(self, _event: tk.Event) -> str:
        state = self.state
        assert state is not None
        text, pos = self.entry.get(), self.entry.index("insert")
        if self._completion and self._completion[0] == text and self._completion[1]:
            _, matches, i, start = self._completion
            i = (i + 1) % len(matches)
        else:
            start = text.rfind(" ", 0, pos) + 1
            prefix = fold(text[start:pos].lstrip("@"))
            buf = state.buffer(state.current)
            names = [m.nick for m in buf.members.values()] if buf else []
            if buf and buf.kind == "query":
                names.append(buf.name)
            matches = sorted(
                {n for n in names if fold(n).startswith(prefix) and fold(n) != fold(state.nick)}, key=fold
            )
            if not prefix or not matches:
                return "break"
            i = 0
        word_end = text.find(" ", start)
        tail = "" if word_end == -1 else text[word_end:].lstrip(" :")
        # At the start of the line a completed nick addresses someone: "alice: ".
        suffix = ": " if start == 0 else " "
        new = text[:start] + matches[i] + suffix + tail
        self.entry.delete(0, "end")
        self.entry.insert(0, new)
        self.entry.icursor(start + len(matches[i]) + len(suffix))
        self._completion = (new, matches, i, start)
        return "break"

    def _on_paste(self, _event: tk.Event) -> str:
        try:
            text = self.root.clipboard_get()
        except tk.TclError:
            return "break"
        lines = [ln for ln in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
        while lines and not lines[-1].strip():
            lines.pop()
        if len(lines) <= 1:
            self.entry.insert("insert", lines[0] if lines else "")
            return "break"
        self.ask_paste(lines)
        return "break"

    def ask_paste(self, lines: list[str]) -> None:
        """Ask before sending a multi-line paste as one message per line."""
        state = self.state
        assert state is not None
        target = state.current
        if not target:
            state.info("Pasting several lines needs a channel or a conversation.", kind="error")
            self._render()
            return
        sendable = [ln for ln in lines if ln.strip()]
        preview = sendable[0][:60] + ("…" if len(sendable[0]) > 60 else "")

        def send() -> None:
            self.banner.hide()
            assert self.bridge is not None
            self.bridge.submit(ev.SendText(target, tuple(sendable)))
            self.entry.focus_set()

        def cancel() -> None:
            self.banner.hide()
            self.entry.focus_set()

        self.banner.ask(
            "paste",
            f"Send {len(sendable)} lines to {target}?  “{preview}”",
            [(f"Send {len(sendable)} lines", send), ("Cancel", cancel)],
        )
        self.banner.answer_by_keys(send, cancel)

    # --- problems --------------------------------------------------------------------------------

    def _on_problem(self, problem: ev.Problem) -> None:
        if problem.kind == "nick_in_use":
            state = self.state
            assert state is not None
            base = state.nick.rstrip("_") or "guest"

            def pick() -> None:
                nick = self.banner.entry.get().strip()
                if nick and self.bridge is not None:
                    self.bridge.submit(ev.ChangeNick(nick))
                self.banner.hide()
                self.entry.focus_set()

            self.banner.ask(
                "nick",
                problem.text,
                [("Use this nick", pick), ("Dismiss", self._dismiss)],
                entry_value=base + "_away" if base == state.nick else base + "2",
            )
        elif problem.kind == "kicked" and problem.target:
            channel = problem.target

            def rejoin() -> None:
                if self.bridge is not None:
                    self._expect_join((channel,))
                    self.bridge.submit(ev.JoinChannels((channel,)))
                self._dismiss()

            self.banner.ask("kicked", problem.text, [("Rejoin", rejoin), ("Dismiss", self._dismiss)])
        elif problem.kind in ("banned", "cannot_join"):
            self.banner.ask(problem.kind, problem.text, [("Dismiss", self._dismiss)])

    def _dismiss(self) -> None:
        self.banner.hide()
        self.entry.focus_set()

    # --- another server --------------------------------------------------------------------------

    def connect_elsewhere(self, error: str = "", typed: tuple[profiles.Profile, bool] | None = None) -> None:
        """Show the connect form over the chat; connecting there adds a server, "Back" returns.

        ``error`` and ``typed``: a server added this way could not be reached; say why, filled as it was.
        """
        if self.form is not None or self.chat is None:
            return
        self.chat.pack_forget()
        form = self.form = ConnectForm(self.root, self.fonts, self.theme, self.settings, self._add_server)
        if typed is not None:
            form.fill(typed[0])
            form.remember.set(typed[1])
        if error:
            form.error.configure(text=error)
        back = tk.Label(
            form,
            text="← Back to the chat",
            cursor="hand2",
            font=self.fonts["small"],
            background=self.theme.sidebar_bg,
            foreground=self.theme.accent,
        )
        back.place(x=16, y=12)
        back.bind("<Button-1>", lambda _e: self.cancel_connect())
        for field in form.entries.values():
            field.bind("<Escape>", lambda _e: self.cancel_connect())
        form.pack(fill="both", expand=True)

    def cancel_connect(self) -> None:
        """Back from the connect form to the chat, still connected."""
        if self.form is not None:
            self.form.destroy()
            self.form = None
        if self.chat is not None:
            self.chat.pack(fill="both", expand=True)
            self.entry.focus_set()

    def _add_server(self, profile: profiles.Profile, remember_password: bool) -> None:
        # Several servers at once: the servers connected stay, the new one gets a node of its own.
        if self.form is not None:
            self.form.destroy()
            self.form = None
            gc.collect()  # free the form's Tk variables now, on this thread
        if self.chat is not None:
            self.chat.pack(fill="both", expand=True)
        self._form_submitted(profile, remember_password)

    def _added_server_failed(self, session: Session, reason: str) -> None:
        """A server added with "Connect to…" could not be reached: its node goes, the form says why."""
        typed = session.form_choice
        self._drop_session(session, "")
        target = f"{session.options.host}:{session.options.port}"
        self.connect_elsewhere(f"Could not connect to {target}: {reason}", typed)

    # --- shutdown --------------------------------------------------------------------------------

    def close(self) -> None:
        """Quit the network (briefly waiting for it) and destroy the window.

        Whoever made the Tk root must drop it and run ``gc.collect()`` on this thread before
        another network thread starts: Tcl aborts when an interpreter is freed on another thread.
        """
        if self._tick_id is not None:
            self.root.after_cancel(self._tick_id)
            self._tick_id = None
        if self.chat is not None:
            self.reads.cancel()
        if self.sessions:
            # The servers open now are connected again at the next start (those from a profile).
            self.settings.reopen = list(dict.fromkeys(s.profile for s in self.sessions if s.profile))
            self._save_settings()
        for session in self.sessions:
            if session.bridge is not None:
                session.bridge.stop("Leaving", timeout=2.0)
                session.bridge = None
        self.bridge = None
        with contextlib.suppress(tk.TclError):
            self.root.deletefilehandler(self.events.read_fd)
        self.events.close()
        with contextlib.suppress(tk.TclError):
            self.root.destroy()


def settings_geometry() -> str:
    """The first window size: roomy, but within a small laptop screen."""
    return "1100x680"


__all__ = ["SERVER", "ChatWindow", "is_channel"]
