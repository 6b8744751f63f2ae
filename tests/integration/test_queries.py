"""Query commands over real sockets: WHO/WHOX, WHOIS, WHOWAS, LIST, ISON, USERHOST, server info,
AWAY, SETNAME and HELP."""

from __future__ import annotations

import pytest

from .accounts_helpers import OPER_PASSWORD, OPERS


async def replies_to(client, line, end):
    """Send ``line``; return every message up to ``end``, taking them out of the client's buffer."""
    client.send(line)
    out = await client.collect_until(end)
    client.buffer = [m for m in client.buffer if not any(m is o for o in out)]
    return out


def of(replies, numeric):
    """The replies with ``numeric``."""
    return [m for m in replies if m.command == numeric]


async def in_channel(connect, *nicks, channel="#c", caps=()):
    """Connect ``nicks`` (the first creates ``channel`` and is op) and join them all."""
    clients = []
    for nick in nicks:
        client = await connect(nick, caps=caps)
        await client.join(channel)
        clients.append(client)
    for client in clients[:-1]:
        await client.sync()
    return clients


# WHO ---------------------------------------------------------------------------------------------


async def test_who_channel_lists_members_with_flags_and_realname(connect):
    _alice, bob = await in_channel(connect, "alice", "bob")
    replies = await replies_to(bob, "WHO #C", "315")
    rows = sorted(of(replies, "352"), key=lambda m: m.params[5])
    assert [r.params[:7] for r in rows] == [
        ("bob", "#c", "~user", "127.0.0.1", "hubbub.local", "alice", "H@"),
        ("bob", "#c", "~user", "127.0.0.1", "hubbub.local", "bob", "H"),
    ]
    assert rows[0].params[7] == "0 Real Name"
    assert replies[-1].params[:2] == ("bob", "#C")


async def test_who_shows_every_prefix_with_multi_prefix(connect):
    (alice,) = await in_channel(connect, "alice", caps=("multi-prefix",))
    alice.send("MODE #c +v alice")
    await alice.expect("MODE")
    replies = await replies_to(alice, "WHO #c", "315")
    assert of(replies, "352")[0].params[6] == "H@+"


async def test_who_nick_shows_no_channel_and_gone_when_away(connect):
    alice = await connect("alice")
    bob = await connect("bob")
    alice.send("AWAY :lunch")
    await alice.expect("306")
    replies = await replies_to(bob, "WHO ALICE", "315")
    (row,) = of(replies, "352")
    assert row.params[1] == "*" and row.params[5] == "alice" and row.params[6] == "G"
    assert replies[-1].params[1] == "ALICE"


async def test_who_mask_matches_with_wildcards(connect):
    await connect("alice")
    await connect("alfred")
    bob = await connect("bob")
    replies = await replies_to(bob, "WHO al*", "315")
    assert sorted(r.params[5] for r in of(replies, "352")) == ["alfred", "alice"]
    replies = await replies_to(bob, "WHO *!~user@127.0.0.1", "315")
    assert len(of(replies, "352")) == 3


async def test_who_for_an_unknown_nick_is_only_the_end(connect):
    bob = await connect("bob")
    replies = await replies_to(bob, "WHO nobody", "315")
    assert [m.command for m in replies] == ["315"]


async def test_invisible_users_are_hidden_from_masks_unless_a_channel_is_shared(connect):
    evan = await connect("evan")
    evan.send("MODE evan +i")
    await evan.expect("MODE")
    bob = await connect("bob")
    assert of(await replies_to(bob, "WHO eva*", "315"), "352") == []
    assert len(of(await replies_to(bob, "WHO evan", "315"), "352")) == 1
    await evan.join("#c")
    await bob.join("#c")
    assert len(of(await replies_to(bob, "WHO eva*", "315"), "352")) == 1


