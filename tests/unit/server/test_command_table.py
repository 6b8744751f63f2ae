"""The command table: complete rows, the checks it stands for, HELP and the generated reference."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from hubbub.server.config import Settings
from hubbub.server.handlers import reference
from hubbub.server.handlers.table import COMMANDS
from hubbub.server.isupport import isupport_tokens, offered_caps

ROOT = Path(__file__).resolve().parents[3]

# Modern IRC and IRCv3 allow these before registration completes: connection registration
# itself, SASL (AUTHENTICATE) and draft/account-registration's before-connect (REGISTER, VERIFY).
REGISTRATION = {"CAP", "NICK", "USER", "PASS", "PING", "PONG", "QUIT"}
BEFORE_REGISTRATION = REGISTRATION | {"AUTHENTICATE", "REGISTER", "VERIFY"}
OPERATOR_COMMANDS = {
    "KILL",
    "KLINE",
    "UNKLINE",
    "DLINE",
    "UNDLINE",
    "WALLOPS",
    "REHASH",
    "HISTORY",
    "SAMODE",
    "CHANNEL",
    "CHGHOST",
}


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_has_a_handler_syntax_and_one_line_of_help(name):
    spec = COMMANDS[name]
    assert callable(spec.handler)
    assert name.isupper() and name.isalpha()
    assert "\n" not in spec.syntax and spec.syntax == spec.syntax.strip()
    assert spec.help and "\n" not in spec.help and spec.help.endswith(".")
    assert spec.min_params >= 0
    assert not (spec.oper and spec.before_registration), "an operator is always registered"


def test_only_commands_the_specs_allow_come_before_registration():
    assert {n for n, s in COMMANDS.items() if s.before_registration} == BEFORE_REGISTRATION


def test_operator_commands_are_marked():
    assert {n for n, s in COMMANDS.items() if s.oper} == OPERATOR_COMMANDS


def test_only_the_commands_that_read_history_wait_for_the_commit():
    # REDACT reads the message it deletes; RENAME looks for history already kept under the new name;
    # SEARCH must find what the client sent just before it.
    assert {n for n, s in COMMANDS.items() if s.after_commit} == {
        "JOIN",
        "CHATHISTORY",
        "REDACT",
        "RENAME",
        "SEARCH",
    }


def test_commands_with_a_required_parameter_show_it_in_their_syntax():
    for name, spec in COMMANDS.items():
        if spec.min_params:
            assert len(spec.syntax.split()) >= spec.min_params, name


def test_handler_modules_do_not_import_the_table():
    # Only the dispatcher, above the table, runs it; HELP is answered in the table itself.
    code = (
        "import sys, pkgutil, importlib, hubbub.server.handlers as h\n"
        "for m in pkgutil.iter_modules(h.__path__):\n"
        "    if m.name not in ('table', 'dispatch'):\n"
        "        importlib.import_module('hubbub.server.handlers.' + m.name)\n"
        "print('hubbub.server.handlers.table' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# HELP --------------------------------------------------------------------------------------------


def test_help_lists_every_command_but_operator_commands_only_to_operators():
    def listed(lines):
        return {word for line in lines for word in line.split() if word in COMMANDS}

    everyone = reference.help_lines(COMMANDS, "*")
    operators = reference.help_lines(COMMANDS, "*", oper=True)
    assert everyone is not None and operators is not None
    assert listed(everyone[1:-1]) == set(COMMANDS) - OPERATOR_COMMANDS
    assert listed(operators[1:-1]) == set(COMMANDS)


@pytest.mark.parametrize("subject", ["privmsg", "PRIVMSG", "PrivMsg"])
def test_help_about_a_command_gives_its_syntax_then_its_help(subject):
    assert reference.help_lines(COMMANDS, subject) == [
        reference.usage(COMMANDS, "PRIVMSG"),
        COMMANDS["PRIVMSG"].help,
    ]
    assert reference.usage(COMMANDS, "PRIVMSG") == "PRIVMSG " + COMMANDS["PRIVMSG"].syntax


def test_help_says_who_may_use_a_command():
    kill = reference.help_lines(COMMANDS, "KILL")
    cap = reference.help_lines(COMMANDS, "CAP")
    assert kill is not None and "operators" in kill[-1]
    assert cap is not None and "before registration" in cap[-1]
    assert reference.usage(COMMANDS, "REHASH") == "REHASH"


def test_help_about_nothing_known_is_none():
    assert reference.help_lines(COMMANDS, "NOSUCHTHING") is None
    assert reference.help_lines(COMMANDS, "") is None


# The reference in docs/protocol.md ---------------------------------------------------------------


def test_protocol_page_lists_the_commands_of_the_table():
    page = (ROOT / "docs" / "protocol.md").read_text()
    assert page == reference.with_markdown(COMMANDS, page), (
        "run: python -m hubbub.server.handlers.table docs/protocol.md"
    )


def test_reference_has_one_row_per_command_and_escapes_pipes():
    rows = [line for line in reference.markdown(COMMANDS).splitlines() if line.startswith("| ")][1:]
    assert [row.split(" | ")[0].removeprefix("| ") for row in rows] == sorted(COMMANDS)
    assert all(row.count(" | ") == 5 for row in rows), "a | inside a cell must be escaped"


def test_rewriting_the_reference_keeps_the_rest_of_the_page():
    page = (ROOT / "docs" / "protocol.md").read_text()
    stale = page.replace(COMMANDS["PRIVMSG"].help, "Something else.", 1)
    assert stale != page
    assert reference.with_markdown(COMMANDS, stale) == page
    assert reference.with_markdown(COMMANDS, "before\n" + reference.markdown(COMMANDS) + "after\n") == (
        "before\n" + reference.markdown(COMMANDS) + "after\n"
    )


def _first_cells(page: str, heading: str) -> set[str]:
    """The names in the first column of the table under ``heading`` (a cell may list several)."""
    section = page.split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]
    names: set[str] = set()
    for line in section.splitlines():
        if line.startswith("| ") and not line.startswith("|---"):
            names.update(name.strip().strip("`") for name in line.split("|")[1].split(","))
    return names


def test_protocol_page_lists_every_isupport_token_and_capability():
    page = (ROOT / "docs" / "protocol.md").read_text()
    # Settings that turn the optional ones on: TLS (sts, EXTERNAL), kept events (event-playback).
    settings = Settings(history_events=True, sts_duration=60, tls_cert="c.pem", tls_key="k.pem")
    tokens = {token.split("=", 1)[0] for token in isupport_tokens(settings)}
    assert tokens - _first_cells(page, "ISUPPORT (RPL_ISUPPORT, 005)") == set()
    caps = set(offered_caps(settings, 6697))
    assert "sts" in caps and "draft/event-playback" in caps
    assert caps - _first_cells(page, "Capabilities") == set()
