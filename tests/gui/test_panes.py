"""Resizable side panels: dragging a sash, limits, remembering widths, folding in narrow windows.

Real window under Xvfb, real X pointer events (xdotool mousedown, mousemove, mouseup on the sash),
a real server and a real peer filling the channel.
"""

from __future__ import annotations

import json
import stat
from dataclasses import fields
from pathlib import Path

from hubbub.gui import profiles
from hubbub.gui._panes import MEMBERS, MESSAGES_BESIDE_BOTH, SASH, folded
from tests.support.serverproc import ServerProcess

from .conftest import Ui
from .test_view import at_bottom, fill
from .test_window import peer, ready


def sash_point(ui: Ui, index: int) -> tuple[int, int]:
    """The middle of sash ``index`` (0: right of the buffer list) on the screen."""
    paned = ui.window.panes.paned
    x = int(paned.sash_coord(index)[0])
    return paned.winfo_rootx() + x + SASH // 2, paned.winfo_rooty() + paned.winfo_height() // 2


async def point(ui: Ui, x: int, y: int) -> None:
    """Move the real pointer to ``x``, ``y`` (``--sync`` would wait forever if it were there already)."""
    if ui.root.winfo_pointerxy() != (x, y):
        await ui.xdotool("mousemove", "--sync", str(x), str(y))


