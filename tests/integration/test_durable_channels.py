"""Durable channels: a used channel keeps its history, topic, modes and lists while empty and across
restarts (SIGTERM and kill -9), gives nobody ops for being first back, and ends only when an
operator drops it; ``channel_lifetime = "ephemeral"`` keeps classic IRC behaviour."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from hubbub.protocol import Message
from tests.support.serverproc import ServerProcess

from .accounts_helpers import FAST, OPER_PASSWORD, OPERS, register_account
from .conftest import Connect, StartServer
from .ircclient import IRCClient

HISTORY_CAPS = ("draft/chathistory", "batch", "server-time", "message-tags")


@pytest.fixture
async def clients():
    opened: list[IRCClient] = []
    yield opened
    for c in opened:
        await c.close()


def texts(messages: list[Message]) -> list[str]:
    return [m.params[-1] for m in messages if m.command == "PRIVMSG"]


async def say(sender: IRCClient, target: str, lines: list[str]) -> None:
    for line in lines:
        sender.send(f"PRIVMSG {target} :{line}")
    await sender.sync()


async def latest(client: IRCClient, target: str, limit: int = 5) -> list[Message]:
    """CHATHISTORY LATEST: the messages inside the answering batch."""
    client.send(f"CHATHISTORY LATEST {target} * {limit}")
    start = await client.expect("BATCH")
    ref = start.params[0][1:]
    got = await client.collect_until("BATCH", "-" + ref)
    return [m for m in got[:-1] if m.tags.get("batch") == ref]


async def names_of(client: IRCClient, channel: str) -> list[str]:
    client.send(f"NAMES {channel}")
    reply = await client.expect("353")
    await client.expect("366")
    return reply.params[-1].split()


async def open_client(
    clients: list[IRCClient], server: ServerProcess, nick: str, caps: tuple[str, ...] = ()
) -> IRCClient:
    client = await IRCClient.open(server.host, server.port, nick)
    clients.append(client)
    await client.register(nick, caps=caps)
    return client


# with a real server process ---------------------------------------------------------------------


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
async def test_with_defaults_general_keeps_history_topic_and_bans_across_a_restart(
    tmp_path: Path, processes: list[ServerProcess], clients: list[IRCClient], sig: signal.Signals
) -> None:
    data = tmp_path / "data"
    server = await ServerProcess(data).start()
    processes.append(server)
    alice = await open_client(clients, server, "alice", ("echo-message",))
    await alice.join("#general")
    alice.send("TOPIC #general :Team chat")
    await alice.expect("TOPIC")
    alice.send("MODE #general +b mallory!*@*")
    await alice.expect("MODE")
    for line in ("good morning", "standup at ten", "see you there"):
        alice.send(f"PRIVMSG #general :{line}")
        await alice.expect("PRIVMSG", "#general", line)  # echoed: committed
    server.signal(sig)
    assert await server.wait(10) == (0 if sig == signal.SIGTERM else -signal.SIGKILL)

    again = await ServerProcess(data).start()
    processes.append(again)
    # The banned user is first back at the empty channel: still banned.
    mallory = await open_client(clients, again, "mallory")
    mallory.send("JOIN #general")
    await mallory.expect("474")
    # A plain client (no chathistory) gets the topic and the recent lines on join, and no ops.
    bob = await open_client(clients, again, "bob")
    bob.send("JOIN #general")
    got = await bob.collect_until("366")
    assert [m.params[-1] for m in got if m.command == "332"] == ["Team chat"]
    names = [m.params[-1] for m in got if m.command == "353"]
    assert names == ["bob"]
    got = await bob.drain_messages()
    assert texts(got) == ["good morning", "standup at ten", "see you there"]
    bob.send("MODE #general +b")
    ban = await bob.expect("367")
    assert ban.params[2] == "mallory!*@*"
    # A chathistory client reads the same lines with CHATHISTORY.
    carol = await open_client(clients, again, "carol", HISTORY_CAPS)
    await carol.join("#general")
    assert texts(await latest(carol, "#general")) == ["good morning", "standup at ten", "see you there"]
    assert await names_of(carol, "#general") == ["bob", "carol"]


async def test_kill_9_right_after_the_first_message_is_echoed_keeps_the_channel(
    tmp_path: Path, processes: list[ServerProcess], clients: list[IRCClient]
) -> None:
    data = tmp_path / "data"
    server = await ServerProcess(data).start()
    processes.append(server)
    alice = await open_client(clients, server, "alice", ("echo-message",))
    await alice.join("#fresh")
    alice.send("PRIVMSG #fresh :first words")
    await alice.expect("PRIVMSG", "#fresh", "first words")
    server.signal(signal.SIGKILL)
    await server.wait(10)

    again = await ServerProcess(data).start()
    processes.append(again)
    bob = await open_client(clients, again, "bob", HISTORY_CAPS)
    await bob.join("#fresh")
    assert texts(await latest(bob, "#fresh")) == ["first words"]
    assert await names_of(bob, "#fresh") == ["bob"]  # it had an operator: being first is no claim


async def test_ephemeral_lifetime_keeps_classic_irc_behaviour_across_a_restart(
    tmp_path: Path, processes: list[ServerProcess], clients: list[IRCClient]
) -> None:
    data = tmp_path / "data"
    env = {"HUBBUB_CHANNEL_LIFETIME": "ephemeral"}
    server = await ServerProcess(data, env=env).start()
    processes.append(server)
    alice = await open_client(clients, server, "alice")
    await alice.join("#general")
    alice.send("TOPIC #general :Team chat")
    await alice.expect("TOPIC")
    alice.send("MODE #general +b mallory!*@*")
    await alice.expect("MODE")
    await say(alice, "#general", ["said before leaving"])
    alice.send("PART #general")
    await alice.expect("PART")
    server.signal(signal.SIGTERM)
    assert await server.wait(10) == 0

    again = await ServerProcess(data, env=env).start()
    processes.append(again)
    mallory = await open_client(clients, again, "mallory")
    mallory.send("JOIN #general")
    got = await mallory.collect_until("366")
    assert not any(m.command == "332" for m in got)
    assert [m.params[-1] for m in got if m.command == "353"] == ["@mallory"]
    assert texts(await mallory.drain_messages()) == []


# in process ---------------------------------------------------------------------------------


async def test_the_first_joiner_of_an_empty_channel_that_had_ops_does_not_get_ops(
    start_server: StartServer, connect: Connect
) -> None:
    server = await start_server()
    alice = await connect("alice", target=server)
    await alice.join("#c")
    await say(alice, "#c", ["hello"])
    alice.send("PART #c")
    await alice.expect("PART")
    assert server.world.find_channel("#c") is not None  # durable: it stays while empty
    bob = await connect("bob", target=server)
    await bob.join("#c")
    assert await names_of(bob, "#c") == ["bob"]
    bob.send("TOPIC #c :mine now")
    await bob.expect("482")


async def test_a_brand_new_channel_still_gives_the_first_joiner_ops(connect: Connect) -> None:
    alice = await connect("alice")
    await alice.join("#brand-new")
    assert await names_of(alice, "#brand-new") == ["@alice"]


async def test_a_channel_nobody_used_still_vanishes_when_emptied(
    start_server: StartServer, connect: Connect
) -> None:
    server = await start_server()
    alice = await connect("alice", target=server)
    bob = await connect("bob", target=server)
    await alice.join("#idle")
    await bob.join("#idle")
    alice.send("MODE #idle +v bob")  # membership status alone is not worth keeping
    await bob.expect("MODE")
    alice.send("PRIVMSG @#idle :ops only")  # a status message is not kept in history
    for client in (alice, bob):
        client.send("PART #idle")
        await client.expect("PART")
    assert server.world.find_channel("#idle") is None
    carol = await connect("carol", target=server)
    await carol.join("#idle")
    assert await names_of(carol, "#idle") == ["@carol"]


async def test_topic_modes_and_history_are_kept_while_the_channel_is_empty(
    start_server: StartServer, connect: Connect
) -> None:
    server = await start_server()
    alice = await connect("alice", target=server)
    await alice.join("#c")
    alice.send("MODE #c +k sesame")
    await alice.expect("MODE")
    alice.send("PART #c")
    await alice.expect("PART")
    bob = await connect("bob", target=server)
    bob.send("JOIN #c")
    await bob.expect("475")


async def test_an_operator_gives_ops_back_with_samode(start_server: StartServer, connect: Connect) -> None:
    server = await start_server(**OPERS)
    alice = await connect("alice", target=server)
    await alice.join("#c")
    await say(alice, "#c", ["hello"])
    alice.send("PART #c")
    await alice.expect("PART")
    bob = await connect("bob", target=server)
    await bob.join("#c")
    bob.send("SAMODE #c +o bob")
    await bob.expect("481")
    admin = await connect("admin", target=server)
    admin.send(f"OPER admin {OPER_PASSWORD}")
    await admin.expect("381")
    admin.send("SAMODE #c +o bob")  # from outside the channel
    mode = await bob.expect("MODE")
    assert mode.params == ("#c", "+o", "bob")
    assert (await admin.expect("MODE", "#c")).params == ("#c", "+o", "bob")
    bob.send("TOPIC #c :ours again")
    await bob.expect("TOPIC")


@pytest.mark.parametrize("with_history", [False, True])
async def test_an_operator_drop_ends_a_durable_channel_and_a_new_one_starts_clean(
    start_server: StartServer, connect: Connect, with_history: bool
) -> None:
    server = await start_server(**OPERS)
    alice = await connect("alice", target=server)
    await alice.join("#c")
    alice.send("TOPIC #c :old topic")
    alice.send("MODE #c +b carol!*@*")
    await alice.expect("MODE")
    await say(alice, "#c", ["old words"])
    admin = await connect("admin", target=server)
    admin.send("CHANNEL DROP #c")
    await admin.expect("481")
    admin.send(f"OPER admin {OPER_PASSWORD}")
    await admin.expect("381")
    admin.send("CHANNEL DROP #c" + (" HISTORY" if with_history else ""))
    kick = await alice.expect("KICK")
    assert kick.params[:2] == ("#c", "alice")
    notice = await admin.expect("NOTICE")
    assert "Dropped #c" in notice.params[-1]
    assert server.world.find_channel("#c") is None
    store = server.history.store
    assert store is not None
    assert texts(store.latest("#c", 10)) == ([] if with_history else ["old words"])

    carol = await connect("carol", caps=HISTORY_CAPS, target=server)
    carol.send("JOIN #c")  # the ban is gone with the channel
    got = await carol.collect_until("366")
    assert not any(m.command == "332" for m in got)
    assert [m.params[-1] for m in got if m.command == "353"] == ["@carol"]
    assert await latest(carol, "#c") == []
    # Dropped for good: a restart does not bring the old channel back.
    await server.stop()
    again = await start_server(**OPERS)
    assert again.world.find_channel("#c") is None


async def test_a_channel_dropped_after_a_restart_starts_clean_when_made_anew(
    start_server: StartServer, connect: Connect, tmp_path: Path
) -> None:
    data = str(tmp_path / "d")
    server = await start_server(data_dir=data, **OPERS)
    alice = await connect("alice", target=server)
    await alice.join("#c")
    await say(alice, "#c", ["from the first life"])
    await server.stop()
    again = await start_server(data_dir=data, **OPERS)
    admin = await connect("admin", target=again)
    admin.send(f"OPER admin {OPER_PASSWORD}")
    await admin.expect("381")
    admin.send("CHANNEL DROP #c")
    await admin.expect("NOTICE", "admin")
    bob = await connect("bob", caps=HISTORY_CAPS, target=again)
    await bob.join("#c")
    assert await latest(bob, "#c") == []
    assert await names_of(bob, "#c") == ["@bob"]


async def test_channel_drop_refuses_configured_channels_and_unknown_names(
    start_server: StartServer, connect: Connect
) -> None:
    server = await start_server(persistent_channels=("#lobby",), **OPERS)
    admin = await connect("admin", target=server)
    admin.send(f"OPER admin {OPER_PASSWORD}")
    await admin.expect("381")
    admin.send("CHANNEL DROP #Lobby")
    fail = await admin.expect("FAIL")
    assert fail.params[:3] == ("CHANNEL", "CANNOT_DROP", "#lobby")
    admin.send("CHANNEL DROP #nowhere")
    fail = await admin.expect("FAIL")
    assert fail.params[:2] == ("CHANNEL", "INVALID_TARGET")
    admin.send("CHANNEL DROP #lobby EVERYTHING")
    fail = await admin.expect("FAIL")
    assert fail.params[:2] == ("CHANNEL", "INVALID_PARAMS")
    assert server.world.find_channel("#lobby") is not None


async def test_chanserv_drop_unregisters_but_keeps_the_channel_and_its_history(
    start_server: StartServer, connect: Connect
) -> None:
    server = await start_server(**FAST)
    founder = await connect("founder", caps=HISTORY_CAPS, target=server)
    await register_account(founder, "founder-password")
    await founder.join("#team")
    founder.send("PRIVMSG ChanServ :REGISTER #team")
    await founder.expect("NOTICE")
    await say(founder, "#team", ["kept after the drop"])
    founder.send("PRIVMSG ChanServ :DROP #team")
    notice = await founder.expect("NOTICE")
    assert "no longer registered" in notice.params[-1]
    assert "#team" not in server.registry.channels
    founder.send("PART #team")
    await founder.expect("PART")
    assert server.world.find_channel("#team") is not None
    await founder.join("#team")
    assert texts(await latest(founder, "#team")) == ["kept after the drop"]


async def test_persistent_channels_are_durable_in_ephemeral_mode(
    start_server: StartServer, connect: Connect, tmp_path: Path
) -> None:
    data = str(tmp_path / "d")
    server = await start_server(data_dir=data, channel_lifetime="ephemeral", persistent_channels=("#keep",))
    alice = await connect("alice", target=server)
    await alice.join("#keep")
    await alice.join("#gone")
    await say(alice, "#keep", ["kept"])
    await say(alice, "#gone", ["gone"])
    alice.send("PART #keep,#gone")
    await alice.expect("PART", "#gone")
    assert server.world.find_channel("#gone") is None
    await server.stop()
    again = await start_server(data_dir=data, channel_lifetime="ephemeral", persistent_channels=("#keep",))
    bob = await connect("bob", caps=HISTORY_CAPS, target=again)
    await bob.join("#keep")
    assert texts(await latest(bob, "#keep")) == ["kept"]
    await bob.join("#gone")
    assert await latest(bob, "#gone") == []


async def test_retention_forgets_an_empty_channel_whose_last_message_expired(
    start_server: StartServer, connect: Connect
) -> None:
    server = await start_server(retention_days=0.5 / 86400)  # half a second
    alice = await connect("alice", target=server)
    await alice.join("#chatter")
    await alice.join("#notes")
    alice.send("TOPIC #notes :read me")
    await alice.expect("TOPIC")
    await say(alice, "#chatter", ["soon gone"])
    await say(alice, "#notes", ["soon gone too"])
    alice.send("PART #chatter,#notes")
    await alice.expect("PART", "#notes")
    assert server.world.find_channel("#chatter") is not None
    deadline = time.monotonic() + 10
    while server.world.find_channel("#chatter") is not None:
        assert time.monotonic() < deadline, "retention never forgot the empty channel"
        await server.history.retain()
    # A channel with a topic keeps it, even with its history gone.
    assert server.world.find_channel("#notes") is not None
    bob = await connect("bob", target=server)
    await bob.join("#chatter")
    assert await names_of(bob, "#chatter") == ["@bob"]
