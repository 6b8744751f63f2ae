"""MODE over real sockets: user modes, channel flags, key, limit, lists, prefixes and errors."""

from __future__ import annotations

import pytest

from hubbub.server.handlers.modes import parse_channel_modes


async def op_and_member(connect, channel="#c"):
    """``alice`` creates ``channel`` (and is op); ``bob`` joins it."""
    alice = await connect("alice")
    bob = await connect("bob")
    await alice.join(channel)
    await bob.join(channel)
    await alice.expect("JOIN", channel)  # bob's join
    return alice, bob


async def replies_to(client, line, end):
    """Send ``line``; return every message up to ``end``, taking them out of the client's buffer."""
    client.send(line)
    out = await client.collect_until(end)
    client.buffer = [m for m in client.buffer if not any(m is o for o in out)]
    return out


async def set_modes(client, line):
    """Send a MODE line and wait for its echo."""
    client.send(line)
    return await client.expect("MODE")


# user modes -----------------------------------------------------------------------------------


async def test_user_mode_query_shows_221_with_no_modes(connect):
    alice = await connect("alice")
    alice.send("MODE alice")
    reply = await alice.expect("221")
    assert reply.params == ("alice", "+")


async def test_setting_invisible_is_echoed_once_and_shown_in_221(connect):
    alice = await connect("alice")
    echo = await set_modes(alice, "MODE alice +i")
    assert echo.params == ("alice", "+i")
    assert echo.source == "alice"
    alice.send("MODE alice +i")  # already set: nothing to echo
    await alice.assert_silent("MODE")
    alice.send("MODE alice")
    assert (await alice.expect("221")).params == ("alice", "+i")
    echo = await set_modes(alice, "MODE alice -i")
    assert echo.params == ("alice", "-i")


async def test_bot_mode_is_settable_on_yourself(connect):
    bot = await connect("robot")
    echo = await set_modes(bot, "MODE robot +B")
    assert echo.params == ("robot", "+B")


async def test_viewing_or_changing_another_users_modes_gets_502(connect):
    alice = await connect("alice")
    await connect("bob")
    alice.send("MODE bob")
    await alice.expect("502", "alice")
    alice.send("MODE bob +i")
    await alice.expect("502", "alice")


async def test_mode_on_unknown_nick_gets_401(connect):
    alice = await connect("alice")
    alice.send("MODE nobody +i")
    await alice.expect("401", "alice", "nobody")


async def test_unknown_user_mode_flag_gets_501_and_known_flags_still_apply(connect):
    alice = await connect("alice")
    alice.send("MODE alice +iZ")
    await alice.expect("501", "alice")
    echo = await alice.expect("MODE")
    assert echo.params == ("alice", "+i")


async def test_user_cannot_make_themselves_operator(connect):
    alice = await connect("alice")
    alice.send("MODE alice +o")
    await alice.assert_silent("MODE")
    alice.send("MODE alice")
    assert (await alice.expect("221")).params == ("alice", "+")


# channel mode query ---------------------------------------------------------------------------


async def test_channel_mode_query_gives_324_then_329(connect):
    alice = await connect("alice")
    await alice.join("#c")
    alice.send("MODE #c")
    modes = await alice.expect("324")
    assert modes.params == ("alice", "#c", "+nt")
    created = await alice.expect("329")
    assert created.params[1] == "#c" and created.params[2].isdigit()


async def test_removing_every_mode_shows_a_bare_plus(connect):
    alice = await connect("alice")
    await alice.join("#c")
    echo = await set_modes(alice, "MODE #c +i")
    assert echo.params == ("#c", "+i")
    echo = await set_modes(alice, "MODE #c -int")
    assert echo.params[0] == "#c" and sorted(echo.params[1]) == sorted("-int")
    alice.send("MODE #c")
    assert (await alice.expect("324")).params == ("alice", "#c", "+")


async def test_key_is_shown_to_members_but_hidden_from_outsiders(connect):
    alice = await connect("alice")
    carol = await connect("carol")
    await alice.join("#c")
    await set_modes(alice, "MODE #c +k sesame")
    alice.send("MODE #c")
    assert (await alice.expect("324")).params == ("alice", "#c", "+ntk", "sesame")
    carol.send("MODE #c")
    assert (await carol.expect("324")).params == ("carol", "#c", "+ntk", "*")


