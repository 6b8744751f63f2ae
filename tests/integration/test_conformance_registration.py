"""Conformance details of registration, QUIT and command dispatch (Modern IRC, RFC 2812)."""

from __future__ import annotations

from tests.support.serverproc import ServerProcess

from .ircclient import IRCClient


async def test_user_with_empty_realname_gets_461_and_no_welcome(connect):
    c = await connect(register=False)
    c.send("NICK foo")
    c.send("USER username * * :")
    reply = await c.expect("461")
    assert reply.params[:2] in (("*", "USER"), ("foo", "USER"))
    await c.assert_silent("001")


async def test_quit_error_reaches_a_client_that_keeps_talking(tmp_path):
    # The client keeps sending after QUIT; the server must still deliver ERROR and close cleanly
    # rather than reset the connection with the ERROR line unread. A separate server process, so
    # the lines arrive while it is closing.
    proc = await ServerProcess(tmp_path, "--no-flood-control").start()
    try:
        for attempt in range(5):
            c = await IRCClient.open(proc.host, proc.port, name=f"foo{attempt}")
            try:
                await c.register(f"foo{attempt}")
                c.send("QUIT :bye")
                for i in range(200):
                    c.send(f"PING {i}")
                got = await c.expect_closed()
                assert "ERROR" in [m.command for m in got], c.transcript()
            finally:
                await c.close()
    finally:
        await proc.stop()


async def test_command_with_odd_characters_is_an_unknown_command(connect):
    c = await connect("foo")
    c.send("NONEXISTENT_COMMAND")
    reply = await c.expect("421")
    assert reply.params[:2] == ("foo", "NONEXISTENT_COMMAND")


async def test_odd_command_answer_carries_the_label(connect):
    c = await connect("foo", caps=("batch", "labeled-response"))
    c.send("@label=deadbeef NONEXISTENT_COMMAND")
    got = await c.drain_messages()
    assert len(got) == 1
    assert got[0].command == "421"
    assert got[0].tags.get("label") == "deadbeef"


async def test_odd_command_before_registration_gets_451(connect):
    c = await connect(register=False)
    c.send("FOO_BAR baz")
    await c.expect("451")
