"""PRIVMSG, NOTICE and TAGMSG: targets, errors, tags, echo-message, server-time, labeled-response."""

from __future__ import annotations

import re

TIME_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


async def test_private_message_reaches_the_nick(connect):
    alice = await connect("alice")
    bob = await connect("bob")
    alice.send("PRIVMSG Bob :psst")
    msg = await bob.expect("PRIVMSG")
    assert msg.params == ("bob", "psst")
    assert msg.source == "alice!~user@127.0.0.1"


async def test_message_to_several_targets_reaches_each_once(connect):
    alice = await connect("alice")
    bob = await connect("bob")
    carol = await connect("carol")
    await carol.join("#room")
    await alice.join("#room")
    alice.send("PRIVMSG bob,#room,bob :multi")
    await bob.expect("PRIVMSG", "bob", "multi")
    await bob.assert_silent("PRIVMSG")
    assert (await carol.expect("PRIVMSG")).params == ("#room", "multi")


async def test_too_many_targets_gets_407(connect):
    alice = await connect("alice")
    alice.send("PRIVMSG a,b,c,d,e :hi")
    await alice.expect("407")


async def test_unknown_nick_gets_401_and_unknown_channel_403(connect):
    alice = await connect("alice")
    alice.send("PRIVMSG nobody :hi")
    assert (await alice.expect("401")).params[1] == "nobody"
    alice.send("PRIVMSG #nowhere :hi")
    assert (await alice.expect("403")).params[1] == "#nowhere"


async def test_missing_recipient_and_text_get_411_and_412(connect):
    alice = await connect("alice")
    alice.send("PRIVMSG")
    await alice.expect("411")
    alice.send("PRIVMSG bob")
    await alice.expect("412")
    alice.send("PRIVMSG bob :")
    await alice.expect("412")


async def test_notice_errors_are_never_answered(connect):
    alice = await connect("alice")
    alice.send("NOTICE nobody :hi")
    alice.send("NOTICE #nowhere :hi")
    await alice.assert_silent()


async def test_outsider_cannot_send_to_a_no_external_channel(connect):
    alice = await connect("alice")
    bob = await connect("bob")
    await alice.join("#c")
    bob.send("PRIVMSG #c :let me in")
    await bob.expect("404")
    await alice.assert_silent("PRIVMSG")


async def test_status_message_reaches_only_operators(connect):
    op = await connect("op")
    voiced = await connect("voiced")
    plain = await connect("plain")
    await op.join("#c")
    await voiced.join("#c")
    await plain.join("#c")
    op.send("MODE #c +v voiced")
    await plain.expect("MODE")
    plain.send("PRIVMSG @#c :ops only")
    got = await op.expect("PRIVMSG")
    assert got.params == ("@#c", "ops only")
    plain.send("PRIVMSG +#c :voices and ops")
    assert (await voiced.expect("PRIVMSG")).params == ("+#c", "voices and ops")
    assert (await op.expect("PRIVMSG")).params == ("+#c", "voices and ops")
    await voiced.assert_silent("PRIVMSG")
    await plain.assert_silent("PRIVMSG")


async def test_echo_message_returns_the_senders_own_message_with_the_same_msgid(connect):
    alice = await connect("alice", caps=("echo-message", "message-tags"))
    bob = await connect("bob", caps=("message-tags",))
    await alice.join("#c")
    await bob.join("#c")
    alice.send("PRIVMSG #c :echo me")
    echo = await alice.expect("PRIVMSG")
    got = await bob.expect("PRIVMSG")
    assert echo.params == got.params == ("#c", "echo me")
    assert echo.tags["msgid"] == got.tags["msgid"]
    alice.send("PRIVMSG bob :direct")
    echo = await alice.expect("PRIVMSG")
    assert echo.params == ("bob", "direct")


async def test_without_echo_message_the_sender_gets_nothing_back(connect):
    alice = await connect("alice")
    await alice.join("#c")
    alice.send("PRIVMSG #c :no echo")
    await alice.assert_silent("PRIVMSG")


async def test_server_time_and_msgid_are_on_every_message_for_clients_with_the_caps(connect):
    alice = await connect("alice")
    bob = await connect("bob", caps=("server-time", "message-tags"))
    plain = await connect("plain")
    for c in (alice, bob, plain):
        await c.join("#c")
    ids = set()
    for i in range(3):
        alice.send(f"PRIVMSG #c :m{i}")
        got = await bob.expect("PRIVMSG")
        assert TIME_RE.match(got.tags["time"])
        ids.add(got.tags["msgid"])
        raw = await plain.expect("PRIVMSG")
        assert not raw.tags
    alice.send("NOTICE #c :note")
    assert "msgid" in (await bob.expect("NOTICE")).tags
    assert len(ids) == 3


