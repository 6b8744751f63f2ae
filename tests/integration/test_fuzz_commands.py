"""Every command in the command table, with hostile parameters, from every kind of client.

Where test_fuzz.py throws random bytes, this module walks the command table
(hubbub.server.handlers.table.COMMANDS): each command has a few well-formed lines (``USAGE``),
and each parameter of each of them is replaced in turn by values that broke servers before:
empty ones, ``*``, commas, spaces in the trailing one, lines up to the length limit, non-ASCII
and combining characters, control characters (and a NUL or a CR, which the line is refused
for), numbers out of range or not numbers (``str.isdigit()`` accepts some that ``int()`` does
not), and look-alikes of the channel and the nicks that exist; then a few at once. The
services' commands (NickServ, ChanServ) get the same. Every line is sent as an unregistered
client, one in the middle of CAP negotiation, a registered one, a logged-in one with every
capability and an operator, with client tags and forged server tags in turn, and labelled
wherever labeled-response was acknowledged. Each batch of lines gets a channel of its own where
the fuzzing client is a channel operator, so that the commands reserved to those run too. The
lines come from a fixed seed, so a failure happens again the same way.

What must hold after every line: no reply is ``400`` (a handler crashed), no ERROR is logged (the
autouse fixture in tests/conftest.py fails the test on one), the PING sent after the line gets
its PONG (the connection still works), a labelled line is answered with its label, and the two
bystanders still hear each other. Only QUIT may end the fuzzing connection. An operator's KILL,
KLINE or DLINE that would hit a connected client is left out: hitting it is what those are for.
"""

from __future__ import annotations

import ipaddress
import logging
import random
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from hubbub.protocol import Message, ProtocolError, casefold, match_mask, normalize_mask, parse
from hubbub.server.app import Server
from hubbub.server.handlers.chanserv import CHANSERV
from hubbub.server.handlers.nickserv import NICKSERV
from hubbub.server.handlers.table import COMMANDS

from .accounts_helpers import OPER_PASSWORD, OPERS, register_account
from .conftest import StartServer
from .ircclient import DEFAULT_TIMEOUT, IRCClient

SEED = 1459  # the lines are the same on every run
BATCH = 40  # lines sent before their PONGs are read (an unregistered client may send 100 in all)
SAMPLED = 12  # values tried at each parameter besides the CORE ones, drawn with the seed

# Capabilities the capable clients negotiate: every one the server offers without TLS.
ALL_CAPS = [
    *("message-tags", "server-time", "echo-message", "batch", "labeled-response", "multi-prefix"),
    *("userhost-in-names", "away-notify", "extended-join", "invite-notify", "setname", "account-tag"),
    *("account-notify", "draft/chathistory", "draft/read-marker", "chghost", "extended-monitor"),
    *(
        "cap-notify",
        "standard-replies",
        "draft/account-registration",
        "draft/multiline",
        "draft/channel-rename",
    ),
]
# Tags sent with the lines, in turn: client tags with hostile values, and the server's own tags
# forged (the server must not take them from a client).
TAGS = [
    "",
    "+draft/reply=zz;+typing=active;+x=\\s\\:\\\\",
    "msgid=forged;time=2000-01-01T00:00:00.000Z;account=watcher;batch=b1;+draft/reply",
    "+x=" + "\u00e9" * 100 + ";+=;=x;;+y=\\",
    "+draft/reply=" + "9" * 320 + ";+z=\x01\x02",
]
# Lines with several parameters replaced at once, for each well-formed line.
COMBINED = 4

