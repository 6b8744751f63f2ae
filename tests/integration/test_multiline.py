"""IRCv3 draft/multiline: client batches collected per connection and delivered as one message.

Each test quotes the rule of the specification (ircv3.net/specs/extensions/multiline) it checks.
Real clients on loopback: one with the cap, one without.
"""

from __future__ import annotations

import pytest

from hubbub.protocol import Message
from hubbub.server.config import ConfigError, Settings
from tests.support.clock import FakeClock

from .conftest import Connect, StartServer
from .ircclient import IRCClient
from .test_history import history

ML = ("draft/multiline", "batch", "message-tags", "server-time")
ML_ECHO = (*ML, "echo-message", "labeled-response")
# The example of the specification: a blank line kept, and a line split with concat.
EXAMPLE = [("hello", False), ("", False), ("how is ", False), ("everyone?", True)]


def send_batch(
    client: IRCClient,
    ref: str,
    target: str,
    lines: list[tuple[str, bool]],
    *,
    command: str = "PRIVMSG",
    opener: str = "",
) -> None:
    client.send(f"{opener + ' ' if opener else ''}BATCH +{ref} draft/multiline {target}")
    for text, joined in lines:
        tags = f"batch={ref};draft/multiline-concat" if joined else f"batch={ref}"
        client.send(f"@{tags} {command} {target} :{text}")
    client.send(f"BATCH -{ref}")


async def read_batch(client: IRCClient) -> tuple[Message, list[Message], Message]:
    """The next draft/multiline batch: its start, its lines, its end."""
    start = await client.expect(lambda m: m.command == "BATCH" and m.param(1) == "draft/multiline")
    ref = start.params[0][1:]
    got = await client.collect_until("BATCH", "-" + ref)
    return start, [m for m in got[:-1] if m.tags.get("batch") == ref], got[-1]


async def fails(client: IRCClient) -> Message:
    return await client.expect("FAIL", "BATCH")


async def test_cap_is_offered_with_its_limits(start_server: StartServer, connect: Connect) -> None:
    """ "The capability MUST be advertised by servers with a REQUIRED value ... max-bytes ...
    max-lines"; both are settings."""
    server = await start_server(multiline_max_bytes=1000, multiline_max_lines=7)
    client = await connect(register=False, target=server)
    ls = await client.cap_ls()
    caps = dict(c.partition("=")[::2] for c in ls)
    assert caps["draft/multiline"] == "max-bytes=1000,max-lines=7"


async def test_capable_client_gets_one_batch_plain_client_gets_lines(connect: Connect) -> None:
    """ "Servers: delivering the batch to the intended recipients"; fallback: "servers MUST deliver
    the component messages without using a multiline BATCH", "MUST NOT send blank lines", "SHOULD
    maintain the line composition", and "MUST only include a message ID on the first message"."""
    alice = await connect("alice", caps=ML_ECHO)
    bob = await connect("bob", caps=ML)
    carol = await connect("carol", caps=("message-tags", "server-time"))
    for c in (alice, bob, carol):
        await c.join("#c")
    send_batch(alice, "x1", "#c", EXAMPLE, opener="@+draft/reply=abc")
    start, lines, _ = await read_batch(bob)
    # "all client-only tags associated with the message must be sent attached to the initial BATCH"
    assert start.tags.get("+draft/reply") == "abc"
    assert start.source and start.source.startswith("alice!")
    assert start.params[2] == "#c" and "msgid" in start.tags
    assert [m.params for m in lines] == [("#c", text) for text, _ in EXAMPLE]
    assert ["draft/multiline-concat" in m.tags for m in lines] == [j for _, j in EXAMPLE]
    assert all("msgid" not in m.tags for m in lines)
    plain = [await carol.expect("PRIVMSG") for _ in range(3)]
    assert [m.params[1] for m in plain] == ["hello", "how is ", "everyone?"]
    assert plain[0].tags["msgid"] == start.tags["msgid"]
    assert plain[0].tags.get("+draft/reply") == "abc"
    assert all("msgid" not in m.tags for m in plain[1:])
    await carol.assert_silent("PRIVMSG")
    # echo-message: the sender sees its message as the same batch, same msgid
    echo, echo_lines, _ = await read_batch(alice)
    assert echo.tags["msgid"] == start.tags["msgid"]
    assert len(echo_lines) == 4