async def test_invisible_members_are_hidden_from_outsiders_who_channel(connect):
    (evan,) = await in_channel(connect, "evan")
    evan.send("MODE evan +i")
    await evan.expect("MODE")
    bob = await connect("bob")
    assert of(await replies_to(bob, "WHO #c", "315"), "352") == []


async def test_who_o_flag_lists_only_operators(start_server, connect):
    srv = await start_server(**OPERS)
    alice = await connect("alice", target=srv)
    bob = await connect("bob", target=srv)
    bob.send(f"OPER admin {OPER_PASSWORD}")
    await bob.expect("381")
    replies = await replies_to(alice, "WHO * o", "315")
    rows = of(replies, "352")
    assert [r.params[5] for r in rows] == ["bob"]
    assert rows[0].params[6] == "H*"


async def test_whox_sends_fields_in_fixed_order_with_the_token(connect):
    _alice, bob = await in_channel(connect, "alice", "bob")
    replies = await replies_to(bob, "WHO alice %" + "".join(reversed("tcuihsnfdlaor")) + ",123", "315")
    (row,) = of(replies, "354")
    token, chan, user, ip, host, server, nick, flags, hops, idle, account, oplevel, real = row.params[1:]
    assert (token, chan, user, ip, host, server, nick) == (
        "123",
        "*",
        "~user",
        "127.0.0.1",
        "127.0.0.1",
        "hubbub.local",
        "alice",
    )
    assert (flags, hops, account, real) == ("H", "0", "0", "Real Name")
    assert idle.isdigit() and oplevel
    assert replies[-1].params[:2] == ("bob", "alice")


async def test_whox_sends_only_the_fields_asked_for(server, connect):
    await connect("alice")
    bob = await connect("bob")
    replies = await replies_to(bob, "WHO alice %tn,321", "315")
    assert of(replies, "354")[0].params == ("bob", "321", "alice")
    replies = await replies_to(bob, "WHO alice %na", "315")
    assert of(replies, "354")[0].params == ("bob", "alice", "0")
    server.world.find_user("alice").account = "alice-account"  # what SASL sets
    replies = await replies_to(bob, "WHO alice %an", "315")
    assert of(replies, "354")[0].params == ("bob", "alice", "alice-account")


async def test_who_flags_show_bots(connect):
    robot, bob = await in_channel(connect, "robot", "bob")
    robot.send("MODE robot +B")
    await robot.expect("MODE")
    replies = await replies_to(bob, "WHO #c", "315")
    flags = {r.params[5]: r.params[6] for r in of(replies, "352")}
    assert flags["robot"] == "H@B"


# WHOIS -------------------------------------------------------------------------------------------


async def test_whois_gives_user_channels_server_idle_and_end(connect):
    alice = await connect("alice")
    bob = await connect("bob")
    await bob.join("#one")
    await bob.join("#two")
    replies = await replies_to(alice, "WHOIS bob", "318")
    assert replies[0].command == "311"
    assert replies[0].params == ("alice", "bob", "~user", "127.0.0.1", "*", "Real Name")
    (channels,) = of(replies, "319")
    assert sorted(channels.params[2].split()) == ["@#one", "@#two"]
    assert of(replies, "312")[0].params[:3] == ("alice", "bob", "hubbub.local")
    idle = of(replies, "317")[0]
    assert idle.params[2].isdigit() and idle.params[3].isdigit()
    assert replies[-1].params[:2] == ("alice", "bob")
    assert {m.command for m in replies} == {"311", "319", "312", "317", "318"}


async def test_whois_with_a_server_parameter_works_the_same(connect):
    alice = await connect("alice")
    await connect("bob")
    replies = await replies_to(alice, "WHOIS hubbub.local bob", "318")
    assert replies[0].command == "311"
    replies = await replies_to(alice, "WHOIS bob bob", "318")
    assert replies[0].command == "311"
    alice.send("WHOIS elsewhere.example bob")
    await alice.expect("402", "alice", "elsewhere.example")