TS = "timestamp=2030-01-01T00:00:00.000Z"
# Well-formed lines of every command; each parameter of each is then replaced by the hostile
# values, and a parameter with a prefix (``timestamp=``, ``$a:``, ``>``) also keeps its prefix.
# ``{me}`` is the fuzzing client's nick and ``{op}`` a channel it created for this batch, where it
# is a channel operator; ``#c`` is the bystanders' channel. A new command needs lines here (a
# test checks).
USAGE: dict[str, list[str]] = {
    "ADMIN": ["", "hubbub.local"],
    "AUTHENTICATE": [
        "PLAIN",
        "EXTERNAL",
        "+",
        "*",
        "AGZ1enoAcGFzc3dvcmQ=",
        "SCRAM-SHA-256",
        "biwsbj1mdXp6LHI9YWJjZGVm",
    ],
    "AWAY": [":gone fishing"],
    "CAP": ["LS 302", "LIST", "REQ :multi-prefix server-time", "REQ :-multi-prefix", "END"],
    "CHANNEL": ["DROP {op}", "DROP #zz HISTORY"],
    "BATCH": ["+ml draft/multiline #c", "-ml"],
    "CHATHISTORY": [
        "LATEST #c * 10",
        f"LATEST watcher {TS} 10",
        f"BEFORE #c {TS} 10",
        "AFTER #c msgid=abc 10",
        f"AROUND other {TS} 10",
        f"BETWEEN #c {TS} timestamp=2020-01-01T00:00:00.000Z 10",
        f"TARGETS {TS} timestamp=2020-01-01T00:00:00.000Z 10",
    ],
    "CHGHOST": ["other newuser new.host"],
    "DLINE": ["10 192.0.2.1 :reason", "192.0.2.0/24"],
    "HELP": ["", "PRIVMSG"],
    "HELPOP": ["KLINE"],
    "HISTORY": ["DELETE #c", "DELETE watcher,other", "DELETE @key"],
    "INFO": [""],
    "INVITE": ["watcher #c", "other {op}"],
    "ISON": ["watcher other"],
    "JOIN": ["#c", "#a,#b key1,key2", "0"],
    "KICK": ["#c other :bye", "{op} {me},other :bye"],
    "KILL": ["nobody :reason"],
    "KLINE": ["10 bad!*@* :reason", "$a:bad"],
    "LIST": ["", "#c,#d", ">1", "<100"],
    "LUSERS": ["", "* hubbub.local"],
    "MARKREAD": ["#c", "{op} " + TS, f"watcher {TS}"],
    "METADATA": [
        "* SET avatar :https://example.com/a.png",
        "{op} SET url :https://example.com",
        "* GET avatar status",
        "watcher LIST",
        "{op} CLEAR",
        "* SUB avatar status",
        "* UNSUB status",
        "* SUBS",
        "#c SYNC",
    ],
    "MODE": [
        "#c",
        "{op} +b",
        "{op} +b bad!*@*",
        "{op} +k key",
        "{op} +l 10",
        "{op} +ov {me} {me}",
        "{op} +beI-b a b c d",
        "#c +m",
        "{me} +iB",
        "watcher -i",
    ],
    "MONITOR": ["+ watcher,other", "- watcher", "C", "L", "S"],
    "MOTD": [""],
    "NAMES": ["", "#c,#d"],
    "NICK": ["newnick"],
    "NOTICE": ["#c :hello", "@#c :ops"],
    "OPER": ["admin wrong", "nobody pw"],
    "PART": ["#c :bye", "#c,#d"],
    "PASS": ["secret"],
    "PING": ["token"],
    "PONG": ["token"],
    "RENAME": ["#c #c2 :tidy", "{op} {op}x :tidy", "{op} &local", "#nowhere #new"],
    "PRIVMSG": ["#c :hello", "watcher :hi", "#c,watcher :both", "+#c :voiced"],
    "QUIT": [":bye"],
    "REDACT": ["#c abc :spam", "{op} abc", "watcher abc :oops", "other abc"],
    "REGISTER": ["* * password123", "acct mail@example.com password123"],
    "REHASH": [""],
    "SAMODE": ["#c +o other", "{op} +l 10"],
    "SEARCH": [
        "text=hello;in=#c",
        "text=hello",
        "text=hi;in=watcher;from=other;limit=5",
        f"text=x;after={TS[10:]};before=2030-01-01T00:00:00.000Z",
        ':text=NEAR(a\\s*)\\s"col:x;in={op}',
    ],
    "SETNAME": [":New Name"],
    "TAGMSG": ["#c", "watcher"],
    "TIME": [""],
    "TOPIC": ["#c", "{op} :new topic"],
    "UNDLINE": ["192.0.2.1"],
    "UNKLINE": ["bad!*@*", "$a:bad"],
    "USER": ["u 0 * :Real Name"],
    "USERHOST": ["watcher other"],
    "VERIFY": ["acct code"],
    "VERSION": [""],
    "WALLOPS": [":hello opers"],
    "WHO": ["#c", "#c %tcuihsnfdlaor,42", "* o", "{me} %na"],
    "WHOIS": ["watcher", "hubbub.local watcher"],
    "WHOWAS": ["watcher", "a,b,c 5"],
}
# The services' commands, sent as PRIVMSG text: every word after the command is hostile.
SERVICE_USAGE = {
    "NickServ": [f"{c} password1 other" for c in sorted(NICKSERV)],
    "ChanServ": [f"{c} #c ADD other op" for c in sorted(CHANSERV)],
}

