"""CHGHOST (IRCv3 chghost): the cap's message for capable peers, QUIT and JOIN for the others."""

from __future__ import annotations

from .accounts_helpers import OPER_PASSWORD, OPERS
from .conftest import Connect, StartServer
from .ircclient import IRCClient


async def _oper(client: IRCClient) -> None:
    client.send(f"OPER admin {OPER_PASSWORD}")
    await client.expect("381")


async def test_capable_peers_see_chghost_others_see_quit_join_and_mode(
    start_server: StartServer, connect: Connect
) -> None:
    server = await start_server(**OPERS)
    oper = await connect("oper", target=server)
    await _oper(oper)
    bob = await connect("bob", caps=("chghost",), target=server)
    modern = await connect("modern", caps=("chghost",), target=server)
    old = await connect("old", caps=("extended-join",), target=server)
    await bob.join("#room")
    for client in (modern, old):
        await client.join("#room")
    bob.send("AWAY :away for now")
    await bob.expect("306")

    oper.send("CHGHOST bob staff users/bob")
    notice = await oper.expect("NOTICE")
    assert "staff@users/bob" in notice.params[1]
    own = await bob.expect("CHGHOST")
    assert own.source == "bob!~user@127.0.0.1" and own.params == ("staff", "users/bob")
    assert (await bob.expect("396")).params[1] == "users/bob"
    change = await modern.expect("CHGHOST")
    assert change.source == "bob!~user@127.0.0.1" and change.params == ("staff", "users/bob")
    await modern.assert_silent("QUIT")

    quit_ = await old.expect("QUIT")
    assert quit_.source == "bob!~user@127.0.0.1"
    join = await old.expect("JOIN")
    assert join.source == "bob!staff@users/bob" and join.params == ("#room", "*", "Real Name")
    mode = await old.expect("MODE")
    assert mode.params == ("#room", "+o", "bob")
    await old.assert_silent("CHGHOST")
    old.send("WHO bob")
    who = await old.expect("352")
    assert who.params[2:4] == ("staff", "users/bob")


async def test_chghost_needs_an_operator_and_valid_values(
    start_server: StartServer, connect: Connect
) -> None:
    server = await start_server(**OPERS)
    alice = await connect("alice", target=server)
    alice.send("CHGHOST alice u h.example")
    await alice.expect("481")
    await _oper(alice)
    alice.send("CHGHOST nobody u h.example")
    await alice.expect("401")
    alice.send("CHGHOST alice u :bad host")
    assert (await alice.expect("FAIL")).params[:2] == ("CHGHOST", "INVALID_HOSTNAME")
    alice.send("CHGHOST alice u@x h.example")
    assert (await alice.expect("FAIL")).params[:2] == ("CHGHOST", "INVALID_USERNAME")


async def test_extended_monitor_watchers_see_chghost(start_server: StartServer, connect: Connect) -> None:
    server = await start_server(**OPERS)
    oper = await connect("oper", target=server)
    await _oper(oper)
    watcher = await connect("watcher", caps=("extended-monitor", "chghost"), target=server)
    await connect("bob", target=server)
    watcher.send("MONITOR + bob")
    await watcher.expect("730")
    oper.send("CHGHOST bob b vhost.example")
    change = await watcher.expect("CHGHOST")
    assert change.params == ("b", "vhost.example")
