"""History: replay on join, CHATHISTORY, direct-message history, privacy, persistent channels."""

from __future__ import annotations

import time

HISTORY_CAPS = ("draft/chathistory", "batch", "server-time", "message-tags")


async def say(sender, target: str, texts: list[str]) -> None:
    for text in texts:
        sender.send(f"PRIVMSG {target} :{text}")
    await sender.sync()


async def history(client, *params: str):
    """Send CHATHISTORY and return (batch params, messages inside the batch)."""
    client.send("CHATHISTORY " + " ".join(params))
    start = await client.expect(lambda m: m.command in ("BATCH", "FAIL"))
    if start.command == "FAIL":
        return start, []
    ref = start.params[0][1:]
    got = await client.collect_until("BATCH", "-" + ref)
    # live messages may arrive around the batch; the batch is what carries its tag
    inner = [m for m in got[:-1] if m.tags.get("batch") == ref]
    assert all(m.tags.get("batch") in (None, ref) for m in got[:-1])
    return start, inner


def texts(messages) -> list[str]:
    return [m.params[-1] for m in messages if m.command == "PRIVMSG"]


async def test_plain_client_gets_recent_lines_on_join(connect):
    alice = await connect("alice")
    await alice.join("#c")
    await say(alice, "#c", [f"line {i}" for i in range(5)])
    bob = await connect("bob")
    bob.send("JOIN #c")
    got = await bob.drain_messages()
    replay = [m for m in got if m.command == "PRIVMSG"]
    assert texts(replay) == [f"line {i}" for i in range(5)]
    assert all(not m.tags for m in replay)  # a plain client gets plain lines


async def test_replay_uses_a_batch_and_original_times_for_capable_clients(connect):
    alice = await connect("alice")
    await alice.join("#c")
    await say(alice, "#c", ["one", "two"])
    bob = await connect("bob", caps=("batch", "server-time"))
    bob.send("JOIN #c")
    start = await bob.expect("BATCH")
    assert start.params[1:] == ("chathistory", "#c")
    got = await bob.collect_until("BATCH", "-" + start.params[0][1:])
    assert texts(got) == ["one", "two"]
    assert all("time" in m.tags for m in got[:-1])


async def test_replay_limit_and_off_switch(start_server, connect):
    srv = await start_server(history_on_join=3)
    alice = await connect("alice", target=srv)
    await alice.join("#c")
    await say(alice, "#c", [str(i) for i in range(10)])
    bob = await connect("bob", target=srv)
    bob.send("JOIN #c")
    got = await bob.drain_messages()
    assert texts(got) == ["7", "8", "9"]
    off = await start_server(history_on_join=0, data_dir=str(srv.settings.data_dir) + "-off")
    a2 = await connect("alice", target=off)
    await a2.join("#c")
    await say(a2, "#c", ["x"])
    b2 = await connect("bob", target=off)
    b2.send("JOIN #c")
    got = await b2.drain_messages()
    assert texts(got) == []


async def test_chathistory_clients_get_no_automatic_replay(connect):
    alice = await connect("alice")
    await alice.join("#c")
    await say(alice, "#c", ["old"])
    bob = await connect("bob", caps=HISTORY_CAPS)
    bob.send("JOIN #c")
    got = await bob.drain_messages()
    assert texts(got) == []


async def test_isupport_advertises_chathistory_and_msgreftypes(connect):
    c = await connect(register=False)
    c.send("NICK a")
    c.send("USER a 0 * :a")
    got = await c.collect_until("376")
    tokens = " ".join(" ".join(m.params) for m in got if m.command == "005")
    assert "CHATHISTORY=1000" in tokens
    assert "MSGREFTYPES=msgid,timestamp" in tokens


