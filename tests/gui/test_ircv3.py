"""Replies, reactions and read markers in the window, against a real server, with real X input."""

from __future__ import annotations

import asyncio
import tkinter as tk
from collections.abc import Awaitable
from pathlib import Path
from typing import TypeVar

import pytest

import hubbub.client as hc
from hubbub.gui.buffers import Line
from hubbub.gui.reactions import counts
from tests.support.serverproc import ServerProcess

from .conftest import Ui
from .test_window import peer, ready

T = TypeVar("T")
PASSWORD = "read-marker-password"
FAST_HASHES = {"HUBBUB_PASSWORD_HASH_MEMORY_KIB": "1024", "HUBBUB_PASSWORD_HASH_TIME_COST": "1"}
WAIT = 10.0


@pytest.fixture
async def account_server(tmp_path: Path, processes: list[ServerProcess]) -> ServerProcess:
    """A server with cheap password hashes, for tests that register accounts."""
    srv = ServerProcess(tmp_path / "data", "--no-flood-control", env=FAST_HASHES)
    processes.append(srv)
    return await srv.start()


def chat_line(ui: Ui, buffer: str, text: str) -> Line:
    buf = ui.state.buffer(buffer)
    assert buf is not None
    return next(ln for ln in buf.lines if ln.text == text)


async def click_index(ui: Ui, index: str, button: str = "1", dx: int = 6) -> None:
    """Scroll text ``index`` into view and click it with the real pointer."""
    text = ui.window.view.text
    text.see(index)
    ui.pump()
    box = text.bbox(index)
    assert box is not None, f"{index} is not visible"
    x, y, _w, h = box
    px, py = text.winfo_rootx() + x + dx, text.winfo_rooty() + y + h // 2
    # Two moves: Tk learns which text is under the pointer (its "current" mark) from motion.
    await ui.xdotool("mousemove", "--sync", str(px - 1), str(py))
    await ui.xdotool("mousemove", "--sync", str(px), str(py))
    row = text.index(index).split(".")[0]
    await ui.until(lambda: text.index("current").split(".")[0] == row, what=f"the pointer over {index}")
    await ui.xdotool("click", button)


async def open_menu(ui: Ui, line: Line) -> list[str]:
    """Right-click ``line``; the labels of the message menu."""
    row = min(r for r, ln in ui.window.view.rows.items() if ln is line)
    await click_index(ui, f"{row}.0", "3", dx=40)
    menu = ui.window.message_menu
    await ui.until(lambda: menu.index("end") is not None, what="the message menu")
    return [menu.entrycget(i, "label") for i in range(menu.index("end") + 1)]


async def pumped(ui: Ui, awaitable: Awaitable[T]) -> T:
    """Await ``awaitable`` while Tk keeps running (the window's timers fire meanwhile)."""
    task = asyncio.ensure_future(awaitable)
    try:
        await ui.until(task.done, what="a library event")
    finally:
        task.cancel()
    return task.result()


async def click_entry(ui: Ui, menu: tk.Menu, label: str) -> None:
    """Click the entry ``label`` of a posted ``menu`` with the real pointer."""
    await ui.until(lambda: menu.winfo_ismapped(), what=f"the menu with {label}")
    index = next(
        i
        for i in range(menu.index("end") + 1)
        if menu.type(i) != "separator" and menu.entrycget(i, "label") == label
    )
    top = menu.yposition(index)
    bottom = menu.yposition(index + 1) if index < menu.index("end") else menu.winfo_height()
    x, y = menu.winfo_rootx() + 30, menu.winfo_rooty() + (top + bottom) // 2
    await ui.xdotool("mousemove", "--sync", str(x - 1), str(y))
    await ui.xdotool("mousemove", "--sync", str(x), str(y))
    # Tk invokes the active entry: wait until the motion has made it this one.
    await ui.until(lambda: menu.index("active") == index, what=f"{label} active")
    await ui.xdotool("click", "1")


async def invoke(ui: Ui, labels: list[str], label: str) -> None:
    """Choose ``label`` in the message menu by clicking it."""
    assert label in labels
    await click_entry(ui, ui.window.message_menu, label)
    await ui.until(lambda: not ui.window.message_menu.winfo_ismapped(), what="the menu gone")
    # Without a window manager nobody hands the focus back after a popup menu.
    await ui.focus()


