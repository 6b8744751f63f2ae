"""The chat's three columns: the buffer list, the messages and the member list, side by side.

A :class:`tkinter.PanedWindow` holds them. The sash between the messages and a side panel can be
dragged, within the panel's limits (:data:`.profiles.PANEL_WIDTHS`) and never so far that the
messages lose their room; the width given is remembered in the settings. A narrow window folds the
member list away, then the buffer list; a folded panel comes back at its remembered width.
"""

from __future__ import annotations

import tkinter as tk
from collections.abc import Callable

from . import profiles
from .theme import Theme

SASH = 6  # pixels between two columns: wide enough to grab with a mouse
BUFFERS = "buffer_list_width"  # the settings keys of the panels' widths
MEMBERS = "member_list_width"
# Below these window widths, with the panels at their default widths, the member list, then the
# buffer list, fold away so the messages keep a readable width (Alt+1…9 and Ctrl+PgUp/PgDn still
# switch buffers). A panel made wider raises both by as many pixels.
NARROW_MEMBERS = 940
NARROW_SIDEBAR = 800
_DEFAULTS = profiles.Settings()
# The width the messages keep beside both panels, and beside the buffer list alone.
MESSAGES_BESIDE_BOTH = NARROW_MEMBERS - _DEFAULTS.buffer_list_width - _DEFAULTS.member_list_width - 2 * SASH
MESSAGES_BESIDE_BUFFERS = NARROW_SIDEBAR - _DEFAULTS.buffer_list_width - SASH


def folded(window: int, buffers: int, members: int) -> tuple[bool, bool]:
    """Which panels a window ``window`` pixels wide folds away: (the member list, the buffer list).

    ``buffers`` and ``members`` are the panels' widths. The member list always folds first.
    """
    return (
        window < buffers + members + 2 * SASH + MESSAGES_BESIDE_BOTH,
        window < buffers + SASH + MESSAGES_BESIDE_BUFFERS,
    )


class Panes:
    """The columns of the chat layout: where the side panels are, how wide, and dragging their sashes.

    ``on_dragged`` is called once a drag ends, the new width already in ``settings``.
    """

    def __init__(
        self,
        master: tk.Misc,
        settings: profiles.Settings,
        theme: Theme,
        on_dragged: Callable[[], None],
    ) -> None:
        self.settings = settings
        self.on_dragged = on_dragged
        self.paned = tk.PanedWindow(
            master,
            orient="horizontal",
            borderwidth=0,
            sashwidth=SASH,
            sashpad=0,
            sashrelief="flat",
            showhandle=False,
            opaqueresize=True,
            sashcursor="sb_h_double_arrow",  # shown over a sash by Tk's own <Motion> binding
        )
        self.folded = (False, False)  # the member list, the buffer list
        self._panels: dict[str, tk.Widget] = {}
        self._centre: tk.Widget | None = None
        self._drag: tuple[str, int] | None = None  # the panel dragged, the pointer's offset from its sash
        # Tk's own dragging knows no largest size and no room to leave: ours replaces it.
        self.paned.bind("<ButtonPress-1>", self._press)
        self.paned.bind("<B1-Motion>", self._move)
        self.paned.bind("<ButtonRelease-1>", self._release)
        self.apply_theme(theme)

    def place(self, buffers: tk.Widget, centre: tk.Widget, members: tk.Widget) -> None:
        """Lay out the buffer list and the centre; the member list shows with :meth:`show_members`."""
        self._panels = {BUFFERS: buffers, MEMBERS: members}
        self._centre = centre
        self._add(BUFFERS)
        self.paned.add(centre, stretch="always")

    def apply_theme(self, theme: Theme) -> None:
        """Recolour for ``theme``: the panes cover the paned window but for the sashes."""
        self.paned.configure(background=theme.border)

    def width(self, key: str) -> int:
        """The remembered width of the panel ``key`` (:data:`BUFFERS` or :data:`MEMBERS`)."""
        return profiles.panel_width(key, getattr(self.settings, key))

    def shown(self, key: str) -> bool:
        """Whether the panel ``key`` is in the layout (neither folded nor left out)."""
        return self._panels[key].winfo_manager() == "panedwindow"

    def fit(self, window: int) -> bool:
        """Fold or unfold the panels for a window ``window`` pixels wide; whether that changed.

        The buffer list is folded here; the window decides whether the member list shows (only
        for a channel) and calls :meth:`show_members`.
        """
        now = folded(window, self.width(BUFFERS), self.width(MEMBERS))
        if now == self.folded:
            return False
        self.folded = now
        if now[1] and self.shown(BUFFERS):
            self.paned.forget(self._panels[BUFFERS])
        elif not now[1] and not self.shown(BUFFERS):
            self._add(BUFFERS)
        return True

    def show_members(self, visible: bool) -> None:
        """Put the member list in the layout, at its remembered width, or take it out."""
        if visible and not self.shown(MEMBERS):
            self._add(MEMBERS)
        elif not visible and self.shown(MEMBERS):
            self.paned.forget(self._panels[MEMBERS])

    def _add(self, key: str) -> None:
        panel = self._panels[key]
        low = profiles.PANEL_WIDTHS[key][0]
        where: dict[str, tk.Widget] = {}
        if self._centre is not None and self._centre.winfo_manager() == "panedwindow":
            where = {"before": self._centre} if key == BUFFERS else {"after": self._centre}
        self.paned.add(panel, width=self.width(key), minsize=low, stretch="never", **where)

    # --- dragging a sash --------------------------------------------------------------------------

    def _press(self, event: tk.Event) -> str:
        where = self.paned.tk.splitlist(self.paned.identify(event.x, event.y))
        if len(where) != 2 or str(where[1]) != "sash":
            return "break"
        index = int(where[0])
        panes = [str(p) for p in self.paned.panes()]  # type: ignore[no-untyped-call]
        sash_x = int(self.paned.sash_coord(index)[0])
        if panes[index] == str(self._panels[BUFFERS]):
            self._drag = (BUFFERS, event.x - sash_x)
        elif panes[index + 1] == str(self._panels[MEMBERS]):
            self._drag = (MEMBERS, event.x - sash_x)
        return "break"

    def _move(self, event: tk.Event) -> str:
        if self._drag is None:
            return "break"
        key, offset = self._drag
        sash_x = event.x - offset
        whole = self.paned.winfo_width()
        other = MEMBERS if key == BUFFERS else BUFFERS
        wanted = sash_x if key == BUFFERS else whole - sash_x - SASH
        # Never so wide that a panel shown would fold: the messages keep what folding leaves them.
        if self.shown(other):
            room = whole - self.width(other) - 2 * SASH - MESSAGES_BESIDE_BOTH
        else:
            room = whole - SASH - MESSAGES_BESIDE_BUFFERS
        low, high = profiles.PANEL_WIDTHS[key]
        width = max(low, min(high, room, wanted))
        if width != self.width(key):
            setattr(self.settings, key, width)
            self.paned.paneconfigure(self._panels[key], width=width)  # type: ignore[no-untyped-call]
        return "break"

    def _release(self, _event: tk.Event) -> str:
        if self._drag is not None:
            self._drag = None
            self.on_dragged()
        return "break"