async def test_whois_for_an_unknown_nick_gets_401_then_318(connect):
    alice = await connect("alice")
    replies = await replies_to(alice, "WHOIS nobody", "318")
    assert [(m.command, m.params[1]) for m in replies] == [("401", "nobody"), ("318", "nobody")]


async def test_whois_shows_away_account_and_bot(server, connect):
    alice = await connect("alice")
    bob = await connect("bob")
    bob.send("AWAY :on a break")
    await bob.expect("306")
    bob.send("MODE bob +B")
    await bob.expect("MODE")
    server.world.find_user("bob").account = "bobby"  # what SASL sets
    replies = await replies_to(alice, "WHOIS bob", "318")
    assert of(replies, "301")[0].params == ("alice", "bob", "on a break")
    assert of(replies, "330")[0].params[:3] == ("alice", "bob", "bobby")
    assert len(of(replies, "335")) == 1


async def test_whois_hides_channels_of_invisible_users_unless_shared(connect):
    alice = await connect("alice")
    bob = await connect("bob")
    await bob.join("#c")
    bob.send("MODE bob +i")
    await bob.expect("MODE")
    assert of(await replies_to(alice, "WHOIS bob", "318"), "319") == []
    await alice.join("#c")
    (channels,) = of(await replies_to(alice, "WHOIS bob", "318"), "319")
    assert channels.params[2] == "@#c"


# WHOWAS ------------------------------------------------------------------------------------------


async def gone(connect, nick, user):
    client = await connect()
    await client.register(nick, user=user)
    client.send("QUIT :bye")
    await client.expect_closed()


async def test_whowas_remembers_nicks_that_left_newest_first(connect):
    alice = await connect("alice")
    await gone(connect, "bob", "first")
    await gone(connect, "bob", "second")
    replies = await replies_to(alice, "WHOWAS bob", "369")
    users = of(replies, "314")
    assert [u.params[2] for u in users] == ["~second", "~first"]
    assert users[0].params == ("alice", "bob", "~second", "127.0.0.1", "*", "Real Name")
    assert len(of(replies, "312")) == 2
    assert replies[-1].params[:2] == ("alice", "bob")


@pytest.mark.parametrize(("query", "found"), [("WHOWAS bob 1", 1), ("WHOWAS bob 0", 2), ("WHOWAS b*", 2)])
async def test_whowas_count_and_wildcards(connect, query, found):
    alice = await connect("alice")
    await gone(connect, "bob", "first")
    await gone(connect, "bob", "second")
    replies = await replies_to(alice, query, "369")
    assert len(of(replies, "314")) == found


async def test_whowas_for_an_unknown_nick_gets_406_then_369(connect):
    alice = await connect("alice")
    replies = await replies_to(alice, "WHOWAS nobody", "369")
    assert [(m.command, m.params[1]) for m in replies] == [("406", "nobody"), ("369", "nobody")]


# LIST --------------------------------------------------------------------------------------------


async def test_list_gives_channels_with_counts_and_topics(connect):
    alice, bob = await in_channel(connect, "alice", "bob")
    alice.send("TOPIC #c :all about c")
    await bob.expect("TOPIC")
    replies = await replies_to(bob, "LIST", "323")
    assert replies[0].command == "321"
    assert [m.params for m in of(replies, "322")] == [("bob", "#c", "2", "all about c")]


