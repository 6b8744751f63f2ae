"""The desktop client sending a paste, coming back after a restart, and connecting from its form,
driven with real X key events against real hubbub servers."""

from __future__ import annotations

import asyncio
import gc
import json
import re
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

import hubbub.client as hc
from tests.support.serverproc import ServerProcess

from .conftest import Ui
from .test_window import peer, ready

PASTE = [f"pasted line {i:02d} " + "·" * 40 for i in range(40)]


@pytest.mark.timeout(120)
@pytest.mark.parametrize("multiline", [True, False], ids=["multiline", "line-by-line"])
async def test_a_pasted_block_of_40_lines_arrives_whole_with_the_default_flood_control(
    tmp_path: Path, processes: list[ServerProcess], make_ui: Callable[..., Ui], multiline: bool
) -> None:
    # The server's default flood control: burst 5, then 2 messages a second. (The server would hold
    # back lines sent too fast rather than drop them; the window's own pacing is what the status
    # bar's count shows, and tests/client/test_sending.py shows that it avoids a drop.)
    server = ServerProcess(tmp_path / "data")
    processes.append(server)
    await server.start()
    async with peer(server, "bob") as bob:
        ui = make_ui(server, "alice", multiline=multiline)
        await ready(ui)
        ui.root.clipboard_clear()
        ui.root.clipboard_append("\n".join(PASTE) + "\n")
        await ui.key("ctrl+v")
        await ui.until(lambda: ui.window.banner.kind == "paste", what="paste question")
        assert "40 lines" in ui.window.banner.label.cget("text")
        await ui.key("Return")  # answers the question, which has the keyboard
        await ui.until(lambda: ui.window.banner.kind == "", what="question answered")
        assert ui.root.focus_get() is ui.window.entry
        if not multiline:
            # One message per line, 35 of them paced: the status bar counts them out.
            status = ui.window.status
            await ui.until(lambda: "sending" in status.cget("text"), what="progress shown")
            assert re.search(r"sending \d+ of 40 lines to #test…", status.cget("text"))
        got: list[str] = []
        while len(got) < 40:
            event = await bob.wait_for(hc.Message, timeout=30, sender="alice")
            assert isinstance(event, hc.Message)
            got += event.text.split("\n")
            ui.pump()
        assert got == PASTE
        await ui.until(lambda: "sending" not in ui.window.status.cget("text"), what="progress gone")
        assert ui.state.connection == "connected"
        assert not any(ln.kind == "error" for b in ui.state.buffers.values() for ln in b.lines), (
            ui.transcript()
        )


async def test_after_a_restart_with_a_fresh_store_no_raw_error_and_no_stale_topic(
    tmp_path: Path, processes: list[ServerProcess], make_ui: Callable[..., Ui]
) -> None:
    """The msgid the window fills the gap from is unknown to the new store: it says in words that
    messages may be missing, shows no protocol error, and the topic bar and members are the
    server's now, not what they were before the restart."""
    first = ServerProcess(tmp_path / "first", "--no-flood-control")
    processes.append(first)
    await first.start()
    ui = make_ui(first, "alice")
    await ready(ui)  # first in #test: its operator
    async with peer(first, "bob") as bob:
        await bob.send_message("#test", "before the restart")
        await ui.until(lambda: "bob: before the restart" in ui.lines("#test"))
        await ui.type("/topic Old news")
        await ui.key("Return")
        await ui.until(lambda: ui.window.topic.cget("text") == "Old news", what="topic shown")
        await ui.until(lambda: len(ui.window.members.rows()) == 2, what="bob listed")
    await ui.until(lambda: len(ui.window.members.rows()) == 1, what="bob gone")
    await first.terminate()
    await ui.until(lambda: ui.state.connection != "connected", what="drop noticed")
    fresh = ServerProcess(tmp_path / "fresh", "--no-flood-control")
    fresh.port = first.port
    processes.append(fresh)
    await fresh.start()
    missing = "Some messages from while you were away may be missing."
    await ui.until(lambda: missing in ui.lines("#test"), timeout=30, what="the gap reported in words")
    assert ui.state.buffer("#test").joined
    everything = [t for b in ui.state.buffers.values() for t in ui.lines(b.name)]
    assert not any("CHATHISTORY" in t or "msgid=" in t or "message reference" in t for t in everything)
    assert ui.window.topic.cget("text") == ""
    assert [r.split("\t")[-1] for r in ui.window.members.rows()] == ["alice"]
    await ui.focus()
    await ui.type("/topic New era")
    await ui.key("Return")
    await ui.until(lambda: ui.window.topic.cget("text") == "New era", what="the new topic")