# Existing targets and their look-alikes (the bystanders, the channel, the services).
TARGETS = ["#c", "watcher", "other", "NickServ", "ChanServ", "WATCHER", "#C", "&c", "#nope"]
LOOKALIKES = [
    "#c\u0301",  # a combining accent
    "#\u0441",  # Cyrillic es
    "\uff03c",  # fullwidth number sign
    "#c\u200b",  # zero-width space
    "w\u0430tcher",  # Cyrillic a
    "watcher\u200b",
    "watcher_",
    "Watcher\u0301",
    "@#c",
    "+#c",
    "#c,#c",
    "watcher,watcher,other",
    "$a:watcher",
]
# Values tried at every parameter (each may stand in the middle of a line).
CORE = [
    "*",
    ",",
    "a,b,,c",
    "-1",
    "9" * 40,
    "9" * 320,  # past the largest float
    "\u00b2",  # superscript two: str.isdigit() says yes, int() says no
    "e" + "\u0301" * 30,
    "\x02\x03\x1d\x1f\x16\x0f\x1b[2J\x7f",
    "#c,watcher",
    "a" * 300,
]
# The rest, of which each parameter gets a seeded sample.
MORE = [
    "**",
    "?",
    "*!*@*",
    ",,,",
    "#",
    "&",
    "!",
    "@",
    "$",
    "%",
    "+",
    "-",
    "=",
    "\\",
    "0",
    "-0",
    "1",
    "65536",
    "4294967296",
    "-" + "9" * 40,
    "1e999",
    "nan",
    "inf",
    "0x10",
    "1.5",
    "\u0661\u0662",  # Arabic-Indic digits
    "\u2460",  # circled one
    "\u00fc\u00f1\u00ef",
    "\u65e5\u672c\u8a9e",
    "\U0001f642",
    "\u202egnp.exe",
    "\ufeffbom",
    "\U0010ffff",
    "\x01ACTION\x01",
    "\t\x0b\x0c",
    "a\x00b",  # refused as a whole: FAIL INVALID_CHARACTERS
    "a\rb",
    "msgid=zz",
    "msgid=",
    "timestamp=",
    "timestamp=2024-02-30T00:00:00.000Z",
    "timestamp=99999-01-01T00:00:00.000Z",
    "timestamp=0000-01-01T00:00:00.000Z",
    "timestamp=1970-01-01T00:00:00Z",
    "$a:",
    "::1",
    "127.0.0.0/33",
    "0.0.0.0/0",
    "10.0.0.1",
    "\u00e9" * 200,
    *TARGETS,
    *LOOKALIKES,
]
# Values only a trailing parameter can carry (empty, spaces, a leading colon).
TRAILING_ONLY = ["", " ", "a b c", ":", ":colon", "  two  spaces  ", "\x01ACTION waves\x01", "\u00fc " * 100]
# The longest line body a client may send, without the CRLF (Modern IRC: 512 with it).
BODY_LIMIT = 510
# Where a parameter's prefix ends: ``timestamp=``, ``$a:``, ``>``, ``%fields,``, ``net/``.
PREFIX_ENDS = "=:<>,/%"


