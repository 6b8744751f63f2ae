"""draft/metadata-2 (IRCv3 metadata): METADATA on users and channels, subscriptions, limits, storage.

The spec: https://ircv3.net/specs/extensions/metadata (work in progress; capability
``draft/metadata-2``).
"""

from __future__ import annotations

import asyncio

from hubbub.protocol import Message

from .accounts_helpers import FAST, OPER_PASSWORD, OPERS, login_and_register, register_account
from .conftest import Connect, Server, StartServer
from .ircclient import IRCClient

CAP = "draft/metadata-2"
CAPS = (CAP, "batch")
PASSWORD = "metadata-password"


async def batch_of(client: IRCClient) -> list[Message]:
    """The lines of the next ``metadata`` batch (between its BATCH + and BATCH -)."""
    start = (await client.collect_until("BATCH"))[-1]  # what came before it is passed over
    assert start.params[0].startswith("+") and start.params[1:] == ("metadata",), start
    ref = start.params[0][1:]
    got = await client.collect_until("BATCH", "-" + ref)
    lines = got[:-1]
    assert all(m.tags.get("batch") == ref for m in lines), lines
    return lines


async def joined(connect: Connect, nick: str, server: Server) -> IRCClient:
    """A registered client with the cap, past its registration's own-metadata batch."""
    client = await connect(nick, caps=CAPS, target=server)
    await batch_of(client)
    return client


async def test_set_get_list_and_clear_own_metadata(start_server: StartServer, connect: Connect) -> None:
    """ "METADATA <Target> SET <Key> [:Value] ... If no value is given, the key is removed";
    GET answers "RPL_KEYVALUE ... for every key in order" in a metadata batch, an unset key with
    RPL_KEYNOTSET; LIST lists every set key; CLEAR removes them all, one reply per cleared key.
    """
    server = await start_server()
    alice = await connect("alice", caps=CAPS, target=server)
    await batch_of(alice)  # at registration: its own (none) in an empty batch
    alice.send("METADATA * SET avatar :https://example.com/alice.png")
    assert (await alice.expect("761")).params == (
        "alice",
        "alice",
        "avatar",
        "*",
        "https://example.com/alice.png",
    )
    alice.send("METADATA alice SET pronouns :she/her")
    await alice.expect("761", "alice", "alice", "pronouns")
    alice.send("METADATA * GET pronouns status avatar")
    got = await batch_of(alice)
    assert [(m.command, *m.params[1:3]) for m in got] == [
        ("761", "alice", "pronouns"),
        ("766", "alice", "status"),
        ("761", "alice", "avatar"),
    ]
    assert got[0].params[3:] == ("*", "she/her")
    alice.send("METADATA alice LIST")
    assert [m.params[2:] for m in await batch_of(alice)] == [
        ("avatar", "*", "https://example.com/alice.png"),
        ("pronouns", "*", "she/her"),
    ]
    alice.send("METADATA * SET pronouns")
    assert (await alice.expect("766")).params[1:3] == ("alice", "pronouns")
    alice.send("METADATA * SET pronouns")
    assert (await alice.expect("FAIL")).params[:4] == ("METADATA", "KEY_NOT_SET", "alice", "pronouns")
    alice.send("METADATA * SET status :at lunch")
    await alice.expect("761")
    alice.send("METADATA * CLEAR")
    assert [(m.command, m.params[2]) for m in await batch_of(alice)] == [("766", "avatar"), ("766", "status")]
    alice.send("METADATA * LIST")
    assert await batch_of(alice) == []