async def drag(ui: Ui, index: int, dx: int) -> None:
    """Drag sash ``index`` by ``dx`` pixels with the real pointer, in a few steps as a hand would."""
    x, y = sash_point(ui, index)
    edge = ui.root.winfo_screenwidth() - 1  # the pointer stops at the screen's edges
    steps = [str(max(0, min(edge, x + dx * i // 4))) for i in range(1, 5)]
    await point(ui, x, y)
    moves: list[str] = []
    for step in steps:
        # No --sync while the button is down: Tk grabs the pointer, xdotool would never see it move.
        # The X server takes xdotool's events in order, so the release comes after the last move.
        moves += ["mousemove", step, str(y)]
    await ui.xdotool("mousedown", "1", *moves, "mouseup", "1")


async def size(ui: Ui, width: int, height: int = 680) -> None:
    """Resize the window and wait until Tk has the new width."""
    ui.root.geometry(f"{width}x{height}")
    await ui.until(lambda: ui.root.winfo_width() == width, what=f"{width} px wide")


def widths(ui: Ui) -> tuple[int, int]:
    """The buffer list's and the member list's widths on screen."""
    return ui.window.sidebar.winfo_width(), ui.window.members.winfo_width()


def saved(tmp_path: Path) -> dict[str, object]:
    path = tmp_path / "config" / profiles.FILE_NAME
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    data = json.loads(path.read_text())
    assert isinstance(data, dict)
    return data


async def test_dragged_panels_keep_their_width_across_a_restart_and_folding(
    server: ServerProcess, make_ui, tmp_path: Path
) -> None:
    async with peer(server, "bob") as bob:
        ui = make_ui(server, "alice")
        await ready(ui)
        window = ui.window
        await ui.until(lambda: widths(ui) == (210, 190), what="the default widths")
        # Over a sash the pointer becomes a resize arrow (and the sash has the theme's colour).
        x, y = sash_point(ui, 0)
        await point(ui, x, y)
        await ui.until(lambda: window.panes.paned.cget("cursor") == "sb_h_double_arrow", what="resize cursor")
        assert window.panes.paned.cget("background") == window.theme.border
        await fill(ui, bob, 80)
        await at_bottom(ui, "filling")

        await drag(ui, 0, 90)
        await ui.until(lambda: widths(ui)[0] == 300, what=f"buffer list 300 px wide, is {widths(ui)}")
        await at_bottom(ui, "widening the buffer list")
        await drag(ui, 1, -60)
        await ui.until(lambda: widths(ui) == (300, 250), what=f"member list 250 px wide, is {widths(ui)}")
        await at_bottom(ui, "widening the member list")
        data = saved(tmp_path)
        assert (data["buffer_list_width"], data["member_list_width"]) == (300, 250)
        assert {"profiles", "theme", "font_size", "max_lines"} <= data.keys()  # the old keys stay
        window.close()

        # Opened again from the same config directory: as wide as they were left.
        loaded = profiles.load(tmp_path / "config")
        ui = make_ui(server, "alice", **{f.name: getattr(loaded, f.name) for f in fields(loaded)})
        await ready(ui)
        window = ui.window
        await ui.until(lambda: widths(ui) == (300, 250), what=f"widths restored, are {widths(ui)}")
        await fill(ui, bob, 80, "again")
        await at_bottom(ui, "filling again")

        # Wider panels fold sooner: the member list at 300 + 250 + 2 sashes + the messages' room.
        threshold = 300 + 250 + 2 * SASH + MESSAGES_BESIDE_BOTH
        await size(ui, threshold - 20)
        await ui.until(lambda: not window.members.winfo_ismapped(), what="member list folded")
        assert window.sidebar.winfo_ismapped() and widths(ui)[0] == 300
        await at_bottom(ui, "folding the member list")
        await size(ui, 760)
        await ui.until(lambda: not window.sidebar.winfo_ismapped(), what="buffer list folded")
        await at_bottom(ui, "folding the buffer list")
        await size(ui, threshold)
        await ui.until(
            lambda: window.members.winfo_ismapped() and window.sidebar.winfo_ismapped(), what="both back"
        )
        await ui.until(lambda: widths(ui) == (300, 250), what=f"back at their widths, are {widths(ui)}")
        assert window.sidebar.winfo_rootx() < window.view.winfo_rootx() < window.members.winfo_rootx()
        await at_bottom(ui, "unfolding")
        await bob.send_message("#test", "after all that")
        await ui.until(lambda: "bob: after all that" in ui.lines("#test"))
        await at_bottom(ui, "a message after the resizes")


async def test_a_sash_stops_at_the_panel_limits_and_leaves_the_messages_their_room(
    server: ServerProcess, make_ui, tmp_path: Path
) -> None:
    ui = make_ui(server, "alice")
    await ready(ui)
    window = ui.window
    await ui.until(lambda: widths(ui) == (210, 190), what="the default widths")
    low, high = profiles.PANEL_WIDTHS["buffer_list_width"]
    await drag(ui, 0, -300)
    await ui.until(lambda: widths(ui)[0] == low, what=f"the smallest buffer list, is {widths(ui)}")
    # Dragged far right in a 1100 px window: only as far as leaves the messages and the members room.
    await drag(ui, 0, 900)
    room = 1100 - 190 - 2 * SASH - MESSAGES_BESIDE_BOTH
    await ui.until(lambda: widths(ui)[0] == room, what=f"stopped at {room}, is {widths(ui)}")
    assert window.members.winfo_ismapped() and window.view.winfo_width() >= MESSAGES_BESIDE_BOTH
    # In a wider window the panel stops at its largest width.
    await size(ui, 1280)
    await drag(ui, 0, 900)
    await ui.until(lambda: widths(ui)[0] == high, what=f"the largest buffer list, is {widths(ui)}")
    # The member list's sash, dragged out of the window to the right: its smallest width.
    await drag(ui, 1, 400)
    await ui.until(lambda: widths(ui)[1] == profiles.PANEL_WIDTHS[MEMBERS][0], what=f"{widths(ui)}")
    # Pressed and released without moving: nothing changes, and the widths are saved as they are.
    before = widths(ui)
    await drag(ui, 0, 0)
    ui.pump()
    assert widths(ui) == before
    data = saved(tmp_path)
    assert (data["buffer_list_width"], data["member_list_width"]) == before


async def test_a_damaged_width_in_the_file_opens_the_window_within_the_limits(
    server: ServerProcess, make_ui, tmp_path: Path
) -> None:
    config = tmp_path / "config"
    config.mkdir()
    damaged = {"buffer_list_width": 10**9, "member_list_width": -4}
    (config / profiles.FILE_NAME).write_text(json.dumps(damaged))
    loaded = profiles.load(config)
    ui = make_ui(server, "alice", **{f.name: getattr(loaded, f.name) for f in fields(loaded)})
    await ready(ui)
    await size(ui, 1280)
    high = profiles.PANEL_WIDTHS["buffer_list_width"][1]
    low = profiles.PANEL_WIDTHS["member_list_width"][0]
    await ui.until(lambda: widths(ui) == (high, low), what=f"clamped widths, are {widths(ui)}")


# --- without a window ------------------------------------------------------------------------------


def test_with_the_default_widths_the_panels_fold_where_they_always_did() -> None:
    assert folded(940, 210, 190) == (False, False)
    assert folded(939, 210, 190) == (True, False)
    assert folded(800, 210, 190) == (True, False)
    assert folded(799, 210, 190) == (True, True)
    # A panel made 100 px wider folds 100 px sooner; the member list always before the buffer list.
    assert folded(1039, 310, 190) == (True, False) and folded(1040, 310, 190) == (False, False)
    assert folded(899, 310, 190) == (True, True)
    assert folded(1039, 210, 290) == (True, False)


def test_panel_widths_read_back_are_checked(tmp_path: Path) -> None:
    path = tmp_path / profiles.FILE_NAME
    default = profiles.Settings()
    for bad in ("wide", True, None, 250.5, [300], {"w": 1}):
        path.write_text(json.dumps({"buffer_list_width": bad, "member_list_width": bad, "theme": "dark"}))
        loaded = profiles.load(tmp_path)
        assert (loaded.buffer_list_width, loaded.member_list_width) == (
            default.buffer_list_width,
            default.member_list_width,
        ), bad
        assert loaded.theme == "dark"  # one bad value spoils nothing else
    path.write_text(json.dumps({"buffer_list_width": 10**12, "member_list_width": -1}))
    loaded = profiles.load(tmp_path)
    assert loaded.buffer_list_width == profiles.PANEL_WIDTHS["buffer_list_width"][1]
    assert loaded.member_list_width == profiles.PANEL_WIDTHS["member_list_width"][0]
    settings = profiles.Settings(buffer_list_width=333, member_list_width=222)
    profiles.save(tmp_path, settings)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert profiles.load(tmp_path) == settings
