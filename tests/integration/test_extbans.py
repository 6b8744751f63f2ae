"""Extended bans over real sockets: ``m:`` (mute) and ``a:`` (account), and channel mode +C.

Modern IRC "EXTBAN Parameter": ``EXTBAN=[<prefix>],<types>``, the types of extended ban masks the
server supports; with no prefix an extban is written ``<type>:<data>``, as InspIRCd does. IRCv3
account-extban: ``ACCOUNTEXTBAN`` names the EXTBAN type that matches account names.
"""

from __future__ import annotations

import pytest

from hubbub.protocol import Message
from hubbub.server.handlers.messaging import restricted_ctcp
from hubbub.server.handlers.modes import list_mask

from .accounts_helpers import FAST, register_account
from .conftest import Connect, StartServer
from .ircclient import IRCClient

PASSWORD = "extban-test-pw"


async def op_and_member(
    connect: Connect, channel: str = "#c", member: str = "bob"
) -> tuple[IRCClient, IRCClient]:
    """``alice`` creates ``channel`` (and is op); ``member`` joins it."""
    alice = await connect("alice")
    other = await connect(member, caps=("message-tags",))
    await alice.join(channel)
    await other.join(channel)
    await alice.expect("JOIN", channel)
    return alice, other


async def set_modes(client: IRCClient, line: str) -> Message:
    """Send a MODE line and wait for its echo."""
    client.send(line)
    return await client.expect("MODE")


async def isupport_tokens(client: IRCClient, nick: str) -> dict[str, str]:
    """Register ``client`` by hand and gather its RPL_ISUPPORT tokens."""
    client.send(f"NICK {nick}")
    client.send("USER user 0 * :Real Name")
    burst = await client.collect_until("376")
    tokens: dict[str, str] = {}
    for m in burst:
        if m.command == "005":
            for token in m.params[1:-1]:
                name, _, value = token.partition("=")
                tokens[name] = value
    return tokens


async def test_isupport_advertises_extban_account_extban_and_mode_c(connect: Connect) -> None:
    """Modern IRC: ``EXTBAN=[<prefix>],<types>``; IRCv3 account-extban: "Servers publishing the
    ACCOUNTEXTBAN token MUST also publish the EXTBAN token, and the value of the ACCOUNTEXTBAN token
    MUST appear in the value of the EXTBAN token"; CHANMODES lists every flag mode, C among them."""
    client = await connect(register=False)
    tokens = await isupport_tokens(client, "alice")
    assert tokens["EXTBAN"] == ",am"
    assert tokens["ACCOUNTEXTBAN"] == "a"
    assert tokens["ACCOUNTEXTBAN"] in tokens["EXTBAN"].split(",")[1]
    assert tokens["CHANMODES"].split(",")[3] == "Cimnst"


# mute -----------------------------------------------------------------------------------------


async def test_a_muted_member_may_join_but_not_speak(connect: Connect) -> None:
    """InspIRCd muteban: ``m:<mask>`` "blocks messages to the channel from matching users"; Modern
    IRC ERR_CANNOTSENDTOCHAN (404) "the client cannot send to the channel" (never to a NOTICE)."""
    alice = await connect("alice")
    await alice.join("#c")
    echo = await set_modes(alice, "MODE #c +b m:bob")
    assert echo.params == ("#c", "+b", "m:bob!*@*")
    bob = await connect("bob", caps=("message-tags",))
    bob.send("JOIN #c")
    await bob.expect("JOIN", "#c")  # a mute keeps nobody out
    await alice.expect("JOIN", "#c")
    bob.send("PRIVMSG #c :hello")
    await bob.expect("404", "bob", "#c")
    bob.send("@+draft/react=x TAGMSG #c")
    await bob.expect("404", "bob", "#c")
    bob.send("NOTICE #c :hello")
    await bob.assert_silent("404")
    await alice.assert_silent("PRIVMSG")
    await alice.assert_silent("NOTICE")
    await set_modes(alice, "MODE #c -b m:BOB!*@*")
    bob.send("PRIVMSG #c :free again")
    assert (await alice.expect("PRIVMSG")).params == ("#c", "free again")


