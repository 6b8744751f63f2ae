"""First contact: two clients register, join #general and chat."""

from __future__ import annotations


async def test_two_clients_chat_in_a_channel(connect):
    alice = await connect("alice")
    bob = await connect("bob")
    await alice.join("#general")
    await bob.join("#general")
    join = await alice.expect(lambda m: m.command == "JOIN" and m.source.startswith("bob!"))
    assert join.params == ("#general",)
    bob.send("PRIVMSG #general :hello alice")
    msg = await alice.expect("PRIVMSG", "#general")
    assert msg.params[1] == "hello alice"
    assert msg.source.startswith("bob!")
    bob.send("QUIT :bye")
    quit_msg = await alice.expect("QUIT")
    assert quit_msg.params[0] == "Quit: bye"
