"""Reactions and reply quotes: who reacted with what, and how both look in the message view.

The model (``Buffer.react``, ``Buffer.reaction_counts``) is in :mod:`.buffers`, without Tk.
:class:`MessageExtras` draws, for the message view, the quoted line above a reply ("↪ alice: first
words…", clicked to jump to the original) and the counts under a message with reactions
("👍 3  🎉 1", clicked to add or take back one's own).
"""

from __future__ import annotations

import tkinter as tk
from collections.abc import Callable
from tkinter import font as tkfont
from typing import Protocol

from .buffers import MAX_REACTIONS, Buffer, Line
from .theme import Theme

QUICK_REACTIONS = ("👍", "❤️", "😂", "🎉", "👀", "🙏")
"""The reactions offered in a message's menu; "Other…" takes any text."""
MAX_PER_MESSAGE = MAX_REACTIONS
SHOWN_CHARS = 24  # a free-text reaction longer than this is shortened in its count
QUOTE_WORDS = 8  # how much of the original a quote or the "replying to" strip shows
FLASH_MS = 1500
_CHAT_KINDS = ("message", "action", "notice")


def preview(text: str, words: int = QUOTE_WORDS) -> str:
    """The first ``words`` words of ``text`` on one line, with "…" when there is more."""
    parts = text.split()
    short = " ".join(parts[:words])
    return short + ("…" if len(parts) > words else "")


def shown(reaction: str) -> str:
    """``reaction`` as a count shows it: one line, control characters as spaces, not too long."""
    flat = " ".join("".join(c if c.isprintable() else " " for c in reaction).split())
    return flat if len(flat) <= SHOWN_CHARS else flat[: SHOWN_CHARS - 1] + "…"


def counts(buf: Buffer, msgid: str | None, me: str) -> list[tuple[str, int, bool]]:
    """``(reaction, how many, whether one of them is mine)`` for message ``msgid``, first come first."""
    return buf.reaction_counts(msgid, me)


def find(buf: Buffer, msgid: str | None) -> Line | None:
    """The chat line of ``buf`` with ``msgid``, if loaded."""
    return buf.find(msgid)


class ViewLike(Protocol):
    """What :class:`MessageExtras` uses of the message view (``_view.MessageView``)."""

    text: tk.Text
    rows: dict[int, Line]

    def line_at(self, index: str) -> Line | None:
        """The buffer line drawn at ``index``."""

    def _insert_safe(self, text: str, tags: tuple[str, ...]) -> None:
        """Insert ``text`` at the end, emoji-safe."""

    def user_scrolled(self) -> None:
        """The text was moved for the reader: follow new lines only if at the bottom."""


