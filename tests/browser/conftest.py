"""Fixtures for the browser client's tests: a real ``hubbub serve --web-port 0`` and a real
headless Chromium (Debian's package) driven by Playwright. Chromium is never downloaded: without
/usr/bin/chromium these tests skip, and CI installs it (.ci/run)."""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from tests.integration.ircclient import IRCClient
from tests.support.serverproc import ServerProcess
from tools.web_screenshots import CHROMIUM_ARGS

CHROMIUM = Path(os.environ.get("HUBBUB_TEST_CHROMIUM", "/usr/bin/chromium"))
WEB_READY = re.compile(rb"hubbub web on (http://\S+?)/?\s*$")
# Playwright's waits in these tests: generous, as the machine may be busy; a pass is quick.
WAIT_MS = 15_000

try:
    from playwright.async_api import Browser, Page, async_playwright, expect
except ImportError:  # pragma: no cover - the dev extra installs it
    async_playwright = None  # type: ignore[assignment]


def _skip_reason() -> str | None:
    if async_playwright is None:
        return "the playwright package is not installed (pip install -e '.[dev]')"
    if not CHROMIUM.exists():
        return f"no Chromium at {CHROMIUM} (apt-get install chromium; .ci/run does)"
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    reason = _skip_reason()
    if reason is None:
        return
    if os.environ.get("CI"):
        # Under CI the browser must be there: a skip would hide that these tests never ran.
        raise pytest.UsageError(f"browser tests cannot run under CI: {reason}")
    here = Path(__file__).parent
    for item in items:
        if Path(str(item.fspath)).is_relative_to(here):
            item.add_marker(pytest.mark.skip(reason=reason))


class WebServer:
    """A ``hubbub serve`` process with its web door; restarts keep both ports."""

    def __init__(self, data_dir: Path, *args: str) -> None:
        self.data_dir = data_dir
        self.args = args
        self.web_port = 0
        self.irc_port = 0
        self.url = ""
        self.process: ServerProcess | None = None

    async def start(self) -> WebServer:
        process = ServerProcess(
            self.data_dir, "--web-port", str(self.web_port), "--no-flood-control", *self.args
        )
        process.port = self.irc_port
        await process.start()
        line = await process.wait_for_stderr(b"hubbub web on ")
        m = WEB_READY.search(line.rstrip())
        assert m, line
        self.url = m.group(1).decode() + "/"
        self.web_port = int(self.url.rstrip("/").rsplit(":", 1)[1])
        self.irc_port = process.port
        self.process = process
        return self

    async def stop(self) -> None:
        if self.process is not None:
            await self.process.terminate()

    async def irc(self, nick: str, *channels: str, caps: tuple[str, ...] = ()) -> IRCClient:
        """A registered raw IRC client in ``channels``."""
        client = await IRCClient.open("127.0.0.1", self.irc_port, nick)
        await client.register(nick, caps=caps)
        for channel in channels:
            await client.join(channel)
        return client


@pytest.fixture(autouse=True)
async def close_clients_left_open() -> AsyncIterator[None]:
    """Close the raw IRC clients a test left open, while their loop still runs."""
    yield
    for client in list(IRCClient.unclosed):
        await client.close()


@pytest.fixture
async def web(tmp_path: Path) -> AsyncIterator[WebServer]:
    """A running server with its web door on a free port."""
    server = WebServer(tmp_path / "data")
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    """Headless Chromium (the system's), closed at the end of the test."""
    assert async_playwright is not None
    expect.set_options(timeout=WAIT_MS)
    async with async_playwright() as playwright:
        instance = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield instance
        finally:
            await instance.close()


Login = Callable[..., Awaitable["Page"]]


@pytest.fixture
async def login(browser: Browser, web: WebServer) -> AsyncIterator[Login]:
    """Open the client in a new page and log in; the page fails the test on a script error."""
    errors: list[str] = []
    dialogs: list[str] = []

    async def open_page(
        nick: str,
        password: str = "",
        *,
        prepare: Callable[[Page], Awaitable[None]] | None = None,
        **context_options: Any,
    ) -> Page:
        context = await browser.new_context(**context_options)
        page = await context.new_page()
        if prepare is not None:  # e.g. routing the page's WebSockets, before the page opens any
            await prepare(page)
        page.on("pageerror", lambda error: errors.append(str(error)))
        # Failed connections while the server restarts are logged by Chromium itself, not a fault.
        page.on(
            "console",
            lambda m: errors.append(m.text) if m.type == "error" and "WebSocket" not in m.text else None,
        )

        async def on_dialog(dialog: Any) -> None:
            dialogs.append(dialog.message)
            await dialog.dismiss()

        page.on("dialog", on_dialog)
        await page.goto(web.url)
        await page.fill("#login-nick", nick)
        if password:
            await page.fill("#login-password", password)
        await page.click("#login-submit")
        return page

    open_page.errors = errors  # type: ignore[attr-defined]
    open_page.dialogs = dialogs  # type: ignore[attr-defined]
    yield open_page
    assert not dialogs, f"the page opened dialogs: {dialogs}"
    assert not errors, f"script errors in the page: {errors}"
