"""Operators: OPER, KILL, KLINE/DLINE/account bans, WALLOPS, REHASH, HISTORY DELETE (SAMODE and
CHANNEL DROP: test_durable_channels.py)."""

from __future__ import annotations

import asyncio
import ssl
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from hubbub.server.app import Server
from hubbub.server.config import load
from hubbub.server.tls import generate_self_signed
from hubbub.store.accounts import ServerBan, open_accounts

from .accounts_helpers import FAST, OPER_PASSWORD, OPERS, login_and_register, register_account
from .conftest import Connect, StartServer
from .ircclient import DEFAULT_TIMEOUT, IRCClient


async def _oper(client: IRCClient) -> None:
    client.send(f"OPER admin {OPER_PASSWORD}")
    await client.expect("381")


async def test_oper_needs_the_right_name_and_password(start_server: StartServer, connect: Connect) -> None:
    server = await start_server(**OPERS)
    alice = await connect("alice", target=server)
    alice.send(f"OPER nobody {OPER_PASSWORD}")
    await alice.expect("491")
    alice.send("OPER admin wrong")
    await alice.expect("464")
    alice.send(f"OPER admin {OPER_PASSWORD}")
    mode = await alice.expect("MODE")
    assert mode.params == ("alice", "+o")
    await alice.expect("381")
    alice.send("WHOIS alice")
    await alice.expect("313")
    alice.send("USERHOST alice")
    assert (await alice.expect("302")).params[1].startswith("alice*=")


async def test_oper_commands_are_refused_to_others(start_server: StartServer, connect: Connect) -> None:
    server = await start_server(**OPERS)
    bob = await connect("bob", target=server)
    refused = ("KILL bob", "KLINE x!*@*", "DLINE 10.0.0.1", "WALLOPS :hi", "REHASH", "HISTORY DELETE #a")
    for line in (*refused, "SAMODE #a +o bob", "CHANNEL DROP #a"):
        bob.send(line)
        await bob.expect("481")


async def test_kill_disconnects_the_user_and_peers_see_why(
    start_server: StartServer, connect: Connect
) -> None:
    server = await start_server(**OPERS)
    admin = await connect("admin", target=server)
    await _oper(admin)
    victim = await connect("victim", target=server)
    await admin.join("#room")
    await victim.join("#room")
    admin.send("KILL victim :spamming")
    got = await victim.expect_closed()
    assert any(m.command == "KILL" for m in got)
    assert any(m.command == "ERROR" and "spamming" in m.params[0] for m in got)
    quit_msg = await admin.expect("QUIT")
    assert "Killed (admin (spamming))" in quit_msg.params[0]
    admin.send("KILL NickServ")
    await admin.expect("483")
    admin.send("KILL nobody")
    await admin.expect("401")


async def test_kline_by_mask_disconnects_and_refuses_until_lifted(
    start_server: StartServer, connect: Connect
) -> None:
    server = await start_server(**OPERS)
    admin = await connect("admin", target=server)
    await _oper(admin)
    troll = await connect("troll", target=server)
    admin.send("KLINE troll!*@* :be nice")
    assert (await admin.expect("NOTICE")).params[1].startswith("Added mask ban on troll!*@*")
    closed = await troll.expect_closed()
    assert any(m.command == "465" for m in closed)
    again = await connect("t2", register=False, target=server)
    again.send("NICK troll")
    again.send("USER u 0 * :Troll")
    assert any(m.command == "465" and "be nice" in m.params[-1] for m in await again.expect_closed())
    admin.send("UNKLINE troll!*@*")
    assert "Removed" in (await admin.expect("NOTICE")).params[1]
    await connect("troll", target=server)  # registers again


async def test_dline_bans_an_address_range_with_an_expiry(
    start_server: StartServer, connect: Connect, tmp_path: Path
) -> None:
    server = await start_server(**OPERS)
    admin = await connect("admin", target=server)
    await _oper(admin)
    other = await connect("other", target=server)
    admin.send("DLINE 60 127.0.0.0/8 :loopback is noisy")
    assert "for 60 minute(s)" in (await admin.expect("NOTICE")).params[1]
    await other.expect_closed()
    late = await connect("late", register=False, target=server)
    late.send("NICK late")
    late.send("USER u 0 * :Late")
    assert any(m.command == "465" for m in await late.expect_closed())
    (ban,) = server.bans.active
    assert ban.kind == "ip" and ban.expires_ms is not None
    assert 59 * 60_000 <= ban.expires_ms - ban.set_ms <= 60 * 60_000
    admin.send("DLINE not-an-address")
    assert (await admin.expect("FAIL")).params[:2] == ("DLINE", "INVALID_PARAMS")
    admin.send("UNDLINE 127.0.0.0/8")
    await admin.expect("NOTICE")
    await connect("later", target=server)


