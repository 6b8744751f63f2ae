"""The World alone writes who is where and who is called what: its methods on real sessions."""

from __future__ import annotations

from hubbub.server.app import Server
from tests.support.memory import MemoryClient


async def registered(server: Server, nick: str) -> MemoryClient:
    client = MemoryClient(server, nick)
    await client.register(nick)
    return client


async def test_join_puts_every_device_in_and_leave_takes_them_all_out(server: Server) -> None:
    world = server.world
    alice = (await registered(server, "alice")).session
    bob = (await registered(server, "bob")).session
    channel = world.add_channel("#c")
    world.join(channel, alice, "o")
    world.join(channel, bob)
    assert channel.members == {alice: "o", bob: ""}
    assert alice.channels == {"#c": channel}
    world.set_prefix(channel, bob, "vo")
    assert channel.members[bob] == "ov"  # prefixes keep their rank order
    assert world.leave(channel, alice) is False
    assert world.leave(channel, bob) is True  # now empty; whether it goes is the caller's call
    assert alice.channels == {} and "#c" in world.channels
    world.remove_channel(channel)
    assert world.find_channel("#c") is None


async def test_rename_moves_the_nick_and_quit_frees_it(server: Server) -> None:
    world = server.world
    alice = (await registered(server, "alice")).session
    channel = world.add_channel("#c")
    world.join(channel, alice)
    world.rename(alice, "Alicia")
    assert world.find_user("alicia") is alice and world.find_user("alice") is None
    assert alice.nick == "Alicia"
    assert world.quit(alice) is True
    assert world.find_user("alicia") is None and channel.members == {} and alice.channels == {}


async def test_a_device_sits_in_its_users_channels_and_hands_the_nick_on_when_the_holder_goes(
    server: Server,
) -> None:
    world = server.world
    holder = (await registered(server, "alice")).session
    channel = world.add_channel("#c")
    world.join(channel, holder, "o")
    phone = MemoryClient(server, "phone").session
    world.attach_device(phone, holder)
    assert phone.nick == "alice" and phone.primary is holder
    assert world.seat_device(phone) == [channel]
    assert set(channel.members) == {holder, phone}
    # The holder goes: the phone keeps the nick, the memberships and the operator status.
    assert world.detach_device(holder) is True
    assert world.find_user("alice") is phone and phone.primary is None
    assert channel.members == {phone: "o"}
    # The last device goes: nobody keeps the nick.
    assert world.detach_device(phone) is False