async def test_a_reply_goes_out_tagged_and_a_reply_received_is_quoted_and_jumps_to_its_original(
    server: ServerProcess, make_ui
) -> None:
    """reply client tag: "+draft/reply=<msgid>"; the window shows what a reply answers and takes
    the reader there when the quote is clicked."""
    async with peer(server, "bob") as bob:
        ui = make_ui(server, "alice")
        await ready(ui)
        question = "who is bringing the cake to the party on friday evening"
        await bob.send_message("#test", question)
        await ui.until(lambda: f"bob: {question}" in ui.lines("#test"))
        asked = chat_line(ui, "#test", question)

        labels = await open_menu(ui, asked)
        assert labels == ["Reply", "React"]  # bob came first: alice is no operator here
        await invoke(ui, labels, "Reply")
        strip = ui.window.replies.label
        await ui.until(lambda: strip.winfo_ismapped(), what="the replying-to strip")
        assert strip.cget("text") == "replying to bob: who is bringing the cake to the party…"
        await ui.type("me!")
        await ui.key("Return")
        got = await bob.wait_for(hc.Message, timeout=WAIT, text="me!")
        assert isinstance(got, hc.Message) and got.reply_to == asked.msgid
        await ui.until(lambda: not strip.winfo_ismapped(), what="the strip gone after sending")
        # The next message answers nothing.
        await ui.type("and a plain one")
        await ui.key("Return")
        plain = await bob.wait_for(hc.Message, timeout=WAIT, text="and a plain one")
        assert isinstance(plain, hc.Message) and plain.reply_to is None

        # Alt+R then Escape: a reply started and dropped.
        await ui.key("alt+r")
        await ui.until(lambda: strip.winfo_ismapped(), what="Alt+R starts a reply")
        assert strip.cget("text").startswith("replying to bob: who is")
        await ui.key("Escape")
        await ui.until(lambda: not strip.winfo_ismapped(), what="Escape drops the reply")

        # bob answers alice's message after enough lines to scroll it out of view.
        await ui.until(lambda: "alice: me!" in ui.lines("#test"))
        mine = chat_line(ui, "#test", "me!")
        for i in range(60):
            await bob.send_message("#test", f"filler {i}")
        await bob.send_message("#test", "great, thanks", reply=mine.msgid)
        await ui.until(lambda: "bob: great, thanks" in ui.lines("#test"))
        view = ui.window.view
        shown = view.text.get("1.0", "end")
        assert "↪ alice: me!\n" in shown
        quote = view.text.search("↪ alice: me!", "1.0")
        assert "quote" in view.text.tag_names(quote)
        mine_row = min(r for r, ln in view.rows.items() if ln is mine)
        assert view.text.bbox(f"{mine_row}.0") is None  # scrolled out of view
        await click_index(ui, quote)
        await ui.until(lambda: view.extras.flashing(), what="the original flashing")
        assert view.text.bbox(f"{mine_row}.0") is not None
        assert "flash" in view.text.tag_names(f"{mine_row}.2")


async def test_the_original_of_a_reply_not_loaded_is_fetched_around_its_msgid(
    server: ServerProcess, make_ui
) -> None:
    """chathistory AROUND: a reply whose original is older than the page loaded on join brings
    the messages around the original, and the window jumps to it."""
    async with peer(server, "bob") as bob:
        await bob.send_message("#test", "the very first words")
        first = await bob.wait_for(hc.Message, timeout=WAIT, text="the very first words")
        assert isinstance(first, hc.Message) and first.msgid
        for i in range(120):
            await bob.send_message("#test", f"later {i}")
        await bob.send_message("#test", "about those first words", reply=first.msgid)
        await bob.wait_for(hc.Message, timeout=WAIT, text="about those first words")

        ui = make_ui(server, "alice")
        await ready(ui)
        await ui.until(lambda: "bob: about those first words" in ui.lines("#test"), what="history")
        assert "bob: the very first words" not in ui.lines("#test")
        view = ui.window.view
        quote = view.text.search("↪ a message not loaded here", "1.0")
        assert quote
        await click_index(ui, quote)
        await ui.until(lambda: "bob: the very first words" in ui.lines("#test"), what="AROUND page")
        await ui.until(lambda: view.extras.flashing(), what="the original flashing")
        original = chat_line(ui, "#test", "the very first words")
        row = min(r for r, ln in view.rows.items() if ln is original)
        assert view.text.bbox(f"{row}.0") is not None
        assert "↪ bob: the very first words\n" in view.text.get("1.0", "end")


