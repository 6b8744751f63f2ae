"""IRCv3 draft/message-redaction: REDACT <target> <msgid> [:reason].

Spec: https://ircv3.net/specs/extensions/message-redaction (work in progress, ``draft/`` cap).
"""

from __future__ import annotations

from hubbub.protocol import Message
from tests.support.clock import FakeClock

from .accounts_helpers import OPER_PASSWORD, OPERS, register_account
from .conftest import Connect, StartServer
from .ircclient import IRCClient
from .test_history import history, texts

CAP = "draft/message-redaction"
# A redacting client: message ids of its own messages (echo-message), history, the REDACT cap.
FULL = ("echo-message", "message-tags", "batch", "server-time", "draft/chathistory", CAP)


async def logged_in(connect: Connect, nick: str, caps: tuple[str, ...] = FULL, **kw: object) -> IRCClient:
    """A client registered with ``caps`` and logged in to the account ``nick`` (NickServ REGISTER)."""
    client = await connect(nick, caps=caps, **kw)
    await register_account(client, "secret-" + nick)
    client.buffer.clear()
    return client


async def said(client: IRCClient, target: str, text: str) -> str:
    """Send a PRIVMSG (the client has echo-message) and return its msgid."""
    client.send(f"PRIVMSG {target} :{text}")
    echo = await client.expect("PRIVMSG", target, text)
    return echo.tags["msgid"]


async def heard(client: IRCClient, target: str, text: str) -> str:
    """Wait for another's PRIVMSG and return its msgid."""
    got = await client.expect(lambda m: m.command == "PRIVMSG" and m.params[-1] == text)
    assert got.params[0] == target
    return got.tags["msgid"]


async def fail(client: IRCClient) -> Message:
    return await client.expect("FAIL", "REDACT")


async def test_the_capability_is_offered(connect: Connect) -> None:
    """The spec: "This specification adds the draft/message-redaction capability"."""
    client = await connect(None, register=False)
    client.send("CAP LS 302")
    ls = await client.expect("CAP", "*", "LS")
    assert CAP in ls.params[-1].split()


async def test_own_channel_message_is_redacted_for_capable_members_and_history(
    connect: Connect,
) -> None:
    """The spec: the server "SHOULD forward this REDACT ... to the target recipients that have
    negotiated the draft/message-redaction capability", "MUST not forward this REDACT to target
    recipients that have not negotiated this capability", and chathistory responses SHOULD
    "exclude it entirely"; the replay on join is history too."""
    bob = await connect("bob", caps=("message-tags", CAP))
    await bob.join("#c")
    carol = await connect("carol", caps=("message-tags",))
    await carol.join("#c")
    alice = await logged_in(connect, "alice")
    await alice.join("#c")
    await said(alice, "#c", "keep this")
    oops = await said(alice, "#c", "oops")
    assert await heard(bob, "#c", "oops") == oops

    alice.send(f"REDACT #c {oops} :wrong channel")
    mine = await alice.expect("REDACT")
    assert mine.params == ("#c", oops, "wrong channel")
    assert mine.source is not None and mine.source.startswith("alice!")
    assert mine.tags["msgid"] != oops  # the REDACT is an event of its own
    theirs = await bob.expect("REDACT")
    assert theirs.params == ("#c", oops, "wrong channel")
    assert theirs.tags["msgid"] == mine.tags["msgid"]
    await carol.assert_silent("REDACT")

    _, rows = await history(alice, "LATEST", "#c", "*", "10")
    assert texts(rows) == ["keep this"]
    dave = await connect("dave")
    dave.send("JOIN #c")
    got = await dave.drain_messages()
    assert texts([m for m in got if m.command == "PRIVMSG"]) == ["keep this"]


