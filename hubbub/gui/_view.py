"""The message view: a read-only Text widget showing one buffer's lines."""

from __future__ import annotations

import re
import tkinter as tk
import webbrowser
from collections.abc import Callable, Iterable
from datetime import date, datetime
from tkinter import font as tkfont
from tkinter import ttk

from .buffers import Buffer, Line
from .reactions import MessageExtras
from .theme import NICK_PALETTE, Theme, nick_colour

LINK_RE = re.compile(r"\b(?:https?://|www\.)[^\s<>\"']+[^\s<>\"'.,;:!?)\]}]", re.IGNORECASE)
_ASTRAL_RE = re.compile("[\U00010000-\U0010ffff]")
SCROLLBAR = "Slim.Vertical.TScrollbar"
IDLE_SCROLLBAR = "Idle.Slim.Vertical.TScrollbar"  # everything fits: no thumb to show
DELETED = "(message deleted)"
_EVENT_MARKS = {"joined": "→", "left": "←", "quit": "←", "kicked": "✕"}


def _event_mark(text: str) -> str:
    for word, mark in _EVENT_MARKS.items():
        if f" {word}" in text or text.startswith(f"You {word}"):
            return mark
    return "•"


class MessageView(tk.Frame):
    """Lines of one buffer with timestamps, nick colours, day separators and a "new messages" line.

    Scrolling to the top calls ``on_top`` (to load older history). The view follows new lines
    only while it is scrolled to the bottom, so reading back is never interrupted.
    """

    def __init__(self, master: tk.Misc, fonts: dict[str, tkfont.Font], theme: Theme) -> None:
        super().__init__(master, borderwidth=0, highlightthickness=0)
        self.fonts = fonts
        self.on_top: Callable[[], None] = lambda: None
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
        self.buffer: Buffer | None = None
        self.rendered = 0  # lines drawn since the last full render
        self.rows: dict[int, Line] = {}  # text line number -> the buffer line drawn there
        self._last_day: date | None = None
        self._astral_ok = True
        for seq in ("<MouseWheel>", "<Button-4>", "<Button-5>"):
            self.text.bind(seq, self._on_wheel, add=True)
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
        t.tag_configure("line", lmargin1=0, lmargin2=indent)
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
        for colour in NICK_PALETTE:
            t.tag_configure("c" + colour, foreground=colour)
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
        self.rendered = 0
        self.rows.clear()
        self.extras.clear()
        anchor_index = ""
        marker_drawn = buffer.read_marker is None or not _news_after(buffer, buffer.read_marker)
        for line in buffer.lines:
            if line is anchor:
                anchor_index = t.index("end-1c")
            self._draw(line)
            if not marker_drawn and line is buffer.read_marker:
                marker_drawn = True
                t.insert("end", "─────  new messages  ─────\n", ("newline",))
        t.configure(state="disabled")
        if anchor_index:
            t.yview(anchor_index)
        else:
            t.see("end")

    def append(self, lines: Iterable[Line]) -> None:
        """Add ``lines`` at the end, following them only if the view was at the bottom."""
        t = self.text
        follow = self.at_bottom()
        t.configure(state="normal")
        for line in lines:
            self._draw(line)
        t.configure(state="disabled")
        if self.buffer is not None and self.rendered > self.buffer.max_lines + self.buffer.max_lines // 4:
            # The model dropped its oldest lines; redraw from it so the widget stays bounded too.
            self.show(self.buffer)
            return
        if follow:
            t.see("end")

    def _draw(self, line: Line) -> None:
        t = self.text
        local = line.time.astimezone()
        day = local.date()
        if day != self._last_day:
            if self._last_day is not None or self.rendered == 0:
                t.insert("end", f"{_day_label(local)}\n", ("day",))
            self._last_day = day
        self.rendered += 1
        first_row = int(t.index("end-1c").split(".")[0])
        base: tuple[str, ...] = ("line", "mention") if line.mention else ("line",)
        if self.buffer is not None and line.reply_to:
            self.extras.quote(self.buffer, line)
        t.insert("end", local.strftime(self.time_format) + "  ", (*base, "time"))
        if line.kind == "message":
            nick_tags = ("own",) if line.own else ("nick", "c" + nick_colour(line.nick))
            t.insert("end", line.nick, (*base, *nick_tags))
            t.insert("end", "  ", base)
            self._insert_body(line, base)
        elif line.kind == "action":
            t.insert("end", "* ", (*base, "action"))
            t.insert("end", line.nick, (*base, "action", "nick", "c" + nick_colour(line.nick)))
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

    # --- scrolling and links ---------------------------------------------------------------------

    def _on_yview(self, first: float | str, last: float | str) -> None:
        self.scrollbar.set(first, last)
        # A thumb filling the whole trough only looks like a grey bar: hide it until there is scrolling.
        idle = float(first) <= 0.0 and float(last) >= 1.0
        style = IDLE_SCROLLBAR if idle else SCROLLBAR
        if str(self.scrollbar.cget("style")) != style:
            self.scrollbar.configure(style=style)

    def at_bottom(self) -> bool:
        """Whether the last line is in view."""
        return self.text.yview()[1] >= 0.999

    def at_top(self) -> bool:
        """Whether the first line is in view."""
        return self.text.yview()[0] <= 0.0

    def _scroll_command(self, *args: str) -> None:
        self.text.yview(*args)
        if self.at_top():
            self.on_top()

    def _on_wheel(self, event: tk.Event) -> None:
        up = getattr(event, "num", 0) == 4 or getattr(event, "delta", 0) > 0
        if up:
            # After Tk has scrolled: is the top now in view?
            self.after_idle(self._check_top)

    def _check_top(self) -> None:
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
