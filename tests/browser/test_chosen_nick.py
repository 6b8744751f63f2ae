"""The browser client wins back the nick its user chose once it is free.

At login (or after a reconnect, while the server still holds the old connection) a taken nick
makes the client register as ``nick_``; it then watches the chosen nick (MONITOR, or NICK again
now and then on a server without MONITOR) and takes it back. The page's WebSockets go through
Playwright's routing, so a test can drop the page's side of one while the server keeps its side,
as a network that died under a phone does, or hide MONITOR from the page.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from playwright.async_api import Page, WebSocketRoute, expect

from .conftest import Login, WebServer

pytestmark = pytest.mark.timeout(90)


class Routes:
    """The page's WebSockets, each connected to the real server through Playwright.

    ``from_server`` may rewrite what the server sends; with ``half_close`` a close on the page's
    side never reaches the server, which keeps the connection (and the nick) until the test
    closes its side.
    """

    def __init__(self, from_server: Callable[[str], str] | None = None, half_close: bool = False) -> None:
        self.from_server = from_server
        self.half_close = half_close
        self.links: list[tuple[WebSocketRoute, WebSocketRoute]] = []
        self.sent: list[str] = []  # every line the page sent

    def __call__(self, page_side: WebSocketRoute) -> None:
        server_side = page_side.connect_to_server()
        rewrite = self.from_server
        if rewrite is not None:
            server_side.on_message(lambda m: page_side.send(rewrite(m) if isinstance(m, str) else m))

        def to_server(message: str | bytes) -> None:
            if isinstance(message, str):
                self.sent.append(message)
            server_side.send(message)

        page_side.on_message(to_server)
        if self.half_close:
            page_side.on_close(lambda code, reason: None)
        self.links.append((page_side, server_side))

    async def open(self, page: Page) -> None:
        await page.route_web_socket(re.compile(r"/irc$"), self)


def without_monitor(line: str) -> str:
    """An ISUPPORT line without its MONITOR token: a server that cannot watch nicks."""
    if " 005 " not in line:
        return line
    return re.sub(r" MONITOR(=\d*)?(?= )", "", line)


async def nick_shown(page: Page, nick: str) -> None:
    """The page says the user is ``nick``, and lists them under it in #general."""
    await expect(page.locator("#me")).to_have_text(nick)
    await expect(page.locator(f"#members li[data-nick='{nick}']")).to_have_count(1)


async def no_errors_shown(page: Page) -> None:
    await expect(page.locator("#messages .msg.error")).to_have_count(0)


async def test_a_taken_nick_is_taken_back_when_its_holder_leaves(login: Login, web: WebServer) -> None:
    holder = await web.irc("webby", "#general")
    alice = await web.irc("alice", "#general")
    page = await login("webby")
    await expect(page.locator("#channels li.active")).to_have_text("#general")
    await nick_shown(page, "webby_")
    # The user is told why, where the login landed (the server's buffer).
    await page.click("#server-list li")
    await expect(page.locator("#messages .msg.info", has_text="webby is taken")).to_contain_text(
        "you are webby_ until it is free"
    )
    await page.click("#channels li[data-name='#general']")

    holder.send("QUIT :leaving")
    await nick_shown(page, "webby")
    await expect(page.locator("#members li[data-nick='webby_']")).to_have_count(0)
    got = await alice.expect("NICK")
    assert got.source is not None and got.source.startswith("webby_!") and got.params[0] == "webby"
    await no_errors_shown(page)

    # A nick the user picks later is the one kept from then on.
    await page.fill("#input", "/nick webster")
    await page.press("#input", "Enter")
    await nick_shown(page, "webster")
    assert await page.evaluate("hubbubClient.wantedNick") == "webster"


async def test_after_a_reconnect_the_nick_its_dead_connection_held_is_won_back(
    login: Login, web: WebServer
) -> None:
    routes = Routes(half_close=True)
    alice = await web.irc("alice", "#general")
    page = await login("webby", prepare=routes.open)
    await nick_shown(page, "webby")
    first_page_side, first_server_side = routes.links[0]

    # The page's connection dies; the server does not know yet and keeps "webby" for it.
    await first_page_side.close()
    await nick_shown(page, "webby_")
    assert len(routes.links) == 2, "the page reconnected on a new WebSocket"
    await expect(page.locator("#messages .msg.info", has_text="webby is taken")).to_be_visible()
    alice.send("WHOIS webby")
    assert (await alice.expect("311")).params[1] == "webby"  # the old connection, still there

    # The server finds the old connection gone (here: it is closed): the page takes its nick back.
    await first_server_side.close()
    await nick_shown(page, "webby")
    await expect(page.locator("#members li[data-nick='webby_']")).to_have_count(0)
    await no_errors_shown(page)
    assert any(line.startswith("MONITOR + webby") for line in routes.sent), routes.sent


async def test_without_monitor_the_nick_is_asked_for_again_until_it_is_free(
    login: Login, web: WebServer
) -> None:
    routes = Routes(from_server=without_monitor)
    holder = await web.irc("webby", "#general")
    page = await login("webby", prepare=routes.open)
    await nick_shown(page, "webby_")
    # The first attempt comes after a short wait and is refused in silence: the user asked nothing.
    await page.wait_for_function("() => hubbubClient.chosen.attempts >= 1 && !hubbubClient.chosen.asked")
    await no_errors_shown(page)
    assert await page.locator("#me").text_content() == "webby_"

    holder.send("QUIT :leaving")
    await nick_shown(page, "webby")
    assert not any(line.startswith("MONITOR") for line in routes.sent), routes.sent
    nicks = [line for line in routes.sent if line.startswith("NICK ")]
    assert nicks[:2] == ["NICK webby", "NICK webby_"] and set(nicks[2:]) == {"NICK webby"}, nicks
