"""Colours and fonts: a light and a dark theme, and stable nick colours readable in both."""

from __future__ import annotations

import zlib
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Theme:
    """One colour scheme for every part of the window."""

    name: str
    bg: str  # message view
    fg: str
    muted: str  # timestamps, notices
    sidebar_bg: str
    sidebar_fg: str
    sidebar_sel_bg: str
    sidebar_sel_fg: str
    header_bg: str  # topic bar and status bar
    border: str
    input_bg: str
    input_fg: str
    accent: str  # links, unread badge
    mention_bg: str  # highlighted line
    mention_badge: str
    separator: str  # day separators and the "new messages" line
    new_line: str
    error: str
    away: str  # dimmed member names


LIGHT = Theme(
    name="light",
    bg="#ffffff",
    fg="#1f2328",
    muted="#6e7781",
    sidebar_bg="#f3f4f6",
    sidebar_fg="#3b4149",
    sidebar_sel_bg="#dde4ee",
    sidebar_sel_fg="#0d1117",
    header_bg="#f8f9fa",
    border="#d8dee4",
    input_bg="#ffffff",
    input_fg="#1f2328",
    accent="#2563eb",
    mention_bg="#fff4d6",
    mention_badge="#dc2626",
    separator="#8c959f",
    new_line="#e5484d",
    error="#cf222e",
    away="#a0a7b0",
)

DARK = Theme(
    name="dark",
    bg="#1e2127",
    fg="#d7dae0",
    muted="#7f8794",
    sidebar_bg="#16181d",
    sidebar_fg="#aab1bd",
    sidebar_sel_bg="#2c313a",
    sidebar_sel_fg="#ffffff",
    header_bg="#1a1d22",
    border="#2d323b",
    input_bg="#262a31",
    input_fg="#e6e8eb",
    accent="#5b9cf5",
    mention_bg="#3d3520",
    mention_badge="#ef4444",
    separator="#6b7280",
    new_line="#f2555a",
    error="#ff6b6b",
    away="#5d6470",
)

THEMES = {"light": LIGHT, "dark": DARK}

# Mid-lightness hues with a contrast of 3:1 or better on both #ffffff and #1e2127.
NICK_PALETTE = (
    "#d9480f",
    "#2f9e44",
    "#1c7ed6",
    "#ae3ec9",
    "#ca6702",
    "#0c8599",
    "#db2777",
    "#5c7cfa",
    "#65a30d",
    "#d97706",
    "#7950f2",
    "#0d9488",
)


def nick_colour(nick: str) -> str:
    """The colour of ``nick``: the same on every run and machine (crc32, not the salted ``hash``)."""
    key = nick.lower().rstrip("_")
    return NICK_PALETTE[zlib.crc32(key.encode("utf-8")) % len(NICK_PALETTE)]


# Families tried in order; the first one installed wins. Noto and DejaVu cover most scripts, and
# fontconfig falls back per glyph for the rest (CJK, emoji) when the family lacks them.
UI_FAMILIES = ("Noto Sans", "DejaVu Sans", "Cantarell", "Helvetica")
MONO_FAMILIES = ("Noto Sans Mono", "DejaVu Sans Mono", "Courier")


def pick_family(available: set[str], wanted: tuple[str, ...]) -> str:
    """The first of ``wanted`` that is in ``available`` (case-insensitive), else the last one."""
    lowered = {name.lower() for name in available}
    for family in wanted:
        if family.lower() in lowered:
            return family
    return wanted[-1]