async def test_a_channel_peer_subscribed_to_the_key_hears_each_change(
    start_server: StartServer, connect: Connect
) -> None:
    """ "When a user's metadata is updated, all users sharing a channel with that user ... will
    receive a METADATA message", for the keys they subscribed to, and not the client that made
    the change ("excluding changes they make themselves")."""
    server = await start_server()
    alice = await joined(connect, "alice", server)
    bob = await joined(connect, "bob", server)
    carol = await joined(connect, "carol", server)  # shares the channel, not subscribed
    dave = await joined(connect, "dave", server)  # subscribed, shares no channel
    for client in (alice, bob, carol):
        await client.join("#room")
    bob.send("METADATA * SUB avatar status")
    assert (await bob.expect("770")).params == ("bob", "avatar status")
    dave.send("METADATA * SUB avatar")
    await dave.expect("770")
    alice.send("METADATA * SET avatar :https://example.com/a.png")
    await alice.expect("761")
    note = await bob.expect("METADATA")
    assert note.params == ("alice", "avatar", "*", "https://example.com/a.png")
    assert note.source is not None and note.source.startswith("alice!")
    alice.send("METADATA * SET avatar")
    assert (await bob.expect("METADATA")).params == ("alice", "avatar", "*")
    alice.send("METADATA * SET pronouns :she/her")  # nobody subscribed to it
    await alice.expect("761")
    await bob.assert_silent("METADATA")
    await carol.assert_silent("METADATA")
    await dave.assert_silent("METADATA")
    await alice.assert_silent("METADATA")
    bob.send("METADATA * UNSUB avatar nosuch")
    assert (await bob.expect("771")).params == ("bob", "avatar nosuch")
    bob.send("METADATA * SUBS")
    assert (await bob.expect("772")).params == ("bob", "status")
    alice.send("METADATA * SET avatar :https://example.com/b.png")
    await alice.expect("761")
    await bob.assert_silent("METADATA")


async def test_join_sends_the_channel_and_its_members_metadata(
    start_server: StartServer, connect: Connect
) -> None:
    """ "On joining a channel, users will get the channel's current metadata sent to them with
    METADATA messages, and get the same information for all users who are in the channel.
    Specifically, they get that information for the keys they are subscribed to."""
    server = await start_server()
    alice = await joined(connect, "alice", server)
    await alice.join("#room")
    alice.send("METADATA #room SET url :https://example.com/room")
    assert (await alice.expect("761")).params[1:] == ("#room", "url", "*", "https://example.com/room")
    alice.send("METADATA * SET status :working")
    alice.send("METADATA * SET pronouns :she/her")
    await alice.expect("761", "alice", "alice", "pronouns")
    bob = await joined(connect, "bob", server)
    bob.send("METADATA * SUB url status")
    await bob.expect("770")
    bob.send("JOIN #room")
    await bob.expect("366")
    got = await batch_of(bob)
    assert [m.params for m in got] == [
        ("#room", "url", "*", "https://example.com/room"),
        ("alice", "status", "*", "working"),
    ]
    assert all(m.command == "METADATA" for m in got)
    bob.send("METADATA #room SYNC")
    assert [m.params[:2] for m in await batch_of(bob)] == [("#room", "url"), ("alice", "status")]


async def test_a_large_channel_asks_to_sync_later(start_server: StartServer, connect: Connect) -> None:
    """ "the server MAY choose to respond with a ERR_METADATASYNCLATER numeric instead of
    propogating the current metadata of the targets"; SYNC then sends it."""
    server = await start_server(metadata_join_sync_max=1)
    alice = await joined(connect, "alice", server)
    await alice.join("#big")
    alice.send("METADATA * SET status :here")
    await alice.expect("761")
    bob = await joined(connect, "bob", server)
    bob.send("METADATA * SUB status pronouns")
    await bob.expect("770")
    bob.send("JOIN #big")  # one line: sent
    await bob.expect("366")
    assert [m.params for m in await batch_of(bob)] == [("alice", "status", "*", "here")]
    alice.send("METADATA * SET pronouns :she/her")
    await alice.expect("761")
    carol = await joined(connect, "carol", server)
    carol.send("METADATA * SUB status pronouns")
    await carol.expect("770")
    carol.send("JOIN #big")  # two lines: later
    await carol.expect("366")
    assert (await carol.expect("774")).params == ("carol", "#big")
    carol.send("METADATA #big SYNC")
    assert [m.params[:2] for m in await batch_of(carol)] == [("alice", "pronouns"), ("alice", "status")]


