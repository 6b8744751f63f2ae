"""Screenshots for the documentation: ``python -m hubbub.gui.screenshots DIR``.

Starts its own Xvfb and hubbub server, fills a few channels with scripted library clients, opens
the window in the light and dark themes and saves PNGs (``import`` from ImageMagick).
"""

from __future__ import annotations

import asyncio
import gc
import os
import select
import subprocess
import sys
import tempfile
import time
import tkinter as tk
from collections.abc import Callable
from pathlib import Path

import hubbub.client as hc

from . import profiles
from ._emoji import prefer_colour_emoji
from .app import ChatWindow
from .events import ConnectOptions

WIDTH, HEIGHT = 1100, 680
CHANNELS = ("#general", "#design", "#random")

SCRIPT: list[tuple[str, str, str]] = [
    ("bob", "#general", "morning everyone ☀️"),
    ("bob", "#general", "coffee is on me today 😀"),
    ("carol", "#general", "morning! the new build is up on staging"),
    ("dave", "#general", "nice, release notes are at https://example.org/hubbub/0.1"),
    ("émile", "#general", "\x01ACTION brings croissants 🥐\x01"),
    ("bob", "#general", "I'll run the load test after lunch"),
    ("li", "#general", "测试通过了 — all green on my side"),
    ("carol", "#general", "great. who is looking at the flaky reconnect test?"),
    ("dave", "#general", "on it, looks like a timing issue in the fixture"),
    ("bob", "#design", "dark theme mockups are in the drive"),
    ("carol", "#design", "love the new sidebar"),
]


def start_xvfb() -> tuple[subprocess.Popen[bytes], str]:
    """A private X server of the window's size; returns it and its display name."""
    read_fd, write_fd = os.pipe()
    proc = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write_fd), "-screen", "0", f"{WIDTH}x{HEIGHT}x24", "-nolisten", "tcp"],
        pass_fds=(write_fd,),
        stderr=subprocess.DEVNULL,
    )
    os.close(write_fd)
    number = b""
    deadline = time.monotonic() + 10
    while not number.endswith(b"\n") and time.monotonic() < deadline:
        if select.select([read_fd], [], [], 1)[0]:
            chunk = os.read(read_fd, 16)
            if not chunk:
                break
            number += chunk
    os.close(read_fd)
    if not number.strip():
        proc.kill()
        raise RuntimeError("Xvfb did not start")
    return proc, ":" + number.decode().strip()


def start_server(data_dir: Path, network: str = "hubbub") -> tuple[subprocess.Popen[bytes], int]:
    """``hubbub serve`` on a free port (``network`` its name); returns it and the port."""
    cmd = [sys.executable, "-m", "hubbub", "serve", "--port", "0", "--data-dir", str(data_dir)]
    cmd += ["--network", network]
    proc = subprocess.Popen([*cmd, "--no-flood-control"], stderr=subprocess.PIPE, stdout=subprocess.DEVNULL)
    assert proc.stderr is not None
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        line = proc.stderr.readline().decode(errors="replace")
        if line.startswith("hubbub listening on "):
            return proc, int(line.rsplit(":", 1)[1])
        if not line:
            break
    proc.kill()
    raise RuntimeError("the server did not start")


async def until(root: tk.Tk, condition: Callable[[], object], timeout: float = 15.0) -> None:
    """Pump Tk until ``condition()`` holds."""
    deadline = time.monotonic() + timeout
    while not condition():
        root.update()
        if time.monotonic() > deadline:
            raise TimeoutError("the window did not get there in time")
        await asyncio.sleep(0.02)
    root.update()


