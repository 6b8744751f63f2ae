"""draft/read-marker: MARKREAD stored per account and target, forward only, synced across connections."""

from __future__ import annotations

from .accounts_helpers import FAST, login_and_register, register_account
from .conftest import Connect, StartServer

PASSWORD = "marker-password"
CAPS = ("draft/read-marker",)


async def test_markers_sync_to_every_connection_of_the_account_and_only_move_forward(
    start_server: StartServer, connect: Connect
) -> None:
    server = await start_server(**FAST)
    laptop = await connect("alice", caps=CAPS, target=server)
    await register_account(laptop, PASSWORD)
    phone = await connect("phone", register=False, target=server)
    assert (await login_and_register(phone, "alice_phone", "alice", PASSWORD, CAPS)).command == "903"
    await phone.expect("001")
    other = await connect("bob", caps=CAPS, target=server)
    await register_account(other, PASSWORD)

    laptop.send("MARKREAD #room")
    assert (await laptop.expect("MARKREAD")).params == ("#room", "*")
    laptop.send("MARKREAD #Room timestamp=2030-01-02T03:04:05.678Z")
    assert (await laptop.expect("MARKREAD")).params == ("#Room", "timestamp=2030-01-02T03:04:05.678Z")
    assert (await phone.expect("MARKREAD")).params == ("#Room", "timestamp=2030-01-02T03:04:05.678Z")
    await other.assert_silent("MARKREAD")

    phone.send("MARKREAD #room timestamp=2029-01-01T00:00:00.000Z")  # older: the stored one stays
    assert (await phone.expect("MARKREAD")).params == ("#room", "timestamp=2030-01-02T03:04:05.678Z")
    assert (await laptop.expect("MARKREAD")).params == ("#room", "timestamp=2030-01-02T03:04:05.678Z")
    other.send("MARKREAD #room")
    assert (await other.expect("MARKREAD")).params == ("#room", "*")


async def test_marker_comes_with_join_before_end_of_names_and_survives_a_restart(
    start_server: StartServer, connect: Connect
) -> None:
    server = await start_server(**FAST)
    alice = await connect("alice", caps=CAPS, target=server)
    await register_account(alice, PASSWORD)
    alice.send("MARKREAD #room timestamp=2030-01-02T03:04:05.678Z")
    await alice.expect("MARKREAD")
    await server.stop()
    again = await start_server(**FAST)
    alice = await connect(register=False, target=again)
    assert (await login_and_register(alice, "alice", "alice", PASSWORD, CAPS)).command == "903"
    await alice.expect("001")
    alice.send("JOIN #room")
    got = await alice.collect_until("366")
    commands = [m.command for m in got]
    assert commands.index("JOIN") < commands.index("MARKREAD") < commands.index("366")
    marker = next(m for m in got if m.command == "MARKREAD")
    assert marker.params == ("#room", "timestamp=2030-01-02T03:04:05.678Z")


async def test_first_direct_message_from_someone_is_preceded_by_its_marker(
    start_server: StartServer, connect: Connect
) -> None:
    server = await start_server(**FAST)
    alice = await connect("alice", caps=CAPS, target=server)
    await register_account(alice, PASSWORD)
    bob = await connect("bob", target=server)
    bob.send("PRIVMSG alice :one")
    bob.send("PRIVMSG alice :two")
    got = await alice.collect_until("PRIVMSG")
    assert [m.command for m in got][-2:] == ["MARKREAD", "PRIVMSG"]
    assert got[-2].params == ("bob", "*")
    await alice.expect("PRIVMSG")
    await alice.assert_silent("MARKREAD")


async def test_errors_are_standard_replies(start_server: StartServer, connect: Connect) -> None:
    """draft/read-marker "Errors and Warnings": NEED_MORE_PARAMS, "FAIL MARKREAD INVALID_PARAMS
    [invalid_parameters] :Invalid parameters" and INTERNAL_ERROR are the codes; there is none for a
    client that is not logged in."""
    server = await start_server(**FAST)
    guest = await connect("guest", caps=CAPS, target=server)
    guest.send("MARKREAD #room")
    assert (await guest.expect("MARKREAD")).params == ("#room", "*")
    await register_account(guest, PASSWORD)
    guest.send("MARKREAD")
    assert (await guest.expect("FAIL")).params[:2] == ("MARKREAD", "NEED_MORE_PARAMS")
    guest.send("MARKREAD #room timestamp=yesterday")
    assert (await guest.expect("FAIL")).params[:3] == ("MARKREAD", "INVALID_PARAMS", "timestamp=yesterday")
    guest.send("MARKREAD #room *")  # "The timestamp MUST NOT be a literal *" when a client sets it
    assert (await guest.expect("FAIL")).params[:3] == ("MARKREAD", "INVALID_PARAMS", "*")
    # The target is one channel or nick: a list, a mask or words with spaces are none.
    for target in ("#room,#hall", "bo*", ":two words", "::colon"):
        guest.send(f"MARKREAD {target}")
        assert (await guest.expect("FAIL")).params[:2] == ("MARKREAD", "INVALID_PARAMS"), target
        guest.send(f"MARKREAD {target} timestamp=2030-01-01T00:00:00.000Z")
        assert (await guest.expect("FAIL")).params[:2] == ("MARKREAD", "INVALID_PARAMS"), target


async def test_a_client_not_logged_in_has_markers_for_its_connection(
    start_server: StartServer, connect: Connect
) -> None:
    """draft/read-marker: "after the server sends a server JOIN command to the client for a
    corresponding channel, the server MUST send a MARKREAD command for that channel. The command
    MUST be sent before the RPL_ENDOFNAMES reply" -- for every client with the cap. Without an
    account the markers are kept per connection and only move forward."""
    server = await start_server(**FAST, read_markers_per_connection=2)
    guest = await connect("guest", caps=CAPS, target=server)
    other = await connect("other", caps=CAPS, target=server)
    guest.send("JOIN #room")
    got = await guest.collect_until("366")
    commands = [m.command for m in got]
    assert commands.index("JOIN") < commands.index("MARKREAD") < commands.index("366")
    assert next(m for m in got if m.command == "MARKREAD").params == ("#room", "*")

    guest.send("MARKREAD #Room timestamp=2030-01-02T03:04:05.678Z")
    assert (await guest.expect("MARKREAD")).params == ("#Room", "timestamp=2030-01-02T03:04:05.678Z")
    guest.send("MARKREAD #room timestamp=2029-01-01T00:00:00.000Z")  # older: the kept one stays
    assert (await guest.expect("MARKREAD")).params == ("#room", "timestamp=2030-01-02T03:04:05.678Z")
    other.send("MARKREAD #room")  # another connection has markers of its own
    assert (await other.expect("MARKREAD")).params == ("#room", "*")
    guest.send("PART #room")
    guest.send("JOIN #room")
    got = await guest.collect_until("366")
    assert next(m for m in got if m.command == "MARKREAD").params == (
        "#room",
        "timestamp=2030-01-02T03:04:05.678Z",
    )

    # Two targets at most: a third pushes the oldest out.
    guest.send("MARKREAD bob timestamp=2030-01-01T00:00:00.000Z")
    await guest.expect("MARKREAD")
    guest.send("MARKREAD carol timestamp=2030-01-01T00:00:00.000Z")
    await guest.expect("MARKREAD")
    guest.send("MARKREAD #room")
    assert (await guest.expect("MARKREAD")).params == ("#room", "*")
