"""Multiple devices: connections logged in to one account share its nick, channels and presence."""

from __future__ import annotations

from hubbub.server.app import Server

from .accounts_helpers import FAST, login_and_register, register_account
from .conftest import Connect, StartServer
from .ircclient import IRCClient

PASSWORD = "two-devices-pw"


async def _second_device(
    connect: Connect, server: Server, caps: tuple[str, ...] = (), nick: str = "alice"
) -> IRCClient:
    phone = await connect(register=False, target=server)
    assert (await login_and_register(phone, nick, "alice", PASSWORD, caps)).command == "903"
    return phone


async def _setup(start_server: StartServer, connect: Connect, **settings: object) -> tuple[Server, IRCClient]:
    server = await start_server(**FAST, **settings)
    laptop = await connect("alice", target=server)
    await register_account(laptop, PASSWORD)
    await laptop.join("#team")
    await laptop.join("#dev")
    return server, laptop


async def test_second_device_gets_the_same_nick_and_every_channel(
    start_server: StartServer, connect: Connect
) -> None:
    server, laptop = await _setup(start_server, connect)
    bob = await connect("bob", target=server)
    await bob.join("#team")
    await laptop.expect("JOIN")  # bob's
    phone = await _second_device(connect, server, ("extended-join",))
    welcome = await phone.expect("001")
    assert welcome.params[0] == "alice"
    got = await phone.collect_until("366", "alice", "#dev")
    joins = [m for m in got if m.command == "JOIN"]
    assert [m.params for m in joins] == [("#team", "alice", "Real Name"), ("#dev", "alice", "Real Name")]
    assert all(m.source == "alice!~user@127.0.0.1" for m in joins)
    names = [m.params[-1] for m in got if m.command == "353"]
    assert sorted(names[0].split()) == ["@alice", "bob"]
    await bob.assert_silent("JOIN")
    await laptop.assert_silent("JOIN")
    bob.send("NAMES #team")
    listed = await bob.expect("353")
    assert sorted(listed.params[-1].split()) == ["@alice", "bob"]
    assert len(server.world.users) == 2


async def test_messages_reach_every_device_and_each_sees_what_the_other_sent(
    start_server: StartServer, connect: Connect
) -> None:
    server, laptop = await _setup(start_server, connect)
    bob = await connect("bob", caps=("message-tags",), target=server)
    await bob.join("#team")
    phone = await _second_device(connect, server, ("message-tags",))
    await phone.collect_until("366", "alice", "#dev")

    bob.send("PRIVMSG #team :hello alice")
    assert (await laptop.expect("PRIVMSG")).params == ("#team", "hello alice")
    assert (await phone.expect("PRIVMSG")).params == ("#team", "hello alice")
    bob.send("PRIVMSG alice :psst")
    assert (await laptop.expect("PRIVMSG")).params == ("alice", "psst")
    assert (await phone.expect("PRIVMSG")).params == ("alice", "psst")

    phone.send("PRIVMSG #team :from my phone")
    seen_by_bob = await bob.expect("PRIVMSG")
    seen_by_laptop = await laptop.expect("PRIVMSG")
    assert seen_by_laptop.params == ("#team", "from my phone")
    assert seen_by_bob.source == seen_by_laptop.source == "alice!~user@127.0.0.1"
    phone.send("PRIVMSG bob :direct from the phone")
    direct = await bob.expect("PRIVMSG")
    copy = await laptop.expect("PRIVMSG")
    assert copy.params == ("bob", "direct from the phone")
    assert copy.tags.get("msgid") is None  # the laptop did not ask for message-tags
    assert direct.tags["msgid"]
    await phone.assert_silent("PRIVMSG")  # no echo-message: the sender itself gets no copy


async def test_join_and_part_by_one_device_apply_to_all(start_server: StartServer, connect: Connect) -> None:
    server, laptop = await _setup(start_server, connect)
    bob = await connect("bob", target=server)
    await bob.join("#new")
    phone = await _second_device(connect, server)
    await phone.collect_until("366", "alice", "#dev")
    phone.send("JOIN #new")
    assert (await bob.expect("JOIN")).params == ("#new",)
    assert (await laptop.expect("JOIN")).params == ("#new",)
    await laptop.expect("366", "alice", "#new")
    await phone.expect("366", "alice", "#new")
    await bob.assert_silent("JOIN")
    laptop.send("PART #new :bye")
    for client in (bob, laptop, phone):
        assert (await client.expect("PART")).params == ("#new", "bye")
    channel = server.world.find_channel("#new")
    assert channel is not None and [m.nick for m in channel.members] == ["bob"]


async def test_the_nick_quits_only_when_the_last_device_leaves(
    start_server: StartServer, connect: Connect
) -> None:
    server, laptop = await _setup(start_server, connect)
    bob = await connect("bob", target=server)
    await bob.join("#team")
    phone = await _second_device(connect, server)
    await phone.collect_until("366", "alice", "#dev")
    laptop.send("QUIT :switching to the phone")
    await laptop.expect_closed()
    await bob.assert_silent("QUIT")
    bob.send("PRIVMSG #team :still there?")
    assert (await phone.expect("PRIVMSG")).params == ("#team", "still there?")
    holder = server.world.find_user("alice")
    assert holder is not None and holder.siblings == () and holder.primary is None
    phone.send("AWAY :on the train")
    await phone.expect("306")
    bob.send("WHOIS alice")
    assert (await bob.expect("301")).params[-1] == "on the train"
    phone.send("QUIT :gone")
    quit_ = await bob.expect("QUIT")
    assert quit_.source == "alice!~user@127.0.0.1" and quit_.params == ("Quit: gone",)
    assert server.world.find_user("alice") is None


async def test_nick_change_and_away_are_shared(start_server: StartServer, connect: Connect) -> None:
    server, laptop = await _setup(start_server, connect)
    phone = await _second_device(connect, server)
    await phone.collect_until("366", "alice", "#dev")
    phone.send("NICK alice_")
    assert (await laptop.expect("NICK")).params == ("alice_",)
    assert (await phone.expect("NICK")).params == ("alice_",)
    phone.send("PRIVMSG alice_ :note to self")
    assert (await laptop.expect("PRIVMSG")).params == ("alice_", "note to self")
    laptop.send("AWAY :out")
    await laptop.expect("306")
    holder = server.world.find_user("alice_")
    assert holder is not None and all(d.away == "out" for d in holder.devices)


async def test_with_the_setting_off_the_nick_stays_taken(start_server: StartServer, connect: Connect) -> None:
    server, _laptop = await _setup(start_server, connect, multi_device=False)
    phone = await _second_device(connect, server, nick="alice")
    await phone.expect("433")
    assert len(server.world.users) == 1


async def test_a_device_asking_for_another_nick_is_a_user_of_its_own(
    start_server: StartServer, connect: Connect
) -> None:
    server, _laptop = await _setup(start_server, connect)
    separate = await _second_device(connect, server, nick="alice_tablet")
    assert (await separate.expect("001")).params[0] == "alice_tablet"
    user = server.world.find_user("alice_tablet")
    assert user is not None and user.primary is None and not user.channels
