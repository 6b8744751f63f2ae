"""Desktop notifications for mentions and direct messages, without ever blocking the window.

A notification is shown by ``notify-send`` when it is on the PATH, else by calling
``org.freedesktop.Notifications.Notify`` on the session bus through ``gdbus``; either runs as a
child process that nobody waits for. Without either, the window's bell and title mark are all there
is. After one notification, the next ones wait out a quiet period and then arrive as a single
summary ("5 new mentions"), so a busy channel cannot bury the desktop in popups.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

log = logging.getLogger(__name__)

APP_NAME = "hubbub"
BODY_LIMIT = 200  # characters of a message shown in a notification
# IRC formatting: colour (with its digits), hex colour, bold, reset, reverse, italic, strike, underline,
# monospace. Dropped; any other control character (a newline, a bell) becomes a space.
_FORMATTING = re.compile(
    r"\x03(\d{1,2}(,\d{1,2})?)?|\x04([0-9a-fA-F]{6}(,[0-9a-fA-F]{6})?)?|[\x02\x0f\x11\x16\x1d\x1e\x1f]"
)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

Schedule = Callable[[float, Callable[[], None]], object]


@dataclass(frozen=True, slots=True)
class Alert:
    """One thing worth a notification: a mention in a channel, or a direct message."""

    where: str  # the buffer: a channel or the other person's nick
    nick: str
    text: str
    direct: bool  # a private message, not a mention in a channel


def plain(text: str, limit: int = BODY_LIMIT) -> str:
    """``text`` without IRC formatting or control characters, cut to ``limit`` characters."""
    text = " ".join(_CONTROL.sub(" ", _FORMATTING.sub("", text)).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def escape_markup(text: str) -> str:
    """Escape what a notification server would read as markup in a body (the spec's HTML subset)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def describe(alerts: list[Alert]) -> tuple[str, str]:
    """The summary and body of one notification for ``alerts`` (one of them, or several at once)."""
    if len(alerts) == 1:
        a = alerts[0]
        summary = f"{a.nick} (direct message)" if a.direct else f"{a.nick} in {a.where}"
        return plain(summary, 80), escape_markup(plain(a.text))
    mentions = sum(not a.direct for a in alerts)
    directs = len(alerts) - mentions
    parts = []
    if mentions:
        parts.append(f"{mentions} new mention{'s' if mentions > 1 else ''}")
    if directs:
        parts.append(f"{directs} new direct message{'s' if directs > 1 else ''}")
    counts: dict[str, int] = {}
    for a in alerts:
        counts[a.where] = counts.get(a.where, 0) + 1
    body = ", ".join(f"{where} ({n})" for where, n in counts.items())
    return " and ".join(parts), escape_markup(plain(body))


def _gvariant_string(text: str) -> str:
    """``text`` as a GVariant text-format string literal (what ``gdbus call`` parses)."""
    escaped = text.replace("\\", "\\\\").replace("'", "\\'")
    return f"'{escaped}'"


def command(summary: str, body: str, env: Mapping[str, str] | None = None) -> list[str] | None:
    """The argv that shows a notification here, or None when neither notify-send nor gdbus is found."""
    path = (os.environ if env is None else env).get("PATH")
    notify_send = shutil.which("notify-send", path=path)
    if notify_send:
        # "--" so that a message starting with "-" is never read as an option.
        return [notify_send, f"--app-name={APP_NAME}", "--", summary, body]
    gdbus = shutil.which("gdbus", path=path)
    if gdbus:
        return [
            gdbus,
            "call",
            "--session",
            "--dest",
            "org.freedesktop.Notifications",
            "--object-path",
            "/org/freedesktop/Notifications",
            "--method",
            "org.freedesktop.Notifications.Notify",
            _gvariant_string(APP_NAME),
            "0",
            "''",
            _gvariant_string(summary),
            _gvariant_string(body),
            "[]",
            "{}",
            "-1",
        ]
    return None


class Notifier:
    """Shows alerts as desktop notifications, one at once and the rest summarised after a pause.

    ``schedule(delay, callback)`` runs ``callback`` later on the caller's thread (the window passes
    Tk's ``after``); the clock is injectable so that tests need not wait.
    """

    def __init__(
        self,
        schedule: Schedule,
        quiet_seconds: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.schedule = schedule
        self.quiet_seconds = quiet_seconds
        self.clock = clock
        self.sent = 0  # notifications handed to the desktop (tests and the status read it)
        self._pending: list[Alert] = []
        self._quiet_until = 0.0
        self._flush_scheduled = False

    def available(self) -> bool:
        """Whether a desktop notification can be shown (else the bell is all there is)."""
        return command("", "") is not None

    def alert(self, alert: Alert) -> None:
        """Show ``alert`` now, or keep it for the summary when a notification was shown just before."""
        self._pending.append(alert)
        now = self.clock()
        if now >= self._quiet_until:
            self.flush()
        elif not self._flush_scheduled:
            self._flush_scheduled = True
            self.schedule(self._quiet_until - now, self._scheduled_flush)

    def discard(self) -> None:
        """Forget what is pending (the user is looking at the window now)."""
        self._pending.clear()

    def _scheduled_flush(self) -> None:
        self._flush_scheduled = False
        self.flush()

    def flush(self) -> None:
        """Show what is pending as one notification and start a quiet period."""
        alerts, self._pending = self._pending, []
        if not alerts:
            return
        self._quiet_until = self.clock() + self.quiet_seconds
        summary, body = describe(alerts)
        self._show(summary, body)

    def _show(self, summary: str, body: str) -> None:
        argv = command(summary, body)
        if argv is None:
            return
        try:
            child = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        except OSError as exc:
            log.warning("cannot show a notification with %s: %s", argv[0], exc)
            return
        # Someone must wait for the child, or it lingers as a zombie; never the window's thread.
        threading.Thread(target=child.wait, name="notification", daemon=True).start()
        self.sent += 1
