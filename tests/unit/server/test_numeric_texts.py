"""Numeric texts come from one table (``hubbub.protocol.numerics.TEXTS``), used the same way everywhere."""

from __future__ import annotations

import ast
from pathlib import Path

from hubbub.protocol import numerics

SERVER = Path(__file__).resolve().parents[3] / "hubbub" / "server"


def _reply_calls() -> list[tuple[str, ast.Call]]:
    calls = []
    for path in SERVER.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "reply"
                and node.args
                and isinstance(node.args[0], ast.Attribute)
                and isinstance(node.args[0].value, ast.Name)
                and node.args[0].value.id == "numerics"
            ):
                calls.append((f"{path.name}:{node.lineno}", node))
    return calls


def test_a_reply_with_a_tabled_text_passes_no_text_of_its_own_but_by_name():
    # Session.reply appends the table's text: a literal trailing parameter as well would be sent
    # twice; a different text must say so with text=.
    calls = _reply_calls()
    assert len(calls) > 100
    for where, call in calls:
        code = getattr(numerics, call.args[0].attr)  # type: ignore[attr-defined]
        last = call.args[-1]
        if code in numerics.TEXTS and len(call.args) > 1:
            # A middle parameter may be a literal word ("USER"); a text is prose.
            prose = isinstance(last, ast.Constant) and isinstance(last.value, str) and " " in last.value
            assert not prose, f"{where}: pass text= (or nothing) for {call.args[0].attr}"  # type: ignore[attr-defined]


def test_every_tabled_text_belongs_to_a_known_numeric_and_reads_as_a_sentence_or_phrase():
    codes = {v for k, v in vars(numerics).items() if k.isupper() and isinstance(v, str) and v.isdigit()}
    assert numerics.TEXTS
    for code, text in numerics.TEXTS.items():
        assert code in codes
        assert text and text == text.strip() and "\r" not in text and "\n" not in text
