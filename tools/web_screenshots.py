"""Screenshots of the browser client for the documentation: ``python -m tools.web_screenshots DIR``.

Starts its own ``hubbub serve --web-port 0`` on loopback in a temporary data directory, fills
``#general`` with the desktop client's screenshot script (hubbub.gui.screenshots.SCRIPT) sent by a
few raw IRC clients, then opens the browser client in headless Chromium (Debian's, driven by
Playwright; never a downloaded browser) at a desktop and a phone size, and saves each in the light
and the dark colour scheme:

    web-desktop-light.png  web-desktop-dark.png   (1280x800)
    web-phone-light.png    web-phone-dark.png     (390x844)

Playwright is a dev dependency, so this lives outside the ``hubbub`` package: the server never
imports it. ``make screenshots`` runs it after the desktop client's screenshots.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from playwright.async_api import Page, async_playwright, expect

CHROMIUM = Path(os.environ.get("HUBBUB_CHROMIUM", "/usr/bin/chromium"))
# Chromium's launch arguments, here and in the browser tests (tests/browser/conftest.py): headless,
# no sandbox (the machine may run as root), nothing fetched in the background.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SIZES = {"desktop": (1280, 800), "phone": (390, 844)}
SCHEMES = ("light", "dark")
NAMES = tuple(f"web-{size}-{scheme}.png" for size in SIZES for scheme in SCHEMES)
CHANNELS = ("#general", "#design", "#random")
# Generous: the machine may be busy. A run takes a few seconds.
WAIT_S = 20.0

LISTENING = re.compile(r"hubbub listening on \S+:(\d+)")
WEB_ON = re.compile(r"hubbub web on (http://\S+?)/?\s*$", re.M)


def script() -> list[tuple[str, str, str]]:
    """The conversation of the desktop client's screenshots, so both sets tell the same story."""
    try:
        from hubbub.gui.screenshots import SCRIPT
    except ImportError:  # no tkinter: the same lines, kept here
        return list(_SCRIPT)
    return list(SCRIPT)


