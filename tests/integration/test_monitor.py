"""MONITOR (IRCv3 monitor) and extended-monitor: online/offline notices, list management, limits."""

from __future__ import annotations

from .accounts_helpers import FAST, register_account
from .conftest import Connect, StartServer


async def test_isupport_advertises_the_monitor_limit(start_server: StartServer, connect: Connect) -> None:
    server = await start_server(monitor_limit=7)
    client = await connect(register=False, target=server)
    client.send("NICK isup")
    client.send("USER u 0 * :Real")
    burst = await client.collect_until("376")
    tokens = " ".join(" ".join(m.params[1:-1]) for m in burst if m.command == "005").split()
    assert "MONITOR=7" in tokens


async def test_add_reports_status_then_online_and_offline_as_nicks_come_and_go(connect: Connect) -> None:
    alice = await connect("alice")
    bob = await connect("bob")
    alice.send("MONITOR + bob,carol")
    online = await alice.expect("730")
    assert online.params[1] == "bob!~user@127.0.0.1"
    assert (await alice.expect("731")).params[1] == "carol"

    carol = await connect("carol")
    assert (await alice.expect("730")).params[1].startswith("carol!")
    carol.send("NICK carla")
    await carol.expect("NICK")
    assert (await alice.expect("731")).params[1] == "carol"
    carol.send("NICK carol")
    assert (await alice.expect("730")).params[1].startswith("carol!")
    bob.send("QUIT :bye")
    await bob.expect_closed()
    assert (await alice.expect("731")).params[1] == "bob"


async def test_list_remove_clear_and_status(connect: Connect) -> None:
    alice = await connect("alice")
    await connect("bob")
    alice.send("MONITOR + bob,Dave,erin")
    await alice.expect("731")
    alice.send("MONITOR - erin")
    alice.send("MONITOR L")
    listed = await alice.collect_until("733")
    names = ",".join(m.params[1] for m in listed if m.command == "732").split(",")
    assert sorted(names) == ["Dave", "bob"]
    alice.send("MONITOR S")
    status = await alice.collect_until("731")
    assert [m.params[1] for m in status if m.command == "730"] == ["bob!~user@127.0.0.1"]
    assert status[-1].params[1] == "Dave"
    alice.send("MONITOR C")
    alice.send("MONITOR L")
    listed = await alice.collect_until("733")
    assert [m for m in listed if m.command == "732"] == []


async def test_list_full_gives_734_and_keeps_what_fitted(start_server: StartServer, connect: Connect) -> None:
    server = await start_server(monitor_limit=2)
    alice = await connect("alice", target=server)
    alice.send("MONITOR + a1,a2,a3")
    full = await alice.expect("734")
    assert full.params[1:3] == ("2", "a1,a2,a3")
    alice.send("MONITOR L")
    listed = await alice.collect_until("733")
    assert [m.params[1] for m in listed if m.command == "732"] == ["a1,a2"]


async def test_a_departed_watcher_is_forgotten(server, connect: Connect) -> None:  # type: ignore[no-untyped-def]
    alice = await connect("alice")
    alice.send("MONITOR + bob")
    await alice.expect("731")
    assert server.world.monitors
    alice.send("QUIT")
    await alice.expect_closed()
    bob = await connect("bob")
    await bob.sync()
    assert not server.world.monitors


async def test_extended_monitor_sends_away_setname_and_account_without_a_shared_channel(
    start_server: StartServer, connect: Connect
) -> None:
    server = await start_server(**FAST)
    caps = ("extended-monitor", "away-notify", "setname", "account-notify")
    watcher = await connect("watcher", caps=caps, target=server)
    plain = await connect("plain", caps=("away-notify", "setname", "account-notify"), target=server)
    bob = await connect("bob", caps=("setname",), target=server)
    for client in (watcher, plain):
        client.send("MONITOR + bob")
        await client.expect("730")
    bob.send("AWAY :lunch")
    away = await watcher.expect("AWAY")
    assert away.source is not None and away.source.startswith("bob!") and away.params == ("lunch",)
    bob.send("SETNAME :Robert")
    assert (await watcher.expect("SETNAME")).params == ("Robert",)
    await register_account(bob, "bob-password-1")
    assert (await watcher.expect("ACCOUNT")).params == ("bob",)
    await plain.assert_silent()


async def test_a_change_of_case_only_is_neither_offline_nor_online(connect: Connect) -> None:
    """IRCv3 monitor: 731 is sent "when a monitored nick goes offline", 730 when it comes online.

    Nicknames compare case-insensitively (Modern IRC "Nicknames"), so ``qux`` becoming ``QUX``
    stays online throughout: a watcher hears of neither.
    """
    watcher = await connect("watcher")
    qux = await connect("qux")
    watcher.send("MONITOR + qux")
    assert (await watcher.expect("730")).params[1].startswith("qux!")
    qux.send("NICK QUX")
    await qux.expect("NICK")
    await watcher.assert_silent("731")
    await watcher.assert_silent("730")
    qux.send("NICK quux")
    assert (await watcher.expect("731")).params[1] == "QUX"
