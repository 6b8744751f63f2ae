"""Tag value escaping and tag key grammar (IRCv3 message-tags)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hubbub.protocol import escape_tag_value, format_tags, parse_tags, unescape_tag_value, valid_tag_key


@pytest.mark.parametrize(
    ("raw", "escaped"),
    [
        # message-tags, "Escaping values" table.
        (";", "\\:"),
        (" ", "\\s"),
        ("\\", "\\\\"),
        ("\r", "\\r"),
        ("\n", "\\n"),
        ("plain", "plain"),
        ("", ""),
        # message-tags, "Examples": plus, colon, equals and comma travel raw.
        ("raw+:=,escaped; \\", "raw+:=,escaped\\:\\s\\\\"),
    ],
)
def test_escaping_follows_the_spec_table(raw: str, escaped: str) -> None:
    assert escape_tag_value(raw) == escaped
    assert unescape_tag_value(escaped) == raw


@pytest.mark.parametrize(
    ("escaped", "raw"),
    [
        # message-tags: a lone backslash at the end gives no character...
        ("test\\", "test"),
        ("\\", ""),
        # ...and a backslash before an invalid escape character is dropped.
        ("\\b", "b"),
        ("a\\tb", "atb"),
        ("\\\\\\", "\\"),
        ("\\\\s", "\\s"),
    ],
)
def test_unescaping_drops_lone_and_invalid_backslashes(escaped: str, raw: str) -> None:
    assert unescape_tag_value(escaped) == raw


@settings(deadline=None)
@given(st.text())
def test_escaping_round_trips_and_leaves_no_separator(value: str) -> None:
    escaped = escape_tag_value(value)
    assert unescape_tag_value(escaped) == value
    assert not set(escaped) & {";", " ", "\r", "\n"}


@settings(deadline=None)
@given(st.text())
def test_unescaping_any_text_never_fails(escaped: str) -> None:
    unescape_tag_value(escaped)


def test_parse_tags_and_format_tags_agree() -> None:
    tags = {"a": "x y", "+b": "", "example.com/c": "1;2"}
    formatted = format_tags(tags)
    assert formatted == "@a=x\\sy;+b;example.com/c=1\\:2"
    assert parse_tags(formatted[1:]) == tags
    assert format_tags({}) == ""


@pytest.mark.parametrize(
    "key",
    ["a", "msgid", "+typing", "draft/reply", "+draft/react", "example.com/x-y", "+example.com/foo", "A-1"],
)
def test_keys_following_the_grammar_are_valid(key: str) -> None:
    assert valid_tag_key(key)


@pytest.mark.parametrize(
    "key",
    ["", "+", "/", "/x", "+/x", "a/", "a_b", "a.b", "ex ample/x", "a/b/c", "é", "ex_ample.com/x", "++a"],
)
def test_keys_breaking_the_grammar_are_invalid(key: str) -> None:
    assert not valid_tag_key(key)
