"""ChanServ: registration, founder and access list applied on join, persistence across restarts."""

from __future__ import annotations

from .accounts_helpers import FAST, login_and_register, register_account
from .conftest import Connect, StartServer
from .ircclient import IRCClient

PASSWORD = "channel-founder-pw"


async def _chanserv(client: IRCClient, text: str) -> str:
    client.send(f"PRIVMSG ChanServ :{text}")
    notice = await client.expect(lambda m: m.command == "NOTICE" and (m.source or "").startswith("ChanServ!"))
    return notice.params[1]


async def test_registered_channel_gives_access_on_join_and_not_to_the_first_comer(
    start_server: StartServer, connect: Connect
) -> None:
    server = await start_server(**FAST)
    founder = await connect("founder", target=server)
    await register_account(founder, PASSWORD)
    helper = await connect("helper", target=server)
    await register_account(helper, PASSWORD)
    stranger = await connect("stranger", target=server)
    await founder.join("#team")
    assert "must be logged in" in await _chanserv(stranger, "REGISTER #team")
    assert "registered to founder" in await _chanserv(founder, "REGISTER #team")
    assert "already registered" in await _chanserv(founder, "REGISTER #team")
    assert "now has voice" in await _chanserv(founder, "ACCESS #team ADD helper voice")
    assert "not a registered account" in await _chanserv(founder, "ACCESS #team ADD nobody op")
    assert "founder (op), helper (voice)" in await _chanserv(founder, "ACCESS #team LIST")
    assert "Only the founder" in await _chanserv(helper, "ACCESS #team ADD helper op")

    founder.send("PART #team")
    await founder.expect("PART")
    # Empty but registered: it persists, and the first to join gets no operator status.
    assert server.world.find_channel("#team") is not None
    await stranger.join("#team")
    team, first_comer = server.world.find_channel("#team"), server.world.find_user("stranger")
    assert team is not None and first_comer is not None and not team.is_op(first_comer)
    helper.send("JOIN #team")
    voiced = await stranger.expect("MODE")
    assert voiced.params == ("#team", "+v", "helper")
    assert voiced.source is not None and voiced.source.startswith("ChanServ!")
    founder.send("JOIN #team")
    assert (await stranger.expect("MODE")).params == ("#team", "+o", "founder")


async def test_registration_survives_a_restart_and_drop_forgets_it(
    start_server: StartServer, connect: Connect
) -> None:
    server = await start_server(**FAST)
    founder = await connect("founder", target=server)
    await register_account(founder, PASSWORD)
    await founder.join("#keep")
    await _chanserv(founder, "REGISTER #keep")
    await server.stop()
    again = await start_server(**FAST)
    assert again.world.find_channel("#keep") is not None
    back = await connect("b", register=False, target=again)
    assert (await login_and_register(back, "founder", "founder", PASSWORD)).command == "903"
    await back.expect("001")
    back.send("JOIN #keep")
    assert (await back.expect("MODE")).params == ("#keep", "+o", "founder")
    assert "is registered to founder" in await _chanserv(back, "INFO #keep")
    assert "no longer registered" in await _chanserv(back, "DROP #keep")
    assert "not registered" in await _chanserv(back, "INFO #keep")
