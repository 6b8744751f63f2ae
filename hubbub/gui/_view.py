"""The message view: a read-only Text widget showing one buffer's lines."""

from __future__ import annotations

import re
import tkinter as tk
import webbrowser
from collections.abc import Callable, Iterable
from datetime import date, datetime, timedelta
from tkinter import font as tkfont
from tkinter import ttk

from .buffers import Buffer, Line
from .reactions import MessageExtras
from .theme import NICK_PALETTES, Theme, nick_index

LINK_RE = re.compile(r"\b(?:https?://|www\.)[^\s<>\"']+[^\s<>\"'.,;:!?)\]}]", re.IGNORECASE)
_ASTRAL_RE = re.compile("[\U00010000-\U0010ffff]")
SCROLLBAR = "Slim.Vertical.TScrollbar"
IDLE_SCROLLBAR = "Idle.Slim.Vertical.TScrollbar"  # everything fits: no thumb to show
DELETED = "(message deleted)"
_EVENT_MARKS = {"joined": "→", "left": "←", "quit": "←", "kicked": "✕"}
# Consecutive messages of one person within this time show the nick once.
GROUP_WINDOW = timedelta(minutes=5)
PILL_TEXT = "New messages below ↓"
RUN_MARK = "presence_run"  # where the summary of the current run of joins and parts starts


def presence(line: Line) -> str:
    """``"joined"`` or ``"left"`` for someone else's join, part or quit line, else ``""``."""
    if line.kind != "event" or not line.nick:
        return ""
    text, nick = line.text, line.nick
    if text.startswith(f"{nick} joined "):
        return "joined"
    if text.startswith((f"{nick} left ", f"{nick} quit")):
        return "left"
    return ""


def presence_summary(run: list[Line]) -> str:
    """``"3 joined, 1 left"`` for a run of join, part and quit lines (each nick counted once)."""
    joined = {line.nick.lower() for line in run if presence(line) == "joined"}
    left = {line.nick.lower() for line in run if presence(line) == "left"}
    parts = [f"{len(joined)} joined"] if joined else []
    if left:
        parts.append(f"{len(left)} left")
    return ", ".join(parts)


def presence_names(run: list[Line]) -> str:
    """Who came and went in ``run``, for the summary's tooltip."""
    out: list[str] = []
    for word in ("joined", "left"):
        names = list(dict.fromkeys(line.nick for line in run if presence(line) == word))
        if names:
            out.append(f"{word.capitalize()}: {', '.join(names)}")
    return "\n".join(out)


def _event_mark(text: str) -> str:
    for word, mark in _EVENT_MARKS.items():
        if f" {word}" in text or text.startswith(f"You {word}"):
            return mark
    return "•"


