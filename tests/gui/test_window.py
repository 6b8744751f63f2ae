"""The desktop client against a real server, driven with real X key events under Xvfb."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

import hubbub.client as hc
from tests.support.serverproc import ServerProcess

from .conftest import Ui


@asynccontextmanager
async def peer(
    server: ServerProcess, nick: str, channels: tuple[str, ...] = ("#test",)
) -> AsyncIterator[hc.Client]:
    """Another user on the network, through the client library.

    Unpaced: the test servers run without flood control, and a peer may send hundreds of lines.
    """
    config = hc.ClientConfig(nick=nick, channels=channels)
    unpaced = hc.SendPacing(enabled=False)
    client = hc.Client(server.host, server.port, config, pacing=unpaced)
    await client.connect(timeout=5)
    for channel in channels:
        await client.wait_for(hc.Joined, timeout=5, channel=channel, is_self=True)
    try:
        yield client
    finally:
        await client.close()


async def ready(ui: Ui, channel: str = "#test") -> None:
    """Wait until the window is registered and in ``channel``, then show it and focus the input."""

    def joined() -> bool:
        buf = ui.state.buffer(channel)
        return buf is not None and buf.joined

    await ui.until(joined, what=f"joined {channel}")
    ui.window.switch(channel)
    await ui.focus()


async def test_typing_sends_a_message_that_another_client_receives(server: ServerProcess, make_ui) -> None:
    async with peer(server, "bob") as bob:
        ui = make_ui(server, "alice")
        await ready(ui)
        await ui.type("hello from the keyboard")
        await ui.until(lambda: ui.window.entry.get() == "hello from the keyboard", what="typed text")
        await ui.key("Return")
        await ui.until(lambda: ui.window.entry.get() == "", what="entry cleared by Enter")
        got = await bob.wait_for(hc.Message, timeout=5, text="hello from the keyboard")
        assert isinstance(got, hc.Message) and got.sender == "alice" and got.target == "#test"
        assert ui.window.entry.get() == ""
        # Our own line is shown once (echo-message), with our nick.
        await ui.until(lambda: "alice: hello from the keyboard" in ui.lines("#test"))
        assert ui.lines("#test").count("alice: hello from the keyboard") == 1


async def test_messages_from_others_appear_with_nick_and_server_time(server: ServerProcess, make_ui) -> None:
    ui = make_ui(server, "alice")
    await ready(ui)
    async with peer(server, "bob") as bob:
        await bob.send_message("#test", "hi alice-less world")
        await bob.send_action("#test", "waves")
        await ui.until(lambda: "bob: waves" in ui.lines("#test"))
        buf = ui.state.buffer("#test")
        line = next(ln for ln in buf.lines if ln.text == "hi alice-less world")
        assert line.nick == "bob" and line.kind == "message" and line.msgid
        assert abs(time.time() - line.time.timestamp()) < 60
        assert next(ln for ln in buf.lines if ln.text == "waves").kind == "action"
        shown = ui.window.view.text.get("1.0", "end")
        assert f"{line.time.astimezone():%H:%M}  bob  hi alice-less world" in shown
        assert "bob joined #test" in shown


async def test_unread_and_mention_badges_count_and_clear(server: ServerProcess, make_ui) -> None:
    ui = make_ui(server, "alice", channels=("#test", "#other"))
    await ready(ui)
    async with peer(server, "bob", channels=("#other",)) as bob:
        await ui.until(lambda: "bob" in [m.nick for m in ui.state.buffer("#other").members.values()])
        for text in ("one", "two", "alice: are you there?"):
            await bob.send_message("#other", text)
        await bob.send_message("alice", "a private word")
        await ui.until(lambda: ui.state.buffer("bob") is not None and ui.state.buffer("bob").unread == 1)
        other = ui.state.buffer("#other")
        assert (other.unread, other.mentions) == (3, 1)
        _, _, badge = ui.window.sidebar.rows["#other"]
        assert badge.cget("text") == "@ 1"
        _, _, dm_badge = ui.window.sidebar.rows["bob"]
        assert dm_badge.cget("text") == "@ 1"
        assert ui.window.sidebar.rows["#test"][2].winfo_manager() == ""  # no badge: nothing unread
        ui.window.switch("#other")
        ui.pump()
        assert (other.unread, other.mentions) == (0, 0)
        assert ui.window.sidebar.rows["#other"][2].winfo_manager() == ""
        assert "new messages" not in ui.window.view.text.get("1.0", "end")


async def test_the_new_messages_line_marks_what_others_wrote_while_away(
    server: ServerProcess, make_ui
) -> None:
    ui = make_ui(server, "alice", join_parts="show")  # each join and part on its own line
    await ready(ui)
    text = ui.window.view.text
    async with peer(server, "bob") as bob:
        await ui.until(lambda: "bob joined #test" in ui.lines("#test"))
        ui.window.switch("")
        await bob.part("#test")
        await ui.until(lambda: "bob left #test" in ui.lines("#test"))
        ui.window.switch("#test")
        assert "new messages" not in text.get("1.0", "end")  # comings and goings are no news
        ui.window.switch("")
        await bob.join("#test")
        await bob.send_message("#test", "while you were away")
        await ui.until(lambda: "bob: while you were away" in ui.lines("#test"))
        ui.window.switch("#test")
        shown = text.get("1.0", "end")
        marker = shown.index("new messages")
        assert shown.index("bob left") < marker < shown.rindex("bob joined") < shown.index("while you were")
        ui.window.switch("#test")  # shown again while shown: the line stays where it was
        await bob.send_message("#test", "and more")
        await ui.until(lambda: "bob: and more" in ui.lines("#test"))
        ui.window.set_theme("dark")  # draws everything again
        shown = text.get("1.0", "end")
        assert shown.count("new messages") == 1
        assert shown.index("new messages") < shown.index("while you were") < shown.index("and more")


async def test_keyboard_switches_buffers_and_keeps_the_entry_focused(server: ServerProcess, make_ui) -> None:
    ui = make_ui(server, "alice", channels=("#test", "#zeta"))
    await ready(ui)
    await ui.until(lambda: ui.state.buffer("#zeta") is not None and ui.state.buffer("#zeta").joined)
    await ui.key("alt+3")  # server, #test, #zeta
    await ui.until(lambda: ui.state.current == "#zeta", what="Alt+3")
    assert ui.root.focus_get() is ui.window.entry
    await ui.key("ctrl+Prior")
    await ui.until(lambda: ui.state.current == "#test", what="Ctrl+PgUp")
    await ui.key("ctrl+Next", "ctrl+Next")
    await ui.until(lambda: ui.state.current == "", what="Ctrl+PgDn wraps to the server buffer")
    assert ui.root.focus_get() is ui.window.entry
    ui.window.switch("#test")
    assert ui.window.buffer_title.cget("text") == "#test"


async def test_slash_commands_act_on_the_server(server: ServerProcess, make_ui) -> None:
    ui = make_ui(server, "alice")
    await ready(ui)  # first in the channel: alice is its operator and may set the topic
    async with peer(server, "bob") as bob:
        await ui.type("/me dances")
        await ui.key("Return")
        got = await bob.wait_for(hc.Message, timeout=5, text="dances")
        assert isinstance(got, hc.Message) and got.kind == "action"
        await ui.type("/topic Release day")
        await ui.key("Return")
        await bob.wait_for(hc.TopicChanged, timeout=5, topic="Release day")
        await ui.until(lambda: ui.window.topic.cget("text") == "Release day")
        await ui.type("/msg bob psst")
        await ui.key("Return")
        await bob.wait_for(hc.Message, timeout=5, text="psst", target="alice")
        await ui.type("/nick alicia")
        await ui.key("Return")
        await bob.wait_for(hc.NickChanged, timeout=5, old="alice", new="alicia")
        await ui.until(lambda: ui.state.nick == "alicia")
        await ui.type("/frobnicate now")
        await ui.key("Return")
        await ui.until(lambda: any("FROBNICATE" in t for t in ui.lines("#test")), what="raw notice")
        await ui.type("/join #second")
        await ui.key("Return")
        await ui.until(lambda: ui.state.current == "#second" and ui.state.buffer("#second").joined)
        ui.window.switch("#test")
        await ui.focus()
        await ui.type("/part")
        await ui.key("Return")
        await bob.wait_for(hc.Parted, timeout=5, nick="alicia", channel="#test")


async def test_a_topic_set_before_joining_is_shown_but_not_announced_as_a_change(
    server: ServerProcess, make_ui
) -> None:
    async with peer(server, "bob") as bob:  # first in #test, so its operator
        await bob.set_topic("#test", "Set just before")
        await bob.wait_for(hc.TopicChanged, timeout=5, topic="Set just before")
        ui = make_ui(server, "alice")
        await ready(ui)
        await ui.until(lambda: ui.window.topic.cget("text") == "Set just before", what="topic shown")
        await ui.until(lambda: len(ui.state.buffer("#test").members) == 2)
        assert not any("set the topic" in t for t in ui.lines("#test")), ui.lines("#test")
        await bob.set_topic("#test", "Changed while alice is in")
        await ui.until(lambda: "bob set the topic: Changed while alice is in" in ui.lines("#test"))
        assert ui.window.topic.cget("text") == "Changed while alice is in"
        assert sum("set the topic" in t for t in ui.lines("#test")) == 1


async def test_tab_completes_nicks_and_up_recalls_input(server: ServerProcess, make_ui) -> None:
    async with peer(server, "bobby"), peer(server, "carol"):
        ui = make_ui(server, "alice")
        await ready(ui)
        await ui.until(lambda: len(ui.state.buffer("#test").members) == 3)
        await ui.type("bo")
        await ui.key("Tab")
        await ui.until(lambda: ui.window.entry.get() == "bobby: ")
        await ui.type("hi")
        await ui.key("Return")
        await ui.until(lambda: ui.window.entry.get() == "")
        await ui.key("Up")
        await ui.until(lambda: ui.window.entry.get() == "bobby: hi")


async def test_multiline_paste_asks_then_sends_it_as_one_multiline_message(
    server: ServerProcess, make_ui
) -> None:
    """The server offers draft/multiline, so a pasted block goes as one message, lines and all."""
    async with peer(server, "bob") as bob:
        ui = make_ui(server, "alice")
        await ready(ui)
        ui.root.clipboard_clear()
        ui.root.clipboard_append("first line\nsecond line\nthird line\n")
        await ui.key("ctrl+v")
        await ui.until(lambda: ui.window.banner.kind == "paste", what="paste question")
        assert "3 lines" in ui.window.banner.label.cget("text")
        ui.window.banner.buttons[0].invoke()
        await bob.wait_for(hc.Message, timeout=5, text="first line\nsecond line\nthird line")
        assert ui.window.banner.kind == ""


async def test_history_is_shown_on_join_and_older_pages_load_at_the_top(
    server: ServerProcess, make_ui
) -> None:
    async with peer(server, "bob") as bob:
        for i in range(150):
            await bob.send_message("#test", f"old message {i}")
        # A fence: once the server answered this, every message above is stored.
        await bob.request("PING", "fence")
        ui = make_ui(server, "alice")
        await ready(ui)
        await ui.until(lambda: "bob: old message 149" in ui.lines("#test"), what="history on join")
        shown = [t for t in ui.lines("#test") if t.startswith("bob: old message")]
        assert "bob: old message 0" not in shown
        view = ui.window.view
        view.text.yview_moveto(0.0)
        view.scrollbar.set(0.0, 0.1)
        view._scroll_command("moveto", "0.0")  # what dragging the scrollbar to the top does
        await ui.until(lambda: "bob: old message 0" in ui.lines("#test"), what="older history")
        msgs = [t for t in ui.lines("#test") if t.startswith("bob: old message")]
        assert msgs == [f"bob: old message {i}" for i in range(150)]


async def test_server_restart_makes_the_window_reconnect(server: ServerProcess, make_ui) -> None:
    ui = make_ui(server, "alice")
    await ready(ui)
    await server.terminate()
    await ui.until(lambda: ui.state.connection in ("reconnecting", "disconnected"), what="drop noticed")
    assert "Reconnecting" in ui.window.status.cget("text") or "Disconnected" in ui.window.status.cget("text")
    # Several attempts fail while the server is down: the status bar follows them, the buffers
    # say once that the connection was lost.
    await ui.until(lambda: "attempt 2" in ui.window.status.cget("text"), what="a second attempt")
    for name in ("", "#test"):
        assert sum("Disconnected" in t for t in ui.lines(name)) == 1, ui.lines(name)
    await server.start()
    await ui.until(
        lambda: ui.state.connection == "connected" and ui.state.buffer("#test").joined,
        timeout=30,
        what="reconnected and rejoined",
    )
    async with peer(server, "bob") as bob:
        await ui.type("back again")
        await ui.key("Return")
        await bob.wait_for(hc.Message, timeout=5, text="back again")


async def test_a_flood_of_messages_keeps_the_window_responsive(server: ServerProcess, make_ui) -> None:
    ui = make_ui(server, "alice", max_lines=2000)
    await ready(ui)
    async with peer(server, "flood") as flood:
        ui.window.max_tick_gap = 0.0
        count = 5000
        for i in range(count):
            await flood.send_message("#test", f"flood {i}")
            if i % 500 == 0:
                ui.pump()
        await ui.until(lambda: "flood: flood 4999" in ui.lines("#test"), timeout=45, what="all applied")
        buf = ui.state.buffer("#test")
        assert len(buf.lines) == 2000  # bounded, the newest kept
        texts = [ln.text for ln in buf.lines if ln.nick == "flood"]
        assert texts == [f"flood {i}" for i in range(count - len(texts), count)]
        assert ui.window.max_tick_gap < 2.0, ui.window.max_tick_gap
        assert int(ui.window.view.text.index("end").split(".")[0]) < 2000 * 1.3 + 50


async def test_a_mention_while_unfocused_rings_and_marks_the_title(server: ServerProcess, make_ui) -> None:
    ui = make_ui(server, "alice")
    await ready(ui)
    # Another application's window takes the focus, as when the user works elsewhere.
    other = await asyncio.create_subprocess_exec(
        sys.executable, "-c", "import tkinter as t; r = t.Tk(); r.title('elsewhere'); r.mainloop()"
    )
    try:
        await ui.xdotool("search", "--sync", "--name", "elsewhere", "windowfocus", "--sync")
        await ui.until(lambda: not ui.window._focused, what="window unfocused")
        async with peer(server, "bob") as bob:
            await bob.send_message("#test", "alice: look here")
            await ui.until(lambda: ui.window.bells == 1, what="bell")
            assert ui.root.title().startswith("(@)")
            await bob.send_message("#test", "no mention here")
            await ui.until(lambda: "bob: no mention here" in ui.lines("#test"))
            assert ui.window.bells == 1
    finally:
        other.terminate()
        await other.wait()
    await ui.focus()
    await ui.until(lambda: not ui.root.title().startswith("(@)"), what="title cleared")


async def test_emoji_and_other_scripts_are_shown_without_error(server: ServerProcess, make_ui) -> None:
    ui = make_ui(server, "alice")
    await ready(ui)
    samples = ["emoji 😀🎉👍🏽", "中文 日本語 한국어", "العربية עברית", "ελληνικά русский", "✓ ★ ☕"]
    async with peer(server, "bob") as bob:
        for text in samples:
            await bob.send_message("#test", text)
        await ui.until(lambda: f"bob: {samples[-1]}" in ui.lines("#test"))
        shown = ui.window.view.text.get("1.0", "end")
        for text in samples[1:]:
            assert text in shown
        # The emoji line is there; either as emoji or, on a Tk that refuses them, as replacement marks.
        assert "emoji " in shown


async def test_nick_in_use_offers_to_pick_another(server: ServerProcess, make_ui) -> None:
    async with peer(server, "alice"):
        ui = make_ui(server, "alice")
        await ui.until(lambda: ui.window.banner.kind == "nick", what="nick question")
        await ui.until(lambda: ui.state.connection == "connected" and ui.state.nick != "alice")
        ui.window.banner.entry.delete(0, "end")
        ui.window.banner.entry.insert(0, "alice2")
        ui.window.banner.buttons[0].invoke()
        await ui.until(lambda: ui.state.nick == "alice2", what="new nick")


async def test_cannot_connect_is_shown_in_the_window(xvfb: str, tmp_path, make_ui) -> None:
    dead = ServerProcess(tmp_path / "nowhere")
    dead.port = 9  # discard: nothing listens there on loopback
    ui = make_ui(dead, "alice")
    await ui.until(lambda: ui.state.connection == "failed", what="failure shown")
    assert "Cannot connect" in ui.window.status.cget("text")
    assert any("Cannot connect" in t for t in ui.lines(""))


@pytest.mark.timeout(60)
async def test_the_command_line_connects_straight_away(server: ServerProcess, xvfb: str, tmp_path) -> None:
    async with peer(server, "bob") as bob:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "hubbub",
            "gui",
            "--host",
            server.host,
            "--port",
            str(server.port),
            "--nick",
            "launcher",
            "--join",
            "#test",
            "--theme",
            "dark",
            "--config-dir",
            str(tmp_path / "cfg"),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            await bob.wait_for(hc.Joined, timeout=15, nick="launcher", channel="#test")
        finally:
            proc.terminate()
            _, err = await asyncio.wait_for(proc.communicate(), 10)
        assert b"Traceback" not in err
        # SIGTERM leaves the network as closing the window does: with a QUIT, not a dropped line.
        quit_event = await bob.wait_for(hc.Quit, timeout=10, nick="launcher")
        assert quit_event.reason == "Quit: Leaving", quit_event
        assert proc.returncode == 0


async def focus_by_x(ui: Ui) -> None:
    """Give the window the X focus as a window manager would, without choosing a widget for Tk."""
    ui.root.deiconify()
    await ui.until(lambda: ui.root.winfo_viewable(), what="window mapped")
    await ui.xdotool("windowfocus", "--sync", str(int(ui.root.wm_frame(), 16)))


async def test_the_channel_joined_at_start_is_shown_and_typing_goes_there(
    server: ServerProcess, make_ui
) -> None:
    async with peer(server, "bob") as bob:
        ui = make_ui(server, "alice", channels=("#test",))  # as `hubbub gui --join '#test'`
        await ui.until(lambda: ui.state.current == "#test", what="the joined channel shown")
        assert ui.window.buffer_title.cget("text") == "#test"
        assert ui.root.title() == "#test — hubbub"
        await focus_by_x(ui)
        await ui.until(lambda: ui.root.focus_get() is ui.window.entry, what="the entry focused")
        await ui.type("straight away")
        await ui.key("Return")
        got = await bob.wait_for(hc.Message, timeout=5, text="straight away")
        assert isinstance(got, hc.Message) and got.target == "#test"
        assert not any(ln.kind == "error" for b in ui.state.buffers.values() for ln in b.lines)


async def test_joins_from_the_form_and_from_slash_join_show_the_channel(
    server: ServerProcess, xvfb: str, tmp_path
) -> None:
    import gc
    import tkinter as tk

    from hubbub.gui import events as ev
    from hubbub.gui import profiles
    from hubbub.gui.app import ChatWindow

    root = tk.Tk()
    window = ChatWindow(root, profiles.Settings(), tmp_path / "config")
    try:
        window.show_connect_form()
        ui = Ui(root, window)
        form = window.form
        assert form is not None
        for key, value in (("host", server.host), ("port", str(server.port)), ("nick", "alice")):
            form.vars[key].set(value)
        form.vars["channels"].set("formed, #other")
        form.submit()
        # The first channel joined is shown, and stays shown when the second one is joined.
        await ui.until(lambda: ui.state.current == "#formed", what="the form's channel shown")
        await ui.until(lambda: (b := ui.state.buffer("#other")) is not None and b.joined)
        assert ui.state.current == "#formed"
        await ui.focus()
        await ui.type("/join #second")
        await ui.key("Return")
        await ui.until(lambda: ui.state.current == "#second" and ui.state.buffer("#second").joined)
        assert ui.root.focus_get() is window.entry
        # Asked, then the user went elsewhere before the server answered: they stay where they went.
        window._expect_join(("#third",))
        window.switch("#formed")
        assert window.bridge is not None
        window.bridge.submit(ev.JoinChannels(("#third",)))
        await ui.until(lambda: (b := ui.state.buffer("#third")) is not None and b.joined)
        assert ui.state.current == "#formed"
        # /join of a channel we are in shows it at once.
        await ui.type("/join #third")
        await ui.key("Return")
        await ui.until(lambda: ui.state.current == "#third", what="already joined channel shown")
    finally:
        window.close()
        del root, window
        gc.collect()


async def test_the_server_buffer_reads_like_text_and_errors_stay_readable(
    server: ServerProcess, make_ui
) -> None:
    import re

    async with peer(server, "bob"):
        ui = make_ui(server, "alice")
        await ready(ui)
        await ui.until(lambda: any(t.startswith("Signed on") for t in ui.lines("")), what="registered")
        lines = ui.lines("")
        assert any(t.startswith("Welcome to the") for t in lines), lines
        host_line = next(t for t in lines if t.startswith("Your host is "))
        host, version = re.fullmatch(r"Your host is (\S+), running version (\S+)", host_line).groups()
        assert any(re.fullmatch(r"Current local users \d+, max \d+", t) for t in lines), lines
        assert any(re.fullmatch(r"Current global users \d+, max \d+", t) for t in lines), lines
        for t in lines:
            assert not t.startswith(f"{host} {version}"), t  # RPL_MYINFO
            assert "are supported by this server" not in t and "CHANTYPES=" not in t, t  # ISUPPORT
            assert not re.match(r"\d+ \d+ ", t), t  # counts before the text
            assert not t.startswith("-") and "End of /MOTD" not in t, t
        ui.window.switch("")
        assert ui.root.title() == "hubbub"  # the network is called hubbub: not "hubbub — hubbub"
        shown = ui.window.view.text.get("1.0", "end")
        assert re.search(r"\d\d:\d\d  Current local users \d+, max \d+\n", shown)
        ui.window.switch("#test")
        await ui.focus()

        def error_line(start: str) -> bool:
            buf = ui.state.buffer("#test")
            return any(ln.kind == "error" and ln.text.startswith(start) for ln in buf.lines)

        for typed, expected in [
            ("/frobnicate now", "FROBNICATE: "),
            ("/msg nobody hello", "nobody: No such nick"),
            ("/chathistory latest #nowhere * 10", "CHATHISTORY LATEST #nowhere: "),
        ]:
            await ui.type(typed)
            await ui.key("Return")
            await ui.until(lambda e=expected: error_line(e), what=expected)
        # WHOIS answers appear where the question was asked, as sentences.
        await ui.type("/whois bob")
        await ui.key("Return")
        await ui.until(lambda: any(t.startswith("bob is on ") for t in ui.lines("#test")), what="whois")
        whois = [t for t in ui.lines("#test") if t.startswith("bob ")]
        assert any(re.fullmatch(r"bob is \S+@127\.0\.0\.1( \(.*\))?", t) for t in whois), whois
        assert not any("End of" in t for t in ui.lines("#test"))


async def test_member_nicks_line_up_whatever_their_prefix(server: ServerProcess, make_ui) -> None:
    from hubbub.gui._view import IDLE_SCROLLBAR, SCROLLBAR

    ui = make_ui(server, "alice")
    await ready(ui)  # first in, so operator
    async with peer(server, "bob") as bob:
        members = ui.window.members
        await ui.until(lambda: len(members.rows()) == 2, what="two members listed")
        assert [r.replace("\t", "|") for r in members.rows()] == ["@|alice", "|bob"]
        t = members.text
        x_alice, x_bob = t.bbox("1.2")[0], t.bbox("2.1")[0]
        assert x_alice == x_bob and x_alice > t.bbox("1.0")[0]
        # Double-clicking a nick opens a conversation with them.
        x, y, _, h = t.bbox("2.1")
        await ui.xdotool(
            "mousemove", "--sync", str(t.winfo_rootx() + x + 2), str(t.winfo_rooty() + y + h // 2)
        )
        await ui.xdotool("click", "--repeat", "2", "--delay", "60", "1")
        await ui.until(lambda: ui.state.current == "bob", what="conversation opened")
        # Only channels have members: elsewhere the panel makes room for the messages.
        assert members.winfo_manager() == ""
        ui.window.switch("#test")
        assert members.winfo_manager() == "panedwindow"
        # The scrollbar shows a thumb only when there is something to scroll.
        assert str(ui.window.view.scrollbar.cget("style")) == IDLE_SCROLLBAR
        for i in range(60):
            await bob.send_message("#test", f"line {i}")
        await ui.until(lambda: "bob: line 59" in ui.lines("#test"))
        await ui.until(lambda: str(ui.window.view.scrollbar.cget("style")) == SCROLLBAR, what="thumb shown")


async def test_a_renamed_channel_keeps_its_buffer_under_the_new_name(server: ServerProcess, make_ui) -> None:
    """draft/channel-rename: "When a client receives a RENAME message, it SHOULD update any
    internal state that refers to the old channel name to the new name" -- here the sidebar
    entry, the open buffer with its lines, and where typed text goes."""
    ui = make_ui(server, "alice")
    await ready(ui)  # first in the channel: alice is its operator and may rename it
    async with peer(server, "bob") as bob:
        await bob.send_message("#test", "before the move")
        await ui.until(lambda: "bob: before the move" in ui.lines("#test"))
        await ui.type("/rename #renamed moving house")
        await ui.key("Return")
        got = await bob.wait_for(hc.ChannelRenamed, timeout=5)
        assert isinstance(got, hc.ChannelRenamed) and (got.old, got.new) == ("#test", "#renamed")
        assert got.reason == "moving house" and got.by == "alice"
        await ui.until(lambda: ui.state.current == "#renamed", what="buffer renamed")
        assert ui.state.buffer("#test") is None
        ui.pump()
        assert "#renamed" in ui.window.sidebar.rows and "#test" not in ui.window.sidebar.rows
        shown = ui.window.view.text.get("1.0", "end")
        assert shown.index("before the move") < shown.index("#test is now #renamed (moving house)")
        await ui.type("still here")
        await ui.key("Return")
        message = await bob.wait_for(hc.Message, timeout=5, text="still here")
        assert isinstance(message, hc.Message) and message.target == "#renamed"


async def test_deleted_messages_are_shown_as_deleted_and_operators_can_delete(
    server: ServerProcess, make_ui
) -> None:
    """draft/message-redaction: on REDACT clients "SHOULD hide or replace the content of the
    redacted message"; a channel operator may redact any message of the channel -- here from the
    message's right-click menu."""
    ui = make_ui(server, "alice")
    await ready(ui)  # first in the channel: alice is its operator
    text = ui.window.view.text
    async with peer(server, "bob") as bob:
        await bob.send_message("#test", "a regrettable remark")
        await bob.send_message("#test", "spam spam spam")
        await ui.until(lambda: "bob: spam spam spam" in ui.lines("#test"))
        # A right-click on bob's line offers "Delete message"; choosing it sends REDACT.
        buf = ui.state.buffer("#test")
        spam = next(ln for ln in buf.lines if ln.text == "spam spam spam")
        row = next(r for r, ln in ui.window.view.rows.items() if ln is spam)
        text.see(f"{row}.0")
        ui.pump()
        x, y, _w, h = text.bbox(f"{row}.0")
        await ui.xdotool(
            "mousemove", "--sync", str(text.winfo_rootx() + x + 40), str(text.winfo_rooty() + y + h // 2)
        )
        await ui.xdotool("click", "3")
        menu = ui.window.message_menu
        await ui.until(lambda: menu.index("end") is not None, what="the message menu")
        labels = [menu.entrycget(i, "label") for i in range(menu.index("end") + 1)]
        assert labels == ["Reply", "React", "Delete message"]
        menu.invoke(labels.index("Delete message"))
        menu.unpost()
        redacted = await bob.wait_for(hc.MessageRedacted, timeout=5)
        assert isinstance(redacted, hc.MessageRedacted)
        assert (redacted.target, redacted.msgid, redacted.by) == ("#test", spam.msgid, "alice")
        await ui.until(lambda: spam.deleted, what="the line marked deleted")
        shown = text.get("1.0", "end")
        assert "spam spam spam" not in shown
        # bob's second message is grouped under his first: no nick, its text at the tab stop.
        assert "bob  a regrettable remark\n" in shown and "\t(message deleted)\n" in shown
        assert "deleted" in text.tag_names(text.search("(message deleted)", "1.0"))
        assert "a regrettable remark" in shown
        # A line the window cannot delete offers no menu.
        assert not ui.window.can_delete(next(ln for ln in buf.lines if ln.kind == "event"))


async def test_typing_is_shown_under_the_input_and_sent_while_typing(server: ServerProcess, make_ui) -> None:
    """typing client tag: "+typing=active" while composing, "done" when the text is cleared
    unsent; receivers show it and a message from the typist ends it."""
    ui = make_ui(server, "alice")
    await ready(ui)
    label = ui.window.typing_label
    async with peer(server, "bob") as bob:
        await ui.until(lambda: "bob joined #test" in ui.lines("#test"))
        await bob.typing("#test", "active")
        await ui.until(lambda: label.cget("text") == "bob is typing…", what="bob typing shown")
        await bob.send_message("#test", "done typing")
        await ui.until(lambda: label.cget("text") == "", what="typing cleared by the message")
        await ui.type("hel")
        got = await bob.wait_for(hc.Typing, timeout=5, nick="alice")
        assert got == hc.Typing("#test", "alice", "active")
        await ui.key("BackSpace", "BackSpace", "BackSpace")
        await ui.until(lambda: ui.window.entry.get() == "", what="entry emptied")
        got = await bob.wait_for(hc.Typing, timeout=5, nick="alice")
        assert got == hc.Typing("#test", "alice", "done")


async def test_member_display_names_are_shown_beside_their_nicks(server: ServerProcess, make_ui) -> None:
    """draft/metadata-2: a client subscribed to a key ("METADATA * SUB display-name") gets the
    values of the members of a channel it joins and "METADATA <Target> <Key> ..." on each change."""
    async with peer(server, "bob") as bob:
        await bob.raw("METADATA * SET display-name :Bob Builder")
        ui = make_ui(server, "alice")
        await ready(ui)
        rows = ui.window.members.rows
        await ui.until(lambda: any(r.endswith("bob  Bob Builder") for r in rows()), what="display name")
        await bob.raw("METADATA * SET display-name :Robert")
        await ui.until(lambda: any(r.endswith("bob  Robert") for r in rows()), what="changed display name")
        await bob.raw("METADATA * CLEAR")
        await ui.until(lambda: any(r.endswith("bob") for r in rows()), what="display name removed")
        client_user = ui.state.buffer("#test").members["bob"]
        assert client_user.display_name == ""