async def test_a_reaction_from_another_client_is_counted_and_clicking_it_toggles_ours(
    server: ServerProcess, make_ui
) -> None:
    """react client tag: a TAGMSG with "+draft/react" and "+draft/reply"; "+draft/unreact" takes
    one's own back. Reactions kept in history are applied to their messages in a new window."""
    async with peer(server, "bob") as bob:
        ui = make_ui(server, "alice")
        await ready(ui)
        await ui.type("lunch at noon?")
        await ui.key("Return")
        said = await bob.wait_for(hc.Message, timeout=WAIT, text="lunch at noon?")
        assert isinstance(said, hc.Message) and said.msgid
        await bob.react("#test", said.msgid, "👍")
        buf = ui.state.buffer("#test")
        await ui.until(lambda: counts(buf, said.msgid, "alice") == [("👍", 1, False)], what="bob's 👍")
        extras = ui.window.view.extras
        await ui.until(lambda: extras.chip_index(said.msgid, "👍") is not None, what="the count drawn")
        chip = extras.chip_index(said.msgid, "👍")
        assert chip is not None and "chip_own" not in ui.window.view.text.tag_names(chip)
        assert ui.window.view.text.get(chip, f"{chip} lineend").strip() in ("👍 1", "\ufffd 1")

        # Clicking the count adds ours...
        await click_index(ui, chip)
        mine = await bob.wait_for(hc.Reaction, timeout=WAIT, sender="alice")
        assert isinstance(mine, hc.Reaction) and (mine.reaction, mine.removed) == ("👍", False)
        await ui.until(lambda: counts(buf, said.msgid, "alice") == [("👍", 2, True)], what="our 👍")
        await ui.until(lambda: extras.chip_index(said.msgid, "👍") is not None)
        chip = extras.chip_index(said.msgid, "👍")
        assert chip is not None and "chip_own" in ui.window.view.text.tag_names(chip)
        # ...and clicking it again takes it back.
        await click_index(ui, chip)
        back = await bob.wait_for(hc.Reaction, timeout=WAIT, sender="alice")
        assert isinstance(back, hc.Reaction) and (back.reaction, back.removed) == ("👍", True)
        await ui.until(lambda: counts(buf, said.msgid, "alice") == [("👍", 1, False)], what="ours gone")

        # The message's menu reacts too.
        labels = await open_menu(ui, chat_line(ui, "#test", "lunch at noon?"))
        assert labels == ["Reply", "React", "Delete message"]
        react_menu = ui.window.replies.react_menu
        choices = [
            react_menu.entrycget(i, "label")
            for i in range(react_menu.index("end") + 1)
            if react_menu.type(i) != "separator"
        ]
        assert choices == ["👍", "❤️", "😂", "🎉", "👀", "🙏", "Other…"]
        await click_entry(ui, ui.window.message_menu, "React")
        # Under Xvfb without a window manager the submenu gets no pointer motion (the popup's grab
        # holds it), so its entry is chosen with invoke(); the cascade itself was opened by a click.
        await ui.until(lambda: react_menu.winfo_ismapped(), what="the React submenu")
        react_menu.invoke(choices.index("🎉"))
        ui.window.message_menu.unpost()
        ui.root.grab_release()
        await ui.focus()
        party = await bob.wait_for(hc.Reaction, timeout=WAIT, sender="alice")
        assert isinstance(party, hc.Reaction) and party.reaction == "🎉"
        await ui.until(lambda: counts(buf, said.msgid, "alice") == [("👍", 1, False), ("🎉", 1, True)])

        # A window opened later reads them from history.
        later = make_ui(server, "carol")
        await later.until(lambda: "alice: lunch at noon?" in later.lines("#test"), what="carol's history")
        carol_buf = later.state.buffer("#test")
        await later.until(
            lambda: counts(carol_buf, said.msgid, "carol") == [("👍", 1, False), ("🎉", 1, False)],
            what="reactions from history",
        )


