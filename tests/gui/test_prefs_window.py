"""The settings screen and desktop notifications, in the real window under Xvfb with real keys."""

from __future__ import annotations

import asyncio
import json
import stat
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import fields
from pathlib import Path

import pytest

from hubbub.gui import profiles
from tests.support.serverproc import ServerProcess

from .conftest import Ui
from .test_prefs_model import calls, fake_program
from .test_window import peer, ready


async def focus_screen(ui: Ui, widget: str) -> None:
    """Give the settings screen the X focus and ``widget`` (a key of its ``widgets``) Tk's focus."""
    screen = ui.window.settings_screen
    assert screen is not None
    await ui.until(lambda: screen.winfo_viewable(), what="settings screen mapped")
    await ui.xdotool("windowfocus", "--sync", str(int(screen.wm_frame(), 16)))
    target = screen.widgets[widget]
    target.focus_force()
    await ui.until(lambda: ui.root.focus_get() is target, what=f"{widget} focused")


@pytest.mark.timeout(90)
async def test_ctrl_comma_opens_the_settings_and_changes_apply_at_once_and_survive_a_restart(
    server: ServerProcess, make_ui, tmp_path: Path
) -> None:
    work = profiles.Profile(name="work", host="irc.example", nick="al", channels=["#a"])
    ui = make_ui(server, "alice", profiles=[work], last_profile="work", max_lines=700, notifications=True)
    await ready(ui)
    heard: list[object] = []
    ui.window.on_setting("join_parts", heard.append)  # the message view's hook
    async with peer(server, "bob") as bob:
        await bob.send_message("#test", "a line with a time")
        await ui.until(lambda: "bob: a line with a time" in ui.lines("#test"))
    line = next(ln for ln in ui.state.buffer("#test").lines if ln.text == "a line with a time")
    local = line.time.astimezone()

    await ui.key("ctrl+comma")
    await ui.until(lambda: ui.window.settings_screen is not None, what="settings screen open")
    screen = ui.window.settings_screen
    # Ctrl+, again shows the same screen rather than a second one.
    await focus_screen(ui, "nick")
    await ui.type("carol")
    await ui.key("Return")
    await ui.until(lambda: ui.window.settings.default_nick == "carol", what="nick saved")
    assert ui.state.nick == "alice"  # the default for new connections; /nick changes this one

    await focus_screen(ui, "theme:dark")
    await ui.key("space")
    await ui.until(lambda: ui.window.theme.name == "dark", what="dark theme")
    assert ui.window.view.text.cget("background") == "#1e2127"

    await focus_screen(ui, "time_format:24h-seconds")
    await ui.key("space")
    await ui.until(
        lambda: f"{local:%H:%M:%S}  bob  a line with a time" in ui.window.view.text.get("1.0", "end")
    )

    await focus_screen(ui, "font_size")
    await ui.key("Up", "Up")
    await ui.until(lambda: ui.window.settings.font_size == 13, what="font size")
    assert ui.window.fonts["ui"].cget("size") == 13

    await focus_screen(ui, "join_parts:show")  # collapsed by default: show them all
    await ui.key("space")
    await ui.until(lambda: heard == ["show"], what="join/part listener told")

    await focus_screen(ui, "notifications")
    await ui.key("space")
    await ui.until(lambda: ui.window.settings.notifications is False, what="notifications off")

    # A bad nickname is refused with a reason and not saved.
    await focus_screen(ui, "nick")
    await ui.key("ctrl+slash", "BackSpace")  # select all, delete
    await ui.type("no good")
    await ui.key("Return")
    await ui.until(lambda: "no spaces" in screen.nick_note.cget("text"), what="nick refused")
    assert ui.window.settings.default_nick == "carol"

    # Ctrl+= outside the screen shows in it.
    ui.window.set_font_size(14)
    assert screen.vars["font_size"].get() == "14"
    await ui.key("Escape")
    await ui.until(lambda: ui.window.settings_screen is None, what="screen closed by Escape")

    path = tmp_path / "config" / profiles.FILE_NAME
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    saved = json.loads(path.read_text())
    assert saved["profiles"][0]["name"] == "work" and saved["last_profile"] == "work"
    assert saved["max_lines"] == 700
    assert (saved["default_nick"], saved["theme"], saved["font_size"]) == ("carol", "dark", 14)
    assert (saved["time_format"], saved["join_parts"], saved["notifications"]) == (
        "24h-seconds",
        "show",
        False,
    )

    # The window is closed and opened again from the file: everything is as it was left.
    ui.window.close()
    loaded = profiles.load(tmp_path / "config")
    again = make_ui(server, "alice2", **{f.name: getattr(loaded, f.name) for f in fields(loaded)})
    await ready(again)
    assert again.window.theme.name == "dark" and again.window.fonts["ui"].cget("size") == 14
    assert again.window.view.time_format == "%H:%M:%S"
    assert again.window.settings.join_parts == "show" and again.window.settings.default_nick == "carol"
    await again.key("ctrl+comma")
    await again.until(lambda: again.window.settings_screen is not None, what="screen open again")
    reopened = again.window.settings_screen
    assert reopened.vars["theme"].get() == "dark" and reopened.vars["nick"].get() == "carol"
    assert reopened.notifications.get() is False


