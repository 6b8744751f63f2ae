"""Fixtures for end-to-end tests: one ``hubbub serve`` with every door open, as ``make serve`` runs
it, and the clients of every door at once (irssi, the desktop client, a browser, a tutorial client).

The desktop client's fixtures (an Xvfb display, the window) and the browser's (Debian's Chromium
through Playwright, a logged-in page) are those of tests/gui and tests/browser. Without one of the
programs these tests skip locally; under CI (the ``CI`` environment variable) that is a failure.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

# The browser's and the desktop client's fixtures, used by name: browser, login, make_ui, xvfb.
from tests.browser.conftest import (  # noqa: F401
    CHROMIUM,
    WEB_READY,
    WebServer,
    browser,
    login,
)
from tests.gui.conftest import make_ui, xvfb  # noqa: F401
from tests.support import irssi
from tests.support.serverproc import ServerProcess

TUTORIAL_READY = re.compile(rb"hubbub tutorial door on (\S+):(\d+)")


def _missing() -> list[str]:
    missing = []
    if importlib.util.find_spec("playwright") is None:
        missing.append("the playwright package (pip install -e '.[dev]')")
    if not CHROMIUM.exists():
        missing.append(f"Chromium at {CHROMIUM} (apt-get install chromium)")
    for program, package in (("irssi", "irssi"), ("Xvfb", "xvfb"), ("xdotool", "xdotool")):
        if shutil.which(program) is None:
            missing.append(f"{program} (apt-get install {package})")
    return missing


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    mine = [item for item in items if Path(str(item.fspath)).is_relative_to(here)]
    missing = _missing()
    if not mine or not missing:
        return
    reason = "end-to-end tests need " + ", ".join(missing) + " (.ci/run installs them)"
    if os.environ.get("CI"):
        # Under CI every door's client must be there: a skip would hide that these never ran.
        raise pytest.UsageError(f"cannot run under CI: {reason}")
    for item in mine:
        item.add_marker(pytest.mark.skip(reason=reason))


class Doors(WebServer):
    """``hubbub serve`` as ``make serve`` runs it: the IRC port, the web door and the tutorial door
    open (on free ports), a real SQLite data directory, flood control on."""

    def __init__(self, data_dir: Path) -> None:
        super().__init__(data_dir)
        self.tutorial_host = ""
        self.tutorial_port = 0

    async def start(self) -> Doors:
        process = ServerProcess(self.data_dir, "--web-port", "0", "--tutorial-port", "0")
        self.process = process
        await process.start()
        web = WEB_READY.search((await process.wait_for_stderr(b"hubbub web on ")).rstrip())
        tutorial = TUTORIAL_READY.search(await process.wait_for_stderr(b"hubbub tutorial door on "))
        assert web is not None and tutorial is not None, process.stderr
        self.url = web.group(1).decode() + "/"
        self.web_port = int(self.url.rstrip("/").rsplit(":", 1)[1])
        self.irc_port = process.port
        self.tutorial_host, self.tutorial_port = tutorial.group(1).decode(), int(tutorial.group(2))
        return self


@pytest.fixture
async def web(tmp_path: Path) -> AsyncIterator[Doors]:
    """The one server of the test, every door open; the browser fixtures' ``login`` opens its URL."""
    server = Doors(tmp_path / "data")
    try:
        await server.start()
        yield server
    finally:
        await server.stop()


@pytest.fixture
async def irssi_user(tmp_path: Path, web: Doors) -> AsyncIterator[irssi.Irssi]:
    """An irssi (not started) that connects to ``web`` as ``irssiuser`` and autojoins #general;
    killed at the end of the test whatever happened."""
    home = tmp_path / "irssi"
    home.mkdir()
    user = irssi.Irssi(home, "127.0.0.1", web.irc_port, "irssiuser")
    try:
        yield user
    finally:
        await user.kill()
