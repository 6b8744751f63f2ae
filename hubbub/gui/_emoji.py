"""Colour emoji in every widget: ask fontconfig to try the colour emoji font right after ours.

Tk (8.6, Xft) draws a character its font lacks with the first font fontconfig sorts for that
font's pattern which has the character. For "Noto Sans" that is DejaVu Sans for 😀 and ☀, whose
glyphs are black outlines, while 🎉 comes in colour from Noto Color Emoji: a message looked
half coloured. Appending "Noto Color Emoji" to our families' pattern puts it before DejaVu, so
every emoji is in colour, in the messages, the topic, the member and buffer lists alike. Only
characters our font lacks are affected: letters and digits still come from the UI font.

It must run before the first Tk window of the process: fontconfig reads its configuration once.
Tk does not shape text, so a sequence (a flag, a family joined with ZWJ, a skin tone) shows as
its parts.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from xml.sax.saxutils import escape

from .theme import UI_FAMILIES

log = logging.getLogger(__name__)

EMOJI_FAMILY = "Noto Color Emoji"
SYSTEM_CONFIG = "/etc/fonts/fonts.conf"


def fontconfig_text(base: str, families: tuple[str, ...] = UI_FAMILIES) -> str:
    """A fontconfig file that includes ``base`` and puts the emoji font after each of ``families``."""
    rules = "".join(
        f"""  <match target="pattern">
    <test name="family" qual="any"><string>{escape(family)}</string></test>
    <edit name="family" mode="append" binding="strong"><string>{EMOJI_FAMILY}</string></edit>
  </match>
"""
        for family in families
    )
    return f"""<?xml version="1.0"?>
<!DOCTYPE fontconfig SYSTEM "fonts.dtd">
<!-- Written by hubbub gui: colour emoji before monochrome fallbacks. -->
<fontconfig>
  <include ignore_missing="yes">{escape(base)}</include>
{rules}</fontconfig>
"""


def prefer_colour_emoji(cache_dir: Path | None = None) -> Path | None:
    """Write the configuration (under ``cache_dir``) and point ``FONTCONFIG_FILE`` at it.

    Returns the file, or ``None`` when it could not be written (emoji then stay as fontconfig
    picks them). Calling it again keeps the first base configuration.
    """
    if cache_dir is None:
        base_dir = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        cache_dir = Path(base_dir) / "hubbub"
    path = cache_dir / "fonts.conf"
    current = os.environ.get("FONTCONFIG_FILE", "")
    if current == str(path):
        return path
    base = current or SYSTEM_CONFIG
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(fontconfig_text(base), encoding="utf-8")
        tmp.replace(path)
    except OSError as exc:
        log.warning("cannot write %s, emoji may be drawn in black and white: %s", path, exc)
        return None
    os.environ["FONTCONFIG_FILE"] = str(path)
    return path