async def test_subscribing_sends_the_current_values_of_the_new_keys(
    start_server: StartServer, connect: Connect
) -> None:
    """ "When subscribing to a key, clients SHOULD receive the current value of that key for
    channels/users they are receiving updates for": the client's own, its channels' and their
    members', for the keys it newly subscribed to."""
    server = await start_server()
    alice = await joined(connect, "alice", server)
    bob = await joined(connect, "bob", server)
    carol = await joined(connect, "carol", server)  # shares no channel with bob
    await alice.join("#room")
    await bob.join("#room")
    alice.send("METADATA #room SET url :https://example.com/room")
    alice.send("METADATA * SET status :working")
    await alice.expect("761", "alice", "alice", "status")
    bob.send("METADATA * SET status :reading")
    await bob.expect("761")
    carol.send("METADATA * SET status :away")
    await carol.expect("761")
    bob.send("METADATA * SUB status")
    await bob.expect("770")
    assert [m.params for m in await batch_of(bob)] == [
        ("bob", "status", "*", "reading"),
        ("alice", "status", "*", "working"),
    ]
    bob.send("METADATA * SUB status url")  # only url is new
    await bob.expect("770")
    assert [m.params for m in await batch_of(bob)] == [("#room", "url", "*", "https://example.com/room")]


async def test_channel_metadata_is_for_its_operators_to_set(
    start_server: StartServer, connect: Connect
) -> None:
    """ "Clients can set/delete metadata on themselves, and on channels they administer"; "If the
    user cannot set keys on the given target, the server responds with FAIL METADATA
    KEY_NO_PERMISSION". Nobody sets another user's keys."""
    server = await start_server()
    op = await joined(connect, "op", server)
    member = await joined(connect, "member", server)
    outsider = await joined(connect, "outsider", server)
    await op.join("#room")
    await member.join("#room")
    member.send("METADATA * SUB topic-url")
    await member.expect("770")
    member.send("METADATA #room SET topic-url :https://evil.example")
    assert (await member.expect("FAIL")).params[:4] == ("METADATA", "KEY_NO_PERMISSION", "#room", "topic-url")
    member.send("METADATA #room CLEAR")
    assert (await member.expect("FAIL")).params[:4] == ("METADATA", "KEY_NO_PERMISSION", "#room", "*")
    member.send("METADATA op SET avatar :https://evil.example")
    assert (await member.expect("FAIL")).params[:4] == ("METADATA", "KEY_NO_PERMISSION", "op", "avatar")
    op.send("METADATA #room SET topic-url :https://example.com")
    await op.expect("761")
    assert (await member.expect("METADATA")).params == ("#room", "topic-url", "*", "https://example.com")
    member.send("METADATA #room GET topic-url")
    assert [m.params[3:] for m in await batch_of(member)] == [("*", "https://example.com")]
    # A channel's metadata is for its members, as Ergo has it.
    outsider.send("METADATA #room LIST")
    assert (await outsider.expect("FAIL")).params[:3] == ("METADATA", "KEY_NO_PERMISSION", "#room")


