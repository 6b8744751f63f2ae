"""SEARCH (soju.im/search): message search over the store's full-text index, on real sockets.

Spec (soju's doc/ext/search.md): ``SEARCH <attributes>`` with ``in``, ``from``, ``after``,
``before``, ``limit`` and ``text``; the reply is a ``soju.im/search`` batch of the matching
PRIVMSGs and NOTICEs with their original msgid and time; bad selectors get ``FAIL SEARCH
INVALID_PARAMS``. Who may find what follows CHATHISTORY's rules (docs/history.md).
"""

from __future__ import annotations

from hubbub.protocol import Message, escape_tag_value

from .accounts_helpers import register_account
from .conftest import Connect, StartServer
from .ircclient import IRCClient

CAP = "soju.im/search"
FULL = ("batch", "server-time", "message-tags", "echo-message", CAP)


async def search(client: IRCClient, **attrs: str) -> tuple[Message, list[Message]]:
    """Send SEARCH with ``attrs`` (``in_`` for ``in``); (the BATCH or FAIL line, the batch's messages)."""
    text = ";".join(f"{key.rstrip('_')}={escape_tag_value(value)}" for key, value in attrs.items())
    return await search_raw(client, text)


async def search_raw(client: IRCClient, attributes: str) -> tuple[Message, list[Message]]:
    """Send ``SEARCH :<attributes>`` as given; as :func:`search`."""
    client.send(f"SEARCH :{attributes}")
    start = await client.expect(
        lambda m: (
            (m.command == "FAIL" and m.param(0) == "SEARCH") or (m.command == "BATCH" and m.param(1) == CAP)
        )
    )
    if start.command == "FAIL":
        return start, []
    ref = start.params[0][1:]
    got = await client.collect_until("BATCH", "-" + ref)
    inner = [m for m in got[:-1] if m.tags.get("batch") == ref]
    return start, inner


def texts(messages: list[Message]) -> list[str]:
    return [m.params[-1] for m in messages]


async def said(client: IRCClient, target: str, text: str) -> Message:
    """Send a PRIVMSG and wait for its echo (the client has echo-message)."""
    client.send(f"PRIVMSG {target} :{text}")
    return await client.expect(lambda m: m.command == "PRIVMSG" and m.params == (target, text))


async def test_the_capability_is_offered(connect: Connect) -> None:
    client = await connect(None, register=False)
    assert CAP in await client.cap_ls()


async def test_words_are_found_case_and_accent_insensitively_newest_last_with_original_tags(
    connect: Connect,
) -> None:
    alice = await connect("alice", caps=FULL)
    await alice.join("#dev")
    first = await said(alice, "#dev", "The Deploy failed again")
    await said(alice, "#dev", "lunch anyone?")
    second = await said(alice, "#dev", "deploy fixed, café time")
    start, found = await search(alice, text="DEPLOY", in_="#dev")
    assert start.command == "BATCH" and start.params[1:] == (CAP,)
    assert texts(found) == ["The Deploy failed again", "deploy fixed, café time"]
    assert [m.tags["msgid"] for m in found] == [first.tags["msgid"], second.tags["msgid"]]
    assert [m.tags["time"] for m in found] == [first.tags["time"], second.tags["time"]]
    assert all(m.source is not None and m.source.startswith("alice!") for m in found)
    _, found = await search(alice, text="cafe", in_="#dev")
    assert texts(found) == ["deploy fixed, café time"]
    _, found = await search(alice, text="deploy failed", in_="#dev")  # every word, any order
    assert texts(found) == ["The Deploy failed again"]
    _, found = await search(alice, text="depl*", in_="#dev")  # a typed prefix
    assert len(found) == 2
    _, found = await search(alice, text="nothing-like-this", in_="#dev")
    assert found == []


