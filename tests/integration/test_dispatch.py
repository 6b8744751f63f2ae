"""The checks every command shares, as the command table states them: 451, 461, 481 and 421;
and HELP, which reads the same table."""

from __future__ import annotations

from hubbub.protocol import numerics
from hubbub.server.handlers import reference
from hubbub.server.handlers.table import COMMANDS

from .accounts_helpers import OPER_PASSWORD, OPERS
from .conftest import Connect, StartServer
from .ircclient import IRCClient

NOT_OPERATOR = "Permission Denied- You're not an IRC operator"


def _line(name: str, params: int) -> str:
    """``name`` with ``params`` harmless parameters."""
    return " ".join([name, *["x"] * params])


async def _oper(client: IRCClient) -> None:
    client.send(f"OPER admin {OPER_PASSWORD}")
    await client.expect("381")


async def test_every_command_that_needs_registration_gets_451_before_it(connect: Connect) -> None:
    c = await connect(register=False)
    for name, spec in sorted(COMMANDS.items()):
        if spec.before_registration:
            continue
        c.send(_line(name, spec.min_params + 1))
        reply = await c.expect("451")
        assert reply.params == ("*", "You have not registered"), name
    await c.assert_silent()


async def test_commands_allowed_before_registration_are_not_refused(connect: Connect) -> None:
    c = await connect(register=False)
    c.send("PING early")
    await c.expect("PONG")
    c.send("CAP LS 302")
    await c.expect("CAP")
    c.send("VERIFY alice code")
    fail = await c.expect("FAIL")
    assert fail.params[:2] == ("VERIFY", "INVALID_CODE")
    await c.assert_silent("451")


async def test_too_few_parameters_get_461_naming_the_command(connect: Connect) -> None:
    alice = await connect("alice")
    for name, spec in sorted(COMMANDS.items()):
        if not spec.min_params:
            continue
        alice.send(_line(name, spec.min_params - 1))
        reply = await alice.expect("461")
        assert reply.params == ("alice", name, "Not enough parameters"), name
    await alice.assert_silent()


async def test_invite_without_a_channel_gets_461(connect: Connect) -> None:
    alice = await connect("alice")
    await connect("bob")
    alice.send("INVITE bob")
    await alice.expect("461", "alice", "INVITE")
    await alice.assert_silent()


async def test_every_operator_command_is_refused_to_others_with_481(
    start_server: StartServer, connect: Connect
) -> None:
    server = await start_server(**OPERS)
    bob = await connect("bob", target=server)
    for name, spec in sorted(COMMANDS.items()):
        if not spec.oper:
            continue
        bob.send(_line(name, spec.min_params))
        reply = await bob.expect("481")
        assert reply.params == ("bob", NOT_OPERATOR), name
    await bob.assert_silent()


async def test_parameters_are_checked_before_operator_status(
    start_server: StartServer, connect: Connect
) -> None:
    server = await start_server(**OPERS)
    bob = await connect("bob", target=server)
    bob.send("KILL")
    await bob.expect("461", "bob", "KILL")
    await bob.assert_silent("481")


async def test_an_operator_is_let_through(start_server: StartServer, connect: Connect) -> None:
    server = await start_server(**OPERS)
    admin = await connect("admin", target=server)
    await _oper(admin)
    admin.send("REHASH")
    await admin.expect(numerics.RPL_REHASHING)
    admin.send("CHGHOST admin u h.example")
    await admin.expect("NOTICE")
    await admin.assert_silent("481")


async def test_a_command_not_in_the_table_gets_421_and_one_in_it_does_not(connect: Connect) -> None:
    alice = await connect("alice")
    alice.send("FROBNICATE now")
    await alice.expect("421", "alice", "FROBNICATE", "Unknown command")
    alice.send("TIME")
    await alice.expect(numerics.RPL_TIME)
    await alice.assert_silent("421")


# HELP --------------------------------------------------------------------------------------------


async def _help(client: IRCClient, line: str) -> list[tuple[str, str]]:
    """Send ``line``; the (numeric, text) replies up to RPL_ENDOFHELP."""
    client.send(line)
    replies = await client.collect_until("706")
    return [(m.command, m.params[-1]) for m in replies if m.command in ("704", "705", "706")]


async def test_help_on_each_command_gives_its_syntax_and_help(connect: Connect) -> None:
    alice = await connect("alice")
    for name, spec in sorted(COMMANDS.items()):
        replies = await _help(alice, f"HELP {name.lower()}")
        assert replies[0] == ("704", reference.usage(COMMANDS, name))
        assert replies[1] == ("705", spec.help)
        assert replies[-1] == ("706", "End of /HELP")


async def test_help_lists_the_commands_and_operator_commands_only_to_operators(
    start_server: StartServer, connect: Connect
) -> None:
    def listed(replies: list[tuple[str, str]]) -> set[str]:
        words = {word for numeric, text in replies if numeric == "705" for word in text.split()}
        return words & set(COMMANDS)

    server = await start_server(**OPERS)
    bob = await connect("bob", target=server)
    operators = {name for name, spec in COMMANDS.items() if spec.oper}
    assert listed(await _help(bob, "HELP")) == set(COMMANDS) - operators
    await _oper(bob)
    assert listed(await _help(bob, "HELPOP")) == set(COMMANDS)


async def test_help_needs_registration(connect: Connect) -> None:
    c = await connect(register=False)
    c.send("HELP")
    await c.expect("451")
    await c.assert_silent("704")