async def test_bad_requests_get_the_spec_failures(start_server: StartServer, connect: Connect) -> None:
    """Standard replies with the spec's codes: INVALID_TARGET, KEY_INVALID, SUBCOMMAND_INVALID,
    VALUE_INVALID ("value is too long or not UTF8"), LIMIT_REACHED, TOO_MANY_SUBS (naming "this
    first key that the client could not subscribe to")."""
    server = await start_server(metadata_max_subs=2, metadata_max_keys=2, metadata_max_value_bytes=10)
    alice = await connect(register=False, target=server)
    alice.send("CAP LS 302")
    caps: dict[str, str] = {}
    while True:  # CAP LS 302 may take several lines: "CAP * LS * :..." continues
        ls = await alice.expect("CAP", "*", "LS")
        caps.update(c.partition("=")[::2] for c in ls.params[-1].split())
        if ls.params[2] != "*":
            break
    assert caps[CAP] == "max-subs=2,max-keys=2,max-value-bytes=10"
    await alice.register("alice", caps=CAPS)
    await batch_of(alice)
    alice.send("METADATA nobody GET avatar")
    assert (await alice.expect("FAIL")).params[:3] == ("METADATA", "INVALID_TARGET", "nobody")
    alice.send("METADATA #nowhere LIST")
    assert (await alice.expect("FAIL")).params[:3] == ("METADATA", "INVALID_TARGET", "#nowhere")
    alice.send("METADATA * SET Bad$Key :x")
    assert (await alice.expect("FAIL")).params[:3] == ("METADATA", "KEY_INVALID", "Bad$Key")
    alice.send("METADATA * SET " + "k" * 65 + " :x")
    assert (await alice.expect("FAIL")).params[1] == "KEY_INVALID"
    alice.send("METADATA * DESTROY")
    assert (await alice.expect("FAIL")).params[:3] == ("METADATA", "SUBCOMMAND_INVALID", "DESTROY")
    alice.send("METADATA * SET status :" + "é" * 6)  # 12 bytes
    assert (await alice.expect("FAIL")).params[:2] == ("METADATA", "VALUE_INVALID")
    alice.send("METADATA * SET status :" + "é" * 5)  # 10 bytes
    await alice.expect("761")
    alice.send("METADATA * SET avatar :a")
    await alice.expect("761")
    alice.send("METADATA * SET pronouns :b")
    assert (await alice.expect("FAIL")).params[:3] == ("METADATA", "LIMIT_REACHED", "alice")
    alice.send("METADATA * SET avatar :c")  # changing a set key is no new key
    await alice.expect("761", "alice", "alice", "avatar", "*", "c")
    alice.send("METADATA * SUB avatar bad$ avatar status pronouns color")
    failed = await alice.expect("FAIL")
    assert failed.params[:3] == ("METADATA", "KEY_INVALID", "bad$")
    failed = await alice.expect("FAIL")
    assert failed.params[:3] == ("METADATA", "TOO_MANY_SUBS", "pronouns")
    assert (await alice.expect("770")).params == ("alice", "avatar status")
    alice.send("METADATA * SUBS")
    assert (await alice.expect("772")).params == ("alice", "avatar status")
    alice.send("METADATA")
    assert (await alice.expect("461")).params[1] == "METADATA"


async def test_a_logged_in_users_metadata_is_its_accounts_and_outlives_a_restart(
    start_server: StartServer, connect: Connect
) -> None:
    """ "Upon requesting the capability, clients receive their non-transient metadata (for example,
    metadata stored by the server ...) in a metadata batch with their own nick as target."
    A logged-in user's metadata is stored for the account; a guest's lasts as long as its
    connection. A durable channel keeps its metadata too."""
    server = await start_server(**FAST)
    alice = await joined(connect, "alice", server)
    await register_account(alice, PASSWORD)
    alice.send("METADATA * SET display-name :Alice Liddell")
    await alice.expect("761")
    await alice.join("#room")
    alice.send("METADATA #room SET url :https://example.com/room")
    await alice.expect("761", "alice", "#room", "url")
    guest = await joined(connect, "guest", server)
    guest.send("METADATA * SET status :visiting")
    await guest.expect("761")
    await alice.sync()
    await server.stop()

    again = await start_server(**FAST)
    alice = await connect(register=False, target=again)
    assert (await login_and_register(alice, "alice", "alice", PASSWORD, CAPS)).command == "903"
    await alice.expect("001")
    own = await batch_of(alice)
    assert [m.params for m in own] == [("alice", "display-name", "*", "Alice Liddell")]
    alice.send("METADATA alice GET display-name")
    assert [m.params[3:] for m in await batch_of(alice)] == [("*", "Alice Liddell")]
    alice.send("JOIN #room")
    await alice.expect("366")
    alice.send("METADATA #room LIST")
    assert [m.params[2:] for m in await batch_of(alice)] == [("url", "*", "https://example.com/room")]
    guest = await connect("guest", caps=CAPS, target=again)
    assert await batch_of(guest) == []  # a guest had nothing stored
    guest.send("METADATA * LIST")
    assert await batch_of(guest) == []


