"""MODE with parameters that cannot be valid: refused with 696 (or 472 / 401 / 441), never a 400.

The rest of the mode string is applied; what took effect is announced to every member in MODE
lines that each fit in 512 bytes, and kept (durable channels come back from a restart with it).
"""

from __future__ import annotations

import itertools

import pytest

from hubbub.protocol import Message, format_body
from hubbub.server.app import Server
from hubbub.server.handlers.modes import ModeChange, list_mask, mode_lines

from .conftest import Connect, StartServer
from .ircclient import IRCClient

LETTERS = "beIklovimnstZ:"
PARAMS = [
    "",
    " ",
    "a b",
    "x" * 300,
    "abc",
    "-1",
    "0",
    "+5",
    "99999999999999999999",
    "²",
    "٣",
    ":x",
    "*",
    "a!b!c",
    "a@b@c",
    "!@",
    "$a:acc",
    "a,b",
    "\x01",
    "é" * 60,
    "bob",
]
SHAPES = ["+{L}", "-{L}", "+{L}-k+m", "-{L}+k", "+{L}{L}"]


def state(server: Server) -> tuple:
    channel = server.world.find_channel("#c")
    assert channel is not None
    lists = tuple(tuple(e.mask for e in channel.list_for(mode)) for mode in "beI")
    return (sorted(channel.modes), channel.key, channel.limit, lists)


def body_length(message: Message) -> int:
    """Bytes of the line after its tags, CRLF included."""
    return len(format_body(message.command, message.params, message.source).encode()) + 2


async def op_and_member(connect: Connect, target: Server | None = None) -> tuple[IRCClient, IRCClient]:
    alice = await connect("alice", target=target)
    bob = await connect("bob", target=target)
    await alice.join("#c")
    await bob.join("#c")
    await alice.expect("JOIN", "#c")
    return alice, bob


async def test_a_mask_with_a_space_is_refused_and_the_rest_is_announced_and_kept(
    start_server: StartServer, connect: Connect
) -> None:
    server = await start_server()
    alice, bob = await op_and_member(connect, server)
    alice.send("MODE #c +k sesame")
    assert (await alice.expect("MODE")).params == ("#c", "+k", "sesame")
    assert (await bob.expect("MODE")).params == ("#c", "+k", "sesame")
    alice.send("MODE #c +b-k :mask with space")
    error = await alice.expect("696")
    assert error.params[1:4] == ("#c", "b", "*")
    assert (await alice.expect("MODE")).params == ("#c", "-k", "*")
    assert (await bob.expect("MODE")).params == ("#c", "-k", "*")
    await alice.assert_silent("400")
    channel = server.world.find_channel("#c")
    assert channel is not None and channel.key is None and channel.bans == ()
    await server.stop()
    again = await start_server()
    kept = again.world.find_channel("#c")
    assert kept is not None and kept.key is None and kept.bans == ()


async def test_fuzzed_parameters_never_break_a_mode_command(
    start_server: StartServer, connect: Connect
) -> None:
    server = await start_server()
    alice, bob = await op_and_member(connect, server)
    for letter, shape, param in itertools.product(LETTERS, SHAPES, PARAMS):
        modes = shape.format(L=letter)
        args = f"{param} :{param}" if modes.count(letter) == 2 else f":{param}"
        alice.send(f"MODE #c {modes} {args}")
        got = await alice.drain_messages()
        assert not [m for m in got if m.command in ("400", "482")], (modes, param)
        announced = [m for m in got if m.command == "MODE"]
        for mode in announced:
            assert body_length(mode) <= 512
            assert not any(" " in p or not p for p in mode.params), mode
        seen = [m for m in await bob.drain_messages() if m.command == "MODE"]
        assert [m.params for m in seen] == [m.params for m in announced], (modes, param)
    before = state(server)
    await server.stop()
    again = await start_server()
    assert state(again) == before


@pytest.mark.parametrize("limit", ["²", "٣", "+5", " 5", "5 "])
async def test_a_limit_that_is_not_plain_ascii_digits_gets_696(connect: Connect, limit: str) -> None:
    alice = await connect("alice")
    await alice.join("#c")
    alice.send(f"MODE #c +lm :{limit}")
    error = await alice.expect("696")
    assert error.params[1:3] == ("#c", "l")
    assert (await alice.expect("MODE")).params == ("#c", "+m")


