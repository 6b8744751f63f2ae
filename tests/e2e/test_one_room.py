"""One #general for every door: irssi, the desktop client, a browser and the original tutorial's
client chat in one room on one ``hubbub serve``, as the web door's issue promises.

Each user says one thing; every other one must receive it, each in its own way: irssi's log file,
the desktop window's buffer, the browser page's text, the tutorial socket's ``name~text`` lines.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import AsyncIterator, Callable

import pytest
from playwright.async_api import Page, expect

from tests.browser.conftest import Login
from tests.gui.conftest import Ui
from tests.support.irssi import Irssi

from .conftest import Doors

pytestmark = pytest.mark.timeout(240)

DEADLINE = 20.0  # for each step; a pass takes a fraction of it
POLL = 0.02  # seconds between looks at the desktop window while waiting on it

IRSSI, DESK, WEBBY, TUTOR = "irssiuser", "desk", "webby", "tutor"
SAID = {
    IRSSI: "hello from irssi in a terminal",
    DESK: "hello from the desktop window",
    WEBBY: "hello from the browser tab",
    TUTOR: "hello from the tutorial's socket",
}


class TutorialUser:
    """A client of the original tutorial: one chunk for its name, one per message; every line
    the server sends is kept, read as it comes by a task of its own."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.lines: list[str] = []
        self.closed = False
        self._more = asyncio.Event()
        self._reading = asyncio.get_running_loop().create_task(self._read())

    @classmethod
    async def open(cls, host: str, port: int) -> TutorialUser:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), DEADLINE)
        return cls(reader, writer)

    async def _read(self) -> None:
        try:
            while line := await self.reader.readline():
                self.lines.append(line.decode(errors="replace").rstrip("\n"))
                self._more.set()
        except ConnectionError:
            pass
        self.closed = True
        self._more.set()

    def send(self, chunk: str) -> None:
        self.writer.write(chunk.encode())

    async def expect(self, line: str, timeout: float = DEADLINE) -> None:
        """Wait until the server has sent ``line``."""

        async def seen() -> None:
            while line not in self.lines:
                assert not self.closed, f"the tutorial client was disconnected; it got {self.lines}"
                self._more.clear()
                await self._more.wait()

        try:
            await asyncio.wait_for(seen(), timeout)
        except TimeoutError:
            raise AssertionError(f"the tutorial client never got {line!r}; it got {self.lines}") from None

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError):
            await self.writer.wait_closed()
        self._reading.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reading


@contextlib.asynccontextmanager
async def tutorial_user(web: Doors) -> AsyncIterator[TutorialUser]:
    user = await TutorialUser.open(web.tutorial_host, web.tutorial_port)
    try:
        yield user
    finally:
        await user.close()


@contextlib.asynccontextmanager
async def window_kept_alive(ui: Ui) -> AsyncIterator[None]:
    """Let Tk handle its events while the test waits on the other clients (Playwright, irssi)."""

    async def pump() -> None:
        while True:
            ui.pump()
            await asyncio.sleep(POLL)

    task = asyncio.get_running_loop().create_task(pump())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def shown_in_window(ui: Ui, wanted: str, timeout: float = DEADLINE) -> None:
    """Wait until the desktop window's #general shows the line ``wanted``."""
    await ui.until(lambda: wanted in ui.lines("#general"), timeout, what=f"{wanted!r} in the window")


def irssi_line(nick: str, text: str) -> str:
    """irssi's log line for a message (``< nick>`` or ``<@nick>``, with the nick's channel status)."""
    return rf"<[ @+]{re.escape(nick)}> {re.escape(text)}$"


async def in_page(page: Page, text: str, nick: str) -> None:
    row = page.locator("#messages .msg", has_text=text)
    await expect(row).to_have_count(1)
    await expect(row).to_contain_text(nick)