async def test_batch_to_a_nick_and_a_notice(connect: Connect) -> None:
    """ "Multiline batches MUST only contain one or more PRIVMSG lines, or one or more NOTICE lines";
    the target may be a nick."""
    alice = await connect("alice", caps=ML)
    bob = await connect("bob", caps=ML)
    carol = await connect("carol")
    send_batch(alice, "n", "bob", [("one", False), ("two", False)], command="NOTICE")
    _, lines, _ = await read_batch(bob)
    assert [m.command for m in lines] == ["NOTICE", "NOTICE"]
    assert [m.params for m in lines] == [("bob", "one"), ("bob", "two")]
    send_batch(alice, "m", "carol", [("three", False), ("four", False)])
    got = [await carol.expect("PRIVMSG") for _ in range(2)]
    assert [m.params for m in got] == [("carol", "three"), ("carol", "four")]


async def test_label_goes_on_the_batch_start_of_the_echo(connect: Connect) -> None:
    """ "Servers MUST only include the label tag on the opening BATCH command when replying to a
    client using echo-message."""
    alice = await connect("alice", caps=ML_ECHO)
    await alice.join("#c")
    send_batch(alice, "lb", "#c", [("a", False), ("b", False)], opener="@label=L1")
    start, lines, end = await read_batch(alice)
    assert start.tags.get("label") == "L1"
    assert all("label" not in m.tags for m in [*lines, end])
    await alice.assert_silent("ACK")


async def test_kept_in_history_as_one_message(connect: Connect) -> None:
    """One message, one msgid: CHATHISTORY LATEST counts it once and sends it back as a multiline
    batch to a client with the cap, as its lines to one without; the replay on join likewise."""
    alice = await connect("alice", caps=ML)
    await alice.join("#c")
    send_batch(alice, "h", "#c", EXAMPLE)
    alice.send("PRIVMSG #c :after")
    await alice.sync()
    reader = await connect("reader", caps=(*ML, "draft/chathistory"))
    await reader.join("#c")
    reader.send("CHATHISTORY LATEST #c * 2")
    outer = await reader.expect("BATCH")
    assert outer.params[1] == "chathistory"
    oref = outer.params[0][1:]
    got = await reader.collect_until("BATCH", "-" + oref)
    inner_start = got[0]
    assert inner_start.command == "BATCH" and inner_start.param(1) == "draft/multiline"
    assert inner_start.tags["batch"] == oref  # a nested batch belongs to the enclosing one
    mref = inner_start.params[0][1:]
    assert [m.params[1] for m in got if m.tags.get("batch") == mref] == [t for t, _ in EXAMPLE]
    inner_end = next(m for m in got if m.command == "BATCH" and m.params[0] == "-" + mref)
    assert inner_end.tags["batch"] == oref
    assert [m.params[1] for m in got if m.command == "PRIVMSG" and m.tags.get("batch") == oref] == ["after"]
    older = await connect("older", caps=("draft/chathistory", "batch", "message-tags"))
    await older.join("#c")
    _, rows = await history(older, "LATEST", "#c", "*", "2")
    assert [m.params[1] for m in rows] == ["hello", "how is ", "everyone?", "after"]
    plain = await connect("plain")
    plain.send("JOIN #c")
    replay = [m for m in await plain.drain_messages() if m.command == "PRIVMSG"]
    assert [m.params[1] for m in replay] == ["hello", "how is ", "everyone?", "after"]