@pytest.mark.parametrize("key", ["\x01", "ke\x7fy", "tab\tkey"])
async def test_a_key_with_control_characters_gets_696(connect: Connect, key: str) -> None:
    alice = await connect("alice")
    await alice.join("#c")
    alice.send(f"MODE #c +k :{key}")
    await alice.expect("696", "alice", "#c", "k", "*")
    await alice.assert_silent("MODE")


@pytest.mark.parametrize("mode", ["b", "e", "I"])
@pytest.mark.parametrize(
    "mask",
    [":x", "a b", "a!b!c", "a@b@c", "*!*@a@b", "a!b@c!d", "x\x01y", "x" * 201, "é" * 101],
)
async def test_a_list_mask_that_cannot_be_valid_gets_696(connect: Connect, mode: str, mask: str) -> None:
    alice = await connect("alice")
    await alice.join("#c")
    alice.send(f"MODE #c +{mode} :{mask}")
    error = await alice.expect("696")
    assert error.params[1:3] == ("#c", mode)
    alice.send(f"MODE #c {mode}")
    replies = await alice.collect_until({"b": "368", "e": "349", "I": "347"}[mode])
    assert [m for m in replies if m.command in ("367", "348", "346")] == []


async def test_masks_are_completed_and_a_bare_host_is_a_host(connect: Connect) -> None:
    alice = await connect("alice")
    await alice.join("#c")
    alice.send("MODE #c +bbbb nick user@host host.example !u@")
    echo = await alice.expect("MODE")
    assert echo.params == ("#c", "+bbbb", "nick!*@*", "*!user@host", "*!*@host.example", "*!u@*")


async def test_changes_too_long_for_one_line_are_announced_in_several(
    start_server: StartServer, connect: Connect
) -> None:
    server = await start_server()
    alice, bob = await op_and_member(connect, server)
    # The line sent fits; completed (nick!*@*) and with alice's source, the announcement does not.
    nicks = [f"{chr(ord('a') + i)}{'x' * 75}" for i in range(6)]
    masks = [f"{nick}!*@*" for nick in nicks]
    alice.send("MODE #c +bbbbbb " + " ".join(nicks))
    lines = []
    while sum(len(m.params) - 2 for m in lines) < 6:
        lines.append(await bob.expect("MODE"))
    assert len(lines) > 1
    assert all(body_length(m) <= 512 for m in lines)
    assert [p for m in lines for p in m.params[2:]] == masks
    assert all(m.params[1] == "+" + "b" * (len(m.params) - 2) for m in lines)
    await bob.assert_silent("MODE")
    mine = [await alice.expect("MODE") for _ in lines]
    assert [m.params for m in mine] == [m.params for m in lines]
    channel = server.world.find_channel("#c")
    assert channel is not None and [e.mask for e in channel.bans] == masks


# the checks on their own ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "kept"),
    [
        ("nick", "nick!*@*"),
        ("u@h", "*!u@h"),
        ("host.example", "*!*@host.example"),
        ("2001:db8::1", "*!*@2001:db8::1"),
        ("!@", "*!*@*"),
        ("$a:acc", "*!*@$a:acc"),
        ("", None),
        (":x", None),
        ("a b", None),
        ("a\u00a0b", None),
        ("a\u200bb", None),
        ("a!b!c", None),
        ("a@b@c", None),
        ("a@b!c", None),
        ("x" * 196, "x" * 196 + "!*@*"),
        ("x" * 197, None),
    ],
)
def test_list_mask_completes_or_refuses(raw: str, kept: str | None) -> None:
    assert list_mask(raw, 200) == kept


def test_mode_lines_keep_order_and_split_only_past_512_bytes() -> None:
    changes = [ModeChange(True, "b", f"{i}{'x' * 100}!*@*") for i in range(6)] + [ModeChange(False, "m")]
    lines = mode_lines(changes, "#c", "alice!~user@127.0.0.1")
    assert len(lines) == 2
    assert [a for _, a in lines] == [[c.param for c in changes[:4]], [c.param for c in changes[4:6]]]
    assert [m for m, _ in lines] == ["+bbbb", "+bb-m"]
    short = mode_lines(changes[:2], "#c", "alice!~user@127.0.0.1")
    assert short == [("+bb", [changes[0].param, changes[1].param])]