async def test_server_time_alone_gives_time_but_no_msgid(connect):
    alice = await connect("alice")
    bob = await connect("bob", caps=("server-time",))
    await bob.join("#c")
    await alice.join("#c")
    alice.send("PRIVMSG #c :t")
    got = await bob.expect("PRIVMSG")
    assert set(got.tags) == {"time"}


async def test_client_tags_are_relayed_only_to_clients_with_message_tags(connect):
    alice = await connect("alice", caps=("message-tags",))
    tagged = await connect("tagged", caps=("message-tags",))
    plain = await connect("plain")
    for c in (alice, tagged, plain):
        await c.join("#c")
    alice.send("@+draft/reply=abc;+example.com/x=a\\sb;server=1 PRIVMSG #c :tagged")
    got = await tagged.expect("PRIVMSG")
    assert got.tags["+draft/reply"] == "abc"
    assert got.tags["+example.com/x"] == "a b"
    assert "server" not in got.tags  # only client-only tags are relayed
    raw = await plain.expect("PRIVMSG")
    assert not raw.tags


async def test_tags_from_a_client_without_message_tags_are_dropped(connect):
    alice = await connect("alice")
    bob = await connect("bob", caps=("message-tags",))
    alice.send("@+draft/reply=x PRIVMSG bob :hi")
    got = await bob.expect("PRIVMSG")
    assert "+draft/reply" not in got.tags


async def test_tagmsg_reaches_only_clients_with_message_tags_and_never_away_replies(connect):
    alice = await connect("alice", caps=("message-tags",))
    tagged = await connect("tagged", caps=("message-tags",))
    plain = await connect("plain")
    for c in (alice, tagged, plain):
        await c.join("#c")
    alice.send("@+typing=active TAGMSG #c")
    got = await tagged.expect("TAGMSG")
    assert got.params == ("#c",)
    assert got.tags["+typing"] == "active"
    await plain.assert_silent("TAGMSG")
    tagged.send("AWAY :gone")
    await tagged.expect("306")
    alice.send("@+typing=active TAGMSG tagged")
    await tagged.expect("TAGMSG")
    await alice.assert_silent("301")


async def test_privmsg_to_an_away_user_gets_301(connect):
    alice = await connect("alice")
    bob = await connect("bob")
    bob.send("AWAY :lunch")
    await bob.expect("306")
    alice.send("PRIVMSG bob :there?")
    away = await alice.expect("301")
    assert away.params[1:] == ("bob", "lunch")


async def test_labeled_response_single_reply_carries_the_label(connect):
    c = await connect("alice", caps=("labeled-response", "batch"))
    c.send("@label=abc PING :x")
    pong = await c.expect("PONG")
    assert pong.tags["label"] == "abc"


async def test_labeled_response_with_no_reply_gets_ack(connect):
    c = await connect("alice", caps=("labeled-response", "batch"))
    await c.join("#c")
    c.send("@label=quiet PRIVMSG #c :nobody echoes")
    ack = await c.expect("ACK")
    assert ack.tags["label"] == "quiet"


async def test_labeled_response_with_many_replies_is_one_batch(connect):
    c = await connect("alice", caps=("labeled-response", "batch"))
    await c.join("#c")
    c.send("@label=names1 NAMES #c")
    start = await c.expect("BATCH")
    assert start.tags["label"] == "names1"
    assert start.params[1] == "labeled-response"
    ref = start.params[0][1:]
    got = await c.collect_until("BATCH", "-" + ref)
    inner = got[:-1]
    assert [m.command for m in inner] == ["353", "366"]
    assert all(m.tags["batch"] == ref for m in inner)


async def test_labeled_echo_carries_the_label(connect):
    c = await connect("alice", caps=("labeled-response", "batch", "echo-message"))
    await c.join("#c")
    c.send("@label=e1 PRIVMSG #c :hi")
    echo = await c.expect("PRIVMSG")
    assert echo.tags["label"] == "e1"


async def test_messages_arrive_in_the_order_sent(connect):
    alice = await connect("alice")
    bob = await connect("bob")
    await bob.join("#c")
    await alice.join("#c")
    for i in range(100):
        alice.send(f"PRIVMSG #c :{i}")
    for i in range(100):
        assert (await bob.expect("PRIVMSG")).params[1] == str(i)