async def test_mode_on_unknown_channel_gets_403(connect):
    alice = await connect("alice")
    alice.send("MODE #nowhere +o alice")
    await alice.expect("403", "alice", "#nowhere")
    await alice.assert_silent()


# flags and their enforcement ------------------------------------------------------------------


async def test_no_external_messages_blocks_outsiders_until_lifted(connect):
    alice = await connect("alice")
    carol = await connect("carol")
    await alice.join("#c")
    carol.send("PRIVMSG #c :hello from outside")
    await carol.expect("404", "carol", "#c")
    await set_modes(alice, "MODE #c -n")
    carol.send("PRIVMSG #c :hello again")
    msg = await alice.expect("PRIVMSG", "#c")
    assert msg.params[1] == "hello again"


async def test_topic_lock_keeps_the_topic_for_operators(connect):
    alice, bob = await op_and_member(connect)
    bob.send("TOPIC #c :bob's topic")
    await bob.expect("482", "bob", "#c")
    await set_modes(alice, "MODE #c -t")
    await bob.expect("MODE")
    bob.send("TOPIC #c :bob's topic")
    assert (await alice.expect("TOPIC")).params == ("#c", "bob's topic")


async def test_moderated_blocks_unvoiced_members_until_voiced(connect):
    alice, bob = await op_and_member(connect)
    await set_modes(alice, "MODE #c +m")
    bob.send("PRIVMSG #c :can I talk?")
    await bob.expect("404", "bob", "#c")
    await alice.assert_silent("PRIVMSG")
    voice = await set_modes(alice, "MODE #c +v bob")
    assert voice.params == ("#c", "+v", "bob")
    bob.send("PRIVMSG #c :now I can")
    assert (await alice.expect("PRIVMSG", "#c")).params[1] == "now I can"


async def test_invite_only_blocks_joins_until_invited(connect):
    alice = await connect("alice")
    carol = await connect("carol")
    await alice.join("#c")
    await set_modes(alice, "MODE #c +i")
    carol.send("JOIN #c")
    await carol.expect("473", "carol", "#c")
    alice.send("INVITE carol #c")
    await carol.expect("INVITE", "carol", "#c")
    await carol.join("#c")


async def test_key_refuses_a_wrong_key_and_admits_the_right_one(connect):
    alice = await connect("alice")
    carol = await connect("carol")
    await alice.join("#c")
    echo = await set_modes(alice, "MODE #c +k sesame")
    assert echo.params == ("#c", "+k", "sesame")
    carol.send("JOIN #c")
    await carol.expect("475", "carol", "#c")
    carol.send("JOIN #c wrong")
    await carol.expect("475", "carol", "#c")
    carol.send("JOIN #c sesame")
    await carol.expect("366", "carol", "#c")


async def test_removing_the_key_lets_everyone_in(connect):
    alice = await connect("alice")
    carol = await connect("carol")
    await alice.join("#c")
    await set_modes(alice, "MODE #c +k sesame")
    echo = await set_modes(alice, "MODE #c -k sesame")
    assert echo.params == ("#c", "-k", "*")
    await carol.join("#c")


@pytest.mark.parametrize("key", ["with space", "x" * 40, "", "a,b"])
async def test_an_invalid_key_gets_696_and_is_not_set(connect, key):
    alice = await connect("alice")
    await alice.join("#c")
    alice.send(f"MODE #c +k :{key}")
    error = await alice.expect("696")
    assert error.params[:4] == ("alice", "#c", "k", "*")
    await alice.assert_silent("MODE")
    alice.send("MODE #c")
    assert (await alice.expect("324")).params == ("alice", "#c", "+nt")


async def test_limit_refuses_joins_once_full_and_lifting_it_admits(connect):
    alice = await connect("alice")
    carol = await connect("carol")
    await alice.join("#c")
    echo = await set_modes(alice, "MODE #c +l 1")
    assert echo.params == ("#c", "+l", "1")
    carol.send("JOIN #c")
    await carol.expect("471", "carol", "#c")
    echo = await set_modes(alice, "MODE #c -l")
    assert echo.params == ("#c", "-l")
    await carol.join("#c")