def _line(command: str, params: list[str]) -> str:
    """``command`` and ``params``, the last one trailing when it has to be."""
    if not params:
        return command
    *middle, last = params
    if not last or last[0] == ":" or " " in last:
        last = ":" + last
    return " ".join([command, *middle, last])


def _mutations(command: str, usage: str, rng: random.Random) -> Iterator[str]:
    """``usage`` with each parameter (and one past the end) replaced by each hostile value."""
    params = list(parse(f"{command} {usage}".rstrip()).params)
    for position in range(len(params) + 1):
        values = CORE + rng.sample(MORE, SAMPLED)
        if position >= len(params) - 1:
            values += TRAILING_ONLY
        for value in values:
            yield _line(command, [*params[:position], value, *params[position + 1 :]])
        kept = params[position] if position < len(params) else ""
        cut = max(kept.rfind(c) for c in PREFIX_ENDS) + 1
        if cut > 0 and "{" not in kept:
            for value in CORE + rng.sample(MORE, SAMPLED):
                yield _line(command, [*params[:position], kept[:cut] + value, *params[position + 1 :]])
    for _ in range(COMBINED):
        mixed = list(params)
        for position in rng.sample(range(len(params) + 1), min(3, len(params) + 1)):
            value = rng.choice(CORE + MORE)
            if position < len(mixed):
                mixed[position] = value
            else:
                mixed.append(value)
        yield _line(command, mixed)
    # The same line up to the length limit exactly: a full line is handled like a short one.
    head = _line(command, [*params, "x"])[:-1]
    room = BODY_LIMIT - len(head.encode())
    if room > 0:
        yield head + ("\u00e9" * (room // 2)) + ("x" * (room % 2))


def all_lines() -> list[str]:
    """Every hostile line, in a fixed order."""
    rng = random.Random(SEED)
    lines: list[str] = []
    for command in sorted(COMMANDS):
        lines.append(command)
        for usage in USAGE[command]:
            lines += _mutations(command, usage, rng)
    for service, usages in SERVICE_USAGE.items():
        for usage in usages:
            words = usage.split(" ")
            for position in range(1, len(words) + 1):
                for value in CORE + rng.sample(MORE, SAMPLED):
                    text = " ".join([*words[:position], value, *words[position + 1 :]])
                    lines.append(f"PRIVMSG {service} :{text}")
    return lines


@dataclass
class Role:
    """A kind of client the lines are sent as."""

    name: str
    registered: bool = False
    caps: tuple[str, ...] = ()
    account: bool = False  # registers an account with NickServ, so MARKREAD and the like run
    oper: bool = False


ROLES = [
    Role("unregistered"),
    Role("negotiating", caps=("labeled-response", "batch", "message-tags")),
    Role("registered", registered=True),
    Role("capable", registered=True, caps=tuple(ALL_CAPS), account=True),
    Role("operator", registered=True, caps=tuple(ALL_CAPS), account=True, oper=True),
]


@dataclass
class Fuzzer:
    """One role's connection, made again after a QUIT (or, unregistered, for every batch)."""

    server: Server
    role: Role
    client: IRCClient | None = None
    serial: int = 0
    labels_seen: set[str] = field(default_factory=set)
    op_channel: str = ""

    async def connect(self) -> IRCClient:
        if self.client is not None:
            await self.client.close()
        self.serial += 1
        nick = f"fz{self.role.name[:4]}{self.serial}"
        client = self.client = await IRCClient.open(self.server.host, self.server.port, nick)
        if not self.role.registered:
            if self.role.caps:  # in the middle of CAP negotiation, with the caps acknowledged
                client.send("CAP LS 302")
                client.send(f"CAP REQ :{' '.join(self.role.caps)}")
                await client.expect("CAP", None, "ACK")  # type: ignore[arg-type]
            return client
        await client.register(nick, caps=self.role.caps)
        if self.role.account:
            await register_account(client, "fuzz-password")
        if self.role.oper:
            client.send(f"OPER admin {OPER_PASSWORD}")
            await client.expect("381")
        await client.join("#c")
        return client

    def wire(self, line: str, index: int) -> tuple[bytes, str | None]:
        """The line as sent: with tags in turn, and labelled where labeled-response was acked."""
        me = self.client.nick if self.client is not None else "*"
        line = line.replace("{me}", me).replace("{op}", self.op_channel or "#zz")
        tags = TAGS[index % len(TAGS)]
        label = f"L{index}" if "labeled-response" in self.role.caps else None
        if label is not None:
            tags = f"label={label};{tags}"
        return (f"@{tags} {line}" if tags else line).encode(), label


def _hits_a_connected_client(server: Server, line: str) -> bool:
    """Whether an operator's KILL, KLINE or DLINE line would hit someone connected (its purpose)."""
    try:
        message = parse(line)
    except ProtocolError:
        return False  # refused before it runs
    if message.command not in ("KILL", "KLINE", "DLINE"):
        return False
    world = server.world
    users = list(world.users.values())
    for param in message.params:
        if message.command == "KILL" and world.find_user(param) is not None:
            return True
        if message.command == "KLINE":
            if param.startswith("$a:"):
                name = casefold(param[3:], world.casemapping)
                if any(u.account and casefold(u.account, world.casemapping) == name for u in users):
                    return True
            elif any(match_mask(normalize_mask(param), u.hostmask, world.casemapping) for u in users):
                return True
        if message.command == "DLINE":
            try:
                network = ipaddress.ip_network(param, strict=False)
            except ValueError:
                continue
            if ipaddress.ip_address("127.0.0.1") in network:
                return True
    return False


def _batches(lines: list[str]) -> Iterator[list[tuple[int, str]]]:
    """The lines in batches; a QUIT ends its batch, since nothing after it is read."""
    batch: list[tuple[int, str]] = []
    for index, line in enumerate(lines):
        batch.append((index, line))
        if len(batch) >= BATCH or line.startswith("QUIT"):
            yield batch
            batch = []
    if batch:
        yield batch


async def _run_batch(fuzzer: Fuzzer, batch: list[tuple[int, str]]) -> None:
    """Send the batch, each line followed by a PING, and check what came back."""
    client = fuzzer.client
    assert client is not None
    sent: list[tuple[str, str, str | None]] = []  # (line, PING token, label)
    if fuzzer.role.registered:
        # A fresh channel for this batch, where the fuzzer is the first in and so its operator.
        if fuzzer.op_channel:
            client.send(f"PART {fuzzer.op_channel}")
        fuzzer.op_channel = f"#op{batch[0][0]}"
        client.send(f"JOIN {fuzzer.op_channel}")
    for index, line in batch:
        if fuzzer.role.oper and _hits_a_connected_client(fuzzer.server, line):
            continue
        data, label = fuzzer.wire(line, index)
        token = f"t{index}"
        client.send(data)
        client.send(f"PING {token}")
        sent.append((line, token, label))
    if not sent:
        return
    last = sent[-1][1]
    got: list[Message] = []

    def until_last_pong(m: Message) -> bool:
        got.append(m)
        return m.command == "PONG" and m.params[-1:] == (last,)

    closed = False
    try:
        await client.expect(until_last_pong, timeout=DEFAULT_TIMEOUT * 2)
    except ConnectionError:
        closed = True
    except AssertionError:
        closed = client.closed or client.reader.at_eof()
        if not closed:
            raise
    client.buffer.clear()  # everything read is in ``got``
    for m in got:  # a NICK line may have renamed the fuzzer
        if m.command == "NICK" and m.source and m.source.split("!")[0] == client.nick and m.params:
            client.nick = m.params[0]
    fuzzer.labels_seen.update(m.tags["label"] for m in got if "label" in m.tags)
    line_of = _lines_answered(got, sent)
    crashed = [line_of[i] for i, m in enumerate(got) if m.command == "400"]
    assert not crashed, f"{fuzzer.role.name}: 400 after {crashed}"
    answered = {m.params[-1] for m in got if m.command == "PONG"}
    for line, token, label in sent:
        if token in answered:
            # A multiline batch that opens answers its label when it ends (IRCv3 multiline: the label
            # goes on the echo's opening BATCH), which a fuzzed line may never make it do.
            opens = line.startswith("BATCH +")
            assert label is None or opens or label in fuzzer.labels_seen, (
                f"{fuzzer.role.name}: {line!r} unlabelled"
            )
            continue
        # The first line whose PING went unanswered closed the connection: only QUIT may.
        assert closed and line.startswith("QUIT"), f"{fuzzer.role.name}: no PONG after {line!r}: {got[-3:]}"
        break


def _lines_answered(got: list[Message], sent: list[tuple[str, str, str | None]]) -> list[str]:
    """For each message received, the line it answered: the one after the last PONG before it."""
    following = {token: sent[i + 1][0] for i, (_, token, _) in enumerate(sent[:-1])}
    current = sent[0][0]
    out: list[str] = []
    for m in got:
        out.append(current)
        if m.command == "PONG" and m.params:
            current = following.get(m.params[-1], "?")
    return out


def test_every_command_has_usage_lines() -> None:
    assert set(USAGE) == set(COMMANDS), "give a new command well-formed lines in USAGE"


@pytest.mark.parametrize("role", ROLES, ids=[r.name for r in ROLES])
async def test_every_command_survives_hostile_parameters(
    start_server: StartServer, role: Role, caplog: pytest.LogCaptureFixture
) -> None:
    # The operator's wrong OPER lines must not lock it out of its own OPER after a reconnect.
    server = await start_server(**OPERS, login_max_failures=1_000_000)
    watcher = await IRCClient.open(server.host, server.port, "watcher")
    other = await IRCClient.open(server.host, server.port, "other")
    await watcher.register("watcher", caps=ALL_CAPS)
    await register_account(watcher, "watcher-password")
    await watcher.join("#c")
    await other.register("other")
    await other.join("#c")
    fuzzer = Fuzzer(server, role)
    for n, batch in enumerate(_batches(all_lines())):
        if n == 0 or not role.registered or fuzzer.client is None or fuzzer.client.closed:
            await fuzzer.connect()
        await _run_batch(fuzzer, batch)
        # Said here, the batch's lines name the culprit (the autouse fixture would too, later).
        errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
        assert not errors, f"{role.name}: {errors[0]} in the batch of {[line for _, line in batch]}"
        if role.registered and batch[-1][1].startswith("QUIT"):
            await fuzzer.connect()
        # The bystanders are untouched: still connected, and they still hear each other.
        await _still_hears(watcher, other, f"check {n}")
        await _still_hears(other, watcher, f"check {n}")


async def _still_hears(listener: IRCClient, speaker: IRCClient, text: str) -> None:
    """``speaker`` reaches ``listener``, who was sent no 400 and no ERROR meanwhile."""
    speaker.send(f"PRIVMSG {listener.nick} :{text}")
    got = await listener.collect_until("PRIVMSG", listener.nick, text)
    assert got[-1].source is not None and got[-1].source.startswith(speaker.nick + "!")
    assert not [m for m in got if m.command in ("400", "ERROR")], listener.transcript()[-2000:]