async def test_every_chathistory_subcommand_with_msgid_and_timestamp(connect):
    alice = await connect("alice", caps=HISTORY_CAPS)
    await alice.join("#c")
    await say(alice, "#c", [f"m{i}" for i in range(20)])
    _, latest = await history(alice, "LATEST", "#c", "*", "100")
    assert texts(latest) == [f"m{i}" for i in range(20)]
    ids = [m.tags["msgid"] for m in latest]
    stamps = [m.tags["time"] for m in latest]
    _, got = await history(alice, "LATEST", "#c", "*", "5")
    assert texts(got) == [f"m{i}" for i in range(15, 20)]
    _, got = await history(alice, "LATEST", "#c", f"msgid={ids[16]}", "10")
    assert texts(got) == ["m17", "m18", "m19"]
    _, got = await history(alice, "BEFORE", "#c", f"msgid={ids[10]}", "3")
    assert texts(got) == ["m7", "m8", "m9"]
    _, got = await history(alice, "AFTER", "#c", f"msgid={ids[10]}", "3")
    assert texts(got) == ["m11", "m12", "m13"]
    _, got = await history(alice, "AROUND", "#c", f"msgid={ids[10]}", "5")
    assert "m10" in texts(got) and len(got) == 5
    _, got = await history(alice, "BETWEEN", "#c", f"msgid={ids[2]}", f"msgid={ids[6]}", "10")
    assert texts(got) == ["m3", "m4", "m5"]
    _, got = await history(alice, "BETWEEN", "#c", f"msgid={ids[6]}", f"msgid={ids[2]}", "2")
    assert texts(got) == ["m4", "m5"]
    _, got = await history(alice, "BEFORE", "#c", f"timestamp={stamps[-1]}", "100")
    assert all(m.tags["time"] < stamps[-1] for m in got)
    _, got = await history(alice, "AFTER", "#c", "timestamp=2000-01-01T00:00:00.000Z", "4")
    assert texts(got) == ["m0", "m1", "m2", "m3"]
    assert [m.tags["msgid"] for m in got] == ids[:4]


async def test_chathistory_limit_is_capped_by_the_setting(start_server, connect):
    srv = await start_server(chathistory_max=5)
    alice = await connect("alice", caps=HISTORY_CAPS, target=srv)
    await alice.join("#c")
    await say(alice, "#c", [str(i) for i in range(10)])
    _, got = await history(alice, "LATEST", "#c", "*", "1000")
    assert texts(got) == ["5", "6", "7", "8", "9"]


async def test_chathistory_errors_are_standard_replies(connect):
    alice = await connect("alice", caps=HISTORY_CAPS)
    await alice.join("#c")
    cases = [
        (("FROB", "#c", "*", "10"), "UNKNOWN_COMMAND"),
        (("LATEST", "#c"), "NEED_MORE_PARAMS"),
        (("LATEST", "#c", "*", "zero"), "INVALID_PARAMS"),
        (("LATEST", "#c", "*", "0"), "INVALID_PARAMS"),
        (("BEFORE", "#c", "nonsense", "10"), "INVALID_PARAMS"),
        (("BEFORE", "#c", "timestamp=yesterday", "10"), "INVALID_PARAMS"),
        (("BEFORE", "#c", "msgid=doesnotexist", "10"), "INVALID_PARAMS"),
        (("LATEST", "#elsewhere", "*", "10"), "INVALID_TARGET"),
        # One conversation each: a list, a mask or a name no nick or channel can have is none.
        (("LATEST", "alice,bob", "*", "10"), "INVALID_TARGET"),
        (("LATEST", "#c,#d", "*", "10"), "INVALID_TARGET"),
        (("BEFORE", "ali*", "timestamp=2030-01-01T00:00:00.000Z", "10"), "INVALID_TARGET"),
        (("AFTER", "*", "msgid=x", "10"), "INVALID_TARGET"),
    ]
    for params, code in cases:
        alice.send("CHATHISTORY " + " ".join(params))
        fail = await alice.expect("FAIL")
        assert fail.params[:2] == ("CHATHISTORY", code), params


async def test_direct_message_history_is_the_same_from_both_sides(connect):
    alice = await connect("alice", caps=HISTORY_CAPS)
    bob = await connect("bob", caps=HISTORY_CAPS)
    alice.send("PRIVMSG bob :hi bob")
    await bob.expect("PRIVMSG")
    bob.send("PRIVMSG alice :hi alice")
    await alice.expect("PRIVMSG")
    _, from_alice = await history(alice, "LATEST", "bob", "*", "10")
    _, from_bob = await history(bob, "LATEST", "alice", "*", "10")
    assert texts(from_alice) == texts(from_bob) == ["hi bob", "hi alice"]
    assert [m.tags["msgid"] for m in from_alice] == [m.tags["msgid"] for m in from_bob]
    carol = await connect("carol", caps=HISTORY_CAPS)
    _, nothing = await history(carol, "LATEST", "bob", "*", "10")
    assert nothing == []


async def test_non_members_cannot_read_a_channels_history(connect):
    alice = await connect("alice", caps=HISTORY_CAPS)
    await alice.join("#secret")
    await say(alice, "#secret", ["private"])
    eve = await connect("eve", caps=HISTORY_CAPS)
    eve.send("CHATHISTORY LATEST #secret * 10")
    fail = await eve.expect("FAIL")
    assert fail.params[1] == "INVALID_TARGET"