async def test_two_windows_of_one_account_agree_on_what_is_unread(
    account_server: ServerProcess, make_ui
) -> None:
    """draft/read-marker: reading in one place (a library client of the account here) clears the
    window's unread count; reading in the window sends MARKREAD to the account's other devices;
    a window joining later counts unread from the server's marker."""
    server = account_server
    phone = hc.Client(server.host, server.port, hc.ClientConfig(nick="alice", channels=("#test", "#other")))
    await phone.connect(timeout=WAIT)
    try:
        await phone.send_message("NickServ", f"REGISTER {PASSWORD}")
        await phone.wait_for(hc.Joined, timeout=WAIT, channel="#other", is_self=True)
        ui = make_ui(server, "alice", channels=("#test", "#other"), password=PASSWORD)
        await ready(ui, "#test")
        other = ui.state.buffer("#other")
        assert other is not None
        async with peer(server, "bob", channels=("#other",)) as bob:
            for text in ("one", "two", "three"):
                await bob.send_message("#other", text)
            seen = await phone.wait_for(hc.Message, timeout=WAIT, text="three")
            assert isinstance(seen, hc.Message)
            await ui.until(lambda: other.unread == 3, what="three unread in #other")
            # Read on the phone: the window's count goes.
            await phone.mark_read("#other", seen.time)
            await ui.until(lambda: other.unread == 0, what="unread cleared by the phone's marker")
            assert other.read_marker is not None and other.read_marker.text == "three"

            # Read in the window (shown, at the bottom, focused): the phone hears of it.
            for text in ("four", "five"):
                await bob.send_message("#other", text)
            five = await phone.wait_for(hc.Message, timeout=WAIT, text="five")
            assert isinstance(five, hc.Message)
            await ui.until(lambda: other.unread == 2, what="two new unread")
            assert [b.name for b in ui.state.ordered()].index("#other") == 1
            await ui.key("alt+2")
            await ui.until(lambda: ui.state.current == "#other", what="#other shown")
            # The window's MARKREAD waits a moment (debounced): keep Tk running meanwhile.
            marker = await pumped(
                ui, phone.wait_for(hc.ReadMarker, timeout=WAIT, target="#other", time=five.time)
            )
            assert isinstance(marker, hc.ReadMarker)

            # Back in #test; two more, the phone reads the first: one unread, here and in a
            # window that joins only now.
            await ui.key("alt+3")
            await ui.until(lambda: ui.state.current == "#test", what="#test shown")
            await bob.send_message("#other", "six")
            six = await phone.wait_for(hc.Message, timeout=WAIT, text="six")
            assert isinstance(six, hc.Message)
            # Markers are times in milliseconds: "seven" must be later than "six" to stay unread.
            while True:
                await bob.send_message("#other", "seven")
                seven = await phone.wait_for(hc.Message, timeout=WAIT, text="seven")
                assert isinstance(seven, hc.Message)
                if seven.time > six.time:
                    break  # (one sent in the same millisecond as "six" is read with it)
            await phone.mark_read("#other", six.time)
            await ui.until(lambda: other.unread == 1, what="one unread after the phone read six")
            second = make_ui(server, "alice", channels=(), password=PASSWORD)

            def second_counts() -> bool:
                buf = second.state.buffer("#other")
                return buf is not None and "bob: seven" in second.lines("#other") and buf.unread == 1

            await second.until(second_counts, what="the new window's unread from the marker")
            assert second.state.buffer("#test").unread == 0
    finally:
        await phone.close()


async def test_a_reply_to_a_message_the_server_does_not_know_says_so(server: ServerProcess, make_ui) -> None:
    """A reply naming a msgid that history does not have (made up, or deleted): clicking its quote
    asks the server, and the window says the original is gone instead of waiting forever."""
    async with peer(server, "bob") as bob:
        ui = make_ui(server, "alice")
        await ready(ui)
        await bob.send_message("#test", "as I said", reply="no-such-message-id")
        await ui.until(lambda: "bob: as I said" in ui.lines("#test"))
        view = ui.window.view
        quote = view.text.search("↪ a message not loaded here", "1.0")
        assert quote
        await click_index(ui, quote)
        await ui.until(
            lambda: "The original message is no longer in the history." in ui.lines("#test"),
            what="the window saying the original is gone",
        )
        assert not view.extras.flashing()
        # The window goes on: a later message and reaction are shown as usual.
        await bob.send_message("#test", "still here")
        await ui.until(lambda: "bob: still here" in ui.lines("#test"))
