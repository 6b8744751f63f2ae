"""Several servers in one window, driven with real X key and mouse events against TWO real
hubbub servers: a node per server in the sidebar, each message in the right buffer under the
right node, switching across servers by key, badges per server, closing one server."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

import hubbub.client as hc
from hubbub.gui.buffers import SERVER, Buffer, ChatState
from hubbub.gui.events import ConnectOptions
from hubbub.gui.servers import Session, listed, next_unread, position, step
from tests.support.serverproc import ServerProcess

from .conftest import Ui
from .test_nav import choose, click, menu_labels, no_tk_errors  # noqa: F401 (a fixture)
from .test_window import peer, ready


@pytest.fixture
async def other(tmp_path: Path, processes: list[ServerProcess]) -> ServerProcess:
    """A second hubbub server, a network of its own."""
    srv = ServerProcess(tmp_path / "other-data", "--no-flood-control")
    processes.append(srv)
    return await srv.start()


def in_channel(ui: Ui, sid: int, channel: str) -> bool:
    session = next((s for s in ui.window.sessions if s.sid == sid), None)
    buf = session.state.buffer(channel) if session is not None else None
    return buf is not None and buf.joined


async def add_server(ui: Ui, srv: ServerProcess, nick: str, channel: str) -> int:
    """ "Connect to…" from the ⋯ menu, the form filled and sent with Return; the new server's id."""
    nav = ui.window.nav
    await click(ui, nav.more, 4, nav.more.winfo_height() // 2)
    await ui.until(lambda: "Connect to…" in menu_labels(ui), what="the ⋯ menu")
    choose(ui, "Connect to…")
    await ui.until(lambda: ui.window.form is not None and ui.window.form.winfo_viewable(), what="form")
    form = ui.window.form
    for key, value in (("host", srv.host), ("port", str(srv.port)), ("nick", nick), ("channels", channel)):
        form.vars[key].set(value)
    field = form.entries["nick"]
    field.focus_force()
    await ui.until(lambda: ui.root.focus_get() is field, what="form field focused")
    await ui.key("Return")
    await ui.until(lambda: len(ui.window.sessions) == 2, what="a second server")
    sid = ui.window.sessions[1].sid
    await ui.until(lambda: in_channel(ui, sid, channel), what=f"joined {channel} on the second server")
    await ui.until(lambda: ui.window.session.sid == sid and ui.state.current == channel, what="shown")
    return sid


def badge(ui: Ui, sid: int, name: str) -> str:
    label = ui.window.sidebar.entries[(sid, name)][2]
    return str(label.cget("text")) if label.winfo_manager() else ""


def node_badge(ui: Ui, sid: int) -> str:
    label = ui.window.sidebar.nodes[sid][3]
    return str(label.cget("text")) if label.winfo_manager() else ""


async def test_two_servers_messages_land_under_their_node_and_keys_switch_across_them(
    server: ServerProcess, other: ServerProcess, make_ui
) -> None:
    ui = make_ui(server, "alice", channels=("#test",))
    await ready(ui)
    first = ui.window.session.sid
    await ui.focus()
    async with peer(server, "bob") as bob, peer(other, "olga", channels=("#far",)) as olga:
        second = await add_server(ui, other, "alice", "#far")
        sidebar = ui.window.sidebar
        # A tree: a node per server, its channels under it; the first server is still connected.
        await ui.until(lambda: set(sidebar.nodes) == {first, second}, what="two nodes")
        assert (first, "#test") in sidebar.entries and (second, "#far") in sidebar.entries
        assert ui.window.sessions[0].state.connection == "connected"
        # A message on each server: each in its own buffer, unread only where it is not shown.
        await bob.send_message("#test", "from the first network")
        await olga.send_message("#far", "from the second network")
        a, b = ui.window.sessions
        await ui.until(lambda: a.state.buffer("#test").unread == 1, what="unread on the first server")
        await ui.until(
            lambda: any("from the second network" in ln.text for ln in b.state.buffer("#far").lines)
        )
        assert not any("second network" in ln.text for ln in a.state.buffer("#test").lines)
        assert b.state.buffer("#far").unread == 0  # shown: read
        await ui.until(lambda: badge(ui, first, "#test") == "1", what="badge under the first node")
        # A collapsed node carries the sum of what is under it.
        arrow = sidebar.nodes[first][1]
        await click(ui, arrow, arrow.winfo_width() // 2, arrow.winfo_height() // 2)
        await ui.until(lambda: a.collapsed and (first, "#test") not in sidebar.entries, what="collapsed")
        await ui.until(lambda: node_badge(ui, first) == "1", what="summed badge on the node")
        await bob.send_message("#test", "alice: are you there?")
        await ui.until(lambda: node_badge(ui, first) == "@ 1", what="a mention on the folded node")
        # Alt+A: the next buffer to read, on the other server.
        ui.window.entry.focus_force()
        await ui.key("alt+a")
        await ui.until(lambda: ui.window.session is a and ui.state.current == "#test", what="jumped across")
        assert a.state.buffer("#test").unread == 0 and b.state.shown is False
        # Typed text goes to the server of the buffer shown.
        await ui.type("hello first network")
        await ui.key("Return")
        await bob.wait_for(hc.Message, timeout=5, text="hello first network")
        # Ctrl+PgDn walks on from the first server's last row to the second server's node.
        await ui.key("ctrl+Next")
        await ui.until(lambda: ui.window.session is b and ui.state.current == SERVER, what="next server")
        await ui.key("ctrl+Prior")
        await ui.until(lambda: ui.window.session is a and ui.state.current == "#test", what="back")
        assert not a.collapsed  # showing one of its buffers unfolded the node
        # Alt+N counts the rows shown, over every server: first node, #test, second node, #far.
        await ui.key("alt+4")
        await ui.until(lambda: ui.window.session is b and ui.state.current == "#far", what="alt+4")
        await ui.type("hello second network")
        await ui.key("Return")
        await olga.wait_for(hc.Message, timeout=5, text="hello second network")
        # The quick switcher finds buffers on every server, and says which.
        switcher = ui.window.nav.switcher
        await ui.key("ctrl+k")
        await ui.until(lambda: switcher.is_open() and ui.root.focus_get() is switcher.entry, what="switcher")
        await ui.type("tes")
        await ui.until(lambda: switcher.matches[:1] == ["#test"], what="#test offered")
        assert switcher.listbox.get(0).endswith(a.title)
        await ui.key("Return")
        await ui.until(lambda: ui.window.session is a and ui.state.current == "#test", what="switched over")


async def test_closing_one_server_leaves_the_other_working(
    server: ServerProcess, other: ServerProcess, make_ui
) -> None:
    ui = make_ui(server, "alice", channels=("#test",))
    await ready(ui)
    await ui.focus()
    async with peer(server, "bob") as bob, peer(other, "olga", channels=("#far",)) as olga:
        second = await add_server(ui, other, "alice", "#far")
        a, b = ui.window.sessions
        # The first server's node: its menu closes it, QUIT and all.
        row = ui.window.sidebar.nodes[a.sid][2]
        await click(ui, row, 20, row.winfo_height() // 2, "3")
        await ui.until(lambda: "Disconnect and close" in menu_labels(ui), what="the server's menu")
        choose(ui, "Disconnect and close")
        await bob.wait_for(hc.Quit, timeout=10, nick="alice")
        await ui.until(lambda: ui.window.sessions == [b], what="one server left")
        assert ui.window.session is b and ui.state.current == "#far"
        # One server again: the flat list it always was.
        await ui.until(lambda: not ui.window.sidebar.nodes and "#far" in ui.window.sidebar.rows)
        await olga.send_message("#far", "still here?")
        await ui.until(lambda: any("still here?" in ln.text for ln in b.state.buffer("#far").lines))
        ui.window.entry.focus_force()
        await ui.type("still here")
        await ui.key("Return")
        await olga.wait_for(hc.Message, timeout=5, text="still here")
        # The last server is not closed from its buffer: /quit leaves it.
        ui.window.switch(SERVER)
        await ui.type("/close")
        await ui.key("Return")
        await ui.until(lambda: any("/quit" in ln.text for ln in b.state.buffer(SERVER).lines))
        assert ui.window.sessions == [b] and b.state.connection == "connected"
        assert second == b.sid


async def test_close_in_a_server_buffer_leaves_that_server_only(
    server: ServerProcess, other: ServerProcess, make_ui
) -> None:
    ui = make_ui(server, "alice", channels=("#test",))
    await ready(ui)
    await ui.focus()
    async with peer(server, "bob") as bob, peer(other, "olga", channels=("#far",)) as olga:
        await add_server(ui, other, "alice", "#far")
        a, b = ui.window.sessions
        ui.window.entry.focus_force()
        await ui.key("ctrl+Prior")  # from #far to the second server's own buffer
        await ui.until(lambda: ui.window.session is b and ui.state.current == SERVER)
        await ui.type("/close")
        await ui.key("Return")
        await ui.until(lambda: ui.window.sessions == [a], what="closed")
        await olga.wait_for(hc.Quit, timeout=10, nick="alice")
        await ui.until(lambda: ui.window.sessions == [a] and ui.window.session is a, what="back to the first")
        await bob.send_message("#test", "first still works")
        await ui.until(lambda: any("first still works" in ln.text for ln in a.state.buffer("#test").lines))


@pytest.mark.timeout(90)
async def test_a_mention_on_a_server_not_shown_rings_unless_muted_there_by_name(
    server: ServerProcess, other: ServerProcess, make_ui
) -> None:
    from .test_prefs_window import elsewhere

    ui = make_ui(server, "alice", channels=("#test", "#quiet"))
    await ready(ui)
    await ui.until(lambda: joined_all(ui, "#quiet"))
    await ui.focus()
    async with (
        peer(server, "bob", channels=("#test", "#quiet")) as bob,
        peer(other, "olga", channels=("#far",)),
    ):
        await add_server(ui, other, "alice", "#far")  # the second server is shown
        a = ui.window.sessions[0]
        ui.window.mute("#quiet")  # by name: the first server's #quiet too
        assert a.state.buffer("#quiet").muted
        window = ui.window
        async with elsewhere(ui):
            await bob.send_message("#test", "alice: over here")
            await ui.until(lambda: window.bells == 1, what="a bell from the server not shown")
            assert ui.root.title().startswith("(@)")
            await bob.send_message("#quiet", "alice: shh")
            await ui.until(lambda: any("shh" in ln.text for ln in a.state.buffer("#quiet").lines))
            assert window.bells == 1
            assert a.state.buffer("#quiet").mentions == 1  # muted, but a mention still shows its badge
        assert a.state.buffer("#test").mentions == 1


def joined_all(ui: Ui, *channels: str) -> bool:
    return all((b := ui.state.buffer(c)) is not None and b.joined for c in channels)


async def test_a_server_that_cannot_be_reached_leaves_the_others_and_says_why_in_the_form(
    server: ServerProcess, make_ui
) -> None:
    ui = make_ui(server, "alice", channels=("#test",))
    await ready(ui)
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    ui.window.connect_elsewhere()
    form = ui.window.form
    for key, value in (("host", "127.0.0.1"), ("port", str(closed)), ("nick", "alice")):
        form.vars[key].set(value)
    form.submit()
    await ui.until(
        lambda: ui.window.form is not None and "Could not connect" in str(ui.window.form.error.cget("text")),
        what="the form saying why",
    )
    assert len(ui.window.sessions) == 1 and ui.window.sessions[0].state.connection == "connected"
    assert ui.window.form.vars["port"].get() == str(closed)  # filled as it was
    ui.window.cancel_connect()
    await ui.until(lambda: ui.window.chat.winfo_viewable() and ui.state.current == "#test")


async def test_the_servers_open_at_exit_are_connected_again_at_the_next_start(
    server: ServerProcess, other: ServerProcess, make_ui, tmp_path: Path
) -> None:
    import gc
    import tkinter as tk

    from hubbub.gui import profiles
    from hubbub.gui.app import ChatWindow

    ui = make_ui(server, "alice", channels=("#test",))  # straight on, as `hubbub gui --host`: no profile
    await ready(ui)
    await ui.focus()
    async with peer(other, "olga", channels=("#far",)) as olga:
        await add_server(ui, other, "alice", "#far")  # from the form: saved as a profile
        ui.window.close()
        await olga.wait_for(hc.Quit, timeout=10, nick="alice")
        saved = profiles.load(tmp_path / "config")
        assert len(saved.reopen) == 1
        reopened = saved.profile(saved.reopen[0])
        assert reopened is not None and reopened.port == other.port
        ui.root = tk.Tk()
        window = ChatWindow(ui.root, saved, tmp_path / "config")
        ui.window = window
        assert window.reopen_servers()
        await ui.until(lambda: in_channel(ui, window.sessions[0].sid, "#far"), what="connected again")
        await olga.wait_for(hc.Joined, timeout=10, nick="alice", channel="#far")
        assert len(window.sessions) == 1
    gc.collect()


# --- the order across servers, without a display ----------------------------------------------


def _session(sid: int, *names: str) -> Session:
    state = ChatState("me")
    for name in names:
        state.buffer(name, create=True)
    return Session(sid, ConnectOptions("h", 6667 + sid, "me"), state)


def _names(entries: list[tuple[Session, Buffer]]) -> list[tuple[int, str]]:
    return [(s.sid, b.name) for s, b in entries]


def test_listed_walks_every_server_in_sidebar_order_and_folded_ones_show_only_their_node() -> None:
    a, b = _session(0, "#x", "bob"), _session(1, "#x")
    assert _names(listed([a, b])) == [(0, ""), (0, "#x"), (0, "bob"), (1, ""), (1, "#x")]
    a.collapsed = True
    assert _names(listed([a, b], visible=True)) == [(0, ""), (1, ""), (1, "#x")]
    assert len(listed([a, b])) == 5  # the unread jump and the switcher still reach everything


def test_step_and_next_unread_go_round_all_servers_and_tell_same_names_apart() -> None:
    a, b = _session(0, "#x"), _session(1, "#x")
    entries = listed([a, b])
    here = position(entries, a, "#x")
    assert here == 1
    nxt = step(entries, here, 1)
    assert nxt is not None and nxt[0] is b and nxt[1].name == ""
    prev = step(entries, 0, -1)
    assert prev is not None and prev[0] is b and prev[1].name == "#x"  # wraps around
    assert next_unread(entries, here) is None
    b.state.buffer("#x").unread = 2
    a.state.buffer("").mentions = 1
    found = next_unread(entries, here)
    assert found is not None and found[0] is a and found[1].name == ""  # mentions first, round the ring
    a.state.buffer("").mentions = 0
    found = next_unread(entries, here)
    assert found is not None and found[0] is b and found[1].name == "#x"


def test_a_server_not_shown_counts_unread_even_in_the_buffer_it_would_resume_on() -> None:
    from datetime import UTC, datetime

    from hubbub.gui.buffers import Line

    state = ChatState("me")
    buf = state.switch("#x")
    state.add(buf, Line(datetime.now(UTC), "message", "bob", "seen"))
    assert buf.unread == 0  # shown: read as it comes
    state.shown = False  # another server's buffer is shown now
    assert not state.is_shown("#x")
    state.add(buf, Line(datetime.now(UTC), "message", "bob", "not seen"))
    assert buf.unread == 1
