"""IRCv3 draft/channel-rename: RENAME by a channel operator, the fallback for clients without the
capability, history kept under the new name (across a restart), and the refusals."""

from __future__ import annotations

from hubbub.protocol import Message
from tests.support.clock import FakeClock

from .accounts_helpers import FAST, login_and_register, register_account
from .conftest import Connect, StartServer
from .ircclient import IRCClient

CAP = "draft/channel-rename"
HISTORY_CAPS = ("draft/chathistory", "batch", "server-time", "message-tags")
PASSWORD = "rename-founder-pw"


async def latest(client: IRCClient, target: str, limit: int = 10) -> list[str]:
    """CHATHISTORY LATEST: the texts of the PRIVMSGs inside the answering batch."""
    client.send(f"CHATHISTORY LATEST {target} * {limit}")
    start = await client.expect("BATCH")
    ref = start.params[0][1:]
    got = await client.collect_until("BATCH", "-" + ref)
    return [m.params[-1] for m in got[:-1] if m.tags.get("batch") == ref and m.command == "PRIVMSG"]


async def fail_of(client: IRCClient, line: str) -> Message:
    client.send(line)
    return await client.expect(lambda m: m.command == "FAIL" or (m.command.isdigit() and m.command >= "400"))


async def test_members_with_the_cap_get_rename_and_the_channel_keeps_its_state(
    start_server: StartServer, connect: Connect
) -> None:
    """Spec: "A channel rename preserves all channel state, such as membership, mode and topic" and
    "The server to client command MUST always include the third parameter, an empty string MAY be
    used if no reason is provided"."""
    server = await start_server(channel_rename_interval=0.0)
    alice = await connect("alice", caps=(CAP,), target=server)
    bob = await connect("bob", caps=(CAP, "multi-prefix"), target=server)
    await alice.join("#boaring")
    await bob.join("#boaring")
    alice.send("TOPIC #boaring :Things that bore us")
    await bob.expect("TOPIC")
    alice.send("MODE #boaring +m")
    await bob.expect("MODE")
    alice.send("RENAME #boaring #boring :Typo fix")
    for client in (alice, bob):
        renamed = await client.expect("RENAME")
        assert renamed.params == ("#boaring", "#boring", "Typo fix")
        assert renamed.source is not None and renamed.source.startswith("alice!")
    alice.send("RENAME #boring #dull")
    for client in (alice, bob):
        assert (await client.expect("RENAME")).params == ("#boring", "#dull", "")
    await bob.assert_silent("PART")
    bob.send("TOPIC #dull")
    assert (await bob.expect("332")).params[1:] == ("#dull", "Things that bore us")
    bob.send("MODE #dull")
    assert "m" in (await bob.expect("324")).params[2]
    bob.send("NAMES #dull")
    assert sorted((await bob.expect("353")).params[-1].split()) == ["@alice", "bob"]
    await bob.expect("366", "bob", "#dull")
    bob.send("NAMES #boaring")  # the old name is nobody's now
    got = await bob.collect_until("366", "bob", "#boaring")
    assert not [m for m in got if m.command == "353"]
    # Still a member under the new name: its messages reach the others, +m and all.
    bob.send("PRIVMSG #dull :can I speak?")
    assert (await bob.expect("404")).params[1] == "#dull"
    alice.send("PRIVMSG #dull :only I can")
    assert (await bob.expect("PRIVMSG")).params == ("#dull", "only I can")


async def test_members_without_the_cap_get_part_then_join_with_topic_and_names(connect: Connect) -> None:
    """Spec, Fallback: "Send the client a PART message for the old channel name, with part message
    matching the rename reason if given" and "a JOIN message followed by the usual messages that
    would be sent if the client had joined the new channel normally (RPL_TOPIC, RPL_TOPICWHOTIME,
    RPL_NAMREPLY, RPL_ENDOFNAMES etc)"."""
    alice = await connect("alice")
    carol = await connect("carol", caps=("extended-join",))
    await alice.join("#foo")
    await carol.join("#foo")
    alice.send("TOPIC #foo :Topic of the renamed channel")
    await carol.expect("TOPIC")
    await alice.sync()
    alice.buffer.clear()
    alice.send("RENAME #foo #bar :Changing the channel name")
    for client, join_params in ((alice, ("#bar",)), (carol, ("#bar", "*", "Real Name"))):
        got = await client.collect_until("366")
        shown = [m for m in got if m.command in ("PART", "JOIN", "332", "333", "353", "366")]
        assert [m.command for m in shown] == ["PART", "JOIN", "332", "333", "353", "366"]
        part, join = shown[0], shown[1]
        assert part.params == ("#foo", "Changing the channel name")
        assert part.source is not None and part.source.startswith(f"{client.nick}!")
        assert join.params == join_params
        assert join.source is not None and join.source.startswith(f"{client.nick}!")
        assert shown[2].params[1:] == ("#bar", "Topic of the renamed channel")
        assert sorted(shown[4].params[-1].split()) == ["@alice", "carol"]
        assert not [m for m in got if m.command == "RENAME"]
    carol.send("PRIVMSG #bar :hello under the new name")
    assert (await alice.expect("PRIVMSG")).params == ("#bar", "hello under the new name")


