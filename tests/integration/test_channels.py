"""JOIN, PART, QUIT, NICK visibility; topics, names, kick, invite and the IRCv3 join variants."""

from __future__ import annotations


def from_nick(nick: str, command: str):
    return lambda m: m.command == command and (m.source or "").split("!")[0] == nick


async def test_first_joiner_gets_op_and_others_see_joins_and_parts(connect):
    alice = await connect("alice")
    bob = await connect("bob")
    alice.send("JOIN #c")
    names = await alice.expect("353")
    assert names.params[-1] == "@alice"
    await bob.join("#c")
    await alice.expect(from_nick("bob", "JOIN"))
    bob.send("PART #c :later")
    part = await alice.expect(from_nick("bob", "PART"))
    assert part.params == ("#c", "later")
    own = await bob.expect("PART")
    assert own.params == ("#c", "later")


async def test_join_several_channels_with_keys(connect):
    alice = await connect("alice")
    bob = await connect("bob")
    await alice.join("#a")
    await alice.join("#b")
    alice.send("MODE #b +k sesame")
    await alice.expect("MODE")
    bob.send("JOIN #a,#b,#c x,sesame")
    for channel in ("#a", "#b", "#c"):
        await bob.expect("366", "bob", channel)


async def test_join_zero_parts_every_channel(connect):
    alice = await connect("alice")
    bob = await connect("bob")
    for ch in ("#a", "#b"):
        await alice.join(ch)
        await bob.join(ch)
    bob.send("JOIN 0")
    parted = {(await alice.expect(from_nick("bob", "PART"))).params[0] for _ in range(2)}
    assert parted == {"#a", "#b"}


async def test_invalid_channel_name_gets_403(connect):
    alice = await connect("alice")
    alice.send("JOIN nochan")
    await alice.expect("403")


async def test_part_errors(connect):
    alice = await connect("alice")
    bob = await connect("bob")
    await alice.join("#c")
    bob.send("PART #c")
    await bob.expect("442")
    bob.send("PART #none")
    await bob.expect("403")


async def test_quit_is_shown_once_to_each_peer_sharing_several_channels(connect):
    alice = await connect("alice")
    bob = await connect("bob")
    outsider = await connect("outsider")
    for ch in ("#a", "#b", "#c"):
        await alice.join(ch)
        await bob.join(ch)
    bob.send("QUIT :gone")
    quit_msg = await alice.expect("QUIT")
    assert quit_msg.params == ("Quit: gone",)
    await alice.assert_silent("QUIT")
    await outsider.assert_silent("QUIT")


async def test_nick_change_is_seen_by_peers_and_self_once(connect):
    alice = await connect("alice")
    bob = await connect("bob")
    for ch in ("#a", "#b"):
        await alice.join(ch)
        await bob.join(ch)
    bob.send("NICK robert")
    change = await alice.expect("NICK")
    assert change.source.startswith("bob!") and change.params == ("robert",)
    await alice.assert_silent("NICK")
    assert (await bob.expect("NICK")).params == ("robert",)
    alice.send("PRIVMSG robert :hi")
    await bob.expect("PRIVMSG", "robert")


async def test_nick_change_to_a_taken_nick_gets_433(connect):
    await connect("alice")
    bob = await connect("bob")
    bob.send("NICK Alice")
    await bob.expect("433")


async def test_nick_case_change_is_allowed(connect):
    alice = await connect("alice")
    alice.send("NICK ALICE")
    assert (await alice.expect("NICK")).params == ("ALICE",)


async def test_topic_set_shown_and_enforced_with_plus_t(connect):
    alice = await connect("alice")
    bob = await connect("bob")
    await alice.join("#c")
    await bob.join("#c")
    alice.send("TOPIC #c :the topic")
    topic = await bob.expect("TOPIC")
    assert topic.params == ("#c", "the topic")
    bob.send("TOPIC #c :mine now")
    await bob.expect("482")
    bob.send("TOPIC #c")
    assert (await bob.expect("332")).params[1:] == ("#c", "the topic")
    who = await bob.expect("333")
    assert who.params[2].startswith("alice")
    carol = await connect("carol")
    carol.send("JOIN #c")
    assert (await carol.expect("332")).params[-1] == "the topic"


async def test_topic_without_topic_gets_331_and_is_truncated_to_topiclen(start_server, connect):
    srv = await start_server(topiclen=10)
    alice = await connect("alice", target=srv)
    await alice.join("#c")
    alice.send("TOPIC #c")
    await alice.expect("331")
    alice.send("TOPIC #c :0123456789abcdef")
    assert (await alice.expect("TOPIC")).params[1] == "0123456789"