async def test_max_bytes_and_max_lines(start_server: StartServer, connect: Connect) -> None:
    """ "MULTILINE_MAX_BYTES <limit>: max-bytes limit exceeded", "MULTILINE_MAX_LINES <limit>"; "Each
    line feed used to join line messages contributes one byte"; nothing is delivered."""
    server = await start_server(multiline_max_bytes=10, multiline_max_lines=3)
    alice = await connect("alice", caps=ML, target=server)
    bob = await connect("bob", caps=ML, target=server)
    for c in (alice, bob):
        await c.join("#c")
    send_batch(alice, "ok", "#c", [("abcde", False), ("fghi", False)])  # 5 + 1 + 4 = 10
    await read_batch(bob)
    send_batch(alice, "b", "#c", [("abcde", False), ("fghij", False)])  # 11
    fail = await fails(alice)
    assert fail.params[1:3] == ("MULTILINE_MAX_BYTES", "10")
    send_batch(alice, "c", "#c", [("abcde", False), ("fghij", True)])  # concat: no line feed, 10
    await read_batch(bob)
    send_batch(alice, "l", "#c", [("a", False)] * 4)
    fail = await fails(alice)
    assert fail.params[1:3] == ("MULTILINE_MAX_LINES", "3")
    await alice.sync()
    await bob.assert_silent("PRIVMSG")
    await bob.assert_silent("BATCH")


async def test_invalid_batches_are_refused_and_not_delivered(connect: Connect) -> None:
    """ "MULTILINE_INVALID_TARGET <batch-target> <provided-target>", and MULTILINE_INVALID for a
    concatenated blank line, blank lines only, PRIVMSG and NOTICE mixed, a line naming no batch."""
    alice = await connect("alice", caps=ML)
    bob = await connect("bob", caps=ML)
    for c in (alice, bob):
        await c.join("#c")
    alice.send("BATCH +t draft/multiline #c")
    alice.send("@batch=t PRIVMSG #other :hello")
    alice.send("BATCH -t")
    fail = await fails(alice)
    assert fail.params[1:4] == ("MULTILINE_INVALID_TARGET", "#c", "#other")
    send_batch(alice, "cb", "#c", [("hello ", False), ("", True), ("there", False)])
    assert (await fails(alice)).params[1] == "MULTILINE_INVALID"
    send_batch(alice, "bl", "#c", [("", False), ("", False)])
    assert (await fails(alice)).params[1] == "MULTILINE_INVALID"
    alice.send("BATCH +mx draft/multiline #c")
    alice.send("@batch=mx PRIVMSG #c :this starts with a PRIVMSG")
    alice.send("@batch=mx NOTICE #c :but ends with a NOTICE")
    alice.send("BATCH -mx")
    assert (await fails(alice)).params[1] == "MULTILINE_INVALID"
    alice.send("@batch=nope PRIVMSG #c :stray")
    assert (await fails(alice)).params[1] == "MULTILINE_INVALID"
    alice.send("BATCH +other chathistory #c")
    assert (await fails(alice)).params[1] == "MULTILINE_INVALID"
    await alice.sync()
    await bob.assert_silent("PRIVMSG")
    await bob.assert_silent("BATCH")


async def test_no_batch_without_the_cap(connect: Connect) -> None:
    """ "This specification depends on the batch capability which MUST be negotiated to use multiline
    messages": a client without the caps cannot open one; its tagged lines keep their meaning."""
    alice = await connect("alice", caps=("message-tags",))
    bob = await connect("bob")
    for c in (alice, bob):
        await c.join("#c")
    alice.send("BATCH +z draft/multiline #c")
    assert (await fails(alice)).params[1] == "MULTILINE_INVALID"
    alice.send("@batch=z PRIVMSG #c :plain")
    got = await bob.expect("PRIVMSG")
    assert got.params == ("#c", "plain")