def test_expired_bans_are_dropped_by_the_store(tmp_path: Path) -> None:
    store = open_accounts(tmp_path)
    try:
        now = int(time.time() * 1000)
        store.add_ban(ServerBan("mask", "a!*@*", "old", "admin", now - 10_000, now - 1))
        store.add_ban(ServerBan("mask", "b!*@*", "forever", "admin", now, None))
        assert [b.mask for b in store.bans(now)] == ["b!*@*"]
    finally:
        store.close()


async def test_account_ban_disconnects_and_refuses_login(start_server: StartServer, connect: Connect) -> None:
    server = await start_server(**OPERS)
    admin = await connect("admin", target=server)
    await _oper(admin)
    bob = await connect("bob", target=server)
    await register_account(bob, "bob-password")
    admin.send("KLINE $a:bob :account banned")
    assert "account ban on bob" in (await admin.expect("NOTICE")).params[1]
    await bob.expect_closed()
    retry = await connect("r", register=False, target=server)
    assert (await login_and_register(retry, "bobby", "bob", "bob-password")).command == "904"


async def test_wallops_reaches_operators_only(start_server: StartServer, connect: Connect) -> None:
    server = await start_server(**OPERS)
    admin = await connect("admin", target=server)
    second = await connect("second", target=server)
    plain = await connect("plain", target=server)
    await _oper(admin)
    await _oper(second)
    admin.send("WALLOPS :maintenance at noon")
    wallops = await second.expect("WALLOPS")
    assert wallops.params == ("maintenance at noon",)
    await admin.expect("WALLOPS")
    await plain.assert_silent("WALLOPS")


async def test_rehash_reloads_the_configuration_and_the_certificate_without_dropping_anyone(
    start_server: StartServer, connect: Connect, tmp_path: Path
) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    generate_self_signed(cert, key)
    config = tmp_path / "hubbub.toml"
    config.write_text('[server]\nmotd = "old news"\n')
    server: Server = await start_server(tls_port=0, tls_cert=str(cert), tls_key=str(key), **OPERS)
    base = server.settings
    server.settings_loader = lambda: replace(load(config_file=str(config), environ={}), **_keep(base))
    admin = await connect("admin", target=server)
    bystander = await connect("bystander", target=server)
    await _oper(admin)
    bystander.send("VERSION")  # what is formatted once must be formatted again after REHASH
    assert not any(p.startswith("AWAYLEN=77") for p in (await bystander.expect("005")).params)
    config.write_text('[server]\nmotd = "fresh news"\n[limits]\nawaylen = 77\n')
    old_cert = cert.read_text()
    generate_self_signed(cert, key)  # a new certificate and key in the same files
    assert cert.read_text() != old_cert
    admin.send("REHASH")
    await admin.expect("382")
    assert "reloaded" in (await admin.expect("NOTICE")).params[1]
    admin.send("MOTD")
    assert "fresh news" in (await admin.expect("372")).params[1]
    await bystander.drain_messages()
    bystander.send("VERSION")
    assert "AWAYLEN=77" in (await bystander.expect("005")).params
    newcomer = await connect(target=server)
    newcomer.send("NICK newcomer")
    newcomer.send("USER u 0 * :New Comer")
    assert "AWAYLEN=77" in (await newcomer.expect("005")).params
    assert "fresh news" in (await newcomer.expect("372")).params[1]
    # New TLS connections are served the new certificate: a client trusting only it connects.
    ctx = ssl.create_default_context(cafile=str(cert))
    assert server.tls_port is not None
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection(server.host, server.tls_port, ssl=ctx, server_hostname="localhost"),
        DEFAULT_TIMEOUT,
    )
    secure = IRCClient(reader, writer, "secure")
    try:
        await secure.register("secure")
    finally:
        await secure.close()
    # A broken configuration is refused and the running one kept.
    config.write_text("[limits]\nnicklen = -1\n")
    admin.send("REHASH")
    failure = await admin.expect("FAIL")
    assert failure.params[:2] == ("REHASH", "CONFIG_ERROR") and "nicklen" in failure.params[-1]
    await bystander.sync()


