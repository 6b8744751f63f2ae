"""Names that pass for others: look-alike nicks, channels, accounts and services; invisible characters.

Every name here is spelled with escapes: ``\\u0430`` is CYRILLIC SMALL LETTER A, ``\\u0456`` CYRILLIC
SMALL LETTER BYELORUSSIAN-UKRAINIAN I, ``\\u0441`` CYRILLIC SMALL LETTER ES, ``\\u202e`` RIGHT-TO-LEFT
OVERRIDE, ``\\u200b`` ZERO WIDTH SPACE.
"""

from __future__ import annotations

from hubbub.server.app import Server

from .accounts_helpers import FAST, register_account
from .conftest import Connect, StartServer

PASSWORD = "correct-horse-battery"
CYRILLIC_ALICE = "\u0430lice"
FAKE_NICKSERV = "N\u0456ckServ"
CYRILLIC_CHAT = "#\u0441hat"


async def test_a_nick_that_looks_like_one_in_use_gets_433(server: Server, connect: Connect) -> None:
    await connect("alice")
    impostor = await connect("imp", register=False)
    impostor.send(f"NICK {CYRILLIC_ALICE}")
    impostor.send("USER u 0 * :Impostor")
    refused = await impostor.expect("433")
    assert refused.params[:2] == ("*", CYRILLIC_ALICE)
    assert "looks like" in refused.params[-1]
    impostor.send("NICK bob")
    await impostor.expect("001")
    impostor.nick = "bob"
    for lookalike in (CYRILLIC_ALICE, "aIice", "\uff41\uff4c\uff49\uff43\uff45"):  # capital I; fullwidth
        impostor.send(f"NICK {lookalike}")
        assert (await impostor.expect("433")).params[:2] == ("bob", lookalike)
    assert server.world.find_user("bob") is not None
    assert server.world.find_user(CYRILLIC_ALICE) is None


async def test_a_look_alike_nick_is_free_again_once_its_holder_is_gone(
    server: Server, connect: Connect
) -> None:
    alice = await connect("alice")
    bob = await connect("bob")
    alice.send("NICK alicia")
    await alice.expect("NICK", "alicia")
    bob.send(f"NICK {CYRILLIC_ALICE}")  # the old nick's skeleton went with the rename
    await bob.expect("NICK", CYRILLIC_ALICE)
    alice.send("NICK alice")
    assert (await alice.expect("433")).params[:2] == ("alicia", "alice")
    bob.send("QUIT")
    await bob.expect_closed()
    alice.send("NICK alice")
    await alice.expect("NICK", "alice")


async def test_look_alikes_of_a_service_are_refused_and_messages_to_them_reach_the_service(
    server: Server, connect: Connect
) -> None:
    impostor = await connect("imp", register=False)
    for fake in (FAKE_NICKSERV, "NlCKSERV", "\u0421hanServ"):  # l for I; CYRILLIC CAPITAL LETTER ES
        impostor.send(f"NICK {fake}")
        assert (await impostor.expect("432")).params[:2] == ("*", fake)
    impostor.send("NICK imp")
    impostor.send("USER u 0 * :Impostor")
    await impostor.expect("001")
    impostor.nick = "imp"
    impostor.send(f"NICK {FAKE_NICKSERV}")
    assert (await impostor.expect("432")).params[:2] == ("imp", FAKE_NICKSERV)

    victim = await connect("victim")
    victim.send(f"PRIVMSG {FAKE_NICKSERV} :IDENTIFY victim {PASSWORD}")
    answer = await victim.expect("NOTICE", "victim")
    assert answer.source is not None and answer.source.startswith("NickServ!")
    await impostor.assert_silent("PRIVMSG")
    victim.send(f"WHOIS {FAKE_NICKSERV}")
    assert (await victim.expect("311")).params[1] == "NickServ"