async def test_a_mute_exception_or_voice_lets_a_muted_member_speak(connect: Connect) -> None:
    """InspIRCd: "Ban exceptions on acting extbans exempt that user from matching an extban of that
    type"; a voiced member is never muted, as under +m."""
    alice, bob = await op_and_member(connect)
    await set_modes(alice, "MODE #c +b m:*!*@*")
    bob.send("PRIVMSG #c :one")
    await bob.expect("404", "bob", "#c")
    await set_modes(alice, "MODE #c +e m:bob")
    bob.send("PRIVMSG #c :two")
    assert (await alice.expect("PRIVMSG")).params == ("#c", "two")
    await set_modes(alice, "MODE #c -e+v m:bob!*@* bob")
    bob.send("PRIVMSG #c :three")
    assert (await alice.expect("PRIVMSG")).params == ("#c", "three")
    # a plain exception does not lift a mute: only an m: one does
    await set_modes(alice, "MODE #c -v+e bob bob")
    bob.send("PRIVMSG #c :four")
    await bob.expect("404", "bob", "#c")


async def test_a_mute_silences_a_non_member_where_outside_messages_are_allowed(connect: Connect) -> None:
    """A mute refuses the matching user's messages to the channel, member or not (-n)."""
    alice = await connect("alice")
    await alice.join("#c")
    await set_modes(alice, "MODE #c -n+b m:bob")
    bob = await connect("bob")
    bob.send("PRIVMSG #c :from outside")
    await bob.expect("404", "bob", "#c")
    carol = await connect("carol")
    carol.send("PRIVMSG #c :from outside too")
    assert (await alice.expect("PRIVMSG")).params == ("#c", "from outside too")


# account --------------------------------------------------------------------------------------


async def test_an_account_ban_matches_the_account_under_any_nick_and_nobody_else(
    start_server: StartServer, connect: Connect
) -> None:
    """IRCv3 account-extban: "allows clients to construct ban masks matching account names";
    a ban on ``a:bob`` keeps out whoever is logged in to bob, whatever its nick, and no one else."""
    server = await start_server(**FAST)
    alice = await connect("alice", target=server)
    await alice.join("#c")
    await set_modes(alice, "MODE #c +b a:bob")
    bob = await connect("bob", target=server)
    await register_account(bob, PASSWORD)
    bob.send("NICK robert")
    await bob.expect("NICK")
    bob.nick = "robert"
    bob.send("JOIN #c")
    await bob.expect("474", "robert", "#c")
    impostor = await connect("bob_", target=server)
    await impostor.join("#c")  # a:bob matches the account only: not a nick, not the unlogged
    await set_modes(alice, "MODE #c +e a:B*")  # wildcards, case-insensitive
    await bob.join("#c")


async def test_an_account_invite_exception_lets_the_account_past_invite_only(
    start_server: StartServer, connect: Connect
) -> None:
    """Modern IRC "Invite-Exception Channel Mode": a client matching an +I mask may join a +i
    channel without an invite; ``a:<account>`` matches by account."""
    server = await start_server(**FAST)
    alice = await connect("alice", target=server)
    await alice.join("#c")
    await set_modes(alice, "MODE #c +iI a:bob")
    stranger = await connect("stranger", target=server)
    stranger.send("JOIN #c")
    await stranger.expect("473", "stranger", "#c")
    bob = await connect("bob", target=server)
    bob.send("JOIN #c")
    await bob.expect("473", "bob", "#c")  # not logged in yet: a:bob does not match the nick
    await register_account(bob, PASSWORD)
    await bob.join("#c")


async def test_a_mute_by_account_silences_the_account(start_server: StartServer, connect: Connect) -> None:
    """Stacked as InspIRCd allows (an acting extban around a matching one): ``m:a:bob`` mutes
    whoever is logged in to bob."""
    server = await start_server(**FAST)
    alice = await connect("alice", target=server)
    bob = await connect("bob", target=server)
    await alice.join("#c")
    await bob.join("#c")
    await set_modes(alice, "MODE #c +b m:a:bob")
    bob.send("PRIVMSG #c :before login")
    assert (await alice.expect("PRIVMSG")).params == ("#c", "before login")
    await register_account(bob, PASSWORD)
    bob.send("PRIVMSG #c :after login")
    await bob.expect("404", "bob", "#c")
    alice.send("MODE #c b")
    listed = await alice.collect_until("368")
    assert [m.params[2] for m in listed if m.command == "367"] == ["m:a:bob"]