@pytest.fixture
async def form_ui(xvfb: str, tmp_path: Path) -> AsyncIterator[Callable[..., Ui]]:
    """``form_ui(**settings)``: a window showing the connect form, with its own config directory."""
    import tkinter as tk

    from hubbub.gui import profiles
    from hubbub.gui.app import ChatWindow

    made: list[Ui] = []

    def make(**settings: object) -> Ui:
        root = tk.Tk()
        window = ChatWindow(root, profiles.Settings(**settings), tmp_path / "config")  # type: ignore[arg-type]
        window.show_connect_form()
        made.append(Ui(root, window))
        return made[-1]

    yield make
    for ui in made:
        ui.window.close()
    made.clear()
    gc.collect()  # the Tk interpreter is freed on this thread (see tests/gui/conftest.py)


async def fill_field(ui: Ui, key: str, value: str) -> None:
    """Replace a form field's text by typing, as a person would."""
    form = ui.window.form
    assert form is not None
    entry = form.entries[key]
    entry.focus_force()
    await ui.until(lambda: ui.root.focus_get() is entry, what=f"{key} focused")
    entry.delete(0, "end")
    await ui.type(value)
    await ui.until(lambda: entry.get() == value, what=f"{key} typed")


async def show_form(ui: Ui) -> None:
    ui.root.deiconify()
    await ui.until(lambda: ui.root.winfo_viewable(), what="window mapped")
    await ui.xdotool("windowfocus", "--sync", str(int(ui.root.wm_frame(), 16)))


def saved_profiles(tmp_path: Path) -> list[dict[str, object]]:
    path = tmp_path / "config" / "gui.json"
    if not path.exists():
        return []
    data = json.loads(path.read_text())
    return list(data.get("profiles", []))


async def test_a_failed_connect_from_the_form_returns_to_it_and_saves_only_what_worked(
    server: ServerProcess, form_ui: Callable[..., Ui], tmp_path: Path
) -> None:
    ui = form_ui()
    await show_form(ui)
    await fill_field(ui, "host", server.host)
    await fill_field(ui, "nick", "alice")
    await fill_field(ui, "channels", "#test")
    # A wrong port: nothing listens there.
    await fill_field(ui, "port", "9")
    await ui.key("Return")
    await ui.until(lambda: ui.window.form is not None and ui.window.chat is None, what="back to the form")
    form = ui.window.form
    assert form is not None
    await ui.until(lambda: "Could not connect" in form.error.cget("text"), what="the reason")
    assert "the connection was refused" in form.error.cget("text"), form.error.cget("text")
    assert (form.vars["host"].get(), form.vars["port"].get()) == (server.host, "9")
    assert (form.vars["nick"].get(), form.vars["channels"].get()) == ("alice", "#test")
    assert saved_profiles(tmp_path) == []
    # A nick the server does not allow: refused at registration, said in the server's words.
    await fill_field(ui, "port", str(server.port))
    await fill_field(ui, "nick", "9lives")
    await ui.key("Return")
    await ui.until(
        lambda: ui.window.form is not None and "nickname 9lives" in ui.window.form.error.cget("text"),
        what="the nick refused",
    )
    assert saved_profiles(tmp_path) == []
    # Right at last: connected, and only now remembered, with the port that worked.
    await fill_field(ui, "nick", "alice")
    await ui.key("Return")
    await ui.until(lambda: ui.window.state is not None and ui.state.connection == "connected")
    await ui.until(lambda: bool(saved_profiles(tmp_path)), what="profile saved")
    (profile,) = saved_profiles(tmp_path)
    assert (profile["host"], profile["port"], profile["nick"]) == (server.host, server.port, "alice")


async def test_a_connect_that_times_out_from_the_form_says_so(
    form_ui: Callable[..., Ui], tmp_path: Path
) -> None:
    """A server that accepts and never answers (or a TLS handshake nobody completes)."""

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # until the client gives up
        writer.close()

    mute = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = mute.sockets[0].getsockname()[1]
    try:
        ui = form_ui(connect_timeout=1.5)
        await show_form(ui)
        await fill_field(ui, "host", "127.0.0.1")
        await fill_field(ui, "port", str(port))
        form = ui.window.form
        assert form is not None
        form.tls.set(True)
        await fill_field(ui, "nick", "alice")
        await ui.key("Return")
        await ui.until(
            lambda: ui.window.form is not None and "Could not connect" in ui.window.form.error.cget("text"),
            what="back to the form",
        )
        assert "no answer in time" in ui.window.form.error.cget("text")
        assert ui.window.form.tls.get() is True  # what was typed and ticked is kept
        assert saved_profiles(tmp_path) == []
    finally:
        mute.close()
        await mute.wait_closed()


async def test_without_tkinter_the_gui_command_says_what_to_install() -> None:
    blocker = (
        "import sys; sys.modules['tkinter'] = None; from hubbub.cli import main; sys.exit(main(['gui']))"
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", blocker, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    text = err.decode()
    assert proc.returncode == 1
    assert "Traceback" not in text and not out
    assert "sudo apt install python3-tk" in text
    assert "python3-tkinter" in text and "brew install python-tk" in text
