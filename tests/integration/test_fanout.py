"""Channel fan-out to many members within one loop turn: order, exclusions and the turn cap.

Lines that arrive in one read are handled in one loop turn, where messages to the same members
share one queued segment (Delivery.fanout). Every member must still see exactly its own lines in
the order the server handled them.
"""

from __future__ import annotations

import asyncio

from hubbub.protocol import Message
from hubbub.server.delivery import SHARED_FANOUT

MEMBERS = SHARED_FANOUT + 4


async def _crowd(connect, channel: str, caps: tuple[str, ...] = ("echo-message",), target=None):
    """``MEMBERS`` clients in ``channel`` (the first is its operator), all with ``caps``."""
    clients = []
    for i in range(MEMBERS):
        c = await connect(f"m{i}", caps=caps, target=target)
        await c.join(channel)
        clients.append(c)
    for c in clients:
        await c.drain_messages()  # the JOINs of those who came later
    return clients


def _seen(messages: list[Message]) -> list[str]:
    return [
        f"{m.command} {m.source.split('!')[0]} {' '.join(m.params[1:])}"
        for m in messages
        if m.command in ("PRIVMSG", "NOTICE", "KICK", "TAGMSG")
    ]


async def test_one_turn_of_channel_messages_keeps_every_members_order(connect):
    clients = await _crowd(connect, "#big")
    op, dm_to, kicked = clients[0], clients[1], clients[2]
    # One write, so one read and one loop turn: channel lines with a private message, a reply
    # to the sender and a KICK between them.
    op.send_raw(
        b"PRIVMSG #big :1\r\n"
        b"PRIVMSG #big :2\r\n"
        b"PRIVMSG m1 :private\r\n"
        b"PRIVMSG #big :3\r\n"
        b"PRIVMSG #nowhere :lost\r\n"
        b"NOTICE #big :4\r\n"
        b"KICK #big m2 :bye\r\n"
        b"PRIVMSG #big :5\r\n"
    )
    await op.sync()  # every line above was handled before anyone's PING below
    channel_lines = ["PRIVMSG m0 1", "PRIVMSG m0 2", "PRIVMSG m0 3", "NOTICE m0 4", "KICK m0 m2 bye"]
    with_private = [*channel_lines[:2], "PRIVMSG m0 private", *channel_lines[2:], "PRIVMSG m0 5"]
    for c in clients:
        got = await c.drain_messages()
        if c is kicked:
            assert _seen(got) == channel_lines, c.name
        elif c in (dm_to, op):  # op sees the echo of its private message
            assert _seen(got) == with_private, c.name
        else:
            assert _seen(got) == [*channel_lines, "PRIVMSG m0 5"], c.name
        if c is op:
            # The reply to #nowhere came to the sender between 3 and 4.
            order = [m.command if m.command == "403" else m.params[-1] for m in got]
            assert order[order.index("3") + 1 : order.index("4")] == ["403"]


async def test_senders_without_echo_do_not_get_their_own_lines(connect):
    clients = await _crowd(connect, "#quiet", caps=())
    first, second = clients[0], clients[1]
    first.send_raw(b"PRIVMSG #quiet :a\r\nPRIVMSG #quiet :b\r\n")
    second.send_raw(b"PRIVMSG #quiet :c\r\nPRIVMSG #quiet :d\r\n")
    await first.sync()
    await second.sync()
    for c in clients:
        got = _seen(await c.drain_messages())
        from_first = [line for line in got if line.startswith("PRIVMSG m0 ")]
        from_second = [line for line in got if line.startswith("PRIVMSG m1 ")]
        assert from_first == ([] if c is first else ["PRIVMSG m0 a", "PRIVMSG m0 b"]), c.name
        assert from_second == ([] if c is second else ["PRIVMSG m1 c", "PRIVMSG m1 d"]), c.name


async def test_a_labelled_echo_in_the_middle_of_a_turn(connect):
    clients = await _crowd(connect, "#lab", caps=("echo-message", "labeled-response", "message-tags"))
    sender = clients[0]
    sender.send_raw(b"PRIVMSG #lab :1\r\n@label=L2 PRIVMSG #lab :2\r\nPRIVMSG #lab :3\r\n")
    await sender.sync()
    mine = await sender.drain_messages()
    assert [(m.params[1], m.tags.get("label")) for m in mine if m.command == "PRIVMSG"] == [
        ("1", None),
        ("2", "L2"),
        ("3", None),
    ]
    for c in clients[1:]:
        got = [m for m in await c.drain_messages() if m.command == "PRIVMSG"]
        assert [m.params[1] for m in got] == ["1", "2", "3"], c.name
        assert all("label" not in m.tags for m in got)


async def test_the_turn_cap_still_drops_members_of_a_shared_segment(start_server, connect):
    srv = await start_server(sendq=2048)  # at most 8 x 2048 bytes queued to anyone in one turn
    clients = await _crowd(connect, "#flood", target=srv)
    text = "x" * 440
    # About 60 KB in one write: several times the turn cap, even if it arrives in two reads.
    clients[0].send_raw(b"".join(b"PRIVMSG #flood :%d %s\r\n" % (i, text.encode()) for i in range(130)))
    for c in clients[1:]:
        # Dropped with what was queued for it: no PRIVMSG of that turn, then the ERROR.
        got = await c.expect_closed()
        assert [m.command for m in got] == ["ERROR"], c.name
        assert "SendQ exceeded" in got[0].params[0]
    await asyncio.wait_for(clients[0].expect_closed(), 10)
