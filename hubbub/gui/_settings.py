"""The settings screen (Ctrl+,): nickname, theme, text size, notifications, joins and parts, timestamps.

Every change applies at once through ``change(name, value)`` (the window's
:meth:`~hubbub.gui.app.ChatWindow.change_setting`), which also saves it; there is no OK button.
"""

from __future__ import annotations

import re
import tkinter as tk
from collections.abc import Callable
from tkinter import font as tkfont
from tkinter import ttk

from .profiles import Settings
from .theme import Theme

# RFC 2812 2.3.1: a letter or special first, then letters, digits, specials and "-".
NICK = re.compile(r"[A-Za-z\[\]\\`_^{|}][A-Za-z0-9\[\]\\`_^{|}-]*")
NICK_LIMIT = 30

THEME_CHOICES = (("light", "Light"), ("dark", "Dark"), ("system", "Follow the system"))
JOIN_PART_CHOICES = (("show", "Show all"), ("collapse", "Collapse"), ("hide", "Hide"))
TIME_CHOICES = (("24h", "14:05"), ("24h-seconds", "14:05:09"), ("12h", "2:05 PM"))


def nick_problem(nick: str) -> str:
    """Why ``nick`` cannot be a nickname, or "" when it can (empty means the login name)."""
    if not nick:
        return ""
    if len(nick) > NICK_LIMIT:
        return f"A nickname has at most {NICK_LIMIT} characters."
    if not NICK.fullmatch(nick):
        return "A nickname starts with a letter and has no spaces or punctuation other than _-[]\\`^{|}."
    return ""


class SettingsScreen(tk.Toplevel):
    """A small window over the chat with one control per setting, applied as it changes."""

    def __init__(
        self,
        master: tk.Misc,
        fonts: dict[str, tkfont.Font],
        theme: Theme,
        settings: Settings,
        change: Callable[[str, object], None],
    ) -> None:
        # A border of its own: without a window manager's frame it would melt into the chat.
        super().__init__(master, padx=24, pady=18, highlightthickness=1)
        self.title("Settings — hubbub")
        self.transient(master.winfo_toplevel())
        self.resizable(False, False)
        self.settings = settings
        self.change = change
        self.fonts = fonts
        # Text kept as text (the font size too, so that a half-typed size is not an error).
        self.vars: dict[str, tk.StringVar] = {
            key: tk.StringVar(self) for key in ("nick", "theme", "font_size", "join_parts", "time_format")
        }
        self.notifications = tk.BooleanVar(self)
        self.widgets: dict[str, tk.Misc] = {}
        ttk.Label(self, text="Settings", font=fonts["title"]).grid(row=0, column=0, columnspan=2, sticky="w")
        row = 1

        def label(text: str) -> None:
            ttk.Label(self, text=text, font=fonts["small_bold"]).grid(
                row=row, column=0, sticky="nw", padx=(0, 18), pady=(12, 0)
            )

        label("Nickname")
        nick_box = ttk.Frame(self)
        nick_box.grid(row=row, column=1, sticky="w", pady=(12, 0))
        nick = ttk.Entry(nick_box, textvariable=self.vars["nick"], width=24, font=fonts["ui"])
        nick.pack(anchor="w")
        nick.bind("<Return>", lambda _e: self._apply_nick())
        nick.bind("<FocusOut>", lambda _e: self._apply_nick())
        self.widgets["nick"] = nick
        self.nick_note = ttk.Label(
            nick_box,
            text="For new connections (empty: your login name). /nick changes it now.",
            font=fonts["small"],
            wraplength=360,
        )
        self.nick_note.pack(anchor="w")
        row += 1

        for key, title, choices in (
            ("theme", "Theme", THEME_CHOICES),
            ("join_parts", "Joins, parts, quits", JOIN_PART_CHOICES),
            ("time_format", "Timestamps", TIME_CHOICES),
        ):
            label(title)
            box = ttk.Frame(self)
            box.grid(row=row, column=1, sticky="w", pady=(12, 0))
            for value, text in choices:
                button = ttk.Radiobutton(
                    box,
                    text=text,
                    value=value,
                    variable=self.vars[key],
                    command=self._chooser(key),
                )
                button.pack(side="left", padx=(0, 14))
                self.widgets[f"{key}:{value}"] = button
            row += 1

        label("Text size")
        size = ttk.Spinbox(
            self,
            from_=7,
            to=32,
            width=5,
            textvariable=self.vars["font_size"],
            command=self._apply_font_size,
            font=fonts["ui"],
        )
        size.grid(row=row, column=1, sticky="w", pady=(12, 0))
        size.bind("<Return>", lambda _e: self._apply_font_size())
        size.bind("<FocusOut>", lambda _e: self._apply_font_size())
        self.widgets["font_size"] = size
        row += 1

        label("Notifications")
        notify = ttk.Checkbutton(
            self,
            text="Desktop notifications for mentions and direct messages",
            variable=self.notifications,
            command=lambda: self.change("notifications", bool(self.notifications.get())),
        )
        notify.grid(row=row, column=1, sticky="w", pady=(12, 0))
        self.widgets["notifications"] = notify
        row += 1

        close = ttk.Button(self, text="Close", command=self.destroy, style="Accent.TButton")
        close.grid(row=row, column=1, sticky="e", pady=(18, 0))
        self.bind("<Escape>", lambda _e: self.destroy())
        self.refresh()
        self.apply_theme(theme)
        nick.focus_set()

    def _chooser(self, key: str) -> Callable[[], None]:
        return lambda: self.change(key, self.vars[key].get())

    def _apply_nick(self) -> None:
        nick = self.vars["nick"].get().strip()
        problem = nick_problem(nick)
        if problem:
            self.nick_note.configure(text=problem, foreground=self.theme.error)
            return
        self.nick_note.configure(
            text="For new connections (empty: your login name). /nick changes it now.",
            foreground=self.theme.muted,
        )
        if nick != self.settings.default_nick:
            self.change("default_nick", nick)

    def _apply_font_size(self) -> None:
        try:
            size = int(self.vars["font_size"].get().strip())
        except ValueError:
            size = self.settings.font_size  # not a number: show the size in force again
        size = max(7, min(size, 32))
        self.vars["font_size"].set(str(size))
        if size != self.settings.font_size:
            self.change("font_size", size)

    def refresh(self) -> None:
        """Show the values in force (another way of changing them, e.g. Ctrl+=, may have been used)."""
        s = self.settings
        for key in ("theme", "font_size", "join_parts", "time_format"):
            if self.vars[key].get() != str(getattr(s, key)):
                self.vars[key].set(str(getattr(s, key)))
        if self.notifications.get() != s.notifications:
            self.notifications.set(s.notifications)
        if self.focus_get() is not self.widgets["nick"]:
            self.vars["nick"].set(s.default_nick)

    def apply_theme(self, theme: Theme) -> None:
        """Recolour for ``theme`` (the ttk widgets follow the window's style by themselves)."""
        self.theme = theme
        self.configure(background=theme.bg, highlightbackground=theme.border, highlightcolor=theme.border)
        self.nick_note.configure(foreground=theme.muted)
