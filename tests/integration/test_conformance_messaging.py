"""Conformance details of PRIVMSG, NOTICE and TAGMSG with IRCv3 echo-message and labels."""

from __future__ import annotations

import pytest

ECHO_CAPS = ("echo-message", "batch", "labeled-response", "message-tags")


@pytest.mark.parametrize("command", ["PRIVMSG", "NOTICE"])
async def test_message_to_self_with_echo_arrives_twice_and_only_the_echo_is_labelled(connect, command):
    c = await connect("foo", caps=ECHO_CAPS)
    c.send(f"@label=12345 {command} foo :hi")
    got = await c.drain_messages()
    assert [m.command for m in got] == [command, command]
    assert [m.tags.get("label") for m in got].count("12345") == 1
    assert got[0].tags["msgid"] == got[1].tags["msgid"]


async def test_tagmsg_to_self_with_echo_arrives_twice(connect):
    c = await connect("foo", caps=ECHO_CAPS)
    c.send("@label=1;+draft/react=x TAGMSG foo")
    got = await c.drain_messages()
    assert [m.command for m in got] == ["TAGMSG", "TAGMSG"]
    assert all(m.tags.get("+draft/react") == "x" for m in got)
    assert [m.tags.get("label") for m in got].count("1") == 1


async def test_message_to_self_without_echo_arrives_once(connect):
    c = await connect("foo")
    c.send("PRIVMSG foo :hi")
    got = await c.drain_messages()
    assert [(m.command, m.params) for m in got] == [("PRIVMSG", ("foo", "hi"))]


async def test_invalid_utf8_fail_names_the_command(connect):
    foo = await connect("foo")
    await connect("bar")
    foo.send(b"PRIVMSG bar hi\xaa")
    reply = await foo.expect("FAIL")
    assert reply.params[:2] == ("PRIVMSG", "INVALID_UTF8")


async def test_invalid_utf8_fail_carries_the_label(connect):
    foo = await connect("foo", caps=("batch", "echo-message", "labeled-response"))
    await foo.join("#qux")
    foo.send(b"@label=xyz PRIVMSG #qux hi\xaa")
    reply = await foo.expect("FAIL")
    assert reply.params[:2] == ("PRIVMSG", "INVALID_UTF8")
    assert reply.tags.get("label") == "xyz"