async def settle(root: tk.Tk, seconds: float = 0.6) -> None:
    """Let late events and redraws finish before a capture."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        root.update()
        await asyncio.sleep(0.02)


def capture(display: str, path: Path) -> None:
    """Save the whole screen (the window fills it) as a PNG."""
    subprocess.run(["import", "-display", display, "-window", "root", str(path)], check=True)


async def scene(out: Path, display: str, port: int, config: Path, other_port: int) -> None:
    """Fill the server, open the window, capture each theme."""
    people: dict[str, hc.Client] = {}
    for nick, chans in [
        ("bob", CHANNELS),
        ("carol", CHANNELS[:2]),
        ("dave", CHANNELS[:1]),
        ("émile", CHANNELS[:1]),
        ("li", CHANNELS[:1]),
    ]:
        # The server runs without flood control: the script need not wait for the pacing.
        unpaced = hc.SendPacing(enabled=False)
        client = hc.Client("127.0.0.1", port, hc.ClientConfig(nick=nick, channels=chans), pacing=unpaced)
        await client.connect(timeout=5)
        for ch in chans:
            await client.wait_for(hc.Joined, timeout=5, channel=ch, is_self=True)
        people[nick] = client
    await people["bob"].set_topic("#general", "Team chat · release 0.1 this week · be kind")
    for nick, target, text in SCRIPT:
        await people[nick].send_message(target, text)
        # Each sender has its own connection: wait for the server to have this line before the next
        # sender speaks, or the history keeps them in another (equally true) order.
        await people[nick].request("PING", "in order")
    await people["bob"].request("PING", "stored")

    await chat_scene(out, display, port, config, people, other_port)
    for client in people.values():
        await client.close()
    # Free the first interpreter here, on its own thread (see ChatWindow.close).
    gc.collect()
    await form_scene(out, display, config)


async def chat_scene(
    out: Path, display: str, port: int, config: Path, people: dict[str, hc.Client], other_port: int
) -> None:
    """The chat window with a busy channel, in both themes."""
    settings = profiles.Settings()
    root = tk.Tk(className="hubbub")
    root.geometry(f"{WIDTH}x{HEIGHT}+0+0")
    window = ChatWindow(root, settings, config)
    window.connect(ConnectOptions("127.0.0.1", port, "alice", channels=CHANNELS))
    state = window.state
    assert state is not None
    await until(root, lambda: all((b := state.buffer(c)) is not None and b.joined for c in CHANNELS))
    window.switch("#general")
    general = state.buffer("#general")
    assert general is not None
    await until(root, lambda: any(ln.text.startswith("on it") for ln in general.lines))
    # A reply (quoted above it) and reactions (counted under the message they answer).
    fixing = next(ln for ln in general.lines if ln.text.startswith("on it"))
    assert fixing.msgid is not None
    await people["carol"].send_message(
        "#general", "thank you! ping me if you need a second pair of eyes", reply=fixing.msgid
    )
    await people["bob"].react("#general", fixing.msgid, "👍")
    await people["li"].react("#general", fixing.msgid, "👍")
    await people["émile"].react("#general", fixing.msgid, "🙏")
    await until(
        root, lambda: sum(len(n) for n in general.reactions.get(fixing.msgid or "", {}).values()) == 3
    )
    await people["dave"].set_away("lunch")
    await people["carol"].send_message("#general", "alice: could you review the GUI screenshots? 🙏")
    await people["bob"].send_message("#random", "anyone up for table tennis?")
    await people["bob"].send_message("#random", "4pm?")
    await people["carol"].send_message("alice", "got a minute for a quick call?")
    await until(root, lambda: (b := state.buffer("carol")) is not None and b.unread == 1)
    window.entry.insert(0, "sure, looking now")
    await settle(root)
    capture(display, out / "chat-light.png")
    window.set_theme("dark")
    await settle(root)
    capture(display, out / "chat-dark.png")
    # Ctrl+F: the find bar over the buffer, every match highlighted.
    window.find.open(before=window.view)
    window.find.entry.insert(0, "test")
    window.find.refresh()
    await settle(root)
    capture(display, out / "find-dark.png")
    window.find.close()
    await settings_scene(out, display, window)
    window.set_theme("light")
    await nav_scenes(out, display, window)
    await search_scene(out, display, root, window)
    await servers_scene(out, display, window, other_port)
    window.close()


async def servers_scene(out: Path, display: str, window: ChatWindow, port: int) -> None:
    """A second server in the window: the sidebar as a tree, a node per server."""
    root = window.root
    first = window.session
    assert first is not None
    window.connect(ConnectOptions("127.0.0.1", port, "alice", channels=("#ops", "#oncall")))
    second = window.sessions[-1]
    await until(
        root, lambda: all((b := second.state.buffer(c)) is not None and b.joined for c in ("#ops", "#oncall"))
    )
    await until(root, lambda: second.state.network == "example-ops")
    window.show_in(first, "#general")
    await settle(root)
    capture(display, out / "servers.png")


async def settings_scene(out: Path, display: str, window: ChatWindow) -> None:
    """The settings screen over the chat (light theme), centred as a window manager would put it."""
    window.set_theme("light")
    window.open_settings()
    screen = window.settings_screen
    assert screen is not None
    screen.update_idletasks()
    x = (WIDTH - screen.winfo_reqwidth()) // 2
    y = (HEIGHT - screen.winfo_reqheight()) // 3
    screen.geometry(f"+{x}+{y}")
    await settle(window.root)
    capture(display, out / "settings.png")
    screen.destroy()


async def nav_scenes(out: Path, display: str, window: ChatWindow) -> None:
    """The quick switcher (Ctrl+K) and the channel browser (/list)."""
    root = window.root
    nav = window.nav
    nav.open_switcher()
    nav.switcher.query.set("r")
    await settle(root)
    capture(display, out / "switcher.png")
    nav.switcher.close()
    browser = nav.open_browser()
    browser.geometry(f"640x460+{WIDTH // 2 - 320}+{HEIGHT // 2 - 230}")
    await until(root, lambda: bool(browser.entries) and browser.loaded())
    await settle(root)
    capture(display, out / "channels.png")
    browser.destroy()


async def search_scene(out: Path, display: str, root: tk.Tk, window: ChatWindow) -> None:
    """``/search -all test``: the results window over the chat."""
    window.entry.delete(0, "end")
    window.submit_input("/search -all test")
    search = window.search

    def answered() -> bool:
        results = search.results
        return (
            results is not None
            and results.status is not None
            and "Searching" not in results.status.cget("text")
        )

    await until(root, answered)
    assert search.results is not None and search.results.top is not None
    search.results.top.geometry("760x300+170+150")
    await settle(root)
    capture(display, out / "search.png")
    search.results.close()


async def form_scene(out: Path, display: str, config: Path) -> None:
    """The connect form with a saved profile, and after a failed first connection."""
    root = tk.Tk(className="hubbub")
    root.geometry(f"{WIDTH}x{HEIGHT}+0+0")
    form_settings = profiles.Settings(theme="light")
    form_settings.remember(
        profiles.Profile("work", "chat.example.org", 6697, True, "alice", "", ["#general"])
    )
    ChatWindow(root, form_settings, config).show_connect_form()
    await settle(root)
    capture(display, out / "connect.png")
    root.destroy()
    # The form again after a first connection failed: what was typed, and why it failed.
    root = tk.Tk(className="hubbub")
    root.geometry(f"{WIDTH}x{HEIGHT}+0+0")
    typed = profiles.Profile("work", "chat.example.org", 6679, True, "alice", "", ["#general"])
    ChatWindow(root, profiles.Settings(theme="light"), config).show_connect_form(
        "Could not connect to chat.example.org:6679: the connection was refused "
        "(is the server running, and is the port right?)",
        (typed, False),
    )
    await settle(root)
    capture(display, out / "connect-failed.png")
    root.destroy()


def main(argv: list[str]) -> int:
    """Make the screenshots in ``argv[0]`` (``docs/screenshots`` by default)."""
    out = Path(argv[0] if argv else "docs/screenshots")
    out.mkdir(parents=True, exist_ok=True)
    xvfb, display = start_xvfb()
    os.environ["DISPLAY"] = display
    with tempfile.TemporaryDirectory() as tmp:
        prefer_colour_emoji(Path(tmp) / "cache")
        server, port = start_server(Path(tmp) / "data")
        other, other_port = start_server(Path(tmp) / "other-data", "example-ops")
        try:
            asyncio.run(scene(out, display, port, Path(tmp) / "config", other_port))
        finally:
            for proc in (server, other):
                proc.terminate()
                proc.wait(10)
            xvfb.terminate()
            xvfb.wait(5)
    print(f"screenshots written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
