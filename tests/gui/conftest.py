"""Fixtures for the desktop client: an Xvfb display, a real hubbub server, and the window itself.

Without Xvfb these tests skip, except on CI (the ``CI`` environment variable), where they fail.
"""

from __future__ import annotations

import asyncio
import gc
import os
import select
import shutil
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from tests.support.serverproc import ServerProcess

DEADLINE = 10.0


def _missing(what: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{what} is required on CI")
    pytest.skip(f"{what} is not installed")


@pytest.fixture(scope="session")
def xvfb() -> Iterator[str]:
    """A private X server for the session; sets DISPLAY and yields it."""
    if shutil.which("Xvfb") is None:
        _missing("Xvfb")
    read_fd, write_fd = os.pipe()
    proc = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write_fd), "-screen", "0", "1280x800x24", "-nolisten", "tcp"],
        pass_fds=(write_fd,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write_fd)
    number = b""
    deadline = time.monotonic() + DEADLINE
    while not number.endswith(b"\n"):
        left = deadline - time.monotonic()
        ready, _, _ = select.select([read_fd], [], [], max(0.0, left))
        if not ready:
            proc.kill()
            pytest.fail("Xvfb did not report its display in time")
        chunk = os.read(read_fd, 16)
        if not chunk:
            pytest.fail(f"Xvfb exited with {proc.wait()}")
        number += chunk
    os.close(read_fd)
    display = f":{number.decode().strip()}"
    # As `hubbub gui` does before its first window (fontconfig reads its configuration once).
    from hubbub.gui._emoji import prefer_colour_emoji

    old_fontconfig = os.environ.get("FONTCONFIG_FILE")
    prefer_colour_emoji(Path(tempfile.mkdtemp(prefix="hubbub-fonts-")))
    old = os.environ.get("DISPLAY")
    os.environ["DISPLAY"] = display
    yield display
    proc.terminate()
    proc.wait(5)
    if old_fontconfig is None:
        os.environ.pop("FONTCONFIG_FILE", None)
    else:
        os.environ["FONTCONFIG_FILE"] = old_fontconfig
    if old is None:
        os.environ.pop("DISPLAY", None)
    else:
        os.environ["DISPLAY"] = old


@pytest.fixture
async def server(tmp_path: Path, processes: list[ServerProcess]) -> ServerProcess:
    """A running hubbub server on loopback."""
    srv = ServerProcess(tmp_path / "data", "--no-flood-control")
    processes.append(srv)
    return await srv.start()


class Ui:
    """The window under test and ways to wait for it without sleeping blindly."""

    def __init__(self, root: object, window: object) -> None:
        import tkinter as tk

        from hubbub.gui.app import ChatWindow

        assert isinstance(root, tk.Tk) and isinstance(window, ChatWindow)
        self.root = root
        self.window = window

    @property
    def state(self):  # type: ignore[no-untyped-def]
        assert self.window.state is not None
        return self.window.state

    def pump(self) -> None:
        """Let Tk handle everything pending."""
        self.root.update()

    async def until(self, condition: Callable[[], object], timeout: float = DEADLINE, what: str = "") -> None:
        """Pump Tk and the asyncio loop until ``condition()`` is true, or fail after ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            self.pump()
            if condition():
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what or condition}\n{self.transcript()}")
            await asyncio.sleep(0.01)

    def lines(self, buffer: str) -> list[str]:
        """``nick: text`` for the chat lines of ``buffer``, and the text of other lines."""
        buf = self.state.buffer(buffer)
        if buf is None:
            return []
        return [f"{ln.nick}: {ln.text}" if ln.kind in ("message", "action") else ln.text for ln in buf.lines]

    def transcript(self) -> str:
        """Everything shown, for a failing test's report."""
        out = []
        for buf in self.state.buffers.values():
            out.append(f"--- [{buf.name or 'server'}] unread={buf.unread} mentions={buf.mentions}")
            out += [f"  {ln.kind} {ln.nick}: {ln.text}" for ln in buf.lines]
        return "\n".join(out)

    async def xdotool(self, *args: str) -> None:
        """Run xdotool (real X input events), pumping Tk until it finishes."""
        proc = await asyncio.create_subprocess_exec("xdotool", *args)
        deadline = time.monotonic() + DEADLINE
        while proc.returncode is None:
            self.pump()
            try:
                await asyncio.wait_for(proc.wait(), 0.02)
            except TimeoutError:
                if time.monotonic() > deadline:
                    proc.kill()
                    raise AssertionError(f"xdotool {args} did not finish") from None
        assert proc.returncode == 0, f"xdotool {args} failed"
        # xdotool has closed its display, so the server has its input; one round trip of ours
        # (XQueryPointer) puts the resulting events in Tk's queue, and update() handles them.
        self.root.winfo_pointerxy()
        self.pump()

    async def focus(self) -> None:
        """Give the window the X input focus (there is no window manager to do it)."""
        self.root.deiconify()
        self.root.lift()
        await self.until(lambda: self.root.winfo_viewable(), what="window mapped")
        frame = str(int(self.root.wm_frame(), 16))
        await self.xdotool("windowfocus", "--sync", frame)
        self.window.entry.focus_force()
        await self.until(lambda: self.root.focus_get() is self.window.entry, what="entry focused")

    async def type(self, text: str) -> None:
        """Type ``text`` with real key events into whatever has the focus."""
        await self.xdotool("type", "--delay", "5", "--", text)

    async def key(self, *keys: str) -> None:
        """Press keys (``Return``, ``Tab``, ``alt+2``...) with real key events."""
        await self.xdotool("key", "--delay", "10", *keys)


@pytest.fixture
async def make_ui(xvfb: str, tmp_path: Path) -> AsyncIterator[Callable[..., Ui]]:
    """Make a window connected to a server: ``make_ui(server, nick, channels)``."""
    import tkinter as tk

    from hubbub.gui import profiles
    from hubbub.gui.app import ChatWindow
    from hubbub.gui.events import ConnectOptions

    made: list[Ui] = []

    def make(
        server: ServerProcess,
        nick: str = "gui",
        channels: tuple[str, ...] = ("#test",),
        password: str = "",
        **settings: object,
    ) -> Ui:
        if shutil.which("xdotool") is None:
            _missing("xdotool")
        root = tk.Tk()
        # No real desktop notifications from a test run on someone's desktop; the tests of them ask.
        settings.setdefault("notifications", False)
        cfg = profiles.Settings(**settings)  # type: ignore[arg-type]
        window = ChatWindow(root, cfg, tmp_path / "config")
        window.connect(ConnectOptions(server.host, server.port, nick, password=password, channels=channels))
        ui = Ui(root, window)
        made.append(ui)
        return ui

    yield make
    for ui in made:
        ui.window.close()
    made.clear()
    # A dead Tk interpreter must be freed on the thread that made it: collected later on a
    # network thread, Tcl aborts the process ("async handler deleted by the wrong thread").
    gc.collect()
