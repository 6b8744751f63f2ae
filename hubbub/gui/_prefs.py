"""The window's settings and notifications: the settings screen, change hooks, mutes, alerts.

:class:`Preferences` is a part of :class:`~hubbub.gui.app.ChatWindow` kept in its own module.
"""

from __future__ import annotations

import logging
import tkinter as tk
from collections.abc import Callable
from tkinter import font as tkfont
from typing import TYPE_CHECKING

from . import profiles
from ._settings import SettingsScreen
from .buffers import ChatState, Line, fold
from .notify import Alert, Notifier
from .servers import Session
from .theme import Theme

if TYPE_CHECKING:
    from ._view import MessageView

log = logging.getLogger(__name__)


class Preferences:
    """Settings applied as they change, listeners told, buffers muted, mentions turned into alerts."""

    # Provided by the window.
    root: tk.Tk
    fonts: dict[str, tkfont.Font]
    theme: Theme
    settings: profiles.Settings
    state: ChatState | None
    sessions: list[Session]
    chat: tk.Frame | None
    view: MessageView
    bells: int
    _focused: bool
    _mention_pending: bool

    def set_theme(self, name: str) -> None:
        raise NotImplementedError

    def set_font_size(self, size: int) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def _save_settings(self) -> None:
        raise NotImplementedError

    def _show_title(self) -> None:
        raise NotImplementedError

    def _render(self) -> None:
        raise NotImplementedError

    def _init_preferences(self) -> None:
        self.settings_screen: SettingsScreen | None = None
        self._setting_listeners: dict[str, list[Callable[[object], None]]] = {}
        root = self.root
        self.notifier = Notifier(
            lambda delay, callback: root.after(max(1, int(delay * 1000)), callback),
            self.settings.notify_quiet_seconds,
        )
        self.window_menu = tk.Menu(root, tearoff=0)
        root.bind("<Control-comma>", lambda _e: self.open_settings())

    def open_settings(self) -> None:
        """Show the settings screen (raise it when it is open already)."""
        screen = self.settings_screen
        if screen is not None and screen.winfo_exists():
            screen.deiconify()
            screen.lift()
            screen.focus_set()
            return
        screen = SettingsScreen(self.root, self.fonts, self.theme, self.settings, self.change_setting)
        self.settings_screen = screen

        def gone(event: tk.Event) -> None:
            if event.widget is screen and self.settings_screen is screen:
                self.settings_screen = None

        screen.bind("<Destroy>", gone, add=True)

    def change_setting(self, name: str, value: object) -> None:
        """Set the setting ``name`` to ``value``, apply it at once, save it and tell the listeners."""
        if name == "theme" and isinstance(value, str) and value in profiles.THEMES:
            self.set_theme(value)
            return
        if name == "font_size" and isinstance(value, int):
            self.set_font_size(value)
            return
        valid = {
            "default_nick": isinstance(value, str),
            "notifications": isinstance(value, bool),
            "join_parts": value in profiles.JOIN_PARTS,
            "time_format": value in profiles.TIME_FORMATS,
        }
        if not valid.get(name, False):
            raise ValueError(f"no such setting, or not a value it takes: {name}={value!r}")
        setattr(self.settings, name, value)
        if name == "time_format" and self.chat is not None:
            self.view.time_format = self.settings.strftime()
            self.view.apply_theme(self.theme)  # the indent follows the width of a timestamp
            if self.state is not None:
                buf = self.state.buffer(self.state.current)
                if buf is not None:
                    self.view.show(buf)
        if name == "notifications" and not value:
            self.notifier.discard()
        self._save_settings()
        self._changed(name)

    def on_setting(self, name: str, callback: Callable[[object], None]) -> None:
        """Call ``callback(new value)`` whenever the setting ``name`` changes (e.g. ``join_parts``)."""
        self._setting_listeners.setdefault(name, []).append(callback)

    def _changed(self, name: str) -> None:
        value = getattr(self.settings, name)
        for callback in list(self._setting_listeners.get(name, ())):
            try:
                callback(value)
            except Exception:  # one listener's bug must not stop the others, nor the change
                log.exception("setting listener for %s failed", name)
        if self.settings_screen is not None:
            self.settings_screen.refresh()

    def is_muted(self, buffer: str) -> bool:
        """Whether ``buffer`` (a channel or a nick) is muted: it never notifies, rings or marks the
        title, and counts no unread lines (its mentions still count)."""
        return fold(buffer) in self.settings.muted

    def mute(self, buffer: str, muted: bool = True) -> None:
        """Mute (or with ``muted=False`` unmute) ``buffer``, and remember it (/mute, the sidebar menu)."""
        key = fold(buffer)
        if not key:
            return
        others = [m for m in self.settings.muted if m != key]
        self.settings.muted = [*others, key] if muted else others
        self._save_settings()
        self._changed("muted")
        for session in self.sessions:  # a mute goes by name: the buffer of that name on every server
            if session.state is not self.state:
                session.state.set_muted(buffer, muted)
        if self.state is not None:
            self.state.set_muted(buffer, muted)
            if muted:
                self.state.info(f"{buffer} is muted: no notifications from it (/unmute {buffer} to undo)")
            else:
                self.state.info(f"{buffer} is no longer muted")
            self._render()

    def unmute(self, buffer: str) -> None:
        """Let ``buffer`` notify again."""
        self.mute(buffer, muted=False)

    def _alert(self, mentions: list[tuple[str, Line]], state: ChatState | None = None) -> None:
        """Mentions and direct messages while the window is unfocused: bell, title mark, notification.

        ``state``: the server they came from (another than the one shown), else the one shown.
        """
        state = state or self.state
        if self._focused or state is None:
            return
        loud = [(where, line) for where, line in mentions if not self.is_muted(where)]
        if not loud:
            return
        self.root.bell()
        self.bells += 1
        self._mention_pending = True
        self._show_title()
        if not self.settings.notifications:
            return
        for where, line in loud:
            buf = state.buffer(where)
            direct = buf is not None and buf.kind == "query"
            self.notifier.alert(Alert(where, line.nick, line.text, direct))

    def _on_window_menu(self, event: tk.Event) -> str:
        menu = self.window_menu
        menu.delete(0, "end")
        menu.add_command(label="Settings…", accelerator="Ctrl+,", command=self.open_settings)
        state = self.state
        here = state.buffer(state.current) if state is not None else None
        if here is not None and here.kind != "server":
            if self.is_muted(here.name):
                menu.add_command(label=f"Unmute {here.name}", command=lambda: self.unmute(here.name))
            else:
                menu.add_command(label=f"Mute {here.name}", command=lambda: self.mute(here.name))
        menu.add_separator()
        menu.add_command(label="Quit", command=self.close)
        menu.tk_popup(event.x_root, event.y_root)
        return "break"