async def test_a_plain_member_cannot_redact_anothers_message_but_a_chanop_can(connect: Connect) -> None:
    """The spec: "FAIL REDACT REDACT_FORBIDDEN <target> <target-msgid>" when the client is not
    authorised; its server considerations: "Allowing channel moderators ... to delete unwelcome
    messages from others"."""
    op = await logged_in(connect, "op")
    await op.join("#c")  # first in: channel operator
    bob = await logged_in(connect, "bob")
    await bob.join("#c")
    eve = await logged_in(connect, "eve")
    await eve.join("#c")
    spam = await said(eve, "#c", "join my network")

    bob.send(f"REDACT #c {spam} :spam")
    refused = await fail(bob)
    assert refused.params[1:4] == ("REDACT_FORBIDDEN", "#c", spam)
    _, rows = await history(bob, "LATEST", "#c", "*", "10")
    assert texts(rows) == ["join my network"]

    op.send(f"REDACT #c {spam} spam")
    done = await op.expect("REDACT")
    assert done.params == ("#c", spam, "spam")
    assert (await eve.expect("REDACT")).params == ("#c", spam, "spam")
    assert (await bob.expect("REDACT")).params == ("#c", spam, "spam")
    _, rows = await history(bob, "LATEST", "#c", "*", "10")
    assert texts(rows) == []


async def test_a_server_operator_may_redact_any_channel_message(
    start_server: StartServer, connect: Connect
) -> None:
    """The spec's server considerations: "Allowing ... server admins to delete unwelcome messages
    from others"; an operator need not be a member of the channel."""
    srv = await start_server(**OPERS)
    alice = await logged_in(connect, "alice", target=srv)
    await alice.join("#c")
    msgid = await said(alice, "#c", "hello")
    admin = await connect("admin", caps=FULL, target=srv)
    admin.send(f"OPER admin {OPER_PASSWORD}")
    await admin.expect("381")
    admin.send(f"REDACT #c {msgid}")
    await alice.expect("REDACT", "#c", msgid)
    await admin.assert_silent("FAIL")
    _, rows = await history(alice, "LATEST", "#c", "*", "10")
    assert texts(rows) == []


async def test_a_client_not_logged_in_cannot_redact_even_its_own_message(connect: Connect) -> None:
    """A message is one's own when it carries one's account (as in Ergo): without an account,
    whoever holds a nick later could not be told from its first holder, so REDACT_FORBIDDEN."""
    op = await connect("op", caps=FULL)
    await op.join("#c")  # first in: the operator, so anon is a plain member
    anon = await connect("anon", caps=FULL)
    await anon.join("#c")
    msgid = await said(anon, "#c", "mine")
    anon.send(f"REDACT #c {msgid}")
    assert (await fail(anon)).params[1:4] == ("REDACT_FORBIDDEN", "#c", msgid)
    await op.assert_silent("REDACT")


async def test_unknown_msgids_and_targets(start_server: StartServer, connect: Connect) -> None:
    """The spec: "FAIL REDACT UNKNOWN_MSGID <target> <target-msgid>" and "FAIL REDACT
    INVALID_TARGET <target>"; the msgid "MUST be a PRIVMSG, NOTICE, or TAGMSG", and errors should
    not leak a message's existence to users who did not receive it."""
    srv = await start_server(history_events=True)
    alice = await logged_in(connect, "alice", caps=(*FULL, "draft/event-playback"), target=srv)
    await alice.join("#c")
    await alice.join("#d")
    in_d = await said(alice, "#d", "in d")
    alice.send("REDACT #c nosuchmsgid")
    assert (await fail(alice)).params[1:4] == ("UNKNOWN_MSGID", "#c", "nosuchmsgid")
    alice.send(f"REDACT #c {in_d}")  # a message of another channel is not in this one
    assert (await fail(alice)).params[1:4] == ("UNKNOWN_MSGID", "#c", in_d)
    _, rows = await history(alice, "LATEST", "#c", "*", "10")
    join = next(r for r in rows if r.command == "JOIN")
    alice.send(f"REDACT #c {join.tags['msgid']}")  # an event, not a message
    assert (await fail(alice)).params[1:4] == ("UNKNOWN_MSGID", "#c", join.tags["msgid"])

    alice.send(f"REDACT #nowhere {in_d}")
    assert (await fail(alice)).params[1:3] == ("INVALID_TARGET", "#nowhere")
    alice.send(f"REDACT nobody {in_d}")
    assert (await fail(alice)).params[1:3] == ("INVALID_TARGET", "nobody")
    outsider = await logged_in(connect, "outsider", target=srv)
    outsider.send(f"REDACT #d {in_d}")  # not a member: may not even learn the msgid exists
    assert (await fail(outsider)).params[1:3] == ("INVALID_TARGET", "#d")
    outsider.send("REDACT #d")
    assert (await outsider.expect("461")).params[1] == "REDACT"
    _, rows = await history(alice, "LATEST", "#d", "*", "10")
    assert texts(rows) == ["in d"]


