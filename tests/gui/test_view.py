"""The message view of the desktop client: sticking to the bottom, grouping, colours, finding.

Real window under Xvfb, real X key and pointer events (xdotool), a real server and real peers.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

import hubbub.client as hc
from hubbub.gui.theme import nick_colour
from tests.support.serverproc import ServerProcess

from .conftest import Ui
from .test_window import peer, ready


async def fill(ui: Ui, bob: hc.Client, count: int, prefix: str = "line") -> None:
    """Have bob send ``count`` messages and wait until the window has the last one."""
    for i in range(count):
        await bob.send_message("#test", f"{prefix} {i}")
    await ui.until(lambda: f"bob: {prefix} {count - 1}" in ui.lines("#test"), what=f"{prefix} {count - 1}")


async def at_bottom(ui: Ui, what: str) -> None:
    """Wait until the view shows its last line (Tk may measure lines over a few idle rounds)."""
    await ui.until(lambda: ui.window.view.at_bottom(), what=f"at the bottom after {what}")


async def click(ui: Ui, widget: object) -> None:
    """Move the real pointer to the middle of ``widget`` and click."""
    import tkinter as tk

    assert isinstance(widget, tk.Misc)
    x = widget.winfo_rootx() + widget.winfo_width() // 2
    y = widget.winfo_rooty() + widget.winfo_height() // 2
    await ui.xdotool("mousemove", "--sync", str(x), str(y), "click", "1")


async def test_the_view_sticks_to_the_bottom_through_font_size_strip_resize_and_burst(
    server: ServerProcess, make_ui
) -> None:
    async with peer(server, "bob") as bob:
        ui = make_ui(server, "alice")
        await ready(ui)
        view = ui.window.view
        await fill(ui, bob, 80, "burst")  # a burst
        await at_bottom(ui, "a burst")
        size = ui.window.settings.font_size
        await ui.key("ctrl+equal")
        await ui.until(lambda: ui.window.settings.font_size == size + 1, what="Ctrl+=")
        await at_bottom(ui, "Ctrl+=")
        await ui.key("ctrl+minus", "ctrl+minus")
        await ui.until(lambda: ui.window.settings.font_size == size - 1, what="Ctrl+-")
        await at_bottom(ui, "Ctrl+-")
        ui.window.ask_paste(["one", "two"])  # the strip above the input takes room from the view
        await ui.until(lambda: ui.window.banner.winfo_ismapped(), what="strip shown")
        await at_bottom(ui, "the strip opening")
        ui.window.banner.buttons[1].invoke()
        ui.root.geometry("800x500")
        await ui.until(lambda: view.winfo_height() < 400, what="resized")
        await at_bottom(ui, "a resize")
        await fill(ui, bob, 40, "more")
        await at_bottom(ui, "another burst at the new size")
        assert view.stuck and not view.pill.winfo_ismapped()


async def test_scrolled_up_new_messages_show_a_pill_and_end_or_a_click_goes_down(
    server: ServerProcess, make_ui
) -> None:
    async with peer(server, "bob") as bob:
        ui = make_ui(server, "alice")
        await ready(ui)
        view = ui.window.view
        await fill(ui, bob, 80)
        await at_bottom(ui, "filling")
        await ui.key("Prior")
        await ui.until(lambda: not view.at_bottom() and not view.stuck, what="scrolled up by PgUp")
        top = view.text.index("@0,0")
        await bob.send_message("#test", "while reading back")
        await ui.until(lambda: view.pill.winfo_ismapped(), what="pill shown")
        assert view.text.index("@0,0") == top  # the text did not move under the reader
        await ui.key("ctrl+equal")  # a font change does not throw the reader to the bottom
        await ui.until(lambda: ui.window.settings.font_size == 12, what="bigger font")
        ui.pump()
        assert not view.at_bottom()
        await ui.key("End")
        await at_bottom(ui, "End")
        assert view.stuck and not view.pill.winfo_ismapped()
        await ui.key("Prior", "Prior")
        await ui.until(lambda: not view.stuck, what="scrolled up again")
        await bob.send_message("#test", "one more")
        await ui.until(lambda: view.pill.winfo_ismapped(), what="pill shown again")
        await click(ui, view.pill)
        await at_bottom(ui, "clicking the pill")
        assert not view.pill.winfo_ismapped()
        await bob.send_message("#test", "followed again")
        await ui.until(lambda: "bob: followed again" in ui.lines("#test"))
        await at_bottom(ui, "a message after going down")


async def test_a_burst_past_the_line_limit_keeps_a_reader_where_they_were(
    server: ServerProcess, make_ui
) -> None:
    async with peer(server, "bob") as bob:
        ui = make_ui(server, "alice", max_lines=100)
        await ready(ui)
        view = ui.window.view
        await fill(ui, bob, 100, "old")
        await at_bottom(ui, "filling")
        await ui.key("Prior")
        await ui.until(lambda: not view.stuck, what="scrolled up")
        reading = view.line_at("@0,0")
        assert reading is not None
        # More than the buffer keeps: the oldest lines go and the view is drawn again.
        await fill(ui, bob, 40, "new")
        await ui.until(lambda: view.pill.winfo_ismapped(), what="pill shown")
        ui.pump()
        assert view.rendered <= 125  # drawn again from the model, which dropped the oldest
        assert not view.at_bottom() and not view.stuck
        assert any(line is reading for line in ui.state.buffer("#test").lines)
        assert view.line_at("@0,0") is reading  # the line being read is still at the top
        # Even when the line being read is dropped, the reader stays up, at the oldest line kept.
        await fill(ui, bob, 100, "newer")
        ui.pump()
        assert not view.stuck and not view.at_bottom()
        await ui.key("End")
        await at_bottom(ui, "End after the redraw")


async def test_the_nick_in_use_strip_shows_every_button_at_the_default_and_smallest_size(
    server: ServerProcess, make_ui
) -> None:
    async with peer(server, "alice"):
        ui = make_ui(server, "alice")
        await ui.until(lambda: ui.window.banner.kind == "nick", what="nick question")
        for geometry in ("1100x680", "720x420"):
            ui.root.geometry(geometry)
            width = int(geometry.split("x")[0])
            await ui.until(lambda w=width: ui.root.winfo_width() == w, what=f"size {geometry}")
            ui.pump()
            right = ui.root.winfo_rootx() + ui.root.winfo_width()
            bottom = ui.root.winfo_rooty() + ui.root.winfo_height()
            banner = ui.window.banner
            for widget in (banner.entry, *banner.buttons):
                assert widget.winfo_ismapped(), geometry
                assert widget.winfo_width() >= widget.winfo_reqwidth(), (geometry, widget)
                assert widget.winfo_rootx() >= ui.root.winfo_rootx()
                assert widget.winfo_rootx() + widget.winfo_width() <= right, (geometry, widget)
                assert widget.winfo_rooty() + widget.winfo_height() <= bottom, (geometry, widget)
            # The question itself is wrapped, not cut: its text is all there.
            assert banner.label.winfo_width() >= min(banner.label.winfo_reqwidth(), 80)


async def test_nick_colours_are_stable_and_ones_own_nick_has_one_colour(
    server: ServerProcess, make_ui
) -> None:
    async with peer(server, "bob") as bob, peer(server, "carol") as carol:
        ui = make_ui(server, "alice")
        await ready(ui)
        await bob.send_message("#test", "from bob")
        await carol.send_action("#test", "waves")
        await ui.type("from me")
        await ui.key("Return")
        await ui.type("/me waves back")
        await ui.key("Return")
        await ui.until(lambda: "alice: waves back" in ui.lines("#test"), what="own action")
        text = ui.window.view.text

        def nick_tags(nick: str) -> set[str]:
            """The colour tags on every place ``nick`` is shown as a nick."""
            found = set()
            ranges = text.tag_ranges("nick") + text.tag_ranges("own")
            for start, end in zip(ranges[::2], ranges[1::2], strict=True):
                if text.get(start, end) == nick:
                    found |= {t for t in text.tag_names(start) if re.fullmatch(r"n\d+|own", t)}
            return found

        def colours_of(nick: str) -> set[str]:
            return {str(text.tag_cget(tag, "foreground")) for tag in nick_tags(nick)}

        assert colours_of("bob") == {nick_colour("bob", "light")}
        assert colours_of("carol") == {nick_colour("carol", "light")}
        assert nick_tags("alice") == {"own"}  # a message and an action: the same colour
        assert colours_of("alice") == {ui.window.theme.fg}
        ui.window.set_theme("dark")
        assert colours_of("bob") == {nick_colour("bob", "dark")}
        assert nick_colour("bob", "dark") != nick_colour("carol", "dark")


async def hover(ui: Ui, index: str) -> None:
    """Move the real pointer over text ``index`` of the message view."""
    text = ui.window.view.text
    text.see(index)
    ui.pump()
    bbox = text.bbox(index)
    assert bbox is not None, index
    x, y, w, h = bbox
    await ui.xdotool(
        "mousemove", "--sync", str(text.winfo_rootx() + x + w // 2), str(text.winfo_rooty() + y + h // 2)
    )


async def test_hovering_a_time_shows_the_full_date_with_seconds(server: ServerProcess, make_ui) -> None:
    async with peer(server, "bob") as bob:
        ui = make_ui(server, "alice")
        await ready(ui)
        await bob.send_message("#test", "what time is it")
        await ui.until(lambda: "bob: what time is it" in ui.lines("#test"))
        line = next(ln for ln in ui.state.buffer("#test").lines if ln.text == "what time is it")
        view = ui.window.view
        row = next(r for r, ln in view.rows.items() if ln is line)
        await hover(ui, f"{row}.1")
        full = line.time.astimezone().strftime("%A %d %B %Y, %H:%M:%S")
        await ui.until(lambda: view.tooltip.winfo_ismapped(), what="tooltip shown")
        assert view.tooltip.cget("text") == full
        await hover(ui, f"{row}.end-3c")  # the message text: no tooltip
        await ui.until(lambda: not view.tooltip.winfo_ismapped(), what="tooltip hidden")


async def test_consecutive_messages_of_one_person_show_the_nick_once(server: ServerProcess, make_ui) -> None:
    async with peer(server, "bob") as bob, peer(server, "carol") as carol:
        ui = make_ui(server, "alice")
        await ready(ui)
        for text in ("first", "second", "third"):
            await bob.send_message("#test", text)
        await ui.until(lambda: "bob: third" in ui.lines("#test"))  # two connections: keep the order
        await carol.send_message("#test", "interrupting")
        await ui.until(lambda: "carol: interrupting" in ui.lines("#test"))
        await bob.send_message("#test", "fourth")
        await bob.send_action("#test", "shrugs")
        await bob.send_message("#test", "fifth")
        await ui.until(lambda: "bob: fifth" in ui.lines("#test"))
        shown = ui.window.view.text.get("1.0", "end")
        hhmm = r"\d\d:\d\d"
        assert re.search(
            rf"{hhmm}  bob  first\n{hhmm}\tsecond\n{hhmm}\tthird\n{hhmm}  carol  interrupting\n", shown
        )
        # Another person, an action in between: the nick is shown again.
        assert re.search(rf"{hhmm}  bob  fourth\n{hhmm}  \* bob shrugs\n{hhmm}  bob  fifth\n", shown)


async def test_joins_and_parts_are_summed_up_by_default_shown_or_hidden_by_the_setting(
    server: ServerProcess, make_ui, tmp_path: Path
) -> None:
    ui = make_ui(server, "alice")
    await ready(ui)
    view = ui.window.view
    async with peer(server, "bob"), peer(server, "carol"), peer(server, "dave") as dave:
        await dave.part("#test")
        await ui.until(lambda: "dave left #test" in ui.lines("#test"))
        shown = view.text.get("1.0", "end")
        assert "⇄ 3 joined, 1 left" in shown and "bob joined" not in shown
        found = view.text.search("3 joined", "1.0")
        await hover(ui, found)
        await ui.until(lambda: view.tooltip.winfo_ismapped(), what="names of the summary")
        assert view.tooltip.cget("text") == "Joined: bob, carol, dave\nLeft: dave"
        # A message ends the run: the next join is a line of its own.
        await ui.focus()
        await ui.type("hello")
        await ui.key("Return")
        async with peer(server, "erin"):
            await ui.until(lambda: "erin joined #test" in view.text.get("1.0", "end"), what="a lone join")
            # The settings screen's "Joins, parts, quits" (Ctrl+,) goes through change_setting.
            ui.window.change_setting("join_parts", "show")
            shown = view.text.get("1.0", "end")
            assert "3 joined" not in shown
            assert shown.index("bob joined") < shown.index("carol joined") < shown.index("dave left")
            saved = json.loads((tmp_path / "config" / "gui.json").read_text())
            assert saved["join_parts"] == "show"
            ui.window.change_setting("join_parts", "hide")
            shown = view.text.get("1.0", "end")
            assert "joined" not in shown.replace("You joined", "") and "left" not in shown
            assert "alice  hello" in shown
            ui.window.change_setting("join_parts", "collapse")
            assert "3 joined, 1 left" in view.text.get("1.0", "end")


async def test_ctrl_f_finds_highlights_counts_and_steps_through_matches(
    server: ServerProcess, make_ui
) -> None:
    async with peer(server, "bob") as bob:
        ui = make_ui(server, "alice")
        await ready(ui)
        for text in (
            "apple pie",
            "banana",
            "an APPLE a day",
            "😀😀 apple sauce 🍎",
            "apple tart",
            "no fruit",
        ):
            await bob.send_message("#test", text)
        await ui.until(lambda: "bob: no fruit" in ui.lines("#test"))
        find, text = ui.window.find, ui.window.view.text
        await ui.key("ctrl+f")
        await ui.until(lambda: find.is_open and ui.root.focus_get() is find.entry, what="find bar")
        await ui.type("apple")
        await ui.until(lambda: find.count.cget("text") == "4 of 4", what="four matches, newest first")
        assert len(text.tag_ranges("found")) == 8

        def current() -> tuple[str, str]:
            start, end = text.tag_ranges("found_current")
            return text.get(start, end), text.get(f"{start} linestart", f"{start} lineend")

        assert current()[0] == "apple" and current()[1].endswith("apple tart")
        await ui.key("Return")  # wraps to the first
        await ui.until(lambda: find.count.cget("text") == "1 of 4")
        assert current()[1].endswith("apple pie")
        await ui.key("F3")
        await ui.until(lambda: find.count.cget("text") == "2 of 4")
        assert current() == ("APPLE", current()[1]) and current()[1].endswith("an APPLE a day")
        await ui.key("F3")
        await ui.until(lambda: find.count.cget("text") == "3 of 4")
        # After emoji (two columns each in Tk 8.6) the highlight is still on the word itself.
        assert current()[0] == "apple" and current()[1].endswith("😀😀 apple sauce 🍎")
        await ui.key("shift+Return")
        await ui.until(lambda: find.count.cget("text") == "2 of 4")
        await ui.key("shift+F3", "shift+F3")
        await ui.until(lambda: find.count.cget("text") == "4 of 4")
        await ui.key("BackSpace")  # "appl": still four
        await ui.type("ex")
        await ui.until(lambda: find.count.cget("text") == "no matches")
        assert text.tag_ranges("found") == ()
        # The text as typed, not a pattern: brackets and stars find nothing here and break nothing.
        find.entry.delete(0, "end")
        await ui.type("[(.*")
        await ui.until(lambda: find.entry.get() == "[(.*" and find.count.cget("text") == "no matches")
        find.entry.delete(0, "end")
        find.entry.insert(0, "x" * 5000)
        await ui.key("Return")
        await ui.until(lambda: find.count.cget("text") == "no matches", what="a huge query")
        await ui.key("Escape")
        await ui.until(lambda: not find.is_open, what="find bar closed")
        assert ui.root.focus_get() is ui.window.entry
        assert text.tag_ranges("found") == () and text.tag_ranges("found_current") == ()


async def test_narrow_windows_fold_the_side_panels_away(server: ServerProcess, make_ui) -> None:
    ui = make_ui(server, "alice")
    await ready(ui)
    window = ui.window
    await ui.until(lambda: window.members.winfo_ismapped() and window.sidebar.winfo_ismapped())
    ui.root.geometry("900x600")
    await ui.until(lambda: not window.members.winfo_ismapped(), what="members folded at 900 px")
    assert window.sidebar.winfo_ismapped()
    ui.root.geometry("760x600")
    await ui.until(lambda: not window.sidebar.winfo_ismapped(), what="buffer list folded at 760 px")
    assert window.view.winfo_width() > 600
    ui.root.geometry("1100x680")
    await ui.until(lambda: window.members.winfo_ismapped() and window.sidebar.winfo_ismapped(), what="back")
    # The buffer list is back on the left of the messages.
    assert window.sidebar.winfo_rootx() < window.view.winfo_rootx() < window.members.winfo_rootx()


async def test_an_idle_window_has_no_timer_running(server: ServerProcess, make_ui) -> None:
    async with peer(server, "bob") as bob:
        ui = make_ui(server, "alice")
        await ready(ui)
        await bob.send_message("#test", "wake up")
        await ui.until(lambda: "bob: wake up" in ui.lines("#test"))
        # Nothing arrives: no tick is scheduled; Tk sleeps until the network's pipe wakes it.
        await ui.until(lambda: ui.window._tick_id is None, what="no tick pending")
        ticks = ui.window.events_applied
        await bob.send_message("#test", "and again")
        await ui.until(lambda: "bob: and again" in ui.lines("#test"), what="woken by the pipe")
        assert ui.window.events_applied > ticks
        assert ui.window._tick_id is None
        # Someone typing: a check is scheduled to let their notice run out, then none again.
        await bob.typing("#test", "active")
        await ui.until(lambda: ui.window.typing_label.cget("text") == "bob is typing…")
        assert ui.window._tick_id is not None
        await bob.typing("#test", "done")
        await ui.until(lambda: ui.window.typing_label.cget("text") == "")
        await ui.until(lambda: ui.window._tick_id is None, what="the typing check stopped")


async def test_emoji_are_drawn_with_the_colour_emoji_font(server: ServerProcess, make_ui) -> None:
    ui = make_ui(server, "alice")
    if "Noto Color Emoji" not in ui.root.tk.splitlist(ui.root.tk.call("font", "families")):
        pytest.skip("fonts-noto-color-emoji is not installed")
    await ready(ui)
    fonts = ui.window.fonts
    for emoji in ("😀", "☀", "🎉", "👍", "❤"):
        for name in ("ui", "bold", "small"):
            # Tk's own answer: the font it really draws this character with.
            used = ui.root.tk.call("font", "actual", fonts[name], "-family", "--", emoji)
            assert used == "Noto Color Emoji", (emoji, name, used)
    # Letters and digits still come from the interface font.
    assert ui.root.tk.call("font", "actual", fonts["ui"], "-family", "--", "7") == fonts["ui"].actual(
        "family"
    )