async def test_another_connection_of_the_account_hears_the_change(
    start_server: StartServer, connect: Connect
) -> None:
    """ "Clients automatically receive metadata updates for themselves (excluding changes they
    make themselves)": a logged-in user's metadata is its account's, so another connection of
    the account (here under another nick) is told, with its own nick as the target; the one that
    made the change is not."""
    server = await start_server(**FAST)
    laptop = await joined(connect, "alice", server)
    await register_account(laptop, PASSWORD)
    phone = await connect(register=False, target=server)
    assert (await login_and_register(phone, "alice_phone", "alice", PASSWORD, CAPS)).command == "903"
    await phone.expect("001")
    await batch_of(phone)
    phone.send("METADATA * SUB status")
    await phone.expect("770")
    laptop.send("METADATA * SET status :in a meeting")
    await laptop.expect("761")
    assert (await phone.expect("METADATA")).params == ("alice_phone", "status", "*", "in a meeting")
    phone.send("METADATA * GET status")
    assert [m.params[3:] for m in await batch_of(phone)] == [("*", "in a meeting")]
    await laptop.assert_silent("METADATA")


async def test_an_accounts_metadata_leaves_memory_with_its_last_connection(
    start_server: StartServer, connect: Connect
) -> None:
    """The server holds an account's metadata only while somebody is logged in to it (and its
    writes are on their way); the next login reads it back from the store."""
    server = await start_server(**FAST)
    alice = await joined(connect, "alice", server)
    await register_account(alice, PASSWORD)
    alice.send("METADATA * SET status :gone fishing")
    await alice.expect("761")
    assert list(server.accounts.metadata.values()) == [{"status": "gone fishing"}]
    account = server.accounts.get("alice")
    store = server.accounts.store
    assert account is not None and store is not None
    deadline = asyncio.get_running_loop().time() + 10
    while store.metadata(account.id) != {"status": "gone fishing"}:  # written, before the QUIT
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.01)
    alice.send("QUIT")
    await alice.expect_closed()
    deadline = asyncio.get_running_loop().time() + 10
    while server.accounts.metadata:
        assert asyncio.get_running_loop().time() < deadline, server.accounts.metadata
        await asyncio.sleep(0.01)
    again = await connect(register=False, target=server)
    assert (await login_and_register(again, "alice", "alice", PASSWORD, CAPS)).command == "903"
    await again.expect("001")
    assert [m.params for m in await batch_of(again)] == [("alice", "status", "*", "gone fishing")]


async def test_requesting_the_cap_after_registration_sends_the_own_metadata_batch(
    start_server: StartServer, connect: Connect
) -> None:
    """ "Upon requesting the metadata capability, clients receive their non-transient metadata ...
    in a metadata batch with their own nick as target. If none exists, the server MUST send an
    empty batch instead." Also when the cap is requested after registration."""
    server = await start_server(**FAST)
    alice = await joined(connect, "alice", server)
    await register_account(alice, PASSWORD)
    alice.send("METADATA * SET avatar :https://example.com/a.png")
    await alice.expect("761")
    late = await connect(register=False, target=server)
    assert (await login_and_register(late, "alice_late", "alice", PASSWORD)).command == "903"
    await late.expect("001")
    late.send("CAP REQ :batch draft/metadata-2")
    await late.expect("CAP")
    assert [m.params for m in await batch_of(late)] == [
        ("alice_late", "avatar", "*", "https://example.com/a.png")
    ]
    guest = await connect("guest", target=server)
    guest.send("CAP REQ :batch draft/metadata-2")
    await guest.expect("CAP")
    assert await batch_of(guest) == []
    guest.send("CAP REQ :draft/metadata-2")  # already on: nothing again
    await guest.expect("CAP")
    await guest.assert_silent("BATCH")