async def test_list_with_channel_names_lists_only_those(connect):
    alice = await connect("alice")
    for name in ("#one", "#two", "#three"):
        await alice.join(name)
    replies = await replies_to(alice, "LIST #one,#THREE,#nowhere", "323")
    assert sorted(m.params[1] for m in of(replies, "322")) == ["#one", "#three"]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("LIST *an1", ["#chan1"]),
        ("LIST #c*n2", ["#chan2"]),
        ("LIST !*an1", ["#chan2"]),
        ("LIST >1", ["#chan2"]),
        ("LIST <2", ["#chan1"]),
        ("LIST <1", []),
        ("LIST >0", ["#chan1", "#chan2"]),
        ("LIST >\u00b2", []),  # not a number (though str.isdigit() says so): a mask matching none
    ],
)
async def test_list_filters_by_mask_and_user_count(connect, query, expected):
    alice = await connect("alice")
    bob = await connect("bob")
    await alice.join("#chan1")
    await alice.join("#chan2")
    await bob.join("#chan2")
    replies = await replies_to(bob, query, "323")
    assert sorted(m.params[1] for m in of(replies, "322")) == expected


async def test_list_counts_only_visible_users_for_outsiders(connect):
    _alice, evan = await in_channel(connect, "alice", "evan")
    evan.send("MODE evan +i")
    await evan.expect("MODE")
    carol = await connect("carol")
    replies = await replies_to(carol, "LIST", "323")
    assert of(replies, "322")[0].params[2] == "1"


# ISON and USERHOST --------------------------------------------------------------------------------


async def test_ison_answers_with_the_nicks_that_are_online(connect):
    alice = await connect("alice")
    await connect("Bob")
    alice.send("ISON bob nobody alice")
    assert (await alice.expect("303")).params == ("alice", "Bob alice")


async def test_userhost_shows_away_and_operator_status(start_server, connect):
    srv = await start_server(**OPERS)
    alice = await connect("alice", target=srv)
    bob = await connect("bob", target=srv)
    bob.send("AWAY :away")
    await bob.expect("306")
    alice.send(f"OPER admin {OPER_PASSWORD}")
    await alice.expect("381")
    alice.send("USERHOST alice bob nobody")
    reply = await alice.expect("302")
    assert reply.params == ("alice", "alice*=+~user@127.0.0.1 bob=-~user@127.0.0.1")


async def test_userhost_answers_at_most_five_nicks(connect):
    alice = await connect("alice")
    alice.send("USERHOST alice alice alice alice alice alice alice")
    assert len((await alice.expect("302")).params[1].split()) == 5


# server information ------------------------------------------------------------------------------


async def test_motd_and_lusers_on_request(connect):
    alice = await connect("alice")
    replies = await replies_to(alice, "MOTD", "376")
    assert [m.command for m in replies] == ["375", "372", "376"]
    replies = await replies_to(alice, "LUSERS", "266")
    assert replies[0].command == "251"


async def test_motd_is_missing_when_empty(start_server, connect):
    srv = await start_server(motd="")
    alice = await connect("alice", target=srv)
    alice.send("MOTD")
    await alice.expect("422", "alice")


async def test_version_gives_351_then_isupport(connect):
    alice = await connect("alice")
    alice.send("VERSION")
    replies = await replies_to(alice, "PING done", "PONG")
    version = replies[0]
    assert version.command == "351"
    assert version.params[1].startswith("hubbub-") and version.params[2] == "hubbub.local"
    tokens = [t for m in of(replies, "005") for t in m.params[1:-1]]
    assert "WHOX" in tokens and "BOT=B" in tokens


async def test_time_gives_391_with_the_server_name(connect):
    alice = await connect("alice")
    alice.send("TIME")
    reply = await alice.expect("391")
    assert reply.params[1] == "hubbub.local" and reply.params[2]


async def test_admin_gives_256_to_259(start_server, connect):
    srv = await start_server(admin_name="Ada", admin_location="Lab 3", admin_email="ada@example.org")
    alice = await connect("alice", target=srv)
    replies = await replies_to(alice, "ADMIN", "259")
    assert [m.command for m in replies] == ["256", "257", "258", "259"]
    assert [m.params[-1] for m in replies[1:]] == ["Ada", "Lab 3", "ada@example.org"]


async def test_info_gives_371_lines_then_374(connect):
    alice = await connect("alice")
    replies = await replies_to(alice, "INFO", "374")
    assert {m.command for m in replies[:-1]} == {"371"}
    assert len(replies) > 1


