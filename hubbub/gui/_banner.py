"""A strip above the input that asks for something: another nick, confirming a paste, rejoining."""

from __future__ import annotations

import tkinter as tk
from collections.abc import Callable
from tkinter import font as tkfont

from .theme import Theme


class Banner(tk.Frame):
    """One question at a time with up to two buttons and an optional entry; hidden when idle."""

    def __init__(self, master: tk.Misc, fonts: dict[str, tkfont.Font], theme: Theme) -> None:
        super().__init__(master, padx=12, pady=8)
        self.fonts = fonts
        self.kind = ""
        # The entry and buttons are packed first, on the right, so they always get their room;
        # the question takes what is left and wraps to it (a long server message must not push
        # the buttons out of a narrow window).
        self.controls = tk.Frame(self)
        self.controls.pack(side="right")
        self.label = tk.Label(self, anchor="w", justify="left", font=fonts["ui"])
        self.label.pack(side="left", fill="x", expand=True)
        self.label.bind("<Configure>", self._wrap, add=True)
        self._wrap_width = 0
        self.entry = tk.Entry(self.controls, width=14, font=fonts["ui"], relief="flat", highlightthickness=1)
        self.buttons: list[tk.Button] = []
        # The widget the banner is packed before, so it takes its space from the message view.
        self.before: tk.Misc | None = None
        self.apply_theme(theme)

    def apply_theme(self, theme: Theme) -> None:
        """Recolour for ``theme``."""
        self.theme = theme
        self.configure(background=theme.mention_bg)
        self.controls.configure(background=theme.mention_bg)
        self.label.configure(background=theme.mention_bg, foreground=theme.fg)
        self.entry.configure(
            background=theme.input_bg,
            foreground=theme.input_fg,
            insertbackground=theme.input_fg,
            highlightbackground=theme.border,
            highlightcolor=theme.accent,
        )

    def ask(
        self,
        kind: str,
        text: str,
        actions: list[tuple[str, Callable[[], None]]],
        entry_value: str | None = None,
    ) -> None:
        """Show ``text`` with a button per action; with ``entry_value``, an entry prefilled with it."""
        self.kind = kind
        self.label.configure(text=text)
        for button in self.buttons:
            button.destroy()
        self.buttons = []
        self.entry.pack_forget()
        if entry_value is not None:
            self.entry.delete(0, "end")
            self.entry.insert(0, entry_value)
            self.entry.pack(side="left", padx=(8, 0))
            self.entry.bind("<Return>", lambda _e: actions[0][1]())
            self.entry.bind("<Escape>", lambda _e: self.hide())
        for i, (title, action) in enumerate(actions):
            primary = i == 0
            button = tk.Button(
                self.controls,
                text=title,
                command=action,
                relief="flat",
                padx=12,
                pady=2,
                font=self.fonts["small_bold"] if primary else self.fonts["small"],
                background=self.theme.accent if primary else self.theme.sidebar_sel_bg,
                foreground="#ffffff" if primary else self.theme.fg,
                activebackground=self.theme.accent if primary else self.theme.border,
                activeforeground="#ffffff" if primary else self.theme.fg,
                borderwidth=0,
                highlightthickness=0,
                cursor="hand2",
            )
            button.pack(side="left", padx=(8, 0))
            self.buttons.append(button)
        if self.before is not None:
            self.pack(side="bottom", fill="x", before=self.before)
        else:
            self.pack(side="bottom", fill="x")
        if entry_value is not None:
            self.entry.focus_set()
            self.entry.select_range(0, "end")

    def _wrap(self, event: tk.Event) -> None:
        width = max(80, event.width - 4)
        if width != self._wrap_width:  # configuring the same width again would only loop
            self._wrap_width = width
            self.label.configure(wraplength=width)

    def answer_by_keys(self, confirm: Callable[[], None], cancel: Callable[[], None]) -> None:
        """Take the keyboard focus: Enter answers with ``confirm``, Escape with ``cancel``.

        For a question the user's own action raised (a paste), so it is answered where the
        hands are; questions that come from the network leave the focus in the input line.
        """
        if not self.buttons:
            return
        for button in self.buttons:
            for key in ("<Return>", "<KP_Enter>"):
                button.bind(key, lambda _e: confirm())
            button.bind("<Escape>", lambda _e: cancel())
        self.buttons[0].focus_set()

    def hide(self) -> None:
        """Put the banner away."""
        self.kind = ""
        self.pack_forget()