def _keep(base: Any) -> dict[str, Any]:
    """The test server's own settings that the configuration file does not set."""
    names = ("host", "port", "data_dir", "flood_control", "tls_port", "tls_cert", "tls_key", "opers")
    return {name: getattr(base, name) for name in (*names, *FAST)}


async def test_history_delete_removes_a_channel_and_a_direct_conversation(
    start_server: StartServer, connect: Connect
) -> None:
    server = await start_server(**OPERS)
    admin = await connect("admin", caps=("draft/chathistory", "batch", "server-time"), target=server)
    bob = await connect("bob", target=server)
    await _oper(admin)
    await admin.join("#room")
    await bob.join("#room")
    bob.send("PRIVMSG #room :regrettable")
    bob.send("PRIVMSG admin :private regret")
    await admin.expect("PRIVMSG", "admin")
    assert server.history.store is not None and len(server.history.store.latest("#room", 10)) == 1
    admin.send("HISTORY DELETE #room")
    assert "Deleted 1 message(s)" in (await admin.expect("NOTICE")).params[1]
    admin.send("HISTORY DELETE admin,bob")
    assert "Deleted 1 message(s)" in (await admin.expect("NOTICE")).params[1]
    assert server.history.store is not None
    assert server.history.store.latest("#room", 10) == []


async def test_ban_durations_are_minutes_and_cut_to_the_longest_allowed(
    start_server: StartServer, connect: Connect
) -> None:
    server = await start_server(**OPERS, server_ban_max_days=2)
    admin = await connect("admin", target=server)
    await _oper(admin)
    # Past the largest float, past SQLite's integers, or merely long: each is cut to two days.
    for minutes in ("9" * 320, "9" * 40, "999999"):
        admin.send(f"KLINE {minutes} spam{len(minutes)}!*@* :go away")
        notice = (await admin.expect("NOTICE")).params[1]
        assert f"on spam{len(minutes)}!*@* for 2880 minute(s) (the longest" in notice, notice
    admin.send("DLINE " + "9" * 320 + " 192.0.2.1 :go away")
    assert "on 192.0.2.1/32 for 2880 minute(s)" in (await admin.expect("NOTICE")).params[1]
    await admin.drain_messages()  # the bans are stored: no error from the store (test fails on one)
    assert all(
        b.expires_ms is not None and b.expires_ms - b.set_ms == 2880 * 60_000 for b in server.bans.active
    )
    admin.send("KLINE 0 forever!*@* :gone")
    assert (await admin.expect("NOTICE")).params[1] == "Added mask ban on forever!*@*: gone"
    # Not minutes: negative, or digits int() does not take ("\u00b2" passes str.isdigit()).
    for minutes in ("-5", "\u00b2", "\u0661"):
        admin.send(f"KLINE {minutes} someone!*@* :x")
        fail = await admin.expect("FAIL")
        assert fail.params[:3] == ("KLINE", "INVALID_PARAMS", minutes)
        admin.send(f"DLINE {minutes} 192.0.2.2")
        assert (await admin.expect("FAIL")).params[:2] == ("DLINE", "INVALID_PARAMS")


async def test_a_ban_needs_a_mask(start_server: StartServer, connect: Connect) -> None:
    server = await start_server(**OPERS)
    admin = await connect("admin", target=server)
    await _oper(admin)
    bystander = await connect("bystander", target=server)
    # An empty mask would be completed to *!*@* and ban everyone; words are no mask.
    for line in ("KLINE :", "KLINE 10 :", "KLINE $a:", "KLINE 10 $a: :x", "KLINE :two words", "DLINE :"):
        admin.send(line)
        fail = await admin.expect("FAIL")
        assert fail.params[:2] == (line.split()[0], "INVALID_PARAMS"), line
    assert server.bans.active == []
    bystander.send("PRIVMSG admin :still here")
    assert (await admin.expect("PRIVMSG")).params[1] == "still here"