@pytest.mark.parametrize(
    ("mode", "mask"),
    [("I", "m:bob"), ("b", "m:"), ("b", "a:"), ("b", "m:m:bob"), ("e", "a:x!y@z"), ("b", "m:a!b!c")],
)
async def test_an_extban_that_cannot_be_valid_gets_696(connect: Connect, mode: str, mask: str) -> None:
    """Modern IRC ERR_INVALIDMODEPARAM (696): "the value of a mode parameter was invalid"; a mute
    says nothing about joining, so it is no invite exception."""
    alice = await connect("alice")
    await alice.join("#c")
    alice.send(f"MODE #c +{mode} {mask}")
    error = await alice.expect("696")
    assert error.params[1:4] == ("#c", mode, mask)
    await alice.assert_silent("MODE")


@pytest.mark.parametrize(
    ("raw", "mode", "kept"),
    [
        ("m:bob", "b", "m:bob!*@*"),
        ("m:host.example", "e", "m:*!*@host.example"),
        ("m:a:bob", "b", "m:a:bob"),
        ("a:bob", "I", "a:bob"),
        ("a:b*", "b", "a:b*"),
        ("m:bob", "I", None),
        ("m:m:bob", "b", None),
        ("a:", "b", None),
        ("a:x@y", "b", None),
        ("M:bob", "b", "*!*@M:bob"),  # types are case-sensitive: a host with a colon
        ("m:" + "x" * 195, "b", None),  # completed past masklen
    ],
)
def test_list_mask_keeps_extbans(raw: str, mode: str, kept: str | None) -> None:
    assert list_mask(raw, 200, mode) == kept


# +C -------------------------------------------------------------------------------------------


async def test_a_no_ctcp_channel_refuses_ctcp_but_action(connect: Connect) -> None:
    """Ergo +C (NoCTCP): a CTCP other than ACTION to the channel gets ERR_CANNOTSENDTOCHAN
    "Cannot send to channel (+C)"; a NOTICE (a CTCP reply) is dropped with no reply."""
    alice, bob = await op_and_member(connect)
    echo = await set_modes(alice, "MODE #c +C")
    assert echo.params == ("#c", "+C")
    await bob.expect("MODE")
    bob.send("PRIVMSG #c :\x01VERSION\x01")
    error = await bob.expect("404", "bob", "#c")
    assert "+C" in error.params[-1]
    alice.send("PRIVMSG #c :\x01PING 123\x01")  # operators too
    await alice.expect("404", "alice", "#c")
    bob.send("NOTICE #c :\x01VERSION hubbub\x01")
    await bob.assert_silent("404")
    bob.send("PRIVMSG #c :\x01ACTION waves\x01")
    assert (await alice.expect("PRIVMSG")).params == ("#c", "\x01ACTION waves\x01")
    bob.send("PRIVMSG #c :plain words")
    assert (await alice.expect("PRIVMSG")).params == ("#c", "plain words")
    await alice.assert_silent("NOTICE")
    alice.send("MODE #c")
    assert (await alice.expect("324")).params[1:3] == ("#c", "+Cnt")
    await set_modes(alice, "MODE #c -C")
    bob.send("PRIVMSG #c :\x01VERSION\x01")
    assert (await alice.expect("PRIVMSG")).params == ("#c", "\x01VERSION\x01")


async def test_no_ctcp_mode_outlives_a_restart(start_server: StartServer, connect: Connect) -> None:
    """A durable channel keeps its modes (docs/history.md): +C among them."""
    server = await start_server()
    alice = await connect("alice", target=server)
    await alice.join("#keep")
    await set_modes(alice, "MODE #keep +C")
    await alice.close()
    await server.stop()
    again = await start_server()
    carol = await connect("carol", target=again)
    carol.send("MODE #keep")
    assert (await carol.expect("324")).params[1:3] == ("#keep", "+Cnt")


@pytest.mark.parametrize(
    ("text", "restricted"),
    [
        ("\x01VERSION\x01", True),
        ("\x01PING 1\x01", True),
        ("\x01", True),
        ("\x01ACTION waves\x01", False),
        ("\x01ACTION\x01", False),
        ("hello \x01VERSION\x01", False),
        ("plain", False),
    ],
)
def test_restricted_ctcp(text: str, restricted: bool) -> None:
    assert restricted_ctcp(text) is restricted