@pytest.mark.parametrize("command", ["MOTD", "VERSION", "TIME", "ADMIN", "INFO"])
async def test_server_queries_for_another_server_get_402(connect, command):
    alice = await connect("alice")
    alice.send(f"{command} elsewhere.example")
    await alice.expect("402", "alice", "elsewhere.example")
    await alice.assert_silent()


async def test_server_queries_accept_this_servers_name(connect):
    alice = await connect("alice")
    alice.send("TIME hubbub.local")
    await alice.expect("391")


# AWAY ------------------------------------------------------------------------------------------


async def test_away_is_acknowledged_and_answered_to_private_messages(connect):
    alice = await connect("alice")
    bob = await connect("bob")
    alice.send("AWAY :gone fishing")
    await alice.expect("306", "alice")
    bob.send("PRIVMSG alice :hi")
    assert (await bob.expect("301")).params == ("bob", "alice", "gone fishing")
    alice.send("AWAY")
    await alice.expect("305", "alice")
    bob.send("PRIVMSG alice :hi again")
    await bob.assert_silent("301")


async def test_away_messages_are_cut_to_awaylen(start_server, connect):
    srv = await start_server(awaylen=5)
    alice = await connect("alice", target=srv)
    bob = await connect("bob", target=srv)
    alice.send("AWAY :a long time away")
    await alice.expect("306")
    bob.send("WHOIS alice")
    assert (await bob.expect("301")).params[2] == "a lon"


async def test_away_notify_tells_peers_with_the_cap_only(connect):
    alice, bob = await in_channel(connect, "alice", "bob", caps=("away-notify",))
    carol = await connect("carol")
    await carol.join("#c")
    await bob.sync()
    alice.send("AWAY :brb")
    note = await bob.expect("AWAY")
    assert note.params == ("brb",) and note.source.startswith("alice!")
    alice.send("AWAY")
    assert (await bob.expect("AWAY")).params == ()
    await carol.assert_silent("AWAY")
    await alice.assert_silent("AWAY")


# SETNAME -----------------------------------------------------------------------------------------


async def test_setname_changes_the_realname_and_tells_peers_with_the_cap(connect):
    alice, bob = await in_channel(connect, "alice", "bob", caps=("setname",))
    carol = await connect("carol")
    await carol.join("#c")
    await bob.sync()
    alice.send("SETNAME :Alice Liddell")
    assert (await alice.expect("SETNAME")).params == ("Alice Liddell",)
    echo = await bob.expect("SETNAME")
    assert echo.params == ("Alice Liddell",) and echo.source.startswith("alice!")
    await carol.assert_silent("SETNAME")
    carol.send("WHOIS alice")
    assert (await carol.expect("311")).params[-1] == "Alice Liddell"


async def test_setname_refuses_a_too_long_realname(connect):
    alice = await connect("alice", caps=("setname",))
    alice.send("SETNAME :" + "x" * 200)
    fail = await alice.expect("FAIL")
    assert fail.params[:2] == ("SETNAME", "INVALID_REALNAME")
    await alice.assert_silent("SETNAME")


# HELP --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "subject"), [("HELP", "*"), ("HELP privmsg", "privmsg"), ("HELPOP MODE", "MODE")]
)
async def test_help_gives_704_705_706_about_the_subject(connect, line, subject):
    alice = await connect("alice")
    replies = await replies_to(alice, line, "706")
    assert replies[0].command == "704"
    assert {m.command for m in replies[1:-1]} <= {"705"}
    assert all(m.params[1] == subject for m in replies)


async def test_help_on_an_unknown_subject_gets_524(connect):
    alice = await connect("alice")
    alice.send("HELP NOSUCHTHING")
    await alice.expect("524", "alice", "NOSUCHTHING")
    await alice.assert_silent()
