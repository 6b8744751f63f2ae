"""Colours and fonts: a light and a dark theme, and stable nick colours readable in both."""

from __future__ import annotations

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

# Sixteen hues a little over 22 degrees apart, one shade per theme: each has a contrast of 4.5:1
# or better on its theme's background (WCAG AA for text), checked in tests/gui/test_model.py.
NICK_PALETTES = {
    "light": (
        "#e02929", "#b75b1a", "#986c16", "#7d7412", "#4a8112", "#138639", "#128166", "#14808a",
        "#197cae", "#2472e0", "#4c59e6", "#804ce6", "#ab3be3", "#c91dc9", "#d61f99", "#df2060",
    ),
    "dark": (
        "#e75a5a", "#db6d1f", "#b38019", "#b3a619", "#66b319", "#19b34d", "#19b38c", "#19a6b3",
        "#1d93cd", "#4d8ce5", "#757feb", "#9c75eb", "#bc63e9", "#e33be3", "#e54db2", "#e75586",
    ),
}  # fmt: skip
NICK_PALETTE = NICK_PALETTES["light"]
_FOLD = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ[]\\~", "abcdefghijklmnopqrstuvwxyz{}|^")


def nick_index(nick: str) -> int:
    """The palette slot of ``nick``: FNV-1a of the casefolded nick, the same in every run and buffer.

    Python's ``hash`` is salted per process, so it would change the colours at every start.
    Trailing underscores are ignored: ``alice_`` is usually ``alice`` with a nick in use.
    """
    key = nick.translate(_FOLD).rstrip("_") or nick
    h = 0x811C9DC5
    for byte in key.encode("utf-8"):
        h = ((h ^ byte) * 0x01000193) & 0xFFFFFFFF
    return h % len(NICK_PALETTE)


def nick_colour(nick: str, theme: str = "light") -> str:
    """The colour of ``nick`` in the theme called ``theme`` (see :func:`nick_index`)."""
    return NICK_PALETTES.get(theme, NICK_PALETTE)[nick_index(nick)]


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
