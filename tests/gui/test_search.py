"""/search in the desktop client: typed with real X key events, against a real server."""

from __future__ import annotations

import hubbub.client as hc
from tests.support.serverproc import ServerProcess

from .conftest import Ui
from .test_window import peer, ready


def rows(ui: Ui) -> list[tuple[str, ...]]:
    """The results window's rows as (time, where, nick, text)."""
    results = ui.window.search.results
    assert results is not None and results.tree is not None
    tree = results.tree
    return [tuple(str(v) for v in tree.item(iid, "values")) for iid in tree.get_children()]


def status(ui: Ui) -> str:
    results = ui.window.search.results
    assert results is not None and results.status is not None
    return str(results.status.cget("text"))


async def search(ui: Ui, command: str) -> None:
    """Type ``command`` in the input line and press Enter, then wait for the results."""
    await ui.focus()
    await ui.type(command)
    await ui.until(lambda: ui.window.entry.get() == command, what="typed /search")
    await ui.key("Return")
    await ui.until(
        lambda: ui.window.search.results is not None and "Searching" not in status(ui),
        what="search answered",
    )


async def double_click_row(ui: Ui, index: int) -> None:
    """Double-click result ``index`` with the real pointer."""
    results = ui.window.search.results
    assert results is not None and results.tree is not None and results.top is not None
    tree = results.tree
    iid = tree.get_children()[index]
    tree.see(iid)
    ui.pump()
    await ui.until(lambda: bool(tree.bbox(iid, "text")), what="row drawn")
    x, y, w, h = tree.bbox(iid, "text")
    await ui.xdotool(
        "mousemove", "--sync", str(tree.winfo_rootx() + x + w // 2), str(tree.winfo_rooty() + y + h // 2)
    )
    await ui.xdotool("click", "--repeat", "2", "--delay", "60", "1")


async def test_search_in_the_channel_lists_results_and_double_click_jumps_to_the_message(
    server: ServerProcess, make_ui
) -> None:
    async with peer(server, "bob", channels=("#test", "#other")) as bob:
        ui = make_ui(server, "alice", channels=("#test", "#other"))
        await ready(ui)
        await ui.until(lambda: "bob" in ui.state.buffer("#test").members, what="bob listed")
        await bob.send_message("#test", "the Deploy failed")
        await bob.send_message("#test", "lunch?")
        await bob.send_message("#other", "deploy elsewhere")
        await bob.send_action("#test", "fixes the deploy")
        await ui.until(lambda: "bob: fixes the deploy" in ui.lines("#test"), what="lines arrived")
        await search(ui, "/search deploy")
        assert [(r[1], r[2], r[3]) for r in rows(ui)] == [
            ("#test", "bob", "the Deploy failed"),
            ("#test", "* bob", "fixes the deploy"),
        ]
        assert all(r[0][:4].isdigit() for r in rows(ui))  # each with its date and time
        assert "2 messages in #test" in status(ui)
        # Elsewhere, then double-click the first result: back in #test, scrolled to it, marked.
        ui.window.switch("#other")
        await double_click_row(ui, 0)
        first = next(ln for ln in ui.state.buffer("#test").lines if ln.text == "the Deploy failed")
        await ui.until(lambda: ui.window.search.revealed == first.msgid, what="jumped to the result")
        assert ui.state.current == "#test"
        text = ui.window.view.text
        marked = text.tag_ranges("found")
        assert marked and "the Deploy failed" in text.get(marked[0], marked[1])


async def test_search_all_finds_channels_and_direct_messages_and_opens_the_conversation(
    server: ServerProcess, make_ui
) -> None:
    async with peer(server, "bob", channels=("#other",)) as bob:
        ui = make_ui(server, "alice", channels=("#test", "#other"))
        await ready(ui)
        await ui.until(lambda: "bob" in ui.state.buffer("#other").members, what="bob listed")
        await bob.send_message("#other", "kiwi in the channel")
        await bob.send_message("alice", "kiwi for you alone")
        await ui.until(lambda: "bob: kiwi for you alone" in ui.lines("bob"), what="DM arrived")
        ui.window.switch("#test")
        await search(ui, "/search kiwi")  # in #test: nothing
        assert rows(ui) == []
        assert "0 messages in #test" in status(ui)
        await search(ui, "/search -all KIWI")
        assert [(r[1], r[3]) for r in rows(ui)] == [
            ("#other", "kiwi in the channel"),
            ("bob", "kiwi for you alone"),
        ]
        ui.window.switch("#test")
        await double_click_row(ui, 1)
        await ui.until(lambda: ui.state.current == "bob", what="conversation shown")
        dm = next(ln for ln in ui.state.buffer("bob").lines if ln.text == "kiwi for you alone")
        await ui.until(lambda: ui.window.search.revealed == dm.msgid, what="DM result marked")


async def test_a_result_not_loaded_is_fetched_around_its_message(server: ServerProcess, make_ui) -> None:
    async with peer(server, "bob") as bob:
        await bob.send_message("#test", "the needle is here")
        for i in range(130):  # more than the 100 lines loaded on join
            await bob.send_message("#test", f"filler {i}")
        await bob.send_message("#test", "the last filler")
        # bob's own copy of the last line: everything before it is stored.
        await bob.wait_for(hc.Message, timeout=10, text="the last filler")
        ui = make_ui(server, "alice")
        await ready(ui)
        await ui.until(lambda: "bob: the last filler" in ui.lines("#test"), what="recent history loaded")
        assert "bob: the needle is here" not in ui.lines("#test")
        await search(ui, "/search needle")
        assert [r[3] for r in rows(ui)] == ["the needle is here"]
        await double_click_row(ui, 0)
        await ui.until(lambda: "bob: the needle is here" in ui.lines("#test"), what="history around it")
        needle = next(ln for ln in ui.state.buffer("#test").lines if ln.text == "the needle is here")
        await ui.until(lambda: ui.window.search.revealed == needle.msgid, what="scrolled to the needle")
        text = ui.window.view.text
        _first, last = text.yview()
        assert last < 1.0  # not at the bottom: at the needle, far up
        assert "the needle is here" in text.get(*text.tag_ranges("found")[:2])


async def test_a_refused_search_and_a_blank_one_are_explained(server: ServerProcess, make_ui) -> None:
    ui = make_ui(server, "alice")
    await ready(ui)
    await ui.type("/search")
    await ui.key("Return")
    await ui.until(lambda: any("usage: /search" in ln for ln in ui.lines("#test")), what="usage shown")
    assert ui.window.search.results is None  # nothing sent, no window
    await search(ui, "/search " + "word " * 20)  # more words than the server takes
    assert "Search failed" in status(ui) and "16 words" in status(ui) and rows(ui) == []
    await ui.until(lambda: any("Search failed" in ln for ln in ui.lines("#test")), what="error shown")
    assert sum("16 words" in ln for ln in ui.lines("#test")) == 1  # said once, not also as a raw FAIL


async def test_without_search_on_the_server_the_window_says_so(tmp_path, processes, make_ui) -> None:
    server = ServerProcess(tmp_path / "mini", kind="miniircd")
    processes.append(server)
    await server.start()
    ui = make_ui(server, "alice")
    await ready(ui)
    await search(ui, "/search anything")
    assert "does not offer search" in status(ui)
    assert any("does not offer search" in ln for ln in ui.lines("#test"))
