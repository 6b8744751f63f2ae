"""Getting around the window, driven with real X key and mouse events against real servers:
the quick switcher, the next unread buffer, closing buffers, parted channels, replies in the
buffer that asked, the channel browser, context menus and connecting to another server."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

import pytest

import hubbub.client as hc
from tests.support.serverproc import ServerProcess

from .conftest import Ui
from .test_window import peer, ready


@pytest.fixture(autouse=True)
def no_tk_errors(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Fail the test when a Tk callback raised (Tk would only print it and carry on)."""
    import tkinter as tk
    import traceback

    raised: list[str] = []

    def report(
        _root: tk.Tk, kind: type[BaseException], value: BaseException, tb: TracebackType | None
    ) -> None:
        raised.append("".join(traceback.format_exception(kind, value, tb)))

    monkeypatch.setattr(tk.Tk, "report_callback_exception", report)
    yield
    assert not raised, "a Tk callback raised:\n" + "\n".join(raised)


def joined(ui: Ui, *channels: str) -> bool:
    return all((b := ui.state.buffer(c)) is not None and b.joined for c in channels)


async def click(ui: Ui, widget: object, x: int, y: int, button: str = "1") -> None:
    """A real mouse click at (x, y) inside ``widget``."""
    import tkinter as tk

    assert isinstance(widget, tk.Misc)
    where = (widget.winfo_rootx() + x, widget.winfo_rooty() + y)
    if widget.winfo_pointerxy() != where:  # --sync waits for a motion that never comes otherwise
        await ui.xdotool("mousemove", "--sync", str(where[0]), str(where[1]))
    await ui.xdotool("click", button)