async def test_direct_messages_are_redacted_for_both_sides(connect: Connect) -> None:
    """The spec: "send a REDACT command to a target nickname or channel"; it is forwarded to the
    target recipients "in the same way as PRIVMSG messages": the conversation's two sides."""
    alice = await logged_in(connect, "alice")
    bob = await logged_in(connect, "bob")
    plain = await connect("plain", caps=("message-tags",))
    msgid = await said(alice, "bob", "psst")
    assert await heard(bob, "bob", "psst") == msgid
    reply = await said(bob, "alice", "what")

    bob.send(f"REDACT alice {msgid}")  # alice's message: bob may not
    assert (await fail(bob)).params[1:4] == ("REDACT_FORBIDDEN", "alice", msgid)
    alice.send(f"REDACT plain {reply}")  # not in alice's conversation with plain
    assert (await fail(alice)).params[1:4] == ("UNKNOWN_MSGID", "plain", reply)

    alice.send(f"REDACT bob {msgid} :sorry")
    assert (await alice.expect("REDACT")).params == ("bob", msgid, "sorry")
    assert (await bob.expect("REDACT")).params == ("bob", msgid, "sorry")
    _, rows = await history(alice, "LATEST", "bob", "*", "10")
    assert texts(rows) == ["what"]
    _, rows = await history(bob, "LATEST", "alice", "*", "10")
    assert texts(rows) == ["what"]

    # A side without the cap is sent nothing ("MUST not forward this REDACT").
    hidden = await said(alice, "plain", "not for long")
    await plain.expect("PRIVMSG", "plain", "not for long")
    alice.send(f"REDACT plain {hidden}")
    await alice.expect("REDACT", "plain", hidden)
    await plain.assert_silent("REDACT")


async def test_a_redacted_message_stays_gone_after_a_restart(
    start_server: StartServer, connect: Connect, tmp_path: object
) -> None:
    """The redaction is a deletion in the store, committed before the REDACT goes out."""
    data = str(tmp_path) + "/redact-data"
    srv = await start_server(data_dir=data)
    alice = await logged_in(connect, "alice", target=srv)
    await alice.join("#c")
    await said(alice, "#c", "stays")
    gone = await said(alice, "#c", "goes")
    alice.send(f"REDACT #c {gone}")
    await alice.expect("REDACT")
    await alice.close()
    await srv.stop()
    again = await start_server(data_dir=data)
    carol = await connect("carol", caps=FULL, target=again)
    await carol.join("#c")
    _, rows = await history(carol, "LATEST", "#c", "*", "10")
    assert texts(rows) == ["stays"]


async def test_authors_redact_only_within_the_window_moderators_always(
    start_server: StartServer, connect: Connect
) -> None:
    """The spec: "FAIL REDACT REDACT_WINDOW_EXPIRED <target> <target-msgid> <window>"; its server
    considerations: "Specifying a cut-off time after which message edits are no longer allowed"
    (``redact_window``, seconds; moderation has no cut-off)."""
    clock = FakeClock()
    srv = await start_server(clock=clock, redact_window=60)
    op = await logged_in(connect, "op", target=srv)
    await op.join("#c")
    bob = await logged_in(connect, "bob", target=srv)
    await bob.join("#c")
    early = await said(bob, "#c", "early")
    late = await said(bob, "#c", "late")
    bob.send(f"REDACT #c {early}")
    await bob.expect("REDACT", "#c", early)
    clock.advance(61)
    bob.send(f"REDACT #c {late}")
    assert (await fail(bob)).params[1:5] == ("REDACT_WINDOW_EXPIRED", "#c", late, "60")
    op.send(f"REDACT #c {late}")
    await op.expect("REDACT", "#c", late)
    await bob.expect("REDACT", "#c", late)


async def test_a_labelled_redact_is_answered(connect: Connect) -> None:
    """IRCv3 labeled-response: the REDACT that answers the command carries its label."""
    alice = await logged_in(connect, "alice", caps=(*FULL, "labeled-response"))
    await alice.join("#c")
    msgid = await said(alice, "#c", "x")
    alice.send(f"@label=r1 REDACT #c {msgid}")
    got = await alice.expect(lambda m: m.tags.get("label") == "r1")
    assert got.command == "REDACT" and got.params == ("#c", msgid)