async def test_a_change_of_case_is_allowed_and_sends_no_fallback(connect: Connect) -> None:
    """Spec: "Implementations MUST allow channels to be renamed while only changing the casing of a
    channel name" and "This fallback SHOULD NOT be used if the rename only changes the case"."""
    alice = await connect("alice", caps=(CAP,))
    dave = await connect("dave")
    await alice.join("#quiet")
    await dave.join("#quiet")
    alice.send("RENAME #quiet #Quiet")
    assert (await alice.expect("RENAME")).params == ("#quiet", "#Quiet", "")
    await dave.assert_silent("PART")
    dave.send("NAMES #quiet")
    assert (await dave.expect("353")).params[2] == "#Quiet"


async def test_history_registration_and_read_marker_move_to_the_new_name_across_a_restart(
    start_server: StartServer, connect: Connect
) -> None:
    """Spec, Introduction: renaming "avoids issues with client-side logging where history is split
    across multiple channel names". CHATHISTORY on the new name returns the old messages after a
    restart; the old name holds nothing, so a channel made under it later starts clean."""
    server = await start_server(**FAST)
    founder = await connect("founder", caps=(*HISTORY_CAPS, CAP, "draft/read-marker"), target=server)
    await register_account(founder, PASSWORD)
    await founder.join("#coding")
    for text in ("first", "second"):
        founder.send(f"PRIVMSG #coding :{text}")
    founder.send("PRIVMSG ChanServ :REGISTER #coding")
    await founder.expect(lambda m: m.command == "NOTICE" and "registered" in m.params[-1])
    founder.send("MARKREAD #coding timestamp=2030-01-02T03:04:05.678Z")
    await founder.expect("MARKREAD")
    founder.send("RENAME #coding #programming :broader")
    assert (await founder.expect("RENAME")).params == ("#coding", "#programming", "broader")
    founder.send("PRIVMSG #programming :third")
    assert await latest(founder, "#programming") == ["first", "second", "third"]
    founder.send("PRIVMSG ChanServ :INFO #programming")
    info = await founder.expect(lambda m: m.command == "NOTICE" and "#programming" in m.params[-1])
    assert "registered to founder" in info.params[-1]
    await server.stop()

    again = await start_server(**FAST)
    assert again.world.find_channel("#programming") is not None
    assert again.world.find_channel("#coding") is None
    back = await connect("b", register=False, target=again)
    caps = (*HISTORY_CAPS, "draft/read-marker")
    assert (await login_and_register(back, "founder", "founder", PASSWORD, caps)).command == "903"
    await back.expect("001")
    back.send("JOIN #programming")
    assert (await back.expect("MODE")).params == ("#programming", "+o", "founder")  # ChanServ
    back.send("MARKREAD #programming")
    assert (await back.expect("MARKREAD")).params == ("#programming", "timestamp=2030-01-02T03:04:05.678Z")
    assert await latest(back, "#programming") == ["first", "second", "third"]
    back.send("PRIVMSG ChanServ :INFO #coding")
    notice = await back.expect(lambda m: m.command == "NOTICE" and "#coding" in m.params[-1])
    assert "does not exist" in notice.params[-1]  # a registered channel always exists
    back.send("JOIN #coding")
    await back.expect("366")
    assert await latest(back, "#coding") == []
    back.send("MARKREAD #coding")
    assert (await back.expect("MARKREAD")).params == ("#coding", "*")