async def test_public_history_setting_lets_anyone_read(start_server, connect):
    srv = await start_server(history_public=True)
    alice = await connect("alice", caps=HISTORY_CAPS, target=srv)
    await alice.join("#open")
    await say(alice, "#open", ["for all"])
    eve = await connect("eve", caps=HISTORY_CAPS, target=srv)
    _, got = await history(eve, "LATEST", "#open", "*", "10")
    assert texts(got) == ["for all"]


async def test_a_recreated_channel_does_not_show_the_old_channels_history(start_server, connect):
    srv = await start_server(channel_lifetime="ephemeral")
    alice = await connect("alice", caps=HISTORY_CAPS, target=srv)
    await alice.join("#c")
    await say(alice, "#c", ["before"])
    alice.send("PART #c")
    await alice.expect("PART")
    bob = await connect("bob", target=srv)
    bob.send("JOIN #c")
    got = await bob.drain_messages()
    assert texts(got) == []
    await alice.join("#c")
    _, got = await history(alice, "LATEST", "#c", "*", "10")
    assert texts(got) == []


async def test_persistent_channel_survives_a_restart_with_topic_modes_and_history(
    start_server, connect, tmp_path
):
    data = str(tmp_path / "persist")
    srv = await start_server(data_dir=data, persistent_channels=("#keep",))
    alice = await connect("alice", target=srv)
    alice.send("JOIN #keep")
    await alice.expect("366")
    alice.send("MODE #keep +o alice")
    alice.send("TOPIC #keep :kept topic")
    await alice.expect("TOPIC")
    alice.send("MODE #keep +k sesame")
    await alice.expect("MODE")
    await say(alice, "#keep", ["remember me"])
    alice.send("QUIT")
    await alice.expect_closed()
    await srv.stop()
    again = await start_server(data_dir=data)
    bob = await connect("bob", target=again)
    bob.send("LIST")
    listed = await bob.expect("322")
    assert listed.params[1:] == ("#keep", "0", "[+knt] kept topic") or listed.params[1] == "#keep"
    bob.send("JOIN #keep")
    await bob.expect("475")
    bob.send("JOIN #keep sesame")
    got = await bob.drain_messages()
    topic = [m for m in got if m.command == "332"]
    assert topic and topic[0].params[-1] == "kept topic"
    assert texts(got) == ["remember me"]
    bob.send("MODE #keep")
    modes = await bob.expect("324")
    assert "k" in modes.params[2] and "t" in modes.params[2]


async def test_events_are_played_back_to_clients_with_event_playback(start_server, connect):
    srv = await start_server(history_events=True)
    alice = await connect("alice", caps=(*HISTORY_CAPS, "draft/event-playback"), target=srv)
    await alice.join("#c")
    bob = await connect("bob", target=srv)
    await bob.join("#c")
    await say(bob, "#c", ["hello"])
    bob.send("PART #c :bye")
    await alice.expect("PART")
    _, got = await history(alice, "LATEST", "#c", "*", "10")
    assert [m.command for m in got][-3:] == ["JOIN", "PRIVMSG", "PART"]
    plain = await connect("plain", caps=HISTORY_CAPS, target=srv)
    await plain.join("#c")
    _, got = await history(plain, "LATEST", "#c", "*", "10")
    assert {m.command for m in got} == {"PRIVMSG"}


async def test_targets_lists_channels_and_conversations(connect):
    alice = await connect("alice", caps=HISTORY_CAPS)
    bob = await connect("bob", caps=HISTORY_CAPS)
    await alice.join("#c")
    await say(alice, "#c", ["chan"])
    alice.send("PRIVMSG bob :dm")
    await bob.expect("PRIVMSG")
    now = time.gmtime()
    later = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(time.time() + 60))
    earlier = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(time.time() - 60))
    assert now
    alice.send(f"CHATHISTORY TARGETS timestamp={earlier} timestamp={later} 10")
    start = await alice.expect("BATCH")
    assert start.params[1] == "draft/chathistory-targets"
    got = await alice.collect_until("BATCH", "-" + start.params[0][1:])
    names = {m.params[1] for m in got if m.command == "CHATHISTORY"}
    assert names == {"#c", "bob"}


async def _chat_then_restart(start_server, connect, data: str, modes: str = "", lifetime: str = "durable"):
    srv = await start_server(data_dir=data, channel_lifetime=lifetime)
    alice = await connect("alice", target=srv)
    await alice.join("#c")
    if modes:
        alice.send(f"MODE #c {modes}")
        await alice.expect("MODE")
    await say(alice, "#c", ["before the restart"])
    await srv.stop()
    return await start_server(data_dir=data, channel_lifetime=lifetime)


