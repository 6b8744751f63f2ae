"""The browser client in a real headless Chromium against a real ``hubbub serve --web-port 0``,
with raw IRC clients on the other side."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Page, expect

from .conftest import Login, WebServer

pytestmark = pytest.mark.timeout(90)


def message(page: Page, text: str):  # type: ignore[no-untyped-def]
    """The message rows of the shown buffer that contain ``text``."""
    return page.locator("#messages .msg", has_text=text)


async def in_general(login: Login, nick: str = "webby", **options: object) -> Page:
    page = await login(nick, **options)
    await expect(page.locator("#channels li.active")).to_have_text("#general")
    await expect(page.locator(f"#members li[data-nick='{nick}']")).to_have_count(1)
    return page


async def say(page: Page, text: str, *, cleared: bool = True) -> None:
    await page.fill("#input", text)
    await page.press("#input", "Enter")
    if cleared:
        await expect(page.locator("#input")).to_have_value("")


async def test_lands_in_general_sends_and_receives(login: Login, web: WebServer) -> None:
    alice = await web.irc("alice", "#general")
    page = await in_general(login)
    await expect(page.locator("#members li", has_text="alice")).to_be_visible()
    # The first joiner of a fresh server is its operator: alice, shown with "@".
    await expect(page.locator("#members li[data-nick='alice'] .prefix")).to_have_text("@")

    await say(page, "hello from the web")
    got = await alice.expect("PRIVMSG", "#general")
    assert got.params[1] == "hello from the web"
    await expect(message(page, "hello from the web")).to_have_count(1)  # the echo, once

    await say(page, "/me waves")
    got = await alice.expect("PRIVMSG", "#general")
    assert got.params[1] == "\x01ACTION waves\x01"
    await expect(page.locator("#messages .msg.action", has_text="waves")).to_be_visible()

    alice.send("PRIVMSG #general :hi webby, see https://example.com/a?b=1.")
    row = message(page, "hi webby")
    await expect(row).to_be_visible()
    await expect(row).to_have_class(re.compile(r"\bmention\b"))
    link = row.locator("a")
    await expect(link).to_have_attribute("href", "https://example.com/a?b=1")
    await expect(link).to_have_attribute("rel", "noopener noreferrer nofollow")
    # Server time is shown, and a day separator before the first message of the day.
    await expect(row.locator(".time")).not_to_be_empty()
    await expect(page.locator("#messages .day").first).to_have_text("Today")

    # The user leaves: the member list says so.
    alice.send("QUIT :bye")
    await expect(page.locator("#members li", has_text="alice")).to_have_count(0)
    await expect(page.locator("#messages .msg.event", has_text="alice")).to_contain_text("left")


async def test_topic_away_and_slash_commands(login: Login, web: WebServer) -> None:
    alice = await web.irc("alice", "#general", caps=("away-notify",))
    page = await in_general(login)
    alice.send("TOPIC #general :Welcome <b>all</b>, rules at https://example.com/rules")
    await expect(page.locator("#topic")).to_have_text(
        "Welcome <b>all</b>, rules at https://example.com/rules"
    )
    await expect(page.locator("#topic a")).to_have_attribute("href", "https://example.com/rules")
    await expect(page.locator("#topic b")).to_have_count(0)

    alice.send("AWAY :lunch")
    await expect(page.locator("#members li.away[data-nick='alice']")).to_be_visible()
    alice.send("AWAY")
    await expect(page.locator("#members li.away")).to_have_count(0)

    await say(page, "/nick webster")
    await expect(page.locator("#me")).to_have_text("webster")
    await expect(page.locator("#members li[data-nick='webster']")).to_be_visible()

    await alice.join("#elsewhere")
    alice.send("INVITE webster #elsewhere")
    await expect(page.locator("#messages .msg.info").last).to_have_text(
        re.compile("alice invites you to #elsewhere: type /join #elsewhere$")
    )
    await say(page, "/join #side")
    await expect(page.locator("#channels li.active")).to_have_text("#side")
    await say(page, "/topic side talk")
    await expect(page.locator("#topic")).to_have_text("side talk")
    await say(page, "/part")
    await expect(page.locator("#channels li[data-name='#side']")).to_have_count(0)
    await say(page, "/msg #general said from elsewhere")
    got = await alice.expect("PRIVMSG", "#general")
    assert got.params[1] == "said from elsewhere"
    await expect(page.locator("#dms li")).to_have_count(0)  # a channel is no conversation

    await say(page, "/msg alice psst")
    got = await alice.expect("PRIVMSG", "alice")
    assert got.params[1] == "psst"
    await expect(page.locator("#dms li.active")).to_have_text("alice")

    await say(page, "/away brb")
    await alice.sync()
    alice.send("PRIVMSG webster :are you there?")
    await expect(page.locator("#me")).to_have_text("webster (away)")

    # A mistake gets a clear line, never a raw protocol line.
    await say(page, "/frobnicate", cleared=False)  # kept, to be corrected
    await expect(page.locator("#messages .msg.error").last).to_contain_text("Unknown command /frobnicate")
    await say(page, "/join #" + "x" * 80)
    error = page.locator("#messages .msg.error").last
    await expect(error).to_contain_text("#xxxx")
    await expect(error).not_to_contain_text("403")


async def test_unread_counts_and_mention_badges(login: Login, web: WebServer) -> None:
    alice = await web.irc("alice", "#general", "#other")
    page = await in_general(login)
    await say(page, "/join #other")
    await expect(page.locator("#channels li.active")).to_have_text("#other")
    await page.click("#channels li[data-name='#general']")
    await expect(page.locator("#channels li.active")).to_have_text("#general")

    alice.send("PRIVMSG #other :just chatting")
    other = page.locator("#channels li[data-name='#other']")
    await expect(other.locator(".unread-count")).to_have_text("1")
    await expect(other).to_have_class(re.compile(r"\bunread\b"))
    alice.send("PRIVMSG #other :webby: look at this")
    await expect(other.locator(".badge")).to_have_text("1")
    alice.send("PRIVMSG webby :a direct message")
    await expect(page.locator("#dms li[data-name='alice'] .badge")).to_have_text("1")
    await expect(page).to_have_title("(2) hubbub")

    # Messages in the shown channel are read at once.
    alice.send("PRIVMSG #general :in plain sight")
    await expect(message(page, "in plain sight")).to_be_visible()
    await expect(page.locator("#channels li[data-name='#general'] .unread-count")).to_have_count(0)

    await other.click()
    await expect(message(page, "look at this")).to_be_visible()
    await expect(other.locator(".badge")).to_have_count(0)
    await expect(other.locator(".unread-count")).to_have_count(0)


async def test_markup_in_messages_is_shown_as_text(login: Login, web: WebServer) -> None:
    alice = await web.irc("alice", "#general")
    page = await in_general(login)
    hostile = [
        "<img src=x onerror=alert(1)>",
        "<b>bold?</b>",
        "<script>alert(2)</script>",
        "javascript:alert(3) data:text/html,<i>x</i>",
        'https://example.com/"><img src=y onerror=alert(4)>',
    ]
    for text in hostile:
        alice.send(f"PRIVMSG #general :{text}")
    alice.send("TOPIC #general :<img src=z onerror=alert(5)>")
    alice.send("NICK <x>")  # refused by the server: nicks cannot hold markup anyway
    for text in hostile[:4]:
        await expect(message(page, text)).to_have_count(1)
    await expect(page.locator("#topic")).to_have_text("<img src=z onerror=alert(5)>")
    messages = page.locator("#messages")
    for tag in ("img", "b", "i", "script"):
        await expect(messages.locator(tag)).to_have_count(0)
    for tag in ("img", "b", "i", "script"):
        await expect(page.locator(f"#topic {tag}")).to_have_count(0)
    hrefs = await messages.locator("a").evaluate_all("links => links.map(a => a.href)")
    assert hrefs == ["https://example.com/"], hrefs
    # The `login` fixture fails the test if any dialog opened or any script error happened.


async def test_history_on_join_and_more_on_scrolling_up(login: Login, web: WebServer) -> None:
    alice = await web.irc("alice", "#general")
    for i in range(130):
        alice.send(f"PRIVMSG #general :numbered {i:03d}")
    await alice.sync()
    page = await in_general(login)
    await expect(message(page, "numbered 129")).to_be_visible()
    await expect(message(page, "numbered 000")).to_have_count(0)
    # Scrolling to the top fetches older pages, until the beginning of the history.
    rows = page.locator("#messages .msg")
    for _ in range(10):
        if await message(page, "numbered 000").count():
            break
        before = await rows.count()
        await page.locator("#messages").evaluate("m => m.scrollTo(0, 0)")
        await page.wait_for_function(
            "n => document.querySelectorAll('#messages .msg').length > n", arg=before, timeout=15_000
        )
    await expect(message(page, "numbered 000")).to_have_count(1)
    await expect(page.locator("#messages .history-note")).to_have_text(
        "This is the beginning of the history."
    )
    texts = await page.locator("#messages .msg.privmsg .text").all_inner_texts()
    numbered = [t for t in texts if t.startswith("numbered ")]
    assert numbered == [f"numbered {i:03d}" for i in range(130)]


async def test_reconnects_after_a_restart_with_the_gap_filled(login: Login, web: WebServer) -> None:
    alice = await web.irc("alice", "#general")
    page = await in_general(login)
    alice.send("PRIVMSG #general :before the restart")
    await expect(message(page, "before the restart")).to_be_visible()

    await say(page, "/join #extra")
    await expect(page.locator("#channels li.active")).to_have_text("#extra")
    await page.click("#channels li[data-name='#general']")
    await web.stop()
    await expect(page.locator("#status")).to_have_text("Connection lost. Reconnecting…")
    # Offline, the client waits for the network instead of retrying: the gap stays open.
    await page.context.set_offline(True)
    await web.start()
    alice = await web.irc("alice", "#general")
    for i in range(3):
        alice.send(f"PRIVMSG #general :during the gap {i}")
    await alice.sync()
    await page.context.set_offline(False)

    await expect(page.locator("#status")).to_be_hidden()
    # Every channel it was in is joined again, also those joined after logging in.
    await expect(page.locator("#channels li")).to_have_count(2)
    await expect(page.locator("#channels li.parted")).to_have_count(0)
    for i in range(3):
        await expect(message(page, f"during the gap {i}")).to_have_count(1)
    await expect(message(page, "before the restart")).to_have_count(1)
    await expect(page.locator("#messages .msg.gap")).to_have_count(0)
    # And it talks again.
    await say(page, "back again")
    await alice.expect(lambda m: m.command == "PRIVMSG" and m.params[-1] == "back again")


async def test_a_gap_that_cannot_be_filled_is_said(login: Login, web: WebServer) -> None:
    alice = await web.irc("alice", "#general")
    page = await in_general(login)
    alice.send("PRIVMSG #general :the last one seen")
    await expect(message(page, "the last one seen")).to_be_visible()
    await web.stop()
    await expect(page.locator("#status")).to_be_visible()
    await page.context.set_offline(True)
    # More was said meanwhile than one request for the gap fetches.
    await web.start()
    alice = await web.irc("alice", "#general")
    for i in range(260):
        alice.send(f"PRIVMSG #general :flood {i:03d}")
    await alice.sync()
    await page.context.set_offline(False)
    await expect(page.locator("#messages .msg.gap .body")).to_have_text(
        "Some messages may be missing here (the connection was lost)."
    )
    await expect(message(page, "flood 259")).to_be_visible()


async def test_login_with_an_account_password(login: Login, web: WebServer) -> None:
    owner = await web.irc("carol")
    owner.send("PRIVMSG NickServ :REGISTER s3cret-pass")
    await owner.expect("900")
    await owner.close()

    page = await login("carol", password="wrong-password")
    await expect(page.locator("#login-error")).to_contain_text("Login failed")
    await expect(page.locator("#app")).to_be_hidden()

    await page.fill("#login-password", "s3cret-pass")
    await page.click("#login-submit")
    await expect(page.locator("#channels li.active")).to_have_text("#general")
    await expect(page.locator("#me")).to_have_text("carol")


async def test_typing_and_replies(login: Login, web: WebServer) -> None:
    alice = await web.irc("alice", "#general", caps=("message-tags",))
    page = await in_general(login)
    alice.send("@+typing=active TAGMSG #general")
    await expect(page.locator("#typing")).to_have_text("alice is typing…")
    alice.send("@+typing=done TAGMSG #general")
    await expect(page.locator("#typing")).to_have_text("")

    await page.fill("#input", "I am typing")
    got = await alice.expect("TAGMSG", "#general")
    assert got.tags.get("+typing") == "active"
    await page.fill("#input", "")

    alice.send("PRIVMSG #general :question?")
    row = page.locator("#messages .msg.privmsg:not(.self)", has_text="question?")
    await row.hover()
    await row.locator(".reply-button").click()
    await expect(page.locator("#reply-bar")).to_contain_text("Replying to alice: question?")
    await say(page, "answer!")
    got = await alice.expect("PRIVMSG", "#general")
    msgid = await row.get_attribute("data-msgid")
    assert got.params[1] == "answer!" and got.tags.get("+draft/reply") == msgid
    await expect(message(page, "answer!").locator(".quote")).to_have_text("↪ alice: question?")


async def test_phone_sized_screen(login: Login, web: WebServer) -> None:
    page = await in_general(login, viewport={"width": 390, "height": 760})
    await expect(page.locator("#sidebar")).to_be_hidden()
    await expect(page.locator("#members-pane")).to_be_hidden()
    await page.click("#toggle-sidebar")
    await expect(page.locator("#sidebar")).to_be_visible()
    await page.click("#channels li[data-name='#general']")
    await expect(page.locator("#sidebar")).to_be_hidden()
    await expect(page.locator("#input")).to_be_visible()


async def test_dark_theme_follows_the_system(login: Login, web: WebServer) -> None:
    page = await in_general(login, color_scheme="dark")
    background = await page.evaluate("getComputedStyle(document.body).backgroundColor")
    await page.emulate_media(color_scheme="light")
    light = await page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(26, 29, 33)" and light == "rgb(255, 255, 255)"


async def test_mentions_notify_when_the_tab_is_hidden(login: Login, web: WebServer, browser: object) -> None:
    alice = await web.irc("alice", "#general")
    page = await in_general(login, permissions=["notifications"])
    # Record notifications instead of showing them; hide the tab as switching away would.
    await page.evaluate(
        """() => {
        window.shown = [];
        window.Notification = class { constructor(title, o) { window.shown.push([title, o.body]); }
            static get permission() { return "granted"; } close() {} };
        Object.defineProperty(document, "hidden", { value: true, configurable: true });
        document.dispatchEvent(new Event("visibilitychange"));
    }"""
    )
    alice.send("PRIVMSG #general :no mention here")
    alice.send("PRIVMSG #general :webby, ping")
    alice.send("PRIVMSG webby :private word")
    await page.wait_for_function("() => window.shown.length >= 2")
    await alice.sync()
    shown = await page.evaluate("window.shown")
    assert shown == [["alice in #general", "webby, ping"], ["alice", "private word"]]


async def test_conversations_of_an_account_are_listed_on_login(login: Login, web: WebServer) -> None:
    alice = await web.irc("alice")
    owner = await web.irc("carol")
    owner.send("PRIVMSG NickServ :REGISTER s3cret-pass")
    await owner.expect("900")
    owner.send("PRIVMSG alice :an older word")
    await alice.expect("PRIVMSG", "alice")
    owner.send("QUIT")
    await owner.expect_closed()
    alice.send("PRIVMSG carol :while you were out")
    await alice.sync()

    page = await login("carol", password="s3cret-pass")
    conversation = page.locator("#dms li[data-name='alice']")
    await expect(conversation).to_be_visible()
    await conversation.click()
    await expect(message(page, "while you were out")).to_be_visible()
    await expect(message(page, "an older word")).to_be_visible()


async def test_a_long_paste_is_sent_as_several_messages(login: Login, web: WebServer) -> None:
    alice = await web.irc("alice", "#general")
    page = await in_general(login)
    words = " ".join(f"wörd{i}" for i in range(400))  # about 3000 bytes
    await page.fill("#input", words + "\nsecond line")
    await page.press("#input", "Enter")
    got: list[str] = []
    while not got or got[-1] != "second line":
        got.append((await alice.expect("PRIVMSG", "#general")).params[1])
    assert " ".join(got[:-1]) == words and len(got) > 3
    assert all(len(f":webby!~webby@127.0.0.1 PRIVMSG #general :{t}".encode()) <= 510 for t in got)
    await expect(message(page, "second line")).to_have_count(1)
    await expect(page.locator("#messages .msg.error")).to_have_count(0)