# "\u00b2" (superscript two) and "\u2460" (circled one) pass str.isdigit() but are no numbers.
@pytest.mark.parametrize("limit", ["0", "-1", "abc", "", "99999999999", "\u00b2", "\u2460"])
async def test_an_invalid_limit_gets_696(connect, limit):
    alice = await connect("alice")
    await alice.join("#c")
    alice.send(f"MODE #c +l :{limit}")
    error = await alice.expect("696")
    assert error.params[:3] == ("alice", "#c", "l")
    await alice.assert_silent("MODE")


async def test_secret_hides_the_channel_from_outsiders(connect):
    alice = await connect("alice")
    carol = await connect("carol")
    await alice.join("#hidden")
    await set_modes(alice, "MODE #hidden +s")
    listed = await replies_to(carol, "LIST", "323")
    assert [m for m in listed if m.command == "322"] == []
    names = await replies_to(carol, "NAMES #hidden", "366")
    assert [m.command for m in names] == ["366"]
    whois = await replies_to(carol, "WHOIS alice", "318")
    assert "319" not in [m.command for m in whois]
    listed = await replies_to(alice, "LIST", "323")
    assert [m.params[1] for m in listed if m.command == "322"] == ["#hidden"]


# lists ------------------------------------------------------------------------------------------


async def test_ban_blocks_joining_and_speaking(connect):
    alice, bob = await op_and_member(connect)
    carol = await connect("carol")
    echo = await set_modes(alice, "MODE #c +b carol")
    assert echo.params == ("#c", "+b", "carol!*@*")
    carol.send("JOIN #c")
    await carol.expect("474", "carol", "#c")
    await set_modes(alice, "MODE #c +b bob!*@*")
    bob.send("PRIVMSG #c :am I muted?")
    await bob.expect("404", "bob", "#c")


async def test_ban_exception_lets_a_banned_user_in(connect):
    alice = await connect("alice")
    carol = await connect("carol")
    await alice.join("#c")
    await set_modes(alice, "MODE #c +b *!*@*")
    echo = await set_modes(alice, "MODE #c +e carol!*@*")
    assert echo.params == ("#c", "+e", "carol!*@*")
    await carol.join("#c")
    carol.send("PRIVMSG #c :excepted")
    assert (await alice.expect("PRIVMSG", "#c")).params[1] == "excepted"


async def test_invite_exception_lets_in_through_invite_only(connect):
    alice = await connect("alice")
    carol = await connect("carol")
    await alice.join("#c")
    await set_modes(alice, "MODE #c +iI carol!*@*")
    await carol.join("#c")


async def test_unbanning_matches_the_mask_up_to_case(connect):
    alice = await connect("alice")
    carol = await connect("carol")
    await alice.join("#c")
    await set_modes(alice, "MODE #c +b CAROL!*@*")
    carol.send("JOIN #c")
    await carol.expect("474")
    echo = await set_modes(alice, "MODE #c -b carol!*@*")
    assert echo.params == ("#c", "-b", "CAROL!*@*")
    await carol.join("#c")


async def test_list_modes_are_listed_to_members_without_op(connect):
    alice, bob = await op_and_member(connect)
    await set_modes(alice, "MODE #c +beI x!*@* y!*@* z!*@*")
    await bob.expect("MODE")
    for query, entry, end, mask in (
        ("MODE #c +b", "367", "368", "x!*@*"),
        ("MODE #c e", "348", "349", "y!*@*"),
        ("MODE #c I", "346", "347", "z!*@*"),
    ):
        replies = await replies_to(bob, query, end)
        entries = [m for m in replies if m.command == entry]
        assert len(entries) == 1
        assert entries[0].params[:3] == ("bob", "#c", mask)
        assert entries[0].params[3].startswith("alice!")
        assert entries[0].params[4].isdigit()
        assert "482" not in [m.command for m in replies]


