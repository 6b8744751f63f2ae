"""The exact shapes of labelled responses (IRCv3 labeled-response and batch), read line by line.

Each response carries its label on exactly one line, and every line inside a batch carries exactly
one ``batch`` tag: that of the innermost batch it belongs to.
"""

from __future__ import annotations

import asyncio
import re
import time

from hubbub.protocol import Message, parse

from .ircclient import IRCClient

LABELLED = ("labeled-response", "batch", "message-tags", "server-time", "echo-message", "draft/chathistory")


async def raw_lines(client: IRCClient, until: str, timeout: float = 5.0) -> list[bytes]:
    """Raw lines read up to and including the first one matching the regular expression ``until``."""
    lines: list[bytes] = []
    deadline = time.monotonic() + timeout
    while True:
        line = await asyncio.wait_for(client.reader.readline(), max(deadline - time.monotonic(), 0.01))
        assert line, f"connection closed after {lines}"
        lines.append(line.rstrip(b"\r\n"))
        if re.search(until.encode(), line):
            return lines


def tags_of(line: bytes) -> list[str]:
    """The tag keys of a raw line, in order, duplicates kept."""
    if not line.startswith(b"@"):
        return []
    return [t.split("=", 1)[0] for t in line[1:].split(b" ", 1)[0].decode().split(";")]


def batch_of(line: bytes) -> str | None:
    return parse(line).tags.get("batch")


async def test_a_labelled_chathistory_is_one_batch_with_the_label_and_one_batch_tag_a_line(connect):
    alice = await connect("alice", caps=LABELLED)
    await alice.join("#c")
    for text in ("one", "two"):
        alice.send(f"PRIVMSG #c :{text}")
        await alice.expect("PRIVMSG", "#c", text)
    alice.send("@label=h1 CHATHISTORY LATEST #c * 10")
    lines = await raw_lines(alice, r"BATCH -")
    start, *inner, end = lines
    first = parse(start)
    # The response is one chathistory batch: it takes the label itself (an existing batch type
    # applicable to the entire response).
    assert first.command == "BATCH" and first.params[1:] == ("chathistory", "#c")
    assert first.tags.get("label") == "h1" and "batch" not in first.tags
    ref = first.params[0][1:]
    assert [parse(line).params[1] for line in inner] == ["one", "two"]
    for line in inner:
        assert tags_of(line).count("batch") == 1 and batch_of(line) == ref
        assert "label" not in tags_of(line)
    assert parse(end).params == ("-" + ref,)
    assert "batch" not in tags_of(end) and "label" not in tags_of(end)


async def test_a_labelled_who_is_a_labeled_response_batch(connect):
    alice = await connect("alice", caps=LABELLED)
    await alice.join("#c")
    alice.send("@label=w1 WHO #c")
    lines = await raw_lines(alice, r"BATCH -")
    start, *inner, end = lines
    first = parse(start)
    assert first.command == "BATCH" and first.params[1:] == ("labeled-response",)
    assert first.tags.get("label") == "w1"
    ref = first.params[0][1:]
    assert [parse(line).command for line in inner] == ["352", "315"]
    for line in inner:
        assert tags_of(line).count("batch") == 1 and batch_of(line) == ref
        assert "label" not in tags_of(line)
    assert parse(end).params == ("-" + ref,)
    assert "label" not in tags_of(end) and "batch" not in tags_of(end)


async def test_a_labelled_message_with_echo_is_answered_by_its_labelled_echo_alone(connect):
    alice = await connect("alice", caps=LABELLED)
    bob = await connect("bob")
    await alice.join("#c")
    await bob.join("#c")
    alice.send("@label=m1 PRIVMSG #c :hello")
    lines = await raw_lines(alice, r"PRIVMSG #c :?hello")
    echo = parse(lines[-1])
    assert echo.params == ("#c", "hello") and echo.tags.get("label") == "m1"
    assert "batch" not in echo.tags
    await bob.expect("PRIVMSG", "#c", "hello")
    # To oneself: the delivered copy is unlabelled, the echo carries the label (labeled-response).
    alice.send("@label=m2 PRIVMSG alice :note to self")
    lines = await raw_lines(alice, r"label=m2")
    got = [parse(line) for line in lines[-2:]]
    assert [m.params for m in got] == [("alice", "note to self")] * 2
    assert "label" not in got[0].tags and got[1].tags.get("label") == "m2"


async def test_a_labelled_chathistory_without_lines_is_still_one_labelled_batch(connect):
    alice = await connect("alice", caps=LABELLED)
    await alice.join("#quiet")
    alice.send("@label=e1 CHATHISTORY LATEST #quiet * 10")
    lines = await raw_lines(alice, r"BATCH -")
    assert len(lines) == 2
    start: Message = parse(lines[0])
    assert start.tags.get("label") == "e1" and start.params[1] == "chathistory"
