"""Client-only tags over real sockets: typing notifications (and their limit), replies, reactions.

IRCv3 message-tags: client-only tags (``+``) are relayed only to clients that negotiated
message-tags, and TAGMSG is sent only to them. IRCv3 typing, reply and react client tags.
"""

from __future__ import annotations

import pytest

from hubbub.protocol import Message

from ..support.clock import FakeClock
from .accounts_helpers import FAST, register_account
from .conftest import Connect, StartServer
from .ircclient import IRCClient
from .test_multidevice import PASSWORD, _second_device

TAGS = ("message-tags",)


async def pair(connect: Connect, **kw: object) -> tuple[IRCClient, IRCClient]:
    """``alice`` and ``bob``, both with message-tags, both in ``#c``."""
    alice = await connect("alice", caps=TAGS, **kw)
    bob = await connect("bob", caps=TAGS, **kw)
    await alice.join("#c")
    await bob.join("#c")
    await alice.expect("JOIN", "#c")
    return alice, bob


def client_tags(m: Message) -> dict[str, str]:
    return {k: v for k, v in m.tags.items() if k.startswith("+")}


async def test_typing_beyond_the_burst_is_dropped_silently_and_comes_back_with_time(
    start_server: StartServer, connect: Connect
) -> None:
    """IRCv3 typing: "Input event handlers MUST be throttled so that any typing notification is not
    sent within 3 seconds of another one for a given target"; the server holds each client to
    ``typing_burst`` notifications at once, then ``typing_rate`` a second, dropping the rest without
    a reply or a disconnect. A reaction is no typing notification and is not counted."""
    clock = FakeClock()
    server = await start_server(clock=clock, typing_burst=3, typing_rate=1.0)
    alice, bob = await pair(connect, target=server)
    for i in range(6):
        alice.send(f"@+typing=active;+n={i} TAGMSG #c")
    alice.send("@+draft/typing=active;+n=6 TAGMSG #c")
    alice.send("@+draft/react=ok;+draft/reply=abc TAGMSG #c")
    got = [await bob.expect("TAGMSG") for _ in range(4)]
    assert [m.tags.get("+n") for m in got] == ["0", "1", "2", None]
    assert client_tags(got[3]) == {"+draft/react": "ok", "+draft/reply": "abc"}
    await bob.assert_silent("TAGMSG")
    assert not [m for m in await alice.drain_messages() if m.command in ("FAIL", "ERROR", "404")]
    labelled = await connect("carol", caps=(*TAGS, "batch", "labeled-response"), target=server)
    for i in range(4):
        labelled.send(f"@label=t{i};+typing=active TAGMSG bob")
    # labeled-response: a command with no other response is answered by ACK, dropped or not
    acks = [await labelled.expect("ACK") for _ in range(4)]
    assert [m.tags["label"] for m in acks] == ["t0", "t1", "t2", "t3"]
    assert len([await bob.expect("TAGMSG") for _ in range(3)]) == 3
    await bob.assert_silent("TAGMSG")
    clock.advance(1.0)
    alice.send("@+typing=done;+n=7 TAGMSG #c")
    assert (await bob.expect("TAGMSG")).tags["+n"] == "7"
    alice.send("PRIVMSG #c :still here")  # messages are not counted against typing
    assert (await bob.expect("PRIVMSG")).params == ("#c", "still here")


async def test_typing_reaches_only_clients_with_message_tags(connect: Connect) -> None:
    """IRCv3 message-tags: "Clients that have not negotiated message-tags MUST NOT be sent TAGMSG";
    both spellings of the typing tag are relayed as sent."""
    alice, bob = await pair(connect)
    plain = await connect("plain")
    await plain.join("#c")
    alice.send("@+typing=active TAGMSG #c")
    alice.send("@+draft/typing=paused TAGMSG #c")
    assert client_tags(await bob.expect("TAGMSG")) == {"+typing": "active"}
    assert client_tags(await bob.expect("TAGMSG")) == {"+draft/typing": "paused"}
    await plain.assert_silent("TAGMSG")