async def test_a_full_list_gets_478(start_server, connect):
    srv = await start_server(max_list_entries=2)
    alice = await connect("alice", target=srv)
    await alice.join("#c")
    alice.send("MODE #c +bbb a!*@* b!*@* c!*@*")
    error = await alice.expect("478")
    assert error.params[:3] == ("alice", "#c", "b")
    echo = await alice.expect("MODE")
    assert echo.params == ("#c", "+bb", "a!*@*", "b!*@*")


async def test_at_most_max_modes_parameter_modes_apply_per_command(start_server, connect):
    srv = await start_server(max_modes=2)
    alice = await connect("alice", target=srv)
    await alice.join("#c")
    echo = await set_modes(alice, "MODE #c +bbbm a!*@* b!*@* c!*@*")
    assert echo.params == ("#c", "+bbm", "a!*@*", "b!*@*")


# prefixes -------------------------------------------------------------------------------------


async def test_op_is_granted_and_revoked_and_everyone_sees_it(connect):
    alice, bob = await op_and_member(connect)
    grant = await set_modes(alice, "MODE #c +o bob")
    assert grant.params == ("#c", "+o", "bob")
    assert grant.source.startswith("alice!")
    assert (await bob.expect("MODE")).params == ("#c", "+o", "bob")
    revoke = await set_modes(bob, "MODE #c -o alice")
    assert revoke.params == ("#c", "-o", "alice")
    alice.send("MODE #c +m")
    await alice.expect("482", "alice", "#c")


async def test_several_changes_make_one_mode_line_with_only_what_changed(connect):
    alice, bob = await op_and_member(connect)
    carol = await connect("carol")
    await carol.join("#c")
    await alice.expect("JOIN", "#c")
    alice.send("MODE #c +vnv-o+m bob carol bob")
    echo = await alice.expect("MODE")
    # +n is already set and bob is no op: both are dropped
    assert echo.params == ("#c", "+vvm", "bob", "carol")
    await alice.assert_silent("MODE")
    assert (await bob.expect("MODE")).params == echo.params


async def test_a_change_that_changes_nothing_is_not_broadcast(connect):
    alice, bob = await op_and_member(connect)
    alice.send("MODE #c +nt")
    await alice.assert_silent("MODE")
    await bob.assert_silent("MODE")


async def test_a_member_without_op_gets_one_482_and_nothing_changes(connect):
    alice, bob = await op_and_member(connect)
    replies = await replies_to(bob, "MODE #c +o-t+m bob", "482")
    assert replies[-1].params[:2] == ("bob", "#c")
    await bob.assert_silent()
    alice.send("MODE #c")
    assert (await alice.expect("324")).params == ("alice", "#c", "+nt")


async def test_an_outsider_changing_modes_gets_482(connect):
    await op_and_member(connect)
    carol = await connect("carol")
    carol.send("MODE #c +o carol")
    await carol.expect("482", "carol", "#c")
    await carol.assert_silent()


async def test_op_for_a_non_member_gets_441_and_unknown_nick_401(connect):
    alice = await connect("alice")
    await connect("carol")
    await alice.join("#c")
    alice.send("MODE #c +o carol")
    await alice.expect("441", "alice", "carol", "#c")
    alice.send("MODE #c +v nobody")
    await alice.expect("401", "alice", "nobody")
    await alice.assert_silent("MODE")


async def test_unknown_mode_char_gets_472_and_the_rest_applies(connect):
    alice = await connect("alice")
    await alice.join("#c")
    alice.send("MODE #c +Ym")
    await alice.expect("472", "alice", "Y")
    echo = await alice.expect("MODE")
    assert echo.params == ("#c", "+m")


# the parser on its own --------------------------------------------------------------------------


def test_parser_takes_parameters_in_order_and_treats_bare_lists_as_queries():
    changes, unknown = parse_channel_modes("+kl-o+bX", ["key", "5", "nick"], 6)
    assert [(c.adding, c.mode, c.param) for c in changes] == [
        (True, "k", "key"),
        (True, "l", "5"),
        (False, "o", "nick"),
        (True, "b", None),
    ]
    assert unknown == "X"


def test_parser_lets_minus_l_take_no_parameter_and_ignores_missing_ones():
    changes, _ = parse_channel_modes("-l+o+k", [], 6)
    assert [(c.adding, c.mode, c.param) for c in changes] == [(False, "l", None)]
