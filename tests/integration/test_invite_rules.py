"""INVITE and what it lets past: only a channel operator's invite counts, and it is used up.

An invite lets its user past +i and (``invite_overrides_limit``) +l; a channel operator's invite
also past +b and +k while ``invite_overrides_bans`` is on, as in Ergo and InspIRCd (Solanum: off).
An ordinary member may still INVITE into a channel that is not +i, as a mere notification.
"""

from __future__ import annotations

import pytest

from .accounts_helpers import FAST, register_account
from .conftest import Connect, StartServer
from .ircclient import IRCClient


async def channel_with(connect: Connect, modes: str, *, target=None) -> tuple[IRCClient, IRCClient]:
    """``alice`` creates #c and is its operator, ``bob`` is a plain member; then ``modes`` are set."""
    alice = await connect("alice", target=target)
    bob = await connect("bob", target=target)
    await alice.join("#c")
    await bob.join("#c")
    await alice.expect("JOIN", "#c")
    if modes:
        alice.send(f"MODE #c {modes}")
        await alice.expect("MODE", "#c")
    return alice, bob


async def invite(inviter: IRCClient, invitee: IRCClient) -> None:
    inviter.send(f"INVITE {invitee.nick} #c")
    await inviter.expect("341", inviter.nick, invitee.nick, "#c")
    await invitee.expect("INVITE", invitee.nick, "#c")


async def test_a_members_invite_does_not_let_a_banned_user_in(connect: Connect) -> None:
    _alice, bob = await channel_with(connect, "+b carol!*@*")
    carol = await connect("carol")
    await invite(bob, carol)  # not +i: any member may invite, but it grants nothing
    carol.send("JOIN #c")
    await carol.expect("474", "carol", "#c")


async def test_a_members_invite_does_not_let_anyone_past_the_key(connect: Connect) -> None:
    _alice, bob = await channel_with(connect, "+k sesame")
    carol = await connect("carol")
    await invite(bob, carol)
    carol.send("JOIN #c")
    await carol.expect("475", "carol", "#c")
    carol.send("JOIN #c sesame")
    await carol.expect("366", "carol", "#c")


async def test_a_members_invite_does_not_count_once_the_channel_is_made_invite_only(
    connect: Connect,
) -> None:
    alice, bob = await channel_with(connect, "")
    carol = await connect("carol")
    await invite(bob, carol)
    alice.send("MODE #c +i")
    await alice.expect("MODE", "#c")
    carol.send("JOIN #c")
    await carol.expect("473", "carol", "#c")


async def test_an_operators_invite_lets_past_ban_and_key_once(connect: Connect) -> None:
    alice, _bob = await channel_with(connect, "+bk carol!*@* sesame")
    carol = await connect("carol")
    await invite(alice, carol)
    await carol.join("#c")
    carol.send("PART #c")
    await carol.expect("PART", "#c")
    carol.send("JOIN #c")  # the invite was used up by the join it allowed
    await carol.expect("475", "carol", "#c")  # the key is checked before the ban


async def test_an_operators_invite_is_used_up_even_when_it_was_not_needed(connect: Connect) -> None:
    alice, _bob = await channel_with(connect, "")
    carol = await connect("carol")
    await invite(alice, carol)
    await carol.join("#c")
    carol.send("PART #c")
    await carol.expect("PART", "#c")
    alice.send("MODE #c +i")
    await alice.expect("MODE", "#c")
    carol.send("JOIN #c")
    await carol.expect("473", "carol", "#c")


async def test_with_bans_not_overridden_an_operators_invite_opens_only_i_and_l(
    start_server: StartServer, connect: Connect
) -> None:
    server = await start_server(invite_overrides_bans=False)
    alice, _bob = await channel_with(connect, "+ibkl carol!*@* sesame 2", target=server)
    carol = await connect("carol", target=server)
    await invite(alice, carol)
    carol.send("JOIN #c sesame")
    await carol.expect("474", "carol", "#c")
    alice.send("MODE #c -b carol!*@*")
    await alice.expect("MODE", "#c")
    carol.send("JOIN #c")
    await carol.expect("475", "carol", "#c")
    carol.send("JOIN #c sesame")  # past +i and the full +l, with the key
    await carol.expect("366", "carol", "#c")


@pytest.mark.parametrize("overrides", [True, False])
async def test_the_limit_yields_to_an_invite_unless_the_setting_says_no(
    start_server: StartServer, connect: Connect, overrides: bool
) -> None:
    server = await start_server(invite_overrides_limit=overrides)
    alice, _bob = await channel_with(connect, "+l 2", target=server)
    carol = await connect("carol", target=server)
    await invite(alice, carol)
    if overrides:
        await carol.join("#c")
    else:
        carol.send("JOIN #c")
        await carol.expect("471", "carol", "#c")


async def test_an_invite_follows_the_user_not_the_nick(connect: Connect) -> None:
    alice, _bob = await channel_with(connect, "+i")
    carol = await connect("carol")
    eve = await connect("eve")
    await invite(alice, carol)
    carol.send("NICK carol2")
    await carol.expect("NICK")
    carol.nick = "carol2"
    eve.send("NICK carol")
    await eve.expect("NICK")
    eve.nick = "carol"
    eve.send("JOIN #c")  # the nick that was invited, on somebody else
    await eve.expect("473", "carol", "#c")
    await carol.join("#c")


async def test_invite_errors_for_outsiders_and_unknown_channels(connect: Connect) -> None:
    alice, _bob = await channel_with(connect, "")
    carol = await connect("carol")
    dave = await connect("dave")
    carol.send("INVITE dave #c")  # not +i, but carol is not in it
    await carol.expect("442", "carol", "#c")
    carol.send("INVITE dave #nowhere")
    await carol.expect("403", "carol", "#nowhere")
    await dave.assert_silent("INVITE")
    alice.send("MODE #c +b dave!*@*")
    await alice.expect("MODE", "#c")
    dave.send("JOIN #c")
    await dave.expect("474", "dave", "#c")


async def test_an_invite_carries_the_inviters_account_tag(
    start_server: StartServer, connect: Connect
) -> None:
    """IRCv3 account-tag: "the server MUST add this tag to all messages sent by a user to clients
    with the account-tag capability enabled" -- an INVITE, to its target and to invite-notify
    watchers, included; a user not logged in sends none."""
    server = await start_server(**FAST)
    alice = await connect("alice", target=server)
    await register_account(alice, "invite-password")
    watcher = await connect("watcher", caps=("account-tag", "invite-notify"), target=server)
    guest = await connect("guest", caps=("account-tag",), target=server)
    await alice.join("#c")
    watcher.send("JOIN #c")
    await watcher.expect("366")
    alice.send("MODE #c +o watcher")
    await watcher.expect("MODE")
    alice.send("INVITE guest #c")
    invite = await guest.expect("INVITE")
    assert invite.tags.get("account") == "alice"
    notified = await watcher.expect("INVITE")
    assert notified.tags.get("account") == "alice"