_SCRIPT: list[tuple[str, str, str]] = [
    ("bob", "#general", "morning everyone ☀️"),
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


class Server:
    """``hubbub serve`` with its web door, both on free loopback ports; its log goes to a file."""

    def __init__(self, data_dir: Path) -> None:
        self.log_path = data_dir.parent / "serve.log"
        data_dir.mkdir(parents=True, exist_ok=True)
        # A file, not a pipe: nobody has to keep reading it for the server to go on logging.
        self.log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "hubbub",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--web-port",
                "0",
                "--data-dir",
                str(data_dir),
                "--no-flood-control",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self.log,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self.port = 0
        self.url = ""

    async def ready(self) -> None:
        """Wait (with a deadline) until both ports are listening."""
        deadline = time.monotonic() + WAIT_S
        while True:
            text = self.log_path.read_text(errors="replace")
            port, web = LISTENING.search(text), WEB_ON.search(text)
            if port and web:
                self.port, self.url = int(port.group(1)), web.group(1) + "/"
                return
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the server did not start:\n{text}")
            await asyncio.sleep(0.05)

    def stop(self) -> None:
        """Stop the server (SIGTERM, its clean shutdown) and close its log."""
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


class Raw:
    """A minimal raw IRC client: enough to register, join, speak and keep its lines in order."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.pings = 0

    @classmethod
    async def open(cls, port: int, nick: str, *channels: str) -> Raw:
        """Connect, register as ``nick`` and join ``channels``."""
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        client = cls(reader, writer)
        client.send(f"NICK {nick}", f"USER {nick} 0 * :{nick.title()}")
        await client.until(lambda cmd, params: cmd == "001")
        for channel in channels:
            client.send(f"JOIN {channel}")

            def joined(cmd: str, params: list[str], channel: str = channel) -> bool:
                return cmd == "366" and params[1] == channel  # the end of its NAMES

            await client.until(joined)
        return client

    def send(self, *lines: str) -> None:
        """Queue raw lines (without CRLF)."""
        for line in lines:
            self.writer.write(line.encode() + b"\r\n")

    async def until(self, match: Callable[[str, list[str]], bool]) -> list[str]:
        """Read lines (answering PING) until ``match(command, params)``; returns the params."""

        async def read() -> list[str]:
            while True:
                raw = await self.reader.readline()
                if not raw:
                    raise ConnectionError("the server closed the connection")
                line = raw.decode(errors="replace").rstrip("\r\n")
                if line.startswith("@"):
                    line = line.split(" ", 1)[1]
                if line.startswith(":"):
                    line = line.split(" ", 1)[1]
                head, _, trailing = line.partition(" :")
                command, *params = head.split()
                if trailing or " :" in line:
                    params.append(trailing)
                if command == "PING":
                    self.send(f"PONG :{params[-1] if params else ''}")
                elif match(command, params):
                    return params

        return await asyncio.wait_for(read(), WAIT_S)

    async def sync(self) -> None:
        """Wait until the server has handled every line sent so far (a PING's PONG comes after)."""
        self.pings += 1
        token = f"sync{self.pings}"
        self.send(f"PING :{token}")
        await self.until(lambda cmd, params: cmd == "PONG" and params[-1] == token)

    async def say(self, target: str, text: str) -> None:
        """Send a message and wait until the server has it."""
        self.send(f"PRIVMSG {target} :{text}")
        await self.sync()

    async def close(self) -> None:
        """QUIT and close the connection."""
        self.send("QUIT :bye")
        self.writer.close()
        # The server may close first, after the QUIT: that is the end asked for.
        with contextlib.suppress(ConnectionError):
            await self.writer.wait_closed()


async def fill(port: int) -> dict[str, Raw]:
    """Connect the cast and replay the script, in order, into the server's history."""
    people = {
        "bob": await Raw.open(port, "bob", *CHANNELS),
        "carol": await Raw.open(port, "carol", *CHANNELS[:2]),
        "dave": await Raw.open(port, "dave", CHANNELS[0]),
        "émile": await Raw.open(port, "émile", CHANNELS[0]),
        "li": await Raw.open(port, "li", CHANNELS[0]),
    }
    # bob joined first, so bob is the channel's operator and may set the topic.
    people["bob"].send("TOPIC #general :Team chat · release 0.1 this week · be kind")
    await people["bob"].sync()
    for nick, target, text in script():
        # Each speaker has its own connection: waiting for the server to take each line before the
        # next speaker talks keeps the history in the script's order.
        await people[nick].say(target, text)
    return people


async def gone(client: Raw, nick: str) -> None:
    """Wait until ``nick`` is free again (the browser that used it has disconnected)."""
    deadline = time.monotonic() + WAIT_S
    while True:
        client.send(f"ISON {nick}")
        params = await client.until(lambda cmd, params: cmd == "303")
        if not params[-1].strip():
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"{nick} is still connected")
        await asyncio.sleep(0.1)


async def open_client(page: Page, url: str, nick: str) -> list[str]:
    """Log in as ``nick`` and wait for ``#general`` with its history; returns script errors."""
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    await page.goto(url)
    await page.fill("#login-nick", nick)
    await page.click("#login-submit")
    await expect(page.locator("#channels li.active")).to_contain_text("#general")
    await expect(page.locator("#messages .msg", has_text="on it, looks like")).to_have_count(1)
    return errors


async def say(page: Page, text: str) -> None:
    """Type ``text`` (a message or a slash command) and send it."""
    await page.fill("#input", text)
    await page.press("#input", "Enter")
    await expect(page.locator("#input")).to_have_value("")


async def desktop_scene(page: Page, people: dict[str, Raw]) -> None:
    """A busy desktop: three channels, unread #random, a mention, a direct message, a draft."""
    for channel in CHANNELS[1:]:
        await say(page, f"/join {channel}")
        await expect(page.locator("#channels li", has_text=channel)).to_have_count(1)
    await page.locator("#channels li", has_text="#general").click()
    await expect(page.locator("#channels li.active")).to_contain_text("#general")
    people["dave"].send("AWAY :lunch")
    await people["dave"].sync()
    await people["carol"].say("#general", "alice: could you review the browser screenshots? 🙏")
    await people["bob"].say("#random", "anyone up for table tennis?")
    await people["bob"].say("#random", "4pm?")
    await people["carol"].say("alice", "got a minute for a quick call?")
    await expect(page.locator("#dms li", has_text="carol")).to_have_count(1)
    await expect(page.locator("#messages .msg", has_text="review the browser")).to_have_count(1)
    await expect(page.locator("#members li.away[data-nick='dave']")).to_have_count(1)
    await page.fill("#input", "sure, looking now")


async def phone_scene(page: Page, people: dict[str, Raw]) -> None:
    """The phone layout: #general's conversation, someone typing a reply."""
    await people["li"].say("#general", "alice: the phone layout looks great 📱")
    await expect(page.locator("#messages .msg", has_text="phone layout")).to_have_count(1)
    await page.fill("#input", "thanks!")


async def settle(page: Page) -> None:
    """Let fonts load and the message list scroll to its end before a capture."""
    await page.evaluate("document.fonts.ready.then(() => true)")
    await page.evaluate("new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => r(true))))")


async def capture(out: Path, chromium: Path = CHROMIUM) -> list[Path]:
    """Run a server, stage the scene and save the four PNGs in ``out``; returns their paths."""
    out.mkdir(parents=True, exist_ok=True)
    expect.set_options(timeout=WAIT_S * 1000)
    saved: list[Path] = []
    with tempfile.TemporaryDirectory(prefix="hubbub-shots-") as tmp:
        server = Server(Path(tmp) / "data")
        people: dict[str, Raw] = {}
        try:
            await server.ready()
            people = await fill(server.port)
            async with async_playwright() as playwright:
                browser = await playwright.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
                try:
                    for size, (width, height) in SIZES.items():
                        context = await browser.new_context(
                            viewport={"width": width, "height": height},
                            color_scheme="light",
                            locale="en-GB",
                        )
                        page = await context.new_page()
                        errors = await open_client(page, server.url, "alice")
                        await (desktop_scene if size == "desktop" else phone_scene)(page, people)
                        # The pointer rests on the title bar, off the messages: a message under it
                        # would show its hover actions.
                        await page.mouse.move(width // 2, 12)
                        for scheme in SCHEMES:
                            await page.emulate_media(color_scheme=scheme)  # type: ignore[arg-type]
                            await settle(page)
                            path = out / f"web-{size}-{scheme}.png"
                            await page.screenshot(path=str(path))
                            saved.append(path)
                        await context.close()
                        if errors:
                            raise RuntimeError(f"script errors in the page: {errors}")
                        # The next size logs in as alice again: wait until this one has left.
                        await gone(people["bob"], "alice")
                finally:
                    await browser.close()
        finally:
            for client in people.values():
                await client.close()
            server.stop()
    return saved


def main(argv: list[str]) -> int:
    """Make the browser client's screenshots in ``argv[0]`` (``docs/screenshots`` by default)."""
    out = Path(argv[0] if argv else "docs/screenshots")
    if not CHROMIUM.exists():
        print(f"no Chromium at {CHROMIUM} (apt-get install chromium)", file=sys.stderr)
        return 1
    saved = asyncio.run(capture(out))
    print(f"browser screenshots written to {out}: {', '.join(p.name for p in saved)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