async def until(condition: Callable[[], bool], what: str, timeout: float = DEADLINE) -> None:
    """Poll ``condition`` until it holds; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(POLL)


async def test_irssi_the_desktop_a_browser_and_a_tutorial_client_chat_in_one_general(
    web: Doors, irssi_user: Irssi, make_ui: Callable[..., Ui], login: Login
) -> None:
    # irssi first, so that its log shows everyone else coming in.
    await irssi_user.start()
    await irssi_user.logged(rf"-!- {IRSSI} \[.*\] has joined #general")

    async with tutorial_user(web) as tutor:
        tutor.send(TUTOR)
        await tutor.expect(f"SERVER~{TUTOR} joined the chat app")
        await irssi_user.logged(rf"-!- {TUTOR} \[.*\] has joined #general")

        ui = make_ui(web.process, DESK, channels=("#general",))
        await ui.until(lambda: (b := ui.state.buffer("#general")) is not None and b.joined, DEADLINE)
        async with window_kept_alive(ui):
            await tutor.expect(f"SERVER~{DESK} joined the chat app")
            await irssi_user.logged(rf"-!- {DESK} \[.*\] has joined #general")

            page = await login(WEBBY)
            await expect(page.locator("#channels li.active")).to_have_text("#general")
            await tutor.expect(f"SERVER~{WEBBY} joined the chat app")
            await irssi_user.logged(rf"-!- {WEBBY} \[.*\] has joined #general")
            await shown_in_window(ui, f"{WEBBY} joined #general")
            # The browser's member list: everyone, the tutorial client among them.
            for nick in (IRSSI, TUTOR, DESK, WEBBY):
                await expect(page.locator(f"#members li[data-nick='{nick}']")).to_have_count(1)

            # irssi: in the channel's window, a line typed at the terminal.
            irssi_user.type("/window goto #general")
            irssi_user.type(SAID[IRSSI])
            # The tutorial client: one chunk.
            tutor.send(SAID[TUTOR])
            # The browser: the input box and Enter.
            await page.fill("#input", SAID[WEBBY])
            await page.press("#input", "Enter")
            await expect(page.locator("#input")).to_have_value("")
        # The desktop window: real key events (the window needs the focus and Tk its turn).
        ui.window.switch("#general")
        await ui.focus()
        await ui.type(SAID[DESK])
        await ui.until(lambda: ui.window.entry.get() == SAID[DESK], what="typed text")
        await ui.key("Return")
        await ui.until(lambda: ui.window.entry.get() == "", what="entry cleared by Enter")

        async with window_kept_alive(ui):
            # Everyone got every other one's message, each in its own way.
            for nick, text in SAID.items():
                if nick != IRSSI:
                    await irssi_user.logged(irssi_line(nick, text))
                if nick != TUTOR:
                    await tutor.expect(f"{nick}~{text}")
                if nick != WEBBY:
                    await in_page(page, text, nick)
            # The senders see their own lines too, once (irssi writes its own; the others get the echo).
            await irssi_user.logged(irssi_line(IRSSI, SAID[IRSSI]))
            await tutor.expect(f"{TUTOR}~{SAID[TUTOR]}")
            await in_page(page, SAID[WEBBY], WEBBY)
        for nick, text in SAID.items():
            await shown_in_window(ui, f"{nick}: {text}")
        assert all(ui.lines("#general").count(f"{nick}: {text}") == 1 for nick, text in SAID.items())

        # irssi quits as its user would; the others see it go.
        async with window_kept_alive(ui):
            assert await irssi_user.quit("off to bed") == 0
            await tutor.expect(f"SERVER~{IRSSI} left the chat app")
            await expect(page.locator(f"#members li[data-nick='{IRSSI}']")).to_have_count(0)
            await until(lambda: IRSSI not in _members(ui), f"{IRSSI} gone from the window's members")


def _members(ui: Ui) -> list[str]:
    buffer = ui.state.buffer("#general")
    return [m.nick for m in buffer.members.values()] if buffer is not None else []