async def test_limit_keeps_the_newest_and_after_searches_forward(connect: Connect) -> None:
    alice = await connect("alice", caps=FULL)
    await alice.join("#dev")
    sent = [await said(alice, "#dev", f"build {i}") for i in range(6)]
    _, found = await search(alice, text="build", in_="#dev", limit="2")
    assert texts(found) == ["build 4", "build 5"]
    _, found = await search(alice, text="build", in_="#dev", limit="2", after=sent[1].tags["time"])
    assert texts(found)[0] in ("build 0", "build 1")  # same millisecond stamps are all "at or after"
    _, found = await search(alice, text="build", in_="#dev", before=sent[0].tags["time"])
    assert "build 0" in texts(found) and "build 5" not in texts(found)


async def test_from_picks_the_sender_by_nick_case_insensitively(connect: Connect) -> None:
    alice = await connect("alice", caps=FULL)
    await alice.join("#dev")
    bob = await connect("bob", caps=FULL)
    await bob.join("#dev")
    await said(alice, "#dev", "release today")
    await said(bob, "#dev", "release tomorrow")
    _, found = await search(alice, text="release", from_="BOB", in_="#dev")
    assert texts(found) == ["release tomorrow"]


async def test_fts_syntax_in_the_text_is_only_text(connect: Connect) -> None:
    """Quotes, operators, column filters and stars are words (or nothing), never a query error."""
    alice = await connect("alice", caps=FULL)
    await alice.join("#dev")
    await said(alice, "#dev", 'he said "NEAR" AND (maybe) text: OR NOT')
    hostile = [
        '"',
        '""',
        "NEAR(",
        "AND",
        "OR NOT",
        "text:",
        "target : x",
        "*",
        "**",
        "a*b",
        "(",
        ")",
        "^x",
        "'; DROP TABLE messages; --",
        "\\",
        "NEAR(a b, 2)",
        "{text}: x",
        "-x",
        "+",
    ]
    for text in hostile:
        start, found = await search(alice, text=text, in_="#dev")
        assert start.command == "BATCH", (text, start)
    _, found = await search(alice, text='"NEAR" AND', in_="#dev")
    assert len(found) == 1
    _, found = await search(alice, text="text:", in_="#dev")
    assert len(found) == 1
    # The store still works for everyone.
    await said(alice, "#dev", "still here")
    _, found = await search(alice, text="still", in_="#dev")
    assert texts(found) == ["still here"]


async def test_bad_selectors_get_a_clear_fail(connect: Connect) -> None:
    alice = await connect("alice", caps=FULL)
    await alice.join("#dev")
    cases = {
        "text=x;colour=red": ("INVALID_PARAMS", "colour"),
        "in=#dev": ("INVALID_PARAMS", "text"),
        "text=;in=#dev": ("INVALID_PARAMS", "text"),
        "text=\\s\\s;in=#dev": ("INVALID_PARAMS", "text"),
        "text=x;limit=0": ("INVALID_PARAMS", "limit"),
        "text=x;limit=-3": ("INVALID_PARAMS", "limit"),
        "text=x;limit=lots": ("INVALID_PARAMS", "limit"),
        "text=x;limit=²": ("INVALID_PARAMS", "limit"),
        "text=x;limit=٣": ("INVALID_PARAMS", "limit"),
        "text=x;after=yesterday": ("INVALID_PARAMS", "after"),
        "text=x;before=2024-13-45T99:99:99.000Z": ("INVALID_PARAMS", "before"),
        "text=x;in=#a,#b": ("INVALID_PARAMS", "in"),
        "text=x;in=*": ("INVALID_PARAMS", "in"),
        "text=x;from=#dev": ("INVALID_PARAMS", "from"),
        "text=" + "word\\s" * 40: ("INVALID_PARAMS", "text"),
        "text=" + "x" * 400: ("INVALID_PARAMS", "text"),
    }
    for attributes, (code, context) in cases.items():
        start, _ = await search_raw(alice, attributes)
        assert start.command == "FAIL", attributes
        assert start.params[1:3] == (code, context), (attributes, start)
        assert start.params[-1]  # a description
    alice.send("SEARCH")
    assert (await alice.expect("461")).params[1] == "SEARCH"
    await said(alice, "#dev", "alive")