async def test_bidi_controls_and_invisible_characters_are_refused_in_nicks_and_channels(
    server: Server, connect: Connect
) -> None:
    client = await connect("client", register=False)
    for bad in ("ali\u202ece", "bob\u200b", "\u2066eve", "zoe\ufeff"):
        client.send(f"NICK {bad}")
        assert (await client.expect("432")).params[:2] == ("*", bad)
    client.send("NICK client")
    client.send("USER u 0 * :Client")
    await client.expect("001")
    client.nick = "client"
    client.send("NICK cli\u202eent")
    assert (await client.expect("432")).params[:2] == ("client", "cli\u202eent")
    for bad in ("#ch\u202eat", "#chat\u200d", "#\u2068x"):
        client.send(f"JOIN {bad}")
        assert (await client.expect("403")).params[:2] == ("client", bad)
    assert server.world.channels == {}


async def test_a_channel_that_looks_like_an_existing_one_is_not_made(
    server: Server, connect: Connect
) -> None:
    alice = await connect("alice")
    bob = await connect("bob")
    await alice.join("#chat")
    bob.send(f"JOIN {CYRILLIC_CHAT}")
    refused = await bob.expect("403")
    assert refused.params[:2] == ("bob", CYRILLIC_CHAT)
    assert "#chat" in refused.params[-1]
    assert set(server.world.channels) == {"#chat"}
    await alice.assert_silent("JOIN")  # nobody joined anything
    bob.send("LIST")
    listed = [m.params[1] for m in await bob.collect_until("323") if m.command == "322"]
    assert listed == ["#chat"]
    # Once the channel is gone, its look-alike may be made.
    alice.send("PART #chat")
    await alice.expect("PART")
    await bob.join(CYRILLIC_CHAT)
    assert set(server.world.channels) == {server.world.fold(CYRILLIC_CHAT)}


async def test_a_secret_channel_is_not_named_to_whoever_asks_for_its_look_alike(
    server: Server, connect: Connect
) -> None:
    alice = await connect("alice")
    bob = await connect("bob")
    await alice.join("#hideout")
    alice.send("MODE #hideout +s")
    await alice.expect("MODE")
    bob.send("JOIN #h\u0456deout")
    refused = await bob.expect("403")
    assert "#hideout" not in refused.params[-1] and "looks like" in refused.params[-1]
    alice.send("JOIN #h\u0456deout")  # a member is told which channel it is
    assert "#hideout" in (await alice.expect("403")).params[-1]


async def test_an_account_look_alike_is_refused_after_a_restart(
    start_server: StartServer, connect: Connect
) -> None:
    first = await start_server(**FAST)
    alice = await connect("alice", target=first)
    await register_account(alice, PASSWORD)
    await alice.close()
    await first.stop()

    # The same data directory: nick enforcement keeps the look-alike nick for the account.
    strict = await start_server(**FAST)
    impostor = await connect("imp", register=False, target=strict)
    impostor.send(f"NICK {CYRILLIC_ALICE}")
    impostor.send("USER u 0 * :Impostor")
    refused = await impostor.expect("433")
    assert refused.params[1] == CYRILLIC_ALICE and "reserved" in refused.params[-1]
    await strict.stop()

    # Without nick enforcement the nick may be used, but no account of that name registered.
    lax = await start_server(nick_enforcement="none", **FAST)
    capped = await connect(CYRILLIC_ALICE, caps=("draft/account-registration",), target=lax)
    capped.send(f"REGISTER * * :{PASSWORD}")
    failed = await capped.expect("FAIL")
    assert failed.params[:3] == ("REGISTER", "ACCOUNT_EXISTS", CYRILLIC_ALICE)
    capped.send("QUIT")
    await capped.expect_closed()
    plain = await connect("\u0430l\u0456ce", target=lax)  # with a Cyrillic i too
    plain.send(f"PRIVMSG NickServ :REGISTER {PASSWORD}")
    notice = await plain.expect("NOTICE")
    assert notice.source is not None and notice.source.startswith("NickServ!")
    assert "looks like" in notice.params[-1]
    await plain.assert_silent("900")
    assert lax.accounts.store is not None
    assert [a.name for a in lax.accounts.store.all()] == ["alice"]
