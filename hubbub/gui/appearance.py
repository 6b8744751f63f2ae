"""Whether the desktop prefers a dark theme: what the "system" theme setting follows.

Asked in this order, the first clear answer wins:

1. the freedesktop appearance portal (``org.freedesktop.appearance`` ``color-scheme``, read over
   D-Bus with ``gdbus`` when it is installed and a session bus is reachable): 1 is dark, 2 is light,
   0 (no preference) asks the next source;
2. the ``GTK_THEME`` environment variable: a name ending in ``:dark`` is dark;
3. ``gtk-application-prefer-dark-theme`` in ``$XDG_CONFIG_HOME/gtk-4.0/settings.ini`` or
   ``gtk-3.0/settings.ini`` (``1`` or ``true`` is dark);
4. otherwise light.
"""

from __future__ import annotations

import configparser
import logging
import os
import re
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

log = logging.getLogger(__name__)

PORTAL_TIMEOUT = 1.0  # seconds: a hung portal must not hold the window for long

_PORTAL_CALL = (
    "call",
    "--session",
    "--timeout",
    "1",
    "--dest",
    "org.freedesktop.portal.Desktop",
    "--object-path",
    "/org/freedesktop/portal/desktop",
    "--method",
)

_COLOR_SCHEME = ("org.freedesktop.appearance", "color-scheme")


def _bus_reachable(env: Mapping[str, str]) -> bool:
    if env.get("DBUS_SESSION_BUS_ADDRESS"):
        return True
    runtime = env.get("XDG_RUNTIME_DIR", "")
    return bool(runtime) and Path(runtime, "bus").exists()


def portal_color_scheme(env: Mapping[str, str] | None = None) -> int | None:
    """The portal's ``color-scheme`` (0 none, 1 dark, 2 light), or None when it cannot be asked."""
    env = os.environ if env is None else env
    gdbus = shutil.which("gdbus", path=env.get("PATH"))
    if gdbus is None or not _bus_reachable(env):
        return None
    # ReadOne is the current method; portals older than version 2 only have Read (a nested variant).
    for method in ("ReadOne", "Read"):
        try:
            done = subprocess.run(
                [gdbus, *_PORTAL_CALL, f"org.freedesktop.portal.Settings.{method}", *_COLOR_SCHEME],
                capture_output=True,
                text=True,
                timeout=PORTAL_TIMEOUT,
                env=dict(env),
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            log.debug("appearance portal not answering: %s", exc)
            return None
        if done.returncode == 0:
            # "(<uint32 1>,)" from ReadOne, "(<<uint32 1>>,)" from Read.
            found = re.search(r"uint32\s+(\d+)", done.stdout)
            if found:
                return int(found.group(1))
    return None


def gtk_prefers_dark(env: Mapping[str, str] | None = None) -> bool | None:
    """What GTK's own settings say (``GTK_THEME``, then settings.ini), or None when they say nothing."""
    env = os.environ if env is None else env
    gtk_theme = env.get("GTK_THEME", "")
    if gtk_theme:
        return gtk_theme.lower().endswith(":dark")
    home = env.get("HOME") or str(Path.home())
    base = Path(env.get("XDG_CONFIG_HOME") or Path(home, ".config"))
    for version in ("gtk-4.0", "gtk-3.0"):
        ini = configparser.ConfigParser(interpolation=None)
        try:
            ini.read(base / version / "settings.ini", encoding="utf-8")
        except (OSError, configparser.Error, UnicodeDecodeError):
            continue
        value = ini.get("Settings", "gtk-application-prefer-dark-theme", fallback=None)
        if value is not None:
            return value.strip().lower() in ("1", "true", "yes")
    return None


def system_theme(env: Mapping[str, str] | None = None) -> str:
    """``"dark"`` or ``"light"``: what the desktop prefers, by the sources in this module's docstring."""
    scheme = portal_color_scheme(env)
    if scheme in (1, 2):
        return "dark" if scheme == 1 else "light"
    return "dark" if gtk_prefers_dark(env) else "light"


def resolve_theme(name: str) -> str:
    """The colour theme for the setting ``name``: itself, or for ``system`` what the desktop prefers."""
    if name == "system":
        return system_theme()
    return name if name in ("light", "dark") else "light"