class MessageExtras:
    """The reply quote and reaction counts of a :class:`MessageView`, and their clicks.

    ``on_jump(msgid)`` is called when a quote is clicked, ``on_react(msgid, reaction)`` when a
    count is; ``me`` is our nick (to mark our own reactions).
    """

    def __init__(self, view: ViewLike) -> None:
        self.view = view
        self.on_jump: Callable[[str], None] = lambda _msgid: None
        self.on_react: Callable[[str, str], None] = lambda _msgid, _reaction: None
        self.me = ""
        self.chips: dict[str, tuple[str, str]] = {}  # text tag -> (msgid, reaction)
        # msgid -> line of the buffer drawn: a full redraw with many replies looks each up once
        self._index: dict[str, Line] = {}
        self._index_of: Buffer | None = None
        self._flash_id: str | None = None
        t = view.text
        t.tag_bind("quote", "<Button-1>", self._quote_clicked)
        t.tag_bind("chip", "<Button-1>", self._chip_clicked)
        for tag in ("quote", "chip"):
            t.tag_bind(tag, "<Enter>", lambda _e: t.configure(cursor="hand2"))
            t.tag_bind(tag, "<Leave>", lambda _e: t.configure(cursor="arrow"))

    def configure(self, theme: Theme, fonts: dict[str, tkfont.Font]) -> None:
        """Colour the quote, counts and flash for ``theme``."""
        t = self.view.text
        indent = fonts["small"].measure("00:00") + 12
        t.tag_configure(
            "quote", foreground=theme.muted, font=fonts["small"], lmargin1=indent, lmargin2=indent
        )
        t.tag_configure(
            "chips", lmargin1=indent, lmargin2=indent, spacing1=1, spacing3=4, font=fonts["small"]
        )
        t.tag_configure("chip", background=theme.sidebar_sel_bg, foreground=theme.fg)
        t.tag_configure("chip_own", foreground=theme.accent, font=fonts["small_bold"])
        t.tag_configure("flash", background=theme.mention_bg)
        t.tag_raise("chip_own")
        t.tag_raise("flash")

    def clear(self) -> None:
        """Forget the drawn counts (the view is drawn afresh)."""
        self.chips.clear()
        self._index_of = None

    # --- drawing (called by the view while it draws a line) ----------------------------------------

    def quote(self, buf: Buffer, line: Line) -> None:
        """Above a reply: "↪ alice: first words…" (or that the original is not loaded)."""
        if not line.reply_to:
            return
        original = self._original(buf, line.reply_to)
        if original is None:
            text = "↪ a message not loaded here (click to find it)"
        elif original.deleted:
            text = f"↪ {original.nick}: (message deleted)"
        else:
            text = f"↪ {original.nick}: {preview(original.text)}"
        self.view._insert_safe(text, ("line", "quote"))
        self.view.text.insert("end", "\n", ("line", "quote"))

    def _original(self, buf: Buffer, msgid: str) -> Line | None:
        if self._index_of is not buf:
            self._index = {ln.msgid: ln for ln in buf.lines if ln.msgid and ln.kind in _CHAT_KINDS}
            self._index_of = buf
        original = self._index.get(msgid)
        if original is None:
            original = find(buf, msgid)  # appended since the index was made
            if original is not None:
                self._index[msgid] = original
        return original

    def reactions(self, buf: Buffer, line: Line) -> None:
        """Under a message: "👍 3  🎉 1", one's own in the accent colour."""
        drawn = counts(buf, line.msgid, self.me)
        if not drawn or not line.msgid:
            return
        t = self.view.text
        # A plain first character: Tk paints the left margin with the first character's background.
        t.insert("end", "\u2009", ("chips",))
        for i, (reaction, count, mine) in enumerate(drawn):
            tag = f"rx{len(self.chips)}"
            self.chips[tag] = (line.msgid, reaction)
            if i:
                t.insert("end", "  ", ("chips",))
            tags = ("chips", "chip", tag, *(("chip_own",) if mine else ()))
            self.view._insert_safe(f" {shown(reaction)} {count} ", tags)
        t.insert("end", "\n", ("chips",))

    # --- clicks and jumps ----------------------------------------------------------------------------

    def _quote_clicked(self, event: tk.Event) -> str:
        line = self.view.line_at(f"@{event.x},{event.y}")
        if line is not None and line.reply_to:
            self.on_jump(line.reply_to)
        return "break"

    def _chip_clicked(self, event: tk.Event) -> str:
        t = self.view.text
        for tag in t.tag_names(f"@{event.x},{event.y}"):
            chip = self.chips.get(str(tag))
            if chip is not None:
                self.on_react(*chip)
                break
        return "break"

    def chip_index(self, msgid: str, reaction: str) -> str | None:
        """The text index of the count shown for ``reaction`` on ``msgid`` (tests click it)."""
        for tag, chip in self.chips.items():
            if chip == (msgid, reaction):
                found = self.view.text.tag_ranges(tag)
                return str(found[0]) if found else None
        return None

    def jump(self, line: Line) -> bool:
        """Scroll ``line`` into view and flash it; false when it is not drawn."""
        rows = [row for row, ln in self.view.rows.items() if ln is line]
        if not rows:
            return False
        t = self.view.text
        t.tag_remove("flash", "1.0", "end")
        t.tag_add("flash", f"{min(rows)}.0", f"{max(rows) + 1}.0")
        t.see(f"{max(rows)}.0")
        t.see(f"{min(rows)}.0")
        # Moved for the reader: the view no longer follows new lines (unless this is the bottom).
        self.view.user_scrolled()
        if self._flash_id is not None:
            t.after_cancel(self._flash_id)
        self._flash_id = t.after(FLASH_MS, self._unflash)
        return True

    def flashing(self) -> bool:
        """Whether a line is flashing now (tests check the jump with it)."""
        return bool(self.view.text.tag_ranges("flash"))

    def _unflash(self) -> None:
        self._flash_id = None
        self.view.text.tag_remove("flash", "1.0", "end")
