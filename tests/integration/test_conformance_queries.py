"""Conformance details of NAMES, LUSERS and WHOIS/WHO replies (Modern IRC, RFC 2812)."""

from __future__ import annotations


async def test_names_without_a_channel_lists_every_visible_channel_then_one_end(connect):
    nick1 = await connect("nick1")
    nick2 = await connect("nick2")
    await nick1.join("#chan1")
    await nick2.join("#chan2")
    await nick2.join("#secret")
    nick2.send("MODE #secret +s")
    await nick2.expect("MODE")
    nick1.send("NAMES")
    got = await nick1.collect_until("366")
    names = {m.params[2]: m.params[3] for m in got if m.command == "353"}
    assert names == {"#chan1": "@nick1", "#chan2": "@nick2"}
    assert [m.command for m in got].count("366") == 1
    assert got[-1].params[1] == "*"
    await nick1.assert_silent("366")


async def test_lusers_reports_the_peak_user_count_after_users_leave(connect):
    bar = await connect("bar")
    qux = await connect("qux")
    qux.send("QUIT")
    await qux.expect_closed()
    bar.send("LUSERS")
    got = await bar.collect_until("266")
    local = next(m for m in got if m.command == "265")
    global_ = got[-1]
    assert local.params[1:3] == ("1", "2")
    assert global_.params[1:3] == ("1", "2")


async def test_bot_messages_carry_both_bot_tag_spellings(connect):
    bot = await connect("botnick")
    user = await connect("usernick", caps=("message-tags",))
    bot.send("MODE botnick +B")
    await bot.expect("MODE")
    bot.send("PRIVMSG usernick :beep boop")
    got = await user.expect("PRIVMSG")
    assert "bot" in got.tags
    assert "draft/bot" in got.tags