async def test_a_channel_one_may_not_read_is_refused_like_one_that_does_not_exist(connect: Connect) -> None:
    alice = await connect("alice", caps=FULL)
    await alice.join("#secret")
    await said(alice, "#secret", "the password is swordfish")
    eve = await connect("eve", caps=FULL)
    refused, found = await search(eve, text="swordfish", in_="#secret")
    missing, _ = await search(eve, text="swordfish", in_="#nowhere")
    assert refused.command == missing.command == "FAIL" and found == []
    assert refused.params[1:3] == missing.params[1:3] == ("INVALID_PARAMS", "in")
    assert refused.params[-1].replace("#secret", "#x") == missing.params[-1].replace("#nowhere", "#x")
    _, everything = await search(eve, text="swordfish")
    assert everything == []


async def test_search_everywhere_covers_my_channels_and_my_direct_messages_only(connect: Connect) -> None:
    alice = await connect("alice", caps=FULL)
    bob = await connect("bob", caps=FULL)
    carol = await connect("carol", caps=FULL)
    await alice.join("#one")
    await alice.join("#two")
    await carol.join("#other")
    await said(alice, "#one", "meeting at noon")
    await said(alice, "#two", "meeting moved")
    await said(carol, "#other", "meeting of carol's club")
    await said(bob, "alice", "meeting? call me")
    await said(carol, "bob", "secret meeting")
    _, found = await search(alice, text="meeting")
    assert texts(found) == ["meeting at noon", "meeting moved", "meeting? call me"]
    _, found = await search(alice, text="meeting", in_="bob")
    assert texts(found) == ["meeting? call me"]
    _, found = await search(carol, text="meeting")
    assert texts(found) == ["meeting of carol's club", "secret meeting"]


async def test_a_direct_conversation_is_not_found_by_whoever_takes_the_nick_later(connect: Connect) -> None:
    alice = await connect("alice", caps=FULL)
    bob = await connect("bob", caps=FULL)
    await said(bob, "alice", "my pin is 4321")
    _, found = await search(alice, text="pin", in_="bob")
    assert texts(found) == ["my pin is 4321"]
    bob.send("QUIT :bye")
    await bob.expect_closed()
    impostor = await connect("bob", caps=FULL)
    _, found = await search(impostor, text="pin", in_="alice")
    assert found == []
    _, found = await search(impostor, text="pin")
    assert found == []
    # Alice naming "bob" now means the impostor: a new conversation, with nothing in it.
    _, found = await search(alice, text="pin", in_="bob")
    assert found == []
    _, found = await search(alice, text="pin")  # everything of hers: her side of the old one
    assert texts(found) == ["my pin is 4321"]


async def test_an_account_finds_its_direct_messages_from_another_connection(connect: Connect) -> None:
    alice = await connect("alice", caps=FULL)
    await register_account(alice, "secret-alice")
    bob = await connect("bob", caps=FULL)
    await said(bob, "alice", "account-bound hello")
    alice.send("QUIT")
    await alice.expect_closed()
    again = await connect("alice2", caps=FULL)
    again.send("PRIVMSG NickServ :IDENTIFY alice secret-alice")
    await again.expect("900")
    _, found = await search(again, text="hello")
    assert texts(found) == ["account-bound hello"]


async def test_a_channel_made_anew_does_not_show_what_the_one_before_said(
    start_server: StartServer, connect: Connect
) -> None:
    server = await start_server(channel_lifetime="ephemeral")
    alice = await connect("alice", caps=FULL, target=server)
    await alice.join("#tmp")
    await said(alice, "#tmp", "old life secret")
    alice.send("PART #tmp")
    await alice.expect("PART")
    eve = await connect("eve", caps=FULL, target=server)
    await eve.join("#tmp")
    await said(eve, "#tmp", "new life")
    _, found = await search(eve, text="life", in_="#tmp")
    assert texts(found) == ["new life"]


async def test_a_redacted_message_is_no_longer_found(connect: Connect) -> None:
    alice = await connect("alice", caps=(*FULL, "draft/message-redaction"))
    await register_account(alice, "secret-alice")
    await alice.join("#dev")
    oops = await said(alice, "#dev", "my token is hunter2")
    alice.send(f"REDACT #dev {oops.tags['msgid']}")
    await alice.expect("REDACT")
    _, found = await search(alice, text="hunter2", in_="#dev")
    assert found == []


