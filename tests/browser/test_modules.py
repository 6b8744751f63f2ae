"""The browser client's pure modules (irc.js, text.js, state.js), run in Chromium as the page
loads them: parsing and formatting lines, hostile text, links, commands, ordering of history."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import Browser, Page

from .conftest import WebServer

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
async def page(browser: Browser, web: WebServer) -> Page:
    page = await browser.new_page()
    await page.goto(web.url)
    return page


async def run(page: Page, body: str, arg: Any = None) -> Any:
    """Evaluate ``body`` (an async function body) with the modules as ``irc``, ``text``, ``state``."""
    return await page.evaluate(
        f"""async (arg) => {{
            const irc = await import("./js/irc.js");
            const text = await import("./js/text.js");
            const state = await import("./js/state.js");
            {body}
        }}""",
        arg,
    )


async def test_lines_parse_with_tags_source_and_trailing(page: Page) -> None:
    got = await run(
        page,
        r"""return [
            irc.parseLine(
                "@time=2026-01-01T00:00:00.000Z;msgid=a\\sb\\:c;+typing :n!u@h PRIVMSG #c :hi there"
            ),
            irc.parseLine(":srv 005 me CHANTYPES=# PREFIX=(ov)@+ :are supported"),
            irc.parseLine("ping  x"),
            irc.parseLine("@only-tags"),
            irc.parseLine(":only-source"),
            irc.parseLine(""),
            irc.parseLine("@a=trailing\\ PRIVMSG x :"),
        ];""",
    )
    assert got[0] == {
        "tags": {"time": "2026-01-01T00:00:00.000Z", "msgid": "a b;c", "+typing": ""},
        "source": "n!u@h",
        "command": "PRIVMSG",
        "params": ["#c", "hi there"],
    }
    assert got[1]["params"] == ["me", "CHANTYPES=#", "PREFIX=(ov)@+", "are supported"]
    assert got[2] == {"tags": {}, "source": None, "command": "PING", "params": ["x"]}
    assert got[3] is None and got[4] is None and got[5] is None
    assert got[6]["tags"] == {"a": "trailing"} and got[6]["params"] == ["x", ""]


async def test_lines_format_and_refuse_line_breaks(page: Page) -> None:
    got = await run(
        page,
        r"""const out = [
            irc.formatLine("PRIVMSG", ["#c", "two words"]),
            irc.formatLine("PRIVMSG", ["#c", ":colon"]),
            irc.formatLine("PRIVMSG", ["#c", "one"]),
            irc.formatLine("TAGMSG", ["#c"], {"+typing": "active", "+draft/reply": "a;b c"}),
        ];
        for (const bad of ["a\r\nQUIT", "a\nb", "a\0b"]) {
            try { irc.formatLine("PRIVMSG", ["#c", bad]); out.push("sent"); }
            catch (e) { out.push(e instanceof irc.LineError ? "refused" : String(e)); }
        }
        try { irc.formatLine("PRIVMSG", ["#a b", "x"]); out.push("sent"); }
        catch (e) { out.push(e instanceof irc.LineError ? "refused" : String(e)); }
        return out;""",
    )
    assert got == [
        "PRIVMSG #c :two words",
        "PRIVMSG #c ::colon",
        "PRIVMSG #c one",
        "@+typing=active;+draft/reply=a\\:b\\sc TAGMSG #c",
        "refused",
        "refused",
        "refused",
        "refused",
    ]


async def test_only_http_and_https_become_links(page: Page) -> None:
    got = await run(
        page,
        r"""return [
            "see https://example.com/a_(b)). ok",
            "javascript:alert(1) data:text/html,x vbscript:x file:///etc/passwd",
            "HTTP://EXAMPLE.COM/X, and http://[::1]:8080/p?q=1#f",
            'https://x.test/"onmouseover=alert(1)',
        ].map(text.linkify);""",
    )
    assert got[0] == [
        {"text": "see "},
        {"text": "https://example.com/a_(b)", "href": "https://example.com/a_(b)"},
        {"text": "). ok"},
    ]
    assert got[1] == [{"text": "javascript:alert(1) data:text/html,x vbscript:x file:///etc/passwd"}]
    assert [p.get("href") for p in got[2] if "href" in p] == [
        "http://example.com/X",
        "http://[::1]:8080/p?q=1#f",
    ]
    assert got[3][0] == {"text": "https://x.test/", "href": "https://x.test/"}


async def test_slash_commands(page: Page) -> None:
    got = await run(
        page,
        r"""const out = [];
        for (const line of ["hello", "//not a command", "/me waves", "/join general", "/join #a key",
                            "/part", "/part #b bye now", "/msg bob hi there", "/nick new",
                            "/topic new topic", "/away lunch", "/away"]) {
            out.push(text.parseInput(line, "#general"));
        }
        for (const line of ["/nick", "/msg bob", "/bogus", "/me"]) {
            try { text.parseInput(line, "#general"); out.push("ran"); }
            catch (e) { out.push(e instanceof text.CommandError ? e.message : String(e)); }
        }
        return out;""",
    )
    assert got[:12] == [
        {"kind": "say", "target": "#general", "text": "hello"},
        {"kind": "say", "target": "#general", "text": "/not a command"},
        {"kind": "me", "target": "#general", "text": "waves"},
        {"kind": "join", "channel": "#general", "key": ""},
        {"kind": "join", "channel": "#a", "key": "key"},
        {"kind": "part", "channel": "#general", "reason": ""},
        {"kind": "part", "channel": "#b", "reason": "bye now"},
        {"kind": "msg", "target": "bob", "text": "hi there"},
        {"kind": "nick", "nick": "new"},
        {"kind": "topic", "channel": "#general", "text": "new topic", "set": True},
        {"kind": "away", "text": "lunch"},
        {"kind": "away", "text": ""},
    ]
    assert got[12] == "Usage: /nick newnick"
    assert got[13] == "Usage: /msg nick message"
    assert got[14].startswith("Unknown command /bogus")
    assert got[15] == "Usage: /me action"


async def test_mentions_actions_and_sasl(page: Page) -> None:
    got = await run(
        page,
        r"""return [
            text.mentions("hey Webby!", "webby"), text.mentions("webbyx", "webby"),
            text.mentions("[webby]", "webby"), text.mentions("a.b", "a.b"), text.mentions("axb", "a.b"),
            irc.actionText("\x01ACTION waves\x01"), irc.actionText("\x01VERSION\x01"),
            irc.saslPlainChunks("bob", "pässword"),
            irc.saslPlainChunks("a", "x".repeat(296)).map((c) => c.length),
            irc.casefold("Nick[]", "rfc1459"), irc.casefold("Nick[]", "ascii"),
            irc.splitNamesEntry("@+alice!u@h", "@+"),
        ];""",
    )
    assert got[:5] == [True, False, False, True, False]
    assert got[5] == "waves" and got[6] is None
    assert got[7] == ["Ym9iAGJvYgBww6Rzc3dvcmQ="]
    assert got[8] == [400, 1]  # exactly 400 bytes of base64, then "+"
    assert got[9] == "nick{}" and got[10] == "nick[]"
    assert got[11] == {"prefixes": "@+", "nick": "alice"}


async def test_buffers_order_history_and_drop_duplicates(page: Page) -> None:
    got = await run(
        page,
        r"""const b = new state.Buffer("#c", "channel");
        const t = (s) => new Date(Date.UTC(2026, 0, 1, 0, 0, s));
        b.add({kind: "privmsg", text: "3", time: t(3), msgid: "m3"});
        b.add({kind: "privmsg", text: "4", time: t(3), msgid: "m4"});
        b.add({kind: "privmsg", text: "4 again", time: t(3), msgid: "m4"});
        // A page of older history with equal times keeps its own order, before the rest.
        for (const x of ["1", "2"]) {
            b.add({kind: "privmsg", text: x, time: t(3), msgid: "m" + x}, {older: true});
        }
        b.endOlder();
        b.add({kind: "privmsg", text: "5", time: t(9), msgid: "m5"});
        const events = [
            {kind: "join", nick: "a"}, {kind: "join", nick: "b"}, {kind: "part", nick: "c"},
            {kind: "part", nick: "a"}, {kind: "join", nick: "a"},
        ];
        return [b.messages.map((m) => m.text), b.firstMsgid(), b.lastMsgid(),
                state.describeGroup(events), state.collapseEvents([...events, {kind: "privmsg"}]).length];""",
    )
    assert got[0] == ["1", "2", "3", "4", "5"]
    assert got[1:3] == ["m1", "m5"]
    assert got[3] == "a and b joined, c left"
    assert got[4] == 2


async def test_long_text_splits_at_spaces_and_never_inside_a_character(page: Page) -> None:
    got = await run(
        page,
        r"""const bytes = (s) => new TextEncoder().encode(s).length;
        const words = "héllo wörld ".repeat(50);
        const a = text.splitMessage(words, 100);
        const b = text.splitMessage("😀".repeat(30), 10);
        const c = text.splitMessage("x".repeat(250), 100);
        return [a.join(" ") === words, Math.max(...a.map(bytes)), a.every((p) => !p.startsWith(" ")),
                b, c.map((p) => p.length), text.splitMessage("short", 100)];""",
    )
    assert got[0] is True and got[1] <= 100 and got[2] is True
    assert got[3] == ["😀😀"] * 15
    assert got[4] == [100, 100, 50]
    assert got[5] == ["short"]


async def test_the_chosen_nick_is_asked_for_further_apart_then_given_up(page: Page) -> None:
    got = await page.evaluate(
        """async () => {
            const nick = await import("./js/nick.js");
            const delays = [];
            for (let i = 0; nick.reclaimDelay(i) !== null && i < 1000; i++) delays.push(nick.reclaimDelay(i));
            const isupports = [{}, {MONITOR: ""}, {MONITOR: "100"}, {MONITOR: "0"}];
            return [delays, nick.RECLAIM_TRIES, isupports.map(nick.canMonitor)];
        }"""
    )
    delays, tries, monitor = got
    assert len(delays) == tries and delays[:6] == [2, 4, 8, 15, 30, 60]
    assert delays == sorted(delays) and set(delays[5:]) == {60}  # growing, then bounded
    assert sum(delays) < 45 * 60  # given up after about half an hour
    assert monitor == [False, True, True, False]
