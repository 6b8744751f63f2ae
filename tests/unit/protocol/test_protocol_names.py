"""Casemapping and the rules for nicknames, channel names and user names."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hubbub.protocol import casefold, is_channel_name, valid_channel_name, valid_nick, valid_username


def test_ascii_casemapping_folds_only_a_to_z() -> None:
    assert casefold("NiCk[]\\~") == "nick[]\\~"
    assert casefold("ÉCOLE", "ascii") == "École"


def test_rfc1459_casemapping_also_folds_brackets_backslash_and_tilde() -> None:
    # Modern IRC: in rfc1459, []\~ are the upper-case forms of {}|^.
    assert casefold("NiCk[]\\~", "rfc1459") == "nick{}|^"
    assert casefold("{}|^", "rfc1459") == "{}|^"
    assert casefold("ÉCOLE", "rfc1459") == "École"


@settings(deadline=None)
@given(st.text(), st.sampled_from(["ascii", "rfc1459"]))
def test_casefold_is_idempotent_and_keeps_length(name: str, mapping: str) -> None:
    once = casefold(name, mapping)  # type: ignore[arg-type]
    assert casefold(once, mapping) == once  # type: ignore[arg-type]
    assert len(once) == len(name)


@pytest.mark.parametrize("nick", ["alice", "a", "Zoë", "[away]", "n_`^{|}\\", "a1", "a-b", "x" * 9, "日本語"])
def test_valid_nicknames(nick: str) -> None:
    assert valid_nick(nick, 9)


@pytest.mark.parametrize(
    "nick",
    [
        "",
        "x" * 10,  # longer than the limit
        "1abc",  # RFC 2812: no digit first
        "-abc",
        "#chan",
        "&chan",
        "$mask",
        ":colon",
        "+voice",
        "@op",
        "%halfop",
        "~owner",
        "a b",
        "a,b",
        "a*b",
        "a?b",
        "a!b",
        "a@b",
        "a.b",
        "a:b",
        "a\x00",
        "a\x07",
        "a\x7f",
        "a\u00a0b",  # non-breaking space
    ],
)
def test_invalid_nicknames(nick: str) -> None:
    assert not valid_nick(nick, 9)


@pytest.mark.parametrize("name", ["#a", "&a", "#café", "#a.b-c_[d]", "#" + "x" * 49, "##"])
def test_valid_channel_names(name: str) -> None:
    assert valid_channel_name(name, 50)


@pytest.mark.parametrize(
    "name", ["", "#", "a", "+a", "!a", "#a b", "#a,b", "#a\x07", "#a:b", "#a\x00", "#a\x7f", "#" + "x" * 50]
)
def test_invalid_channel_names(name: str) -> None:
    assert not valid_channel_name(name, 50)


def test_is_channel_name_looks_only_at_the_first_character() -> None:
    assert is_channel_name("#x")
    assert is_channel_name("&")
    assert not is_channel_name("")
    assert not is_channel_name("nick")


@pytest.mark.parametrize(
    ("user", "ok"),
    [
        ("alice", True),
        ("~alice", True),
        ("", False),
        ("a b", False),
        ("a@b", False),
        ("a!b", False),
        ("a\x01", False),
    ],
)
def test_valid_usernames(user: str, ok: bool) -> None:
    assert valid_username(user) is ok