async def test_history_public_lets_anyone_search_a_channel_by_name(
    start_server: StartServer, connect: Connect
) -> None:
    server = await start_server(history_public=True)
    alice = await connect("alice", caps=FULL, target=server)
    await alice.join("#open")
    await said(alice, "#open", "public notes")
    eve = await connect("eve", caps=FULL, target=server)
    _, found = await search(eve, text="notes", in_="#open")
    assert texts(found) == ["public notes"]
    _, found = await search(eve, text="notes")  # everywhere: the channels one is in
    assert found == []


async def test_searches_past_the_rate_are_refused_and_others_are_unaffected(
    start_server: StartServer, connect: Connect
) -> None:
    server = await start_server(
        search_burst=2, search_rate=0.001, flood_control=True, flood_command_burst=1000, flood_burst=100
    )
    alice = await connect("alice", caps=FULL, target=server)
    bob = await connect("bob", caps=FULL, target=server)
    await alice.join("#dev")
    await bob.join("#dev")
    await said(alice, "#dev", "hello")
    for _ in range(2):
        start, _ = await search(alice, text="hello", in_="#dev")
        assert start.command == "BATCH"
    start, _ = await search(alice, text="hello", in_="#dev")
    assert start.command == "FAIL" and start.params[1] == "TEMPORARILY_UNAVAILABLE"
    start, found = await search(bob, text="hello", in_="#dev")
    assert start.command == "BATCH" and texts(found) == ["hello"]


async def test_search_max_caps_the_limit(start_server: StartServer, connect: Connect) -> None:
    server = await start_server(search_max=3)
    alice = await connect("alice", caps=FULL, target=server)
    await alice.join("#dev")
    for i in range(5):
        await said(alice, "#dev", f"row {i}")
    _, found = await search(alice, text="row", in_="#dev", limit="1000")
    assert texts(found) == ["row 2", "row 3", "row 4"]
    _, found = await search(alice, text="row", in_="#dev", limit="9" * 400)
    assert texts(found) == ["row 2", "row 3", "row 4"]


async def test_a_client_without_batch_gets_plain_lines(connect: Connect) -> None:
    alice = await connect("alice", caps=FULL)
    await alice.join("#dev")
    await said(alice, "#dev", "plain result")
    plain = await connect("plain", caps=(CAP,))
    await plain.join("#dev")
    await plain.drain_messages()  # the replay on join
    plain.send("SEARCH text=plain;in=#dev")
    got = await plain.drain_messages()
    assert [(m.command, m.params) for m in got] == [("PRIVMSG", ("#dev", "plain result"))]
    assert not got[0].tags


async def test_a_multiline_message_and_a_notice_are_found(connect: Connect) -> None:
    alice = await connect("alice", caps=(*FULL, "draft/multiline"))
    await alice.join("#dev")
    alice.send("BATCH +m1 draft/multiline #dev")
    alice.send("@batch=m1 PRIVMSG #dev :first line")
    alice.send("@batch=m1 PRIVMSG #dev :second kiwi line")
    alice.send("BATCH -m1")
    await alice.expect(lambda m: m.command == "PRIVMSG" and m.params[-1] == "second kiwi line")
    alice.send("NOTICE #dev :a notice about kiwi")
    await alice.expect("NOTICE")
    await alice.drain_messages()  # the echoes: their multiline batch has the same reference
    alice.send("SEARCH text=kiwi;in=#dev")
    start = await alice.expect(lambda m: m.command == "BATCH" and m.param(1) == CAP)
    ref = start.params[0][1:]
    got = await alice.collect_until("BATCH", "-" + ref)
    nested = [m for m in got if m.command == "BATCH" and m.tags.get("batch") == ref]
    assert nested and nested[0].params[1] == "draft/multiline"
    inside = {ref, nested[0].params[0][1:]}
    got = [m for m in got if m.tags.get("batch") in inside]
    # The multiline message comes back whole, as a draft/multiline batch nested in the search's.
    assert [m.params[-1] for m in got if m.command in ("PRIVMSG", "NOTICE")] == [
        "first line",
        "second kiwi line",
        "a notice about kiwi",
    ]