async def test_a_reply_must_name_a_message_id(connect: Connect) -> None:
    """IRCv3 reply: "its value references the server provided ID of another message"; a value no
    message id could have (a space, longer than ``reply_max_length``, empty) gets ``FAIL <command>
    INVALID_TAG`` and is not relayed; a NOTICE is never answered and is dropped too."""
    alice, bob = await pair(connect)
    bob.send("PRIVMSG #c :original")
    msgid = (await alice.expect("PRIVMSG")).tags["msgid"]
    for value in ("has\\sspace", "x" * 65, "", "semi\\:colon"):
        alice.send(f"@+draft/reply={value} PRIVMSG #c :answer")
        fail = await alice.expect("FAIL")
        assert fail.params[:3] == ("PRIVMSG", "INVALID_TAG", "+draft/reply")
    alice.send("@+reply=bad\\sid TAGMSG #c")
    assert (await alice.expect("FAIL")).params[:3] == ("TAGMSG", "INVALID_TAG", "+reply")
    alice.send("@+draft/reply=bad\\sid NOTICE #c :quiet")
    await alice.assert_silent("FAIL")
    await bob.assert_silent("PRIVMSG")
    await bob.assert_silent("TAGMSG")
    await bob.assert_silent("NOTICE")
    alice.send(f"@+draft/reply={msgid} PRIVMSG #c :answer")
    got = await bob.expect("PRIVMSG")
    assert got.params == ("#c", "answer") and got.tags["+draft/reply"] == msgid
    alice.send(f"@+draft/reply={'y' * 64} PRIVMSG #c :longest")
    assert (await bob.expect("PRIVMSG")).tags["+draft/reply"] == "y" * 64


@pytest.mark.parametrize("tag", ["+draft/react", "+react"])
async def test_a_reaction_is_one_to_react_max_bytes(
    start_server: StartServer, connect: Connect, tag: str
) -> None:
    """IRCv3 react: "a byte limit may be appropriate": ``react_max_bytes`` of UTF-8; a longer or
    empty reaction gets ``FAIL TAGMSG INVALID_TAG`` and is not relayed."""
    server = await start_server(react_max_bytes=8)
    alice, bob = await pair(connect, target=server)
    for value in ("👍👍👍", "123456789", ""):
        alice.send(f"@{tag}={value};+draft/reply=abc TAGMSG #c")
        fail = await alice.expect("FAIL")
        assert fail.params[:3] == ("TAGMSG", "INVALID_TAG", tag)
    await bob.assert_silent("TAGMSG")
    alice.send(f"@{tag}=👍👍;+draft/reply=abc TAGMSG #c")
    assert client_tags(await bob.expect("TAGMSG"))[tag] == "👍👍"


async def test_a_private_tagmsg_reaches_no_device_of_the_sender_without_message_tags(
    start_server: StartServer, connect: Connect
) -> None:
    """IRCv3 message-tags: TAGMSG only to clients that negotiated message-tags; the sender's other
    devices see what it sent, each only as its capabilities allow."""
    server = await start_server(**FAST)
    laptop = await connect("alice", caps=TAGS, target=server)
    await register_account(laptop, PASSWORD)
    phone = await _second_device(connect, server)  # no message-tags
    await phone.expect("001")
    tablet = await _second_device(connect, server, TAGS)
    await tablet.expect("001")
    bob = await connect("bob", caps=TAGS, target=server)
    laptop.send("@+typing=active TAGMSG bob")
    assert client_tags(await bob.expect("TAGMSG")) == {"+typing": "active"}
    assert (await tablet.expect("TAGMSG")).params == ("bob",)
    await phone.assert_silent("TAGMSG")
    laptop.send("PRIVMSG bob :words")
    assert (await phone.expect("PRIVMSG")).params == ("bob", "words")