async def test_settings_are_reachable_from_the_menu_and_the_command(server: ServerProcess, make_ui) -> None:
    ui = make_ui(server, "alice")
    await ready(ui)
    await ui.type("/settings")
    await ui.key("Return")
    await ui.until(lambda: ui.window.settings_screen is not None, what="/settings")
    first = ui.window.settings_screen
    ui.window.open_settings()  # the menu's entry: the same screen is raised, not a second one
    assert ui.window.settings_screen is first
    first.destroy()
    await ui.until(lambda: ui.window.settings_screen is None)
    # The ⚙ menu, clicked and chosen from with the real mouse and keys.
    gear = ui.window.menu_button
    x, y = gear.winfo_rootx() + gear.winfo_width() // 2, gear.winfo_rooty() + gear.winfo_height() // 2
    await ui.xdotool("mousemove", "--sync", str(x), str(y), "click", "1")
    menu = ui.window.window_menu
    await ui.until(lambda: menu.winfo_ismapped(), what="menu posted")
    assert [menu.entrycget(i, "label") for i in range(2)] == ["Settings…", "Mute #test"]
    await ui.key("Down", "Return")
    await ui.until(lambda: ui.window.settings_screen is not None, what="menu entry chosen")


@asynccontextmanager
async def elsewhere(ui: Ui) -> AsyncIterator[None]:
    """Another application's window has the focus, as when the user works elsewhere."""
    other = await asyncio.create_subprocess_exec(
        sys.executable, "-c", "import tkinter as t; r = t.Tk(); r.title('elsewhere'); r.mainloop()"
    )
    try:
        await ui.xdotool("search", "--sync", "--name", "elsewhere", "windowfocus", "--sync")
        await ui.until(lambda: not ui.window._focused, what="window unfocused")
        yield
    finally:
        other.terminate()
        await other.wait()


@pytest.mark.timeout(90)
async def test_mentions_and_direct_messages_notify_when_unfocused_except_from_muted_buffers(
    server: ServerProcess, make_ui, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    record = tmp_path / "notify-send.calls"
    fake_program(tmp_path / "bin", "notify-send", record)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:{__import__('os').environ['PATH']}")
    ui = make_ui(server, "alice", channels=("#test", "#quiet"), notify_quiet_seconds=2, notifications=True)
    await ready(ui, "#quiet")
    await ui.type("/mute")
    await ui.key("Return")
    await ui.until(lambda: ui.window.is_muted("#quiet"), what="/mute")
    saved = json.loads((tmp_path / "config" / profiles.FILE_NAME).read_text())
    assert saved["muted"] == ["#quiet"]
    ui.window.switch("#test")
    window = ui.window
    async with peer(server, "bob", channels=("#test", "#quiet")) as bob:
        await ui.until(lambda: "bob joined #quiet" in ui.lines("#quiet"))
        # Focused: a mention notifies nobody.
        await bob.send_message("#test", "alice: you are looking")
        await ui.until(lambda: "bob: alice: you are looking" in ui.lines("#test"))
        assert window.notifier.sent == 0 and window.bells == 0
        async with elsewhere(ui):
            await bob.send_message("#test", "alice: look <b>here</b> & -x")
            await ui.until(lambda: window.notifier.sent == 1, what="first notification")
            first = calls(record, 1)
            assert first == [
                ["--app-name=hubbub", "--", "bob in #test", "alice: look &lt;b&gt;here&lt;/b&gt; &amp; -x"]
            ]
            # A muted channel: nothing, not even the bell.
            bells = window.bells
            await bob.send_message("#quiet", "alice: shh")
            await ui.until(lambda: "bob: alice: shh" in ui.lines("#quiet"))
            assert window.bells == bells
            # A direct message within the quiet period waits, then comes alone.
            await bob.send_message("alice", "a private word")
            await ui.until(lambda: "bob: a private word" in ui.lines("bob"))
            assert window.notifier.sent == 1
            await ui.until(lambda: window.notifier.sent == 2, what="the direct message after the pause")
            assert calls(record, 2)[1] == [
                "--app-name=hubbub",
                "--",
                "bob (direct message)",
                "a private word",
            ]
            # A burst: one summary, not five popups.
            for i in range(5):
                await bob.send_message("#test", f"alice: burst {i}")
            await ui.until(lambda: "bob: alice: burst 4" in ui.lines("#test"))
            await ui.until(lambda: window.notifier.sent == 3, what="the burst's summary")
            assert calls(record, 3)[2] == ["--app-name=hubbub", "--", "5 new mentions", "#test (5)"]
            assert not any("shh" in " ".join(c) for c in calls(record, 3))
        # Back in the window: nothing more.
        await ui.focus()
        await bob.send_message("#test", "alice: welcome back")
        await ui.until(lambda: "bob: alice: welcome back" in ui.lines("#test"))
        # Away again with notifications switched off: the bell and title mark only.
        window.change_setting("notifications", False)
        async with elsewhere(ui):
            bells = window.bells
            await bob.send_message("#test", "alice: quietly")
            await ui.until(lambda: window.bells == bells + 1, what="bell without notifications")
            assert ui.root.title().startswith("(@)")
        # /unmute lets the channel speak again.
        await ui.focus()
        await ui.type("/unmute #quiet")
        await ui.key("Return")
        await ui.until(lambda: not window.is_muted("#quiet"), what="/unmute")
    assert window.notifier.sent == 3
    assert len(calls(record, 3)) == 3


async def test_a_setting_refuses_a_value_it_does_not_take(server: ServerProcess, make_ui) -> None:
    ui = make_ui(server, "alice")
    for name, value in (
        ("join_parts", "sometimes"),
        ("time_format", "%s"),
        ("notifications", "no"),
        ("x", 1),
    ):
        with pytest.raises(ValueError, match=name):
            ui.window.change_setting(name, value)
    assert (ui.window.settings.join_parts, ui.window.settings.time_format) == ("collapse", "24h")
    ui.window.change_setting("theme", "system")  # whatever the desktop says, a real theme is used
    assert ui.window.theme.name in ("light", "dark") and ui.window.settings.theme == "system"
