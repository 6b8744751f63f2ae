"""Connection profiles remembered between runs, as JSON in the user's config directory."""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

log = logging.getLogger(__name__)

FILE_NAME = "gui.json"

# The choices of the settings screen; a saved value outside them falls back to the default.
THEMES = ("light", "dark", "system")
JOIN_PARTS = ("show", "collapse", "hide")  # how the message view shows joins, parts and quits
TIME_FORMATS = {"24h": "%H:%M", "24h-seconds": "%H:%M:%S", "12h": "%I:%M %p"}
# The side panels' widths in pixels (dragged by their sashes): the smallest and the largest kept.
# Narrower, a channel name or a nick no longer fits; wider, the messages lose their room.
PANEL_WIDTHS = {"buffer_list_width": (140, 480), "member_list_width": (120, 400)}


@dataclass(slots=True)
class Profile:
    """Where and as whom to connect. The password is kept only when the user asks to."""

    name: str = "default"
    host: str = "127.0.0.1"
    port: int = 1100
    tls: bool = False
    nick: str = ""
    password: str = ""
    channels: list[str] = field(default_factory=list)

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> Profile:
        """Build from saved JSON, ignoring unknown keys and values of the wrong type."""
        known = {f.name: f for f in fields(cls)}
        kwargs: dict[str, object] = {}
        default = cls()
        for key, value in data.items():
            if key in known and isinstance(value, type(getattr(default, key))):
                kwargs[key] = value
        return cls(**kwargs)  # type: ignore[arg-type]


def config_dir(override: str | None = None) -> Path:
    """Where settings live: ``override``, else ``$XDG_CONFIG_HOME/hubbub``, else ``~/.config/hubbub``."""
    if override:
        return Path(override)
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "hubbub"


@dataclass(slots=True)
class Settings:
    """Everything the GUI remembers: profiles, the last one used, appearance, notifications and sending.

    ``send_burst`` messages go at once, then ``send_rate`` a second (the server's flood control;
    hubbub's defaults); ``multiline`` sends a paste as one draft/multiline message where the
    server offers it; ``connect_timeout`` bounds connecting and registering, in seconds.
    """

    profiles: list[Profile] = field(default_factory=list)
    last_profile: str = ""
    theme: str = "light"  # one of THEMES; "system" follows the desktop (see appearance.py)
    font_size: int = 11
    max_lines: int = 2000
    send_burst: int = 5
    send_rate: float = 2.0
    multiline: bool = True
    connect_timeout: float = 10.0
    default_nick: str = ""  # the nickname new connections start with ("" = the user's login name)
    notifications: bool = True  # desktop notifications for mentions and direct messages
    join_parts: str = "collapse"  # one of JOIN_PARTS
    time_format: str = "24h"  # a key of TIME_FORMATS
    muted: list[str] = field(default_factory=list)  # buffers (casefolded) that never notify
    notify_quiet_seconds: int = 10  # after a notification, later ones wait and arrive as one summary
    reopen: list[str] = field(
        default_factory=list
    )  # profiles of the servers open at exit: connected at start
    buffer_list_width: int = 210  # the side panels' widths (see PANEL_WIDTHS), set by dragging a sash
    member_list_width: int = 190

    def strftime(self) -> str:
        """The ``strftime`` pattern of the chosen timestamp format."""
        return TIME_FORMATS.get(self.time_format, TIME_FORMATS["24h"])

    def profile(self, name: str) -> Profile | None:
        """The profile called ``name``, if any."""
        return next((p for p in self.profiles if p.name == name), None)

    def remember(self, profile: Profile) -> None:
        """Add or replace ``profile`` and make it the last used."""
        self.profiles = [p for p in self.profiles if p.name != profile.name] + [profile]
        self.last_profile = profile.name


def panel_width(key: str, width: int) -> int:
    """``width`` brought within the limits :data:`PANEL_WIDTHS` gives the panel ``key``."""
    low, high = PANEL_WIDTHS[key]
    return max(low, min(high, width))


def load(directory: Path) -> Settings:
    """Read the settings file; a missing or damaged file gives the defaults (and a log line)."""
    path = directory / FILE_NAME
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return Settings()
    except (OSError, ValueError) as exc:
        log.warning("ignoring unreadable settings file %s: %s", path, exc)
        return Settings()
    if not isinstance(data, dict):
        return Settings()
    settings = Settings()
    raw_profiles = data.get("profiles", [])
    if isinstance(raw_profiles, list):
        settings.profiles = [Profile.from_dict(p) for p in raw_profiles if isinstance(p, dict)]
    for key in ("last_profile", "default_nick"):
        if isinstance(data.get(key), str):
            setattr(settings, key, data[key])
    for key, allowed in (("theme", THEMES), ("join_parts", JOIN_PARTS), ("time_format", TIME_FORMATS)):
        if data.get(key) in allowed:
            setattr(settings, key, data[key])
    for key in ("font_size", "max_lines", "send_burst", "notify_quiet_seconds"):
        # bool is an int subclass: "true" is not a size.
        if isinstance(data.get(key), int) and not isinstance(data[key], bool) and data[key] > 0:
            setattr(settings, key, data[key])
    for key in ("send_rate", "connect_timeout"):
        value = data.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
            setattr(settings, key, float(value))
    for key in ("multiline", "notifications"):
        if isinstance(data.get(key), bool):
            setattr(settings, key, data[key])
    for key in PANEL_WIDTHS:
        value = data.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            setattr(settings, key, panel_width(key, value))
    muted = data.get("muted")
    if isinstance(muted, list):
        settings.muted = [m for m in muted if isinstance(m, str) and m]
    reopen = data.get("reopen")
    if isinstance(reopen, list):
        settings.reopen = [r for r in reopen if isinstance(r, str) and r]
    return settings


def save(directory: Path, settings: Settings) -> None:
    """Write the settings atomically (write a temporary file, then rename), readable by the user only."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / FILE_NAME
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(settings), indent=2), encoding="utf-8")
    # Profiles may hold an account password.
    os.chmod(tmp, 0o600)
    tmp.replace(path)