async def test_disconnect_mid_batch_delivers_nothing(connect: Connect) -> None:
    """A batch left open at disconnect is dropped: "wait until the full batch has been received
    before processing the message"."""
    alice = await connect("alice", caps=ML)
    bob = await connect("bob", caps=ML)
    for c in (alice, bob):
        await c.join("#c")
    alice.send("BATCH +d draft/multiline #c")
    alice.send("@batch=d PRIVMSG #c :half")
    alice.send("QUIT :bye")
    await alice.expect_closed()
    quit_ = await bob.expect("QUIT")
    assert quit_.source and quit_.source.startswith("alice!")
    await bob.assert_silent("PRIVMSG")
    await bob.assert_silent("BATCH")


async def test_batch_left_open_times_out(start_server: StartServer, connect: Connect) -> None:
    """A batch left open longer than multiline_timeout is dropped with FAIL BATCH MULTILINE_INVALID
    ("any other error"), answering the opening BATCH's label; its later lines are refused."""
    clock = FakeClock()
    server = await start_server(clock=clock, multiline_timeout=5.0)
    alice = await connect("alice", caps=(*ML, "labeled-response"), target=server)
    bob = await connect("bob", caps=ML, target=server)
    for c in (alice, bob):
        await c.join("#c")
    alice.send("@label=T1 BATCH +slow draft/multiline #c")
    alice.send("@batch=slow PRIVMSG #c :first")
    await alice.sync()
    clock.advance(5.1)
    fail = await fails(alice)
    assert fail.params[1] == "MULTILINE_INVALID" and fail.tags.get("label") == "T1"
    alice.send("@batch=slow PRIVMSG #c :late")
    alice.send("BATCH -slow")
    assert (await fails(alice)).params[1] == "MULTILINE_INVALID"
    await bob.assert_silent("PRIVMSG")


async def test_lines_of_a_batch_are_not_paced_one_by_one(start_server: StartServer, connect: Connect) -> None:
    """ "keep in mind that clients might send an entire batched multiline message all at once": with
    flood control on, a 60-line batch arrives whole at once, not at flood_rate lines a second."""
    server = await start_server(flood_control=True, flood_burst=5, flood_rate=1.0)
    alice = await connect("alice", caps=ML, target=server)
    bob = await connect("bob", caps=ML, target=server)
    for c in (alice, bob):
        await c.join("#c")
    send_batch(alice, "f", "#c", [(f"line {i}", False) for i in range(60)])
    _, lines, _ = await read_batch(bob)  # within the 5 s the client waits, not 55 s
    assert len(lines) == 60


def test_batch_bytes_must_fit_the_recvq() -> None:
    """The text of an open batch is held input, bounded by the recvq: a larger max-bytes is refused."""
    with pytest.raises(ConfigError, match="multiline_max_bytes"):
        Settings(multiline_max_bytes=100_000, recvq=65536).validate()
    with pytest.raises(ConfigError, match="multiline_max_lines"):
        Settings(multiline_max_lines=0).validate()
    Settings().validate()


async def test_an_open_batch_counts_against_the_recvq(start_server: StartServer, connect: Connect) -> None:
    """Server implementation considerations: "consider the impact of relaying a large multiline
    batch"; the text of an open batch is input held for the client, bounded with its recvq: held
    lines that would fit alone drop the client when the batch fills most of it."""
    server = await start_server(
        flood_control=True,
        flood_burst=2,
        flood_rate=2.0,
        recvq=16384,
        sendq=65536,
        multiline_max_bytes=15000,
        multiline_max_lines=40,
    )
    alice = await connect("alice", caps=ML, target=server)
    await alice.join("#c")
    alice.send("BATCH +big draft/multiline #c")
    for _ in range(30):
        alice.send("@batch=big PRIVMSG #c :" + "x" * 490)  # 14700 bytes held in the batch
    for i in range(10):
        alice.send(f"PRIVMSG #c :{i} " + "y" * 400)  # paced: about 3.7 KiB waits
    got = await alice.expect_closed()
    assert any(m.command == "ERROR" and "Excess Flood" in m.params[-1] for m in got)