async def test_a_restart_keeps_an_open_channels_history(start_server, connect, tmp_path):
    again = await _chat_then_restart(start_server, connect, str(tmp_path / "d"))
    bob = await connect("bob", target=again)
    bob.send("JOIN #c")
    got = await bob.drain_messages()
    assert texts(got) == ["before the restart"]
    carol = await connect("carol", caps=HISTORY_CAPS, target=again)
    await carol.join("#c")
    _, rows = await history(carol, "LATEST", "#c", "*", "10")
    assert texts(rows) == ["before the restart"]


async def test_a_restart_does_not_open_a_closed_ephemeral_channels_history(start_server, connect, tmp_path):
    again = await _chat_then_restart(start_server, connect, str(tmp_path / "d"), "+i", "ephemeral")
    eve = await connect("eve", target=again)
    eve.send("JOIN #c")  # the modes are gone with the restart: eve can be first in
    got = await eve.drain_messages()
    assert any(m.command == "366" for m in got)
    assert texts(got) == []


async def test_an_emptied_ephemeral_channel_stays_fresh_after_a_restart(start_server, connect, tmp_path):
    data = str(tmp_path / "d")
    srv = await start_server(data_dir=data, channel_lifetime="ephemeral")
    alice = await connect("alice", target=srv)
    await alice.join("#c")
    await say(alice, "#c", ["old life"])
    alice.send("PART #c")
    await alice.expect("PART")
    await srv.stop()
    again = await start_server(data_dir=data, channel_lifetime="ephemeral")
    bob = await connect("bob", target=again)
    bob.send("JOIN #c")
    got = await bob.drain_messages()
    assert texts(got) == []


async def test_every_kept_event_has_one_msgid_live_and_in_playback(start_server, connect):
    """message-ids: "servers SHOULD include this tag on all messages ... that they relay" and
    chathistory: "The msgid tag that identifies each individual message in a response MUST be the
    msgid tag as originally sent by the IRC server" -- TOPIC, MODE, KICK, NICK and the rest of
    what event-playback replays included."""
    srv = await start_server(history_events=True)
    caps = (*HISTORY_CAPS, "draft/event-playback")
    alice = await connect("alice", caps=caps, target=srv)
    await alice.join("#c")
    bob = await connect("bob", caps=caps, target=srv)
    await bob.join("#c")
    await alice.expect("JOIN")
    commands = [
        "TOPIC #c :a topic",
        "MODE #c +m",
        "MODE #c +v bob",
        "PRIVMSG #c :hello",
        "NOTICE #c :note",
        "KICK #c bob :out",
    ]
    live = []
    for line in commands:
        alice.send(line)
        got = await bob.expect(line.split()[0])
        assert got.tags.get("msgid"), line
        live.append((got.command, got.tags["msgid"]))
    bob.send("JOIN #c")
    join = await alice.expect("JOIN")
    live.append(("JOIN", join.tags["msgid"]))
    bob.send("NICK bobby")
    nick = await alice.expect("NICK")
    live.append(("NICK", nick.tags["msgid"]))
    bob.send("PART #c :bye")
    part = await alice.expect("PART")
    live.append(("PART", part.tags["msgid"]))
    bob.send("JOIN #c")
    await alice.expect("JOIN")
    bob.send("QUIT :gone")
    quit_ = await alice.expect("QUIT")
    live.append(("QUIT", quit_.tags["msgid"]))
    _, got = await history(alice, "LATEST", "#c", "*", "50")
    played = [(m.command, m.tags.get("msgid")) for m in got]
    for event in live:
        assert event in played, (event, played)


async def test_targets_lines_carry_a_bare_server_time_timestamp(connect):
    """chathistory TARGETS: each line of the draft/chathistory-targets batch is
    ``CHATHISTORY TARGETS <target> <timestamp>``, the time of the latest message in the
    server-time format -- the spec's example reads ``CHATHISTORY TARGETS #channel
    2020-07-20T10:30:00.000Z``-style, with no ``timestamp=`` (that prefix marks the selectors a
    client sends)."""
    alice = await connect("alice", caps=HISTORY_CAPS)
    await alice.join("#c")
    await say(alice, "#c", ["chan", "again"])
    alice.send("CHATHISTORY LATEST #c * 1")
    start = await alice.expect("BATCH")
    last = (await alice.collect_until("BATCH", "-" + start.params[0][1:]))[0]
    stamp = last.tags["time"]
    alice.send("CHATHISTORY TARGETS timestamp=2000-01-01T00:00:00.000Z timestamp=2100-01-01T00:00:00.000Z 10")
    start = await alice.expect("BATCH")
    got = await alice.collect_until("BATCH", "-" + start.params[0][1:])
    lines = [m.params for m in got if m.command == "CHATHISTORY"]
    assert lines == [("TARGETS", "#c", stamp)]