class MessageView(tk.Frame):
    """Lines of one buffer with timestamps, nick colours, day separators and a "new messages" line.

    Scrolling to the top calls ``on_top`` (to load older history). The view sticks to the bottom
    unless the user scrolled up: a resize, a font change, a strip opening above the input or a
    burst of lines keeps the newest line in view. Scrolled up, new lines show a "new messages
    below" pill instead of moving the text; clicking it (or :meth:`scroll_to_bottom`) goes down.
    Consecutive messages of one person show the nick once, and a run of joins, parts and quits
    is one summary line ("3 joined, 1 left", names on hover) when ``presence_mode`` is ``collapse``
    (``show``: every one on its own line; ``hide``: none).
    """

    def __init__(self, master: tk.Misc, fonts: dict[str, tkfont.Font], theme: Theme) -> None:
        super().__init__(master, borderwidth=0, highlightthickness=0)
        self.fonts = fonts
        self.on_top: Callable[[], None] = lambda: None
        self.presence_mode = "collapse"  # joins, parts and quits: show, collapse or hide
        self.time_format = "%H:%M"  # strftime pattern of the timestamps (a setting; redraw after changing)
        self.text = tk.Text(
            self,
            wrap="word",
            borderwidth=0,
            highlightthickness=0,
            padx=16,
            pady=10,
            font=fonts["ui"],
            cursor="arrow",
            takefocus=0,
            undo=False,
        )
        self.scrollbar = ttk.Scrollbar(self, orient="vertical", command=self._scroll_command, style=SCROLLBAR)
        self.text.configure(yscrollcommand=self._on_yview)
        self.scrollbar.pack(side="right", fill="y")
        self.text.pack(side="left", fill="both", expand=True)
        self.text.configure(state="disabled")
        self.pill = tk.Label(self, text=PILL_TEXT, cursor="hand2", padx=12, pady=3, font=fonts["small_bold"])
        self.pill.bind("<Button-1>", lambda _e: self.scroll_to_bottom())
        self.tooltip = tk.Label(self, justify="left", padx=8, pady=4, font=fonts["small"], borderwidth=1)
        self.buffer: Buffer | None = None
        self.rendered = 0  # lines drawn since the last full render
        self.rows: dict[int, Line] = {}  # text line number -> the buffer line drawn there
        self.runs: dict[int, list[Line]] = {}  # text line number -> the joins and parts summarised there
        self.stuck = True  # follow new lines; False once the user scrolled up
        self._stick_pending = False
        self._last_day: date | None = None
        self._last_author: tuple[str, datetime] | None = None  # for grouping: folded nick, time
        self._run: list[Line] = []  # the joins and parts summarised on the last row drawn
        self._astral_ok = True
        for seq in ("<MouseWheel>", "<Button-4>", "<Button-5>"):
            self.text.bind(seq, self._on_wheel, add=True)
        self.text.bind("<Motion>", self._on_motion, add=True)
        self.text.bind("<Leave>", lambda _e: self.tooltip.place_forget(), add=True)
        self.text.tag_bind("link", "<Button-1>", self._open_link)
        self.text.tag_bind("link", "<Enter>", lambda _e: self.text.configure(cursor="hand2"))
        self.text.tag_bind("link", "<Leave>", lambda _e: self.text.configure(cursor="arrow"))
        self.extras = MessageExtras(self)  # reply quotes and reaction counts
        self.apply_theme(theme)

    # --- look ------------------------------------------------------------------------------------

    def apply_theme(self, theme: Theme) -> None:
        """Colour every tag for ``theme`` (and the font sizes in ``self.fonts``)."""
        self.theme = theme
        t, f = self.text, self.fonts
        self.configure(background=theme.bg)
        t.configure(
            background=theme.bg,
            foreground=theme.fg,
            selectbackground=theme.sidebar_sel_bg,
            selectforeground=theme.fg,
            inactiveselectbackground=theme.sidebar_sel_bg,
        )
        self.pill.configure(background=theme.accent, foreground="#ffffff", activebackground=theme.accent)
        self.tooltip.configure(
            background=theme.header_bg, foreground=theme.fg, relief="solid", highlightbackground=theme.border
        )
        style = ttk.Style(self)
        # A thin thumb without arrows, like current desktop toolkits.
        thumb = ("Vertical.Scrollbar.thumb", {"expand": "1", "sticky": "nswe"})
        trough = ("Vertical.Scrollbar.trough", {"sticky": "ns", "children": [thumb]})
        for name, thumb_colour in ((SCROLLBAR, theme.border), (IDLE_SCROLLBAR, theme.bg)):
            style.layout(name, [trough])  # type: ignore[list-item]
            style.configure(
                name,
                troughcolor=theme.bg,
                background=thumb_colour,
                bordercolor=theme.bg,
                lightcolor=thumb_colour,
                darkcolor=thumb_colour,
                gripcount=0,
                arrowsize=8,
                width=8,
            )
        style.map(SCROLLBAR, background=[("active", theme.muted)])
        style.map(IDLE_SCROLLBAR, background=[("active", theme.bg)])
        indent = f["small"].measure(datetime(2000, 1, 1, 12, 59, 59).strftime(self.time_format)) + 12
        t.configure(spacing1=3, spacing3=3)
        # The tab stop puts a grouped message's text where the nick starts (and wrapped rows go).
        t.tag_configure("line", lmargin1=0, lmargin2=indent, tabs=(indent,))
        t.tag_configure("time", foreground=theme.muted, font=f["small"])
        t.tag_configure("nick", font=f["bold"])
        t.tag_configure("own", font=f["bold"], foreground=theme.fg)
        t.tag_configure("action", font=f["italic"])
        t.tag_configure("notice", foreground=theme.muted)
        t.tag_configure("event", foreground=theme.muted, font=f["small"])
        t.tag_configure("info", foreground=theme.muted)
        t.tag_configure("error", foreground=theme.error)
        t.tag_configure("mention", background=theme.mention_bg)
        t.tag_configure("deleted", foreground=theme.muted, font=f["italic"])
        t.tag_configure("link", foreground=theme.accent, underline=True)
        t.tag_configure(
            "day", foreground=theme.separator, font=f["small_bold"], justify="center", spacing1=12, spacing3=6
        )
        t.tag_configure(
            "newline",
            foreground=theme.new_line,
            font=f["small_bold"],
            justify="center",
            spacing1=6,
            spacing3=6,
        )
        for i, colour in enumerate(NICK_PALETTES.get(theme.name, NICK_PALETTES["light"])):
            t.tag_configure(f"n{i}", foreground=colour)
        t.tag_raise("own")
        self.extras.configure(theme, f)
        t.tag_raise("link")
        t.tag_raise("sel")

    # --- drawing ---------------------------------------------------------------------------------

    def show(self, buffer: Buffer, anchor: Line | None = None) -> None:
        """Draw ``buffer`` from scratch; keep ``anchor`` in view (after older lines were added)."""
        self.buffer = buffer
        t = self.text
        t.configure(state="normal")
        t.delete("1.0", "end")
        self._last_day = None
        self._last_author = None
        self._run = []
        self.rendered = 0
        self.rows.clear()
        self.extras.clear()
        self.runs.clear()
        anchor_index = ""
        marker_drawn = buffer.read_marker is None or not _news_after(buffer, buffer.read_marker)
        for line in buffer.lines:
            if line is anchor:
                anchor_index = t.index("end-1c")
            self._draw(line)
            if not marker_drawn and line is buffer.read_marker:
                marker_drawn = True
                self._last_author = None
                self._run = []
                t.insert("end", "─────  new messages  ─────\n", ("newline",))
        t.configure(state="disabled")
        if anchor_index:
            self._set_stuck(False)
            t.yview(anchor_index)
        else:
            self.scroll_to_bottom()

    def append(self, lines: Iterable[Line]) -> None:
        """Add ``lines`` at the end, following them only if the view is stuck to the bottom."""
        t = self.text
        follow = self.stuck
        news = False
        t.configure(state="normal")
        for line in lines:
            self._draw(line)
            news = news or line.kind in ("message", "action", "notice")
        t.configure(state="disabled")
        if self.buffer is not None and self.rendered > self.buffer.max_lines + self.buffer.max_lines // 4:
            # The model dropped its oldest lines; redraw from it so the widget stays bounded too,
            # keeping the line at the top in view for a reader scrolled up (or, if that line was
            # dropped, the oldest one left: a reader is never thrown to the bottom).
            anchor = None
            if not follow:
                top, kept = self.line_at("@0,0"), self.buffer.lines
                anchor = top if any(line is top for line in kept) else (kept[0] if kept else None)
            self.show(self.buffer, anchor=anchor)
            if not follow and news:
                self._show_pill()
            return
        if follow:
            t.see("end")
        elif news:
            self._show_pill()

    def _draw(self, line: Line) -> None:
        t = self.text
        if self.presence_mode == "hide" and presence(line):
            return
        local = line.time.astimezone()
        day = local.date()
        if day != self._last_day:
            if self._last_day is not None or self.rendered == 0:
                t.insert("end", f"{_day_label(local)}\n", ("day",))
                self._last_author = None
                self._run = []
            self._last_day = day
        self.rendered += 1
        if self.presence_mode == "collapse" and presence(line):
            self._draw_presence(line, local)
            return
        self._run = []
        first_row = int(t.index("end-1c").split(".")[0])
        base: tuple[str, ...] = ("line", "mention") if line.mention else ("line",)
        author = (line.nick.lower(), line.time)
        last, self._last_author = self._last_author, (author if line.kind == "message" else None)
        # A reply is never grouped: its quote line stands between it and the message before.
        grouped = (
            line.kind == "message"
            and not line.reply_to
            and last is not None
            and last[0] == author[0]
            and timedelta(0) <= line.time - last[1] <= GROUP_WINDOW
        )
        if self.buffer is not None and line.reply_to:
            self.extras.quote(self.buffer, line)
        # A grouped message leaves the nick out; the tab puts its text where the nick would start.
        t.insert("end", local.strftime(self.time_format) + ("\t" if grouped else "  "), (*base, "time"))
        if grouped:
            self._insert_body(line, base)
        elif line.kind == "message":
            t.insert("end", line.nick, (*base, *self._nick_tags(line)))
            t.insert("end", "  ", base)
            self._insert_body(line, base)
        elif line.kind == "action":
            t.insert("end", "* ", (*base, "action"))
            t.insert("end", line.nick, (*base, "action", *self._nick_tags(line)))
            t.insert("end", " ", base)
            self._insert_body(line, (*base, "action"))
        elif line.kind == "notice":
            t.insert("end", f"-{line.nick}- " if line.nick else "", (*base, "notice", "nick"))
            self._insert_body(line, (*base, "notice"))
        elif line.kind == "event":
            t.insert("end", _event_mark(line.text) + " " + line.text, (*base, "event"))
        else:
            self._insert_text(line.text, (*base, line.kind))
        t.insert("end", "\n", base)
        if self.buffer is not None and line.msgid:
            self.extras.reactions(self.buffer, line)
        for row in range(first_row, int(t.index("end-1c").split(".")[0])):
            self.rows[row] = line  # every row of it: a multiline message spans several

    @staticmethod
    def _nick_tags(line: Line) -> tuple[str, ...]:
        # One's own nick has one colour everywhere (messages and actions alike).
        return ("own",) if line.own else ("nick", f"n{nick_index(line.nick)}")

    def _draw_presence(self, line: Line, local: datetime) -> None:
        """Fold a join, part or quit into the summary row of the run it continues."""
        t = self.text
        self._last_author = None
        if self._run:
            # Nothing was drawn since the run's row: replace that row with the longer summary.
            row = int(t.index(RUN_MARK).split(".")[0])
            t.delete(RUN_MARK, "end-1c")
            self.rows.pop(row, None)
            self.runs.pop(row, None)
        else:
            t.mark_set(RUN_MARK, "end-1c")
            t.mark_gravity(RUN_MARK, "left")
        self._run.append(line)
        row = int(t.index("end-1c").split(".")[0])
        t.insert("end", local.strftime("%H:%M") + "  ", ("line", "time"))
        if len(self._run) == 1:
            t.insert("end", _event_mark(line.text) + " " + line.text, ("line", "event"))
        else:
            t.insert("end", "⇄ " + presence_summary(self._run), ("line", "event", "presence"))
        t.insert("end", "\n", ("line",))
        self.rows[row] = line
        self.runs[row] = self._run

    def _insert_body(self, line: Line, tags: tuple[str, ...]) -> None:
        if line.deleted:
            self.text.insert("end", DELETED, (*tags, "deleted"))
        else:
            self._insert_text(line.text, tags)

    def line_at(self, index: str) -> Line | None:
        """The buffer line drawn at text ``index`` (``"@x,y"`` for a pointer position), if any."""
        return self.rows.get(int(self.text.index(index).split(".")[0]))

    def _insert_text(self, text: str, tags: tuple[str, ...]) -> None:
        pos = 0
        for match in LINK_RE.finditer(text):
            if match.start() > pos:
                self._insert_safe(text[pos : match.start()], tags)
            self._insert_safe(match.group(), (*tags, "link"))
            pos = match.end()
        if pos < len(text):
            self._insert_safe(text[pos:], tags)

    def _insert_safe(self, text: str, tags: tuple[str, ...]) -> None:
        # Some Tk 8.6 builds reject characters outside the Basic Multilingual Plane (emoji);
        # show a replacement mark instead of failing, and stop trying once one was refused.
        if not self._astral_ok:
            text = _ASTRAL_RE.sub("\ufffd", text)
        try:
            self.text.insert("end", text, tags)
        except tk.TclError:
            self._astral_ok = False
            self.text.insert("end", _ASTRAL_RE.sub("\ufffd", text), tags)

    # --- hover -----------------------------------------------------------------------------------

    def hover_text(self, index: str) -> str:
        """What the tooltip says at text ``index``: the full date of a time, the names of a summary."""
        t = self.text
        tags = t.tag_names(index)
        row = int(t.index(index).split(".")[0])
        if "presence" in tags and row in self.runs:
            return presence_names(self.runs[row])
        line = self.rows.get(row)
        if "time" in tags and line is not None:
            return line.time.astimezone().strftime("%A %d %B %Y, %H:%M:%S")
        return ""

    def _on_motion(self, event: tk.Event) -> None:
        text = self.hover_text(f"@{event.x},{event.y}")
        if not text:
            if self.tooltip.winfo_manager():
                self.tooltip.place_forget()
            return
        self.tooltip.configure(text=text)
        # Below and right of the pointer, kept inside the view.
        x = min(event.x + 12, max(0, self.winfo_width() - self.tooltip.winfo_reqwidth() - 4))
        y = event.y + 18
        if y + self.tooltip.winfo_reqheight() > self.winfo_height():
            y = max(0, event.y - self.tooltip.winfo_reqheight() - 6)
        self.tooltip.place(x=x, y=y)
        self.tooltip.lift()

    # --- scrolling and links ---------------------------------------------------------------------

    def _on_yview(self, first: float | str, last: float | str) -> None:
        self.scrollbar.set(first, last)
        # A thumb filling the whole trough only looks like a grey bar: hide it until there is scrolling.
        idle = float(first) <= 0.0 and float(last) >= 1.0
        style = IDLE_SCROLLBAR if idle else SCROLLBAR
        if str(self.scrollbar.cget("style")) != style:
            self.scrollbar.configure(style=style)
        # Whatever moved the text (a resize, a font change, a strip opening, lines measured late),
        # a view that sticks to the bottom goes back there once Tk is idle.
        if self.stuck and float(last) < 0.999 and not self._stick_pending:
            self._stick_pending = True
            self.after_idle(self._stick)

    def _stick(self) -> None:
        self._stick_pending = False
        if self.stuck:
            self.text.yview_moveto(1.0)

    def _set_stuck(self, stuck: bool) -> None:
        self.stuck = stuck
        if stuck and self.pill.winfo_manager():
            self.pill.place_forget()

    def _show_pill(self) -> None:
        self.pill.place(relx=0.5, rely=1.0, anchor="s", y=-12)
        self.pill.lift()

    def scroll_to_bottom(self) -> None:
        """Go to the newest line and follow new lines again."""
        self._set_stuck(True)
        self.text.see("end")
        self.text.yview_moveto(1.0)

    def user_scrolled(self) -> None:
        """The text was moved on the user's behalf (find): follow new lines only if at the bottom."""
        self._set_stuck(self.at_bottom())

    def scroll_pages(self, step: int) -> None:
        """Scroll ``step`` pages (PgUp is -1); sticking to the bottom again when reaching it."""
        self.text.yview_scroll(step, "pages")
        self._set_stuck(self.at_bottom())

    def at_bottom(self) -> bool:
        """Whether the last line is in view."""
        return self.text.yview()[1] >= 0.999

    def at_top(self) -> bool:
        """Whether the first line is in view."""
        return self.text.yview()[0] <= 0.0

    def _scroll_command(self, *args: str) -> None:
        self.text.yview(*args)
        self._set_stuck(self.at_bottom())
        if self.at_top():
            self.on_top()

    def _on_wheel(self, event: tk.Event) -> None:
        up = getattr(event, "num", 0) == 4 or getattr(event, "delta", 0) > 0
        if up:
            # Unstick before Tk scrolls, so the move is not undone; then, is the top in view?
            self._set_stuck(False)
            self.after_idle(self._check_top)
        else:
            self.after_idle(self._check_bottom)

    def _check_bottom(self) -> None:
        if self.at_bottom():
            self._set_stuck(True)

    def _check_top(self) -> None:
        if self.at_bottom():  # everything fits: there was nothing to scroll
            self._set_stuck(True)
        if self.at_top():
            self.on_top()

    def _open_link(self, event: tk.Event) -> None:
        index = self.text.index(f"@{event.x},{event.y}")
        found = self.text.tag_prevrange("link", index + "+1c")
        if found:
            url = self.text.get(*found)
            webbrowser.open(url if "://" in url else "https://" + url)


def _news_after(buffer: Buffer, marker: Line) -> bool:
    """Whether someone else wrote in ``buffer`` after ``marker`` (joins and quits are no news)."""
    seen = False
    for line in buffer.lines:
        if seen and line.kind in ("message", "action", "notice") and not line.own:
            return True
        seen = seen or line is marker
    return False


def _day_label(moment: datetime) -> str:
    today = datetime.now().astimezone().date()
    day = moment.date()
    if day == today:
        return "Today"
    if (today - day).days == 1:
        return "Yesterday"
    return moment.strftime("%A, %d %B %Y")