async def test_refusals(connect: Connect) -> None:
    """Spec, Errors: "FAIL RENAME CHANNEL_NAME_IN_USE <old-channel> <new-channel>", "FAIL RENAME
    CANNOT_RENAME <old-channel> <new-channel>", and "If existing error numerics (such as
    ERR_CHANOPRIVSNEEDED, ERR_NOTONCHANNEL, ERR_NEEDMOREPARAMS) are more appropriate, they SHOULD
    be used instead"."""
    alice = await connect("alice", caps=(CAP, "standard-replies"))
    bob = await connect("bob", caps=(CAP,))
    await alice.join("#evil")
    await alice.join("#good")
    await alice.join("#h\u0456deout")  # a Cyrillic i
    await bob.join("#evil")
    assert (await fail_of(bob, "RENAME #evil #nice")).command == "482"
    assert (await fail_of(bob, "RENAME #good #nice")).command == "442"
    assert (await fail_of(bob, "RENAME #nowhere #nice")).command == "403"
    assert (await fail_of(bob, "RENAME #evil")).command == "461"
    cases = {
        "RENAME #evil #good :Don't be evil": ("CHANNEL_NAME_IN_USE", "#good"),
        "RENAME #evil #GOOD": ("CHANNEL_NAME_IN_USE", "#GOOD"),
        "RENAME #evil #hideout": ("CHANNEL_NAME_IN_USE", "#hideout"),  # looks like the Cyrillic one
        "RENAME #evil #bad,name": ("CANNOT_RENAME", "#bad,name"),
        "RENAME #evil nohash": ("CANNOT_RENAME", "nohash"),
        "RENAME #evil &local": ("CANNOT_RENAME", "&local"),
        "RENAME #evil #evil": ("CANNOT_RENAME", "#evil"),
    }
    for line, (code, new) in cases.items():
        fail = await fail_of(alice, line)
        assert fail.params[:4] == ("RENAME", code, "#evil", new), line
    assert "looks like #h\u0456deout" in (await fail_of(alice, "RENAME #evil #hideout")).params[-1]
    await bob.assert_silent("RENAME")
    await bob.assert_silent("PART")


async def test_a_channel_is_not_renamed_again_within_the_interval(
    start_server: StartServer, connect: Connect
) -> None:
    """Spec, Security Considerations: "Server implementations might choose to implement a
    per-channel cooldown system using appropriate error responses, to prevent abuse. For example
    flooding large channels with the fallback burst" (channel_rename_interval)."""
    clock = FakeClock()
    server = await start_server(clock=clock, channel_rename_interval=30.0)
    alice = await connect("alice", caps=(CAP,), target=server)
    await alice.join("#magical-girls")
    alice.send("RENAME #magical-girls #witches")
    await alice.expect("RENAME")
    fail = await fail_of(alice, "RENAME #witches #wizards")
    assert fail.params[:4] == ("RENAME", "CANNOT_RENAME", "#witches", "#wizards")
    assert "recently" in fail.params[-1]
    clock.advance(30.0)
    alice.send("RENAME #witches #wizards")
    assert (await alice.expect("RENAME")).params == ("#witches", "#wizards", "")


async def test_a_name_holding_an_earlier_channels_newer_history_is_refused(
    start_server: StartServer, connect: Connect
) -> None:
    """What an earlier channel said under a name stays out of reach of a channel renamed onto it:
    the move is refused (CANNOT_RENAME) when that history falls within the renamed channel's life."""
    server = await start_server(channel_lifetime="ephemeral")
    alice = await connect("alice", caps=(CAP, *HISTORY_CAPS), target=server)
    await alice.join("#older")
    await alice.join("#gone")
    alice.send("PRIVMSG #gone :said in the channel that ended")
    alice.send("PART #gone")
    await alice.expect("PART")
    fail = await fail_of(alice, "RENAME #older #gone")
    assert fail.params[:4] == ("RENAME", "CANNOT_RENAME", "#older", "#gone")
    # A channel made after that history may take the name: the earlier lines predate it.
    await alice.join("#newer")
    alice.send("RENAME #newer #gone")
    assert (await alice.expect("RENAME")).params == ("#newer", "#gone", "")
    assert await latest(alice, "#gone") == []


async def test_a_configured_channel_keeps_its_name(start_server: StartServer, connect: Connect) -> None:
    """A channel named in persistent_channels is made again under that name at every start, so
    renaming it is refused (spec: "FAIL RENAME CANNOT_RENAME")."""
    server = await start_server(persistent_channels=("#lobby",))
    alice = await connect("alice", target=server)
    await alice.join("#lobby")
    fail = await fail_of(alice, "RENAME #lobby #hall")
    assert fail.params[:4] == ("RENAME", "CANNOT_RENAME", "#lobby", "#hall")


async def test_the_new_name_is_guarded_against_lookalikes_and_the_old_one_is_free(
    start_server: StartServer, connect: Connect
) -> None:
    """The World's look-alike index follows the rename: a name that passes for the new one is
    refused as for any channel (403, as Ergo answers), and the old name can be taken by anyone."""
    server = await start_server()
    alice = await connect("alice", caps=(CAP,), target=server)
    mallory = await connect("mallory", target=server)
    await alice.join("#lobby")
    alice.send("RENAME #lobby #hideout")
    await alice.expect("RENAME")
    mallory.send("JOIN #h\u0456deout")
    refused = await mallory.expect("403")
    assert "looks like #hideout" in refused.params[-1]
    await mallory.join("#lobby")
    lobby = server.world.find_channel("#lobby")
    hideout = server.world.find_channel("#hideout")
    assert lobby is not None and hideout is not None and lobby is not hideout
    assert list(hideout.members) == [server.world.find_user("alice")]