async def test_names_with_multi_prefix_and_userhost_in_names(connect):
    alice = await connect("alice")
    bob = await connect("bob", caps=("multi-prefix", "userhost-in-names"))
    await alice.join("#c")
    await bob.join("#c")
    alice.send("MODE #c +v alice")
    await bob.expect("MODE")
    bob.send("NAMES #c")
    names = await bob.expect("353")
    members = set(names.params[-1].split())
    assert "@+alice!~user@127.0.0.1" in members
    assert "bob!~user@127.0.0.1" in members


async def test_names_of_unknown_channel_ends_quietly(connect):
    alice = await connect("alice")
    alice.send("NAMES #nothing")
    end = await alice.expect("366")
    assert end.params[1] == "#nothing"


async def test_kick_removes_the_member_and_needs_op(connect):
    alice = await connect("alice")
    bob = await connect("bob")
    await alice.join("#c")
    await bob.join("#c")
    bob.send("KICK #c alice")
    await bob.expect("482")
    alice.send("KICK #c bob :behave")
    kick = await bob.expect("KICK")
    assert kick.params == ("#c", "bob", "behave")
    bob.send("PRIVMSG #c :still here?")
    await bob.expect("404")
    alice.send("KICK #c bob")
    await alice.expect("441")


async def test_kick_of_several_nicks_up_to_targmax(start_server, connect):
    """Modern IRC KICK: "The server MUST NOT send KICK messages with multiple users to clients";
    "Servers MAY limit the number of target users per KICK command via the TARGMAX parameter of
    RPL_ISUPPORT, and silently drop targets if the number of targets exceeds the limit"."""
    server = await start_server()  # max_kick_targets = 4
    alice = await connect("alice", register=False, target=server)
    alice.send("NICK alice")
    alice.send("USER u 0 * :Real")
    burst = await alice.collect_until("376")
    tokens = " ".join(" ".join(m.params[1:-1]) for m in burst if m.command == "005").split()
    targmax = next(t for t in tokens if t.startswith("TARGMAX="))
    assert "KICK:4" in targmax.removeprefix("TARGMAX=").split(",")
    await alice.join("#c")
    nicks = ("a1", "a2", "a3", "a4", "a5")
    for nick in nicks:
        await (await connect(nick, target=server)).join("#c")
    alice.send("KICK #c a1,a2,,a3,a4,a5 :go")
    kicks = [await alice.expect("KICK") for _ in range(4)]
    assert [k.params for k in kicks] == [("#c", nick, "go") for nick in nicks[:4]]
    await alice.assert_silent("KICK")
    alice.send("NAMES #c")
    names = (await alice.expect("353")).params[-1].split()
    assert sorted(names) == ["@alice", "a5"]


async def test_invite_lets_a_user_into_an_invite_only_channel_and_notifies(connect):
    alice = await connect("alice")
    watcher = await connect("watcher", caps=("invite-notify",))
    bob = await connect("bob")
    await alice.join("#c")
    await watcher.join("#c")
    alice.send("MODE #c +o watcher")
    await watcher.expect("MODE")
    alice.send("MODE #c +i")
    await alice.expect("MODE")
    bob.send("JOIN #c")
    await bob.expect("473")
    alice.send("INVITE bob #c")
    inviting = await alice.expect("341")
    assert inviting.params[1:] == ("bob", "#c")
    invite = await bob.expect("INVITE")
    assert invite.params == ("bob", "#c") and invite.source.startswith("alice!")
    notify = await watcher.expect("INVITE")
    assert notify.params == ("bob", "#c")
    await bob.join("#c")


async def test_invite_errors(connect):
    alice = await connect("alice")
    bob = await connect("bob")
    await alice.join("#c")
    await bob.join("#c")
    alice.send("INVITE bob #c")
    await alice.expect("443")
    alice.send("INVITE nobody #c")
    await alice.expect("401")
    carol = await connect("carol")
    carol.send("INVITE bob #c")
    await carol.expect("442")


async def test_extended_join_carries_account_and_realname(connect):
    alice = await connect("alice", caps=("extended-join",))
    await alice.join("#c")
    bob = await connect(register=False)
    bob.send("NICK bob")
    bob.send("USER b 0 * :Bob Builder")
    await bob.expect("001")
    bob.send("JOIN #c")
    join = await alice.expect(from_nick("bob", "JOIN"))
    assert join.params == ("#c", "*", "Bob Builder")


async def test_channel_names_are_case_insensitive(connect):
    alice = await connect("alice")
    bob = await connect("bob")
    await alice.join("#Chat")
    bob.send("JOIN #CHAT")
    names = await bob.expect("353")
    assert names.params[2] == "#Chat"


async def test_rfc1459_casemapping_folds_brackets(start_server, connect):
    srv = await start_server(casemapping="rfc1459")
    await connect("nick[a]", target=srv)
    other = await connect(register=False, target=srv)
    other.send("NICK nick{A}")
    await other.expect("433")
