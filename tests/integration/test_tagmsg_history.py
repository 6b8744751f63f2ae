"""TAGMSG and history: typing notifications are never kept, reactions are, with only the tags worth
keeping; neither pushes real messages out of the replay on join or CHATHISTORY LATEST, and a client
without message-tags is never sent a TAGMSG from history."""

from __future__ import annotations

from hubbub.protocol import Message

from .conftest import Connect, StartServer
from .ircclient import IRCClient
from .test_history import HISTORY_CAPS, history, say, texts

LINES = [f"line {i}" for i in range(10)]
TYPING = ["@+typing=active", "@+draft/typing=active", "@+typing=paused;+draft/reply=abc", "@+example=1"]


async def send_tagmsgs(sender: IRCClient, target: str, tags: list[str], count: int) -> None:
    for i in range(count):
        sender.send(f"{tags[i % len(tags)]} TAGMSG {target}")
    await sender.sync()


async def replay_on_join(client: IRCClient, channel: str) -> list[Message]:
    client.send(f"JOIN {channel}")
    got = await client.collect_until("366", client.nick, channel)
    return got + await client.drain_messages()


async def test_typing_notifications_push_no_message_out_of_history(connect: Connect) -> None:
    alice = await connect("alice", caps=("message-tags",))
    await alice.join("#c")
    await say(alice, "#c", LINES)
    await send_tagmsgs(alice, "#c", TYPING, 60)
    plain = await connect("plain")
    replay = await replay_on_join(plain, "#c")
    assert texts(replay) == LINES
    assert "TAGMSG" not in [m.command for m in replay]
    carol = await connect("carol", caps=HISTORY_CAPS)
    await carol.join("#c")
    _, got = await history(carol, "LATEST", "#c", "*", "50")
    assert [m.command for m in got] == ["PRIVMSG"] * 10
    assert texts(got) == LINES


async def test_typing_in_a_private_conversation_is_not_kept(connect: Connect) -> None:
    alice = await connect("alice", caps=HISTORY_CAPS)
    bob = await connect("bob", caps=HISTORY_CAPS)
    await say(alice, "bob", LINES)
    await send_tagmsgs(alice, "bob", TYPING, 20)
    await bob.expect("TAGMSG")  # delivered live all the same
    _, got = await history(bob, "LATEST", "alice", "*", "15")
    assert [m.command for m in got] == ["PRIVMSG"] * 10


async def test_a_reaction_is_kept_with_its_client_only_tags(connect: Connect) -> None:
    """chathistory: playback shows a message as it was sent, client-only tags and all (its example:
    "@batch=ID;msgid=1238;time=2019-01-04T14:34:17.123Z;+client_tag=val :nick!ident@host PRIVMSG
    #channel :ACTION message"). A TAGMSG kept for a reaction keeps every client-only tag it
    carried; typing notifications are not kept at all."""
    alice = await connect("alice", caps=HISTORY_CAPS)
    await alice.join("#c")
    alice.send("@+example=0 PRIVMSG #c :nice")
    alice.send("@+draft/react=👍;+draft/reply=abc;+example=1;+typing=done TAGMSG #c")
    alice.send("@+react=🎉;+example=2 TAGMSG #c")
    await alice.sync()
    carol = await connect("carol", caps=HISTORY_CAPS)
    await carol.join("#c")
    _, got = await history(carol, "LATEST", "#c", "*", "10")
    assert [m.command for m in got] == ["PRIVMSG", "TAGMSG"]
    assert {k: v for k, v in got[0].tags.items() if k.startswith("+")} == {"+example": "0"}
    reaction = got[1]
    assert {k: v for k, v in reaction.tags.items() if k.startswith("+")} == {"+react": "🎉", "+example": "2"}
    alice.send("@+draft/react=👍;+draft/reply=abc;+example=1 TAGMSG #c")
    await alice.sync()
    _, got = await history(carol, "LATEST", "#c", "*", "10")
    assert [m.command for m in got] == ["PRIVMSG", "TAGMSG", "TAGMSG"]
    kept = {k: v for k, v in got[2].tags.items() if k.startswith("+")}
    assert kept == {"+draft/react": "👍", "+draft/reply": "abc", "+example": "1"}


async def test_reactions_push_no_message_out_of_the_replay_on_join(connect: Connect) -> None:
    alice = await connect("alice", caps=("message-tags",))
    await alice.join("#c")
    await say(alice, "#c", LINES)
    await send_tagmsgs(alice, "#c", ["@+draft/react=👍", "@+react=🎉"], 60)
    plain = await connect("plain")
    replay = await replay_on_join(plain, "#c")
    assert texts(replay) == LINES
    assert "TAGMSG" not in [m.command for m in replay]


async def test_events_push_no_message_out_of_the_replay_on_join(
    start_server: StartServer, connect: Connect
) -> None:
    server = await start_server(history_events=True)
    alice = await connect("alice", target=server)
    await alice.join("#c")
    await say(alice, "#c", LINES)
    bob = await connect("bob", target=server)
    for _ in range(30):
        bob.send("JOIN #c")
        bob.send("PART #c")
    await bob.sync()
    plain = await connect("plain", target=server)
    replay = await replay_on_join(plain, "#c")
    assert texts(replay) == LINES


async def test_a_client_without_message_tags_gets_no_tagmsg_from_history(connect: Connect) -> None:
    alice = await connect("alice", caps=HISTORY_CAPS)
    await alice.join("#c")
    await say(alice, "#c", ["before"])
    await send_tagmsgs(alice, "#c", ["@+draft/react=👍"], 3)
    await say(alice, "#c", ["after"])
    bare = await connect("bare", caps=("draft/chathistory", "batch"))
    await bare.join("#c")
    _, got = await history(bare, "LATEST", "#c", "*", "10")
    assert [m.command for m in got] == ["PRIVMSG", "PRIVMSG"]
