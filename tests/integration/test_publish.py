"""One publish seam: every delivered event is stamped once, and its live copy equals the stored one."""

from __future__ import annotations

from .ircclient import IRCClient

WATCH = ("message-tags", "server-time", "batch", "draft/chathistory", "draft/event-playback")


async def test_live_events_carry_the_msgid_and_time_of_their_playback(start_server, connect):
    server = await start_server(history_events=True)
    watcher = await connect("watcher", caps=WATCH, target=server)
    actor = await connect("actor", target=server)
    await actor.join("#c")  # first in: its operator, so it may set the topic
    await watcher.join("#c")
    actor.send("TOPIC #c :a topic")
    actor.send("PRIVMSG #c :words")
    actor.send("NICK actor2")
    actor.send("PART #c :leaving")
    actor.send("JOIN #c")
    actor.send("QUIT :gone")
    live = []
    for command in ("TOPIC", "PRIVMSG", "NICK", "PART", "JOIN", "QUIT"):
        message = await watcher.expect(command)
        assert "msgid" in message.tags and "time" in message.tags, message
        live.append((message.command, message.tags["msgid"], message.tags["time"]))
    watcher.send("CHATHISTORY LATEST #c * 50")
    start = await watcher.expect("BATCH")
    got = await watcher.collect_until("BATCH", "-" + start.params[0][1:])
    played = [
        (m.command, m.tags["msgid"], m.tags["time"])
        for m in got
        if m.command != "BATCH" and m.source and m.source.startswith("actor")
    ]
    assert played[-len(live) :] == live
    assert played[0][0] == "JOIN"  # the first JOIN, before the watcher came, is in history too


async def test_a_quit_seen_in_two_channels_plays_back_with_one_msgid_in_each(start_server, connect):
    server = await start_server(history_events=True)
    watcher = await connect("watcher", caps=WATCH, target=server)
    actor = await connect("actor", target=server)
    for channel in ("#a", "#b"):
        await watcher.join(channel)
        await actor.join(channel)
    actor.send("QUIT :bye")
    live = await watcher.expect("QUIT")
    for channel in ("#a", "#b"):
        watcher.send(f"CHATHISTORY LATEST {channel} * 1")
        start = await watcher.expect("BATCH")
        got = await watcher.collect_until("BATCH", "-" + start.params[0][1:])
        (played,) = [m for m in got if m.command == "QUIT"]
        assert played.tags["msgid"] == live.tags["msgid"]


async def test_plain_clients_see_events_without_tags(connect):
    plain: IRCClient = await connect("plain")
    other = await connect("other")
    await plain.join("#c")
    other.send("JOIN #c")
    joined = await plain.expect("JOIN")
    assert joined.tags == {}
