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


async def test_a_nick_is_held_by_its_skeleton_too_until_its_holder_renames_or_quits(server: Server) -> None:
    world = server.world
    alice = (await registered(server, "alice")).session
    assert world.nick_holder("ALICE") is alice  # casefolded
    assert world.nick_holder("\u0430lice") is alice  # CYRILLIC SMALL LETTER A: a look-alike
    assert world.nick_holder("aIice") is alice  # a capital I passes for an l
    assert world.find_user("\u0430lice") is None  # a look-alike names nobody
    world.rename(alice, "Alicia")
    assert world.nick_holder("\u0430lice") is None
    assert world.nick_holder("\u0430licia") is alice
    assert world.quit(alice) is True
    assert world.nick_holder("alicia") is None and world.nick_skeletons == {}


async def test_a_device_that_keeps_the_nick_keeps_its_skeleton(server: Server) -> None:
    world = server.world
    holder = (await registered(server, "alice")).session
    phone = MemoryClient(server, "phone").session
    world.attach_device(phone, holder)
    assert world.detach_device(holder) is True
    assert world.nick_holder("\u0430lice") is phone


async def test_a_channel_is_found_by_its_look_alikes_until_it_goes(server: Server) -> None:
    world = server.world
    chat = world.add_channel("#chat")
    assert world.lookalike_channel("#\u0441hat") is chat  # CYRILLIC SMALL LETTER ES
    assert world.lookalike_channel("#CHAT") is None  # the channel itself, not a look-alike
    assert world.lookalike_channel("#chats") is None
    # Look-alikes saved before they were refused both exist; each stands for the other.
    twin = world.add_channel("#\u0441hat")
    assert world.lookalike_channel("#chat") is twin and world.lookalike_channel("#\u0441hat") is chat
    world.remove_channel(chat)
    assert world.lookalike_channel("#\u0441h\u0430t") is twin
    world.remove_channel(twin)
    assert world.lookalike_channel("#chat") is None and world.channel_skeletons == {}


async def test_a_client_that_goes_takes_its_invites_and_its_direct_side_with_it(server: Server) -> None:
    """Nothing keeps a gone client: not an invite it never used, nor a direct conversation."""
    world = server.world
    op = await registered(server, "op")
    guest = await registered(server, "guest")
    op.send("JOIN #closed")
    op.send("MODE #closed +i")
    op.send("INVITE guest #closed")
    await guest.expect(lambda m: m.command == "INVITE")
    channel = world.find_channel("#closed")
    assert channel is not None and channel.invited == {guest.session}
    guest.send("PRIVMSG op :hello")  # a guest's direct messages are kept under its connection
    await op.expect(lambda m: m.command == "PRIVMSG")
    side = guest.session.made_identity
    assert side is not None and server.directs.side_display(side, None) == "guest"

    guest.send("QUIT :bye")
    await guest.expect_closed()
    assert channel.invited == set()
    assert server.directs.side_display(side, "guest (remembered)") == "guest (remembered)"

    # Somebody else under the nick gets neither the invite nor the conversation.
    again = await registered(server, "guest")
    assert again.session.made_identity is None
    again.send("JOIN #closed")
    reply = await again.expect(lambda m: m.command in ("473", "JOIN"))
    assert reply.command == "473"