async def test_a_server_operator_may_change_anybodys_metadata(
    start_server: StartServer, connect: Connect
) -> None:
    """ "Privileged users (e.g. network admins) may be able to set certain metadata on other
    users": a server operator takes down another user's key, or clears a channel it is not an
    operator of; the user's subscribed peers are told."""
    server = await start_server(**OPERS)
    mallory = await joined(connect, "mallory", server)
    admin = await joined(connect, "admin", server)
    watcher = await joined(connect, "watcher", server)
    await mallory.join("#room")
    await watcher.join("#room")
    watcher.send("METADATA * SUB avatar")
    await watcher.expect("770")
    mallory.send("METADATA * SET avatar :https://example.com/offensive.png")
    await mallory.expect("761")
    mallory.send("METADATA #room SET url :https://example.com/spam")
    await mallory.expect("761")
    await watcher.expect("METADATA", "mallory", "avatar")
    admin.send("METADATA mallory SET avatar")
    assert (await admin.expect("FAIL")).params[:3] == ("METADATA", "KEY_NO_PERMISSION", "mallory")
    admin.send(f"OPER admin {OPER_PASSWORD}")
    await admin.expect("381")
    admin.send("METADATA mallory SET avatar")
    assert (await admin.expect("766")).params[1:3] == ("mallory", "avatar")
    assert (await watcher.expect("METADATA")).params == ("mallory", "avatar", "*")
    admin.send("METADATA #room LIST")  # not a member, but an operator
    assert [m.params[2:] for m in await batch_of(admin)] == [("url", "*", "https://example.com/spam")]
    admin.send("METADATA #room CLEAR")
    assert [m.params[1:3] for m in await batch_of(admin)] == [("#room", "url")]
    mallory.send("METADATA mallory LIST")
    assert await batch_of(mallory) == []


async def test_labelled_requests_are_answered_under_their_label(
    start_server: StartServer, connect: Connect
) -> None:
    """labeled-response: a SET's one reply carries the label; a GET, whose response is one
    metadata batch, has the label on that batch ("the label tag MAY be on the BATCH +"), and
    each line in it carries that batch alone."""
    server = await start_server()
    alice = await connect("alice", caps=(*CAPS, "labeled-response", "message-tags"), target=server)
    await batch_of(alice)
    alice.send("@label=s1 METADATA * SET status :here")
    reply = await alice.expect("761")
    assert reply.tags.get("label") == "s1"
    alice.send("@label=g1 METADATA * GET status avatar")
    start = await alice.expect("BATCH")
    assert start.tags.get("label") == "g1" and start.params[1:] == ("metadata",)
    ref = start.params[0][1:]
    got = await alice.collect_until("BATCH", "-" + ref)
    assert [(m.command, m.tags.get("batch")) for m in got] == [("761", ref), ("766", ref), ("BATCH", None)]


async def test_metadata_notify_reaches_those_who_monitor_the_user(
    start_server: StartServer, connect: Connect
) -> None:
    """ "If the draft/metadata-notify-2 capability is requested, clients also receive metadata
    updates for the users they are currently monitoring", and "SHOULD receive the current values
    of keys they are subscribed to when they MONITOR a user, or when one of their monitored
    users comes online". Without that cap, MONITOR brings no metadata."""
    server = await start_server(**FAST)
    alice = await joined(connect, "alice", server)
    await register_account(alice, PASSWORD)
    alice.send("METADATA * SET status :writing")
    await alice.expect("761")
    watcher = await connect("watcher", caps=(*CAPS, "draft/metadata-notify-2"), target=server)
    await batch_of(watcher)
    plain = await joined(connect, "plain", server)  # draft/metadata-2 alone
    for client in (watcher, plain):
        client.send("METADATA * SUB status")
        await client.expect("770")
        client.send("MONITOR + alice")
        await client.expect("730")
    assert [m.params for m in await batch_of(watcher)] == [("alice", "status", "*", "writing")]
    alice.send("METADATA * SET status :reading")
    await alice.expect("761")
    assert (await watcher.expect("METADATA")).params == ("alice", "status", "*", "reading")
    await plain.assert_silent("METADATA")
    alice.send("QUIT")
    await alice.expect_closed()
    await watcher.expect("731")
    again = await connect(register=False, target=server)
    assert (await login_and_register(again, "alice", "alice", PASSWORD)).command == "903"
    await again.expect("001")
    await watcher.expect("730")
    assert [m.params for m in await batch_of(watcher)] == [("alice", "status", "*", "reading")]
    await plain.assert_silent("BATCH")