async def click_row(ui: Ui, name: str, button: str) -> None:
    """Click the sidebar entry of buffer ``name``."""
    row = ui.window.sidebar.rows[name][1]
    await click(ui, row, 10, row.winfo_height() // 2, button)


def menu_labels(ui: Ui) -> list[str]:
    menu = ui.window.nav.menu
    end = menu.index("end")
    return [
        menu.entrycget(i, "label") for i in range(0 if end is None else end + 1) if menu.type(i) == "command"
    ]


def choose(ui: Ui, label: str) -> None:
    """Invoke the entry ``label`` of the open context menu, and close it."""
    menu = ui.window.nav.menu
    end = menu.index("end")
    assert end is not None
    index = next(
        i for i in range(end + 1) if menu.type(i) == "command" and menu.entrycget(i, "label") == label
    )
    menu.invoke(index)
    menu.unpost()


async def test_ctrl_k_opens_a_switcher_that_finds_a_buffer_by_part_of_its_name(
    server: ServerProcess, make_ui
) -> None:
    ui = make_ui(server, "alice", channels=("#test", "#general", "#random", "#design"))
    await ready(ui)
    await ui.until(lambda: joined(ui, "#general", "#random", "#design"))
    async with peer(server, "bob", channels=("#design",)) as bob:
        await bob.send_message("#design", "news in design")
        await ui.until(lambda: ui.state.buffer("#design").unread == 1)
        switcher = ui.window.nav.switcher
        await ui.key("ctrl+k")
        await ui.until(lambda: switcher.is_open() and ui.root.focus_get() is switcher.entry, what="switcher")
        # Nothing typed yet: the unread buffer comes first.
        assert switcher.listbox.get(0).startswith("#design")
        await ui.type("ran")
        await ui.until(lambda: switcher.listbox.get(0, "end") == ("#random",), what="filtered to #random")
        await ui.key("Return")
        await ui.until(lambda: ui.state.current == "#random" and not switcher.is_open(), what="switched")
        assert ui.root.focus_get() is ui.window.entry
        # Letters in order, arrows to choose among several.
        await ui.key("ctrl+k")
        await ui.until(lambda: switcher.is_open() and ui.root.focus_get() is switcher.entry)
        await ui.type("#e")
        await ui.until(lambda: len(switcher.matches) == 3, what="three matches")
        second = switcher.matches[1]
        await ui.key("Down")
        await ui.key("Return")
        await ui.until(lambda: ui.state.current == second, what="the second match")
        # Escape closes without switching; so does a second Ctrl+K.
        await ui.key("ctrl+k")
        await ui.until(lambda: switcher.is_open() and ui.root.focus_get() is switcher.entry)
        await ui.type("zzz")
        await ui.until(lambda: switcher.listbox.size() == 0)
        await ui.key("Return")  # nothing matches: nothing happens but closing
        await ui.until(lambda: not switcher.is_open())
        assert ui.state.current == second
        await ui.key("ctrl+k")
        await ui.until(lambda: switcher.is_open() and ui.root.focus_get() is switcher.entry)
        await ui.key("Escape")
        await ui.until(lambda: not switcher.is_open() and ui.root.focus_get() is ui.window.entry)
        assert ui.state.current == second
        # A member's nick, without a conversation yet: Enter opens one.
        await ui.key("ctrl+k")
        await ui.until(lambda: switcher.is_open() and ui.root.focus_get() is switcher.entry)
        await ui.type("bo")
        await ui.until(lambda: switcher.listbox.get(0, "end") == ("bob   (new conversation)",))
        await ui.key("Return")
        await ui.until(lambda: ui.state.current == "bob", what="a conversation with bob")


async def test_alt_a_and_ctrl_shift_down_jump_to_mentions_first_then_unread(
    server: ServerProcess, make_ui
) -> None:
    ui = make_ui(server, "alice", channels=("#test", "#b", "#c"))
    await ready(ui)
    await ui.until(lambda: joined(ui, "#b", "#c"))
    async with peer(server, "bob", channels=("#b", "#c")) as bob:
        await bob.send_message("#b", "plain news")
        await bob.send_message("#c", "alice: a question for you")
        await ui.until(lambda: ui.state.buffer("#c").mentions == 1 and ui.state.buffer("#b").unread == 1)
        await ui.key("alt+a")
        await ui.until(lambda: ui.state.current == "#c", what="the mention first")
        await ui.key("ctrl+shift+Down")
        await ui.until(lambda: ui.state.current == "#b", what="then the unread")
        assert ui.root.focus_get() is ui.window.entry
        await ui.key("alt+a")  # nothing left to read: stay
        ui.pump()
        assert ui.state.current == "#b"


async def test_closing_buffers_parts_channels_and_just_closes_conversations(
    server: ServerProcess, make_ui
) -> None:
    ui = make_ui(server, "alice", channels=("#test", "#other", "#third"))
    await ready(ui)
    await ui.until(lambda: joined(ui, "#other", "#third"))
    async with peer(server, "bob", channels=("#test", "#other", "#third")) as bob:
        # Ctrl+W on a channel: PART, the buffer goes, its neighbour is shown.
        ui.window.switch("#third")
        await ui.key("ctrl+w")
        await bob.wait_for(hc.Parted, timeout=5, nick="alice", channel="#third")
        await ui.until(lambda: ui.state.buffer("#third") is None and "#third" not in ui.window.sidebar.rows)
        assert ui.state.current == "#test"  # the one above it
        # Middle-click on a sidebar entry closes that one, wherever you are.
        await click_row(ui, "#other", "2")
        await bob.wait_for(hc.Parted, timeout=5, nick="alice", channel="#other")
        await ui.until(lambda: ui.state.buffer("#other") is None)
        assert ui.state.current == "#test"
        # A conversation just closes: no PART, no error.
        await bob.send_message("alice", "psst")
        await ui.until(lambda: ui.state.buffer("bob") is not None)
        ui.window.switch("bob")
        await ui.type("/close")
        await ui.key("Return")
        await ui.until(lambda: ui.state.buffer("bob") is None)
        # The server buffer stays.
        ui.window.switch("")
        await ui.key("ctrl+w")
        assert ui.state.buffer("") is not None
        assert "server buffer stays open" in ui.lines("")[-1]
        assert not any(ln.kind == "error" for ln in ui.state.buffer("#test").lines)


async def test_a_left_channel_stays_greyed_says_how_to_rejoin_and_closes_without_a_part(
    server: ServerProcess, make_ui
) -> None:
    ui = make_ui(server, "alice", channels=("#test",))
    await ready(ui)
    async with peer(server, "bob", channels=("#test", "#kick")) as bob:
        await ui.type("/part")
        await ui.key("Return")
        await bob.wait_for(hc.Parted, timeout=5, nick="alice", channel="#test")
        hint = "You left #test. /join #test to rejoin, Ctrl+W or /close to close it."
        await ui.until(lambda: ui.window.typing_label.cget("text") == hint, what="the rejoin hint")
        assert "You left #test" in ui.lines("#test")
        name_label = ui.window.sidebar.rows["#test"][1]
        assert name_label.cget("foreground") == ui.window.theme.muted  # greyed
        # Text typed there is not sent: the window says why instead.
        await ui.type("anyone?")
        await ui.key("Return")
        await ui.until(lambda: ui.lines("#test")[-1] == hint)
        # /join brings it back to life.
        await ui.type("/join #test")
        await ui.key("Return")
        await ui.until(lambda: joined(ui, "#test") and ui.window.typing_label.cget("text") == "")
        assert ui.window.sidebar.rows["#test"][1].cget("foreground") != ui.window.theme.muted
        # Kicked: the same, and closing it sends no PART (the server would say we are not there).
        await ui.type("/join #kick")
        await ui.key("Return")
        await ui.until(lambda: joined(ui, "#kick") and ui.state.current == "#kick")
        await bob.raw("KICK #kick alice :out")
        await ui.until(lambda: ui.state.buffer("#kick").parted, what="kicked")
        await ui.until(lambda: ui.window.typing_label.cget("text").startswith("You left #kick"))
        ui.window.banner.hide()
        await ui.focus()
        await ui.key("ctrl+w")
        await ui.until(lambda: ui.state.buffer("#kick") is None)
        await bob.request("PING", "fence")  # the server has had time to answer a stray PART
        ui.pump()
        errors = [ln.text for b in ui.state.buffers.values() for ln in b.lines if ln.kind == "error"]
        assert errors == [hint], ui.transcript()  # no "cannot send" for typing notifications, no 442


async def test_replies_go_to_the_buffer_the_command_was_typed_in(server: ServerProcess, make_ui) -> None:
    ui = make_ui(server, "alice")
    await ready(ui)
    async with peer(server, "bob") as bob:
        # A conversation with bob is open: WHOIS bob typed in #test still answers in #test.
        await bob.send_message("alice", "hello")
        await ui.until(lambda: ui.state.buffer("bob") is not None)
        await ui.type("/whois bob")
        await ui.key("Return")
        await ui.until(
            lambda: any(t.startswith("bob is on ") for t in ui.lines("#test")), what="whois in #test"
        )
        assert not any(t.startswith("bob is") for t in ui.lines("bob")), ui.lines("bob")
        assert not any(t.startswith("bob is") for t in ui.lines("")), ui.lines("")
        # A command the window does not know: its answer and its error come back here too.
        ui.window.switch("bob")
        await ui.focus()
        await ui.type("/lusers")
        await ui.key("Return")
        await ui.until(
            lambda: any(t.startswith("Current local users") for t in ui.lines("bob")), what="lusers"
        )
        await ui.type("/frobnicate")
        await ui.key("Return")
        await ui.until(
            lambda: any(ln.kind == "error" and "FROBNICATE" in ln.text for ln in ui.state.buffer("bob").lines)
        )
        # Replies nobody asked for from here still go where they belong.
        await bob.join("#bobroom")
        await bob.raw("INVITE alice #bobroom")
        await ui.until(
            lambda: "bob invited alice to #bobroom" in ui.lines(""), what="invite in the server buffer"
        )


@pytest.mark.timeout(120)
async def test_the_channel_browser_lists_filters_sorts_and_joins(
    tmp_path: Path, processes: list[ServerProcess], make_ui
) -> None:
    srv = ServerProcess(tmp_path / "data", "--no-flood-control", env={"HUBBUB_MAX_CHANNELS": "2000"})
    processes.append(srv)
    server = await srv.start()
    count = 1500
    async with peer(server, "bob", channels=()) as bob, peer(server, "carol", channels=()) as carol:
        names = [f"#room{i:04d}" for i in range(count)]
        for i in range(0, count, 40):
            await bob.raw("JOIN " + ",".join(names[i : i + 40]))
        await bob.request("PING", "fence")  # bob is first in every room, so its operator
        await carol.raw("JOIN #room0007,#room0042")
        await carol.request("PING", "fence")
        await bob.set_topic("#room0042", "The answer")
        await bob.wait_for(hc.TopicChanged, timeout=5, channel="#room0042", topic="The answer")
        ui = make_ui(server, "alice", channels=("#test",))
        await ready(ui)
        ui.window.max_tick_gap = 0.0
        await ui.type("/list")
        await ui.key("Return")
        await ui.until(lambda: ui.window.nav.browser is not None, what="browser opened")
        browser = ui.window.nav.browser
        await ui.until(lambda: len(browser.entries) == count + 1, timeout=30, what="the whole list")
        await ui.until(browser.loaded, timeout=30, what="all rows inserted")
        assert len(browser.tree.get_children()) == count + 1
        assert ui.window.max_tick_gap < 2.0, ui.window.max_tick_gap
        # Sorted by members: the two rooms with two members first, then by name.
        first = [browser.tree.item(r, "text") for r in browser.tree.get_children()[:3]]
        assert first == ["#room0007", "#room0042", "#room0000"]
        assert browser.tree.item(browser.tree.get_children()[1], "values")[1] == "The answer"
        # No replies scattered over the buffers: the list went to the browser only.
        for name in ("", "#test"):
            assert not any("#room" in t for t in ui.lines(name)), ui.lines(name)
        # Typing in the filter box (real keys, in the browser's own window) narrows it.
        await ui.xdotool("windowfocus", "--sync", str(int(browser.wm_frame(), 16)))
        browser.filter.focus_force()
        await ui.until(lambda: browser.focus_get() is browser.filter, what="filter focused")
        await ui.type("answer")
        await ui.until(lambda: browser.loaded() and len(browser.tree.get_children()) == 1, what="filtered")
        # Enter joins the chosen channel; the window shows it once joined.
        await ui.key("Return")
        await ui.until(lambda: joined(ui, "#room0042") and ui.state.current == "#room0042", what="joined")
        # Sorting by name, then the other way.
        browser.filter_var.set("")
        browser.sort("name")
        await ui.until(browser.loaded, timeout=30)
        assert browser.tree.item(browser.tree.get_children()[0], "text") == "#room0000"
        # ELIST U: "at least 2 members" asks the server for LIST >1, and it sends only those.
        assert "U" in ui.state.elist
        browser.min_var.set("3")
        browser.refresh()
        await ui.until(lambda: len(browser.entries) == 1, timeout=30, what="the server-side filter")
        assert [e.name for e in browser.entries] == ["#room0042"]  # bob, carol and alice
        # "/list >1" typed: the same box, filled in.
        ui.window.submit_input("/list >1")
        await ui.until(lambda: browser.min_var.get() == "2" and len(browser.entries) == 2, timeout=30)
        assert {e.name for e in browser.entries} == {"#room0007", "#room0042"}
        browser.destroy()


async def test_a_huge_channel_list_loads_without_freezing_the_window(server: ServerProcess, make_ui) -> None:
    from hubbub.gui import events as ev
    from hubbub.gui._browser import CHUNK

    ui = make_ui(server, "alice")
    await ready(ui)
    browser = ui.window.nav.open_browser()
    entries = tuple(ev.ChannelEntry(f"#c{i}", i % 97, "topic " * 10) for i in range(20000))
    # The rows go in a chunk per turn of the event loop: the first chunk at once, the rest later.
    browser.load(entries)
    assert len(browser.tree.get_children()) == CHUNK and not browser.loaded()
    await ui.until(browser.loaded, timeout=60, what="all rows inserted")
    # Through the window's event queue, as the network delivers it, keeping the window responsive.
    ui.window.max_tick_gap = 0.0
    ui.window.events.put(ev.ChannelListed(entries[::-1]))
    await ui.until(lambda: browser.entries[0].name == "#c19999", what="the list arrived")
    started = time.monotonic()
    await ui.until(browser.loaded, timeout=60, what="all rows inserted")
    assert len(browser.tree.get_children()) == 20000
    assert ui.window.max_tick_gap < 1.0, (ui.window.max_tick_gap, time.monotonic() - started)
    # An error answer is said in the browser, and keeps what it had.
    ui.window.events.put(ev.ChannelListed((), "LIST: Too many requests"))
    await ui.until(lambda: browser.status.cget("text") == "LIST: Too many requests")
    assert len(browser.entries) == 20000
    # Closed while loading, then an answer arriving for the closed window: nothing breaks.
    browser.load(entries)
    browser.destroy()
    ui.window.events.put(ev.ChannelListed(entries[:10]))
    await ui.until(lambda: ui.window.events.empty())
    ui.pump()
    assert ui.window.nav.browser is not None and not ui.window.nav.browser.winfo_exists()


async def test_the_channel_browser_says_when_the_server_cannot_answer(server: ServerProcess, make_ui) -> None:
    ui = make_ui(server, "alice")
    await ready(ui)
    await server.terminate()
    await ui.until(lambda: ui.state.connection in ("reconnecting", "disconnected"), what="drop noticed")
    await ui.type("/list")
    await ui.key("Return")
    await ui.until(lambda: ui.window.nav.browser is not None, what="browser opened")
    browser = ui.window.nav.browser
    await ui.until(lambda: "no channel list" in browser.status.cget("text"), what="the reason shown")
    assert "not connected" in browser.status.cget("text")
    # Refresh once the server is back: the list comes.
    await server.start()
    await ui.until(lambda: ui.state.connection == "connected" and joined(ui, "#test"), timeout=30)
    browser.refresh()
    await ui.until(lambda: [e.name for e in browser.entries] == ["#test"] and browser.loaded())


async def test_right_clicking_a_member_offers_operator_actions_to_an_operator(
    server: ServerProcess, make_ui
) -> None:
    ui = make_ui(server, "alice")
    await ready(ui)  # first in, so operator
    async with peer(server, "bob") as bob:
        members = ui.window.members
        await ui.until(lambda: len(members.rows()) == 2)
        t = members.text
        x, y, _, h = t.bbox("2.1")
        await click(ui, t, x + 2, y + h // 2, "3")
        await ui.until(lambda: "Kick" in menu_labels(ui), what="the member menu")
        labels = menu_labels(ui)
        assert labels == [
            "Open conversation",
            "Whois",
            "Give operator",
            "Give voice",
            "Kick",
            "Ban *!*@127.0.0.1",
        ]
        choose(ui, "Give voice")
        await bob.wait_for(hc.ModeChanged, timeout=5, target="#test", modes="+v")
        await ui.until(lambda: ui.state.buffer("#test").members["bob"].prefix == "+")
        await click(ui, t, x + 2, y + h // 2, "3")
        await ui.until(lambda: "Take voice" in menu_labels(ui))
        choose(ui, "Ban *!*@127.0.0.1")
        got = await bob.wait_for(hc.ModeChanged, timeout=5, target="#test", modes="+b")
        assert isinstance(got, hc.ModeChanged) and got.params == ("*!*@127.0.0.1",)
        await click(ui, t, x + 2, y + h // 2, "3")
        await ui.until(lambda: "Kick" in menu_labels(ui))
        choose(ui, "Whois")
        await ui.until(lambda: any(t.startswith("bob is on ") for t in ui.lines("#test")), what="whois here")
        await click(ui, t, x + 2, y + h // 2, "3")
        await ui.until(lambda: "Kick" in menu_labels(ui))
        choose(ui, "Kick")
        await bob.wait_for(hc.Kicked, timeout=5, nick="bob", channel="#test")
        await ui.until(lambda: len(members.rows()) == 1)
        # Without operator status: only the conversation and whois.
        await bob.join("#bobs")
        ui.window.submit_input("/join #bobs")
        await ui.until(
            lambda: joined(ui, "#bobs") and len(members.rows()) == 2 and ui.state.current == "#bobs"
        )
        row = next(i for i, r in enumerate(members.rows(), start=1) if r.endswith("bob"))
        x, y, _, h = t.bbox(f"{row}.1")
        await click(ui, t, x + 2, y + h // 2, "3")
        await ui.until(lambda: menu_labels(ui)[:1] == ["Open conversation"])
        assert menu_labels(ui) == ["Open conversation", "Whois"]
        choose(ui, "Open conversation")
        await ui.until(lambda: ui.state.current == "bob")


async def test_right_clicking_a_channel_marks_it_read_mutes_it_and_copies_its_name(
    server: ServerProcess, make_ui, tmp_path: Path
) -> None:
    ui = make_ui(server, "alice", channels=("#test", "#noisy"))
    await ready(ui)
    await ui.until(lambda: joined(ui, "#noisy"))
    async with peer(server, "bob", channels=("#noisy",)) as bob:
        await bob.send_message("#noisy", "one")
        await ui.until(lambda: ui.state.buffer("#noisy").unread == 1)
        await click_row(ui, "#noisy", "3")
        await ui.until(lambda: "Mark as read" in menu_labels(ui), what="the channel menu")
        assert menu_labels(ui) == [
            "Mark as read",
            "Mute notifications",
            "Leave channel",
            "Leave and close",
            "Copy name",
        ]
        choose(ui, "Mark as read")
        await ui.until(lambda: ui.state.buffer("#noisy").unread == 0)
        assert ui.window.sidebar.rows["#noisy"][2].winfo_manager() == ""
        await click_row(ui, "#noisy", "3")
        await ui.until(lambda: "Mute notifications" in menu_labels(ui))
        choose(ui, "Mute notifications")
        saved = json.loads((tmp_path / "config" / "gui.json").read_text())
        assert saved["muted"] == ["#noisy"]
        await bob.send_message("#noisy", "more chatter")
        await bob.send_message("#noisy", "alice: but this is for you")
        await ui.until(lambda: ui.state.buffer("#noisy").mentions == 1)
        assert ui.state.buffer("#noisy").unread == 1  # the mention only
        await click_row(ui, "#noisy", "3")
        await ui.until(lambda: "Unmute notifications" in menu_labels(ui))
        choose(ui, "Copy name")
        assert ui.root.clipboard_get() == "#noisy"
        await click_row(ui, "#noisy", "3")
        await ui.until(lambda: "Leave channel" in menu_labels(ui))
        choose(ui, "Leave channel")
        await bob.wait_for(hc.Parted, timeout=5, nick="alice", channel="#noisy")
        await ui.until(lambda: ui.state.buffer("#noisy").parted)
        await click_row(ui, "#noisy", "3")
        await ui.until(lambda: "Close" in menu_labels(ui))
        assert "Leave channel" not in menu_labels(ui)
        choose(ui, "Close")
        await ui.until(lambda: ui.state.buffer("#noisy") is None)


async def test_connect_to_reaches_the_form_and_adds_another_server(
    server: ServerProcess, tmp_path: Path, processes: list[ServerProcess], make_ui
) -> None:
    other = ServerProcess(tmp_path / "other-data", "--no-flood-control")
    processes.append(other)
    await other.start()
    ui = make_ui(server, "alice")
    await ready(ui)
    async with peer(server, "bob"), peer(other, "olga", channels=("#elsewhere",)) as olga:
        nav = ui.window.nav
        await click(ui, nav.more, 4, nav.more.winfo_height() // 2)
        await ui.until(lambda: "Connect to…" in menu_labels(ui), what="the ⋯ menu")
        choose(ui, "Connect to…")
        await ui.until(lambda: ui.window.form is not None and ui.window.form.winfo_viewable(), what="form")
        # Escape goes back to the chat without connecting: nothing changed.
        host_field = ui.window.form.entries["host"]
        host_field.focus_force()
        await ui.until(lambda: ui.root.focus_get() is host_field, what="form field focused")
        await ui.key("Escape")
        await ui.until(lambda: ui.window.form is None and ui.window.chat.winfo_viewable())
        assert ui.state.connection == "connected"
        ui.window.connect_elsewhere()
        form = ui.window.form
        assert form is not None
        for key, value in (("host", other.host), ("port", str(other.port)), ("nick", "alice")):
            form.vars[key].set(value)
        form.vars["channels"].set("#elsewhere")
        form.submit()
        await olga.wait_for(hc.Joined, timeout=10, nick="alice", channel="#elsewhere")
        await ui.until(lambda: ui.state.current == "#elsewhere", what="the other server's channel")
        # The first server stays connected, under its own node (tests/gui/test_servers.py).
        assert ui.state.buffer("#test") is None
        first = ui.window.sessions[0]
        assert first.state.buffer("#test") is not None and first.state.connection == "connected"
        await ui.focus()
        await ui.type("hello other server")
        await ui.key("Return")
        await olga.wait_for(hc.Message, timeout=5, text="hello other server")
