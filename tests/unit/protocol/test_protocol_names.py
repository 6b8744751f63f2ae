"""Casemapping and the rules for nicknames, channel names and user names."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hubbub.protocol import (
    _names,
    casefold,
    is_channel_name,
    is_invisible,
    skeleton,
    valid_channel_name,
    valid_nick,
    valid_username,
)


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


# look-alike names (Unicode TR39 skeletons) and invisible characters -------------------------------


@pytest.mark.parametrize(
    ("name", "lookalike"),
    [
        ("alice", "\u0430lice"),  # CYRILLIC SMALL LETTER A
        ("NickServ", "N\u0456ckServ"),  # CYRILLIC SMALL LETTER BYELORUSSIAN-UKRAINIAN I
        ("#chat", "#\u0441hat"),  # CYRILLIC SMALL LETTER ES
        ("alice", "aIice"),  # a capital I passes for an l
        ("bob1", "bobl"),
        ("rob0", "robO"),
        ("alice", "\uff41\uff4c\uff49\uff43\uff45"),  # fullwidth
        ("ALICE", "\uff21\uff2c\uff29\uff23\uff25"),  # fullwidth, with the L confusables.txt lacks
        ("paypal", "\u03c1\u237a\u0443\U0001d4c5\U0001d482\u05df"),
        ("Alice", "\u0391lice"),  # GREEK CAPITAL LETTER ALPHA
        ("ab[c]", "AB{C}"),  # the rfc1459 fold, whatever the casemapping
        ("café", "cafe\u0301"),  # precomposed or not
        ("bob", "b\u200bob"),  # what cannot be seen does not count
    ],
)
def test_look_alike_names_share_a_skeleton(name: str, lookalike: str) -> None:
    assert name != lookalike
    assert skeleton(name) == skeleton(lookalike)


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("alice", "bob"),
        ("alice", "alice2"),
        ("alice", "allce"),  # a lower-case i has its dot
        ("café", "cafe"),
        ("#chat", "&chat"),
        ("Zoë", "Zoe"),
        ("日本", "日木"),
    ],
)
def test_names_that_look_different_keep_different_skeletons(one: str, other: str) -> None:
    assert skeleton(one) != skeleton(other)


def test_a_skeleton_ignores_letter_case_the_way_a_reader_does() -> None:
    assert skeleton("Alice") == skeleton("alice") == "alice"
    assert skeleton("ÉCOLE") == skeleton("école")
    assert skeleton("\u0410LICE") == skeleton("ALICE")  # CYRILLIC CAPITAL LETTER A


@settings(deadline=None)
@given(st.text(alphabet=st.characters(max_codepoint=0x7F)))
def test_the_ascii_fast_path_gives_the_full_skeleton(name: str) -> None:
    assert name.isascii()
    assert skeleton(name) == _names._full_skeleton(name)


@settings(deadline=None)
@given(st.text())
def test_a_skeleton_never_depends_on_invisible_characters(name: str) -> None:
    stripped = "".join(ch for ch in name if not _names._default_ignorable(ch))
    assert skeleton(name) == skeleton(stripped)


BIDI_CONTROLS = [
    "\u202a",
    "\u202b",
    "\u202c",
    "\u202d",
    "\u202e",  # RIGHT-TO-LEFT OVERRIDE
    "\u2066",
    "\u2067",
    "\u2068",
    "\u2069",
    "\u200e",
    "\u200f",
    "\u061c",
]
INVISIBLES = [
    "\u200b",  # ZERO WIDTH SPACE
    "\u200c",  # ZERO WIDTH NON-JOINER
    "\u200d",  # ZERO WIDTH JOINER
    "\u2060",  # WORD JOINER
    "\ufeff",  # ZERO WIDTH NO-BREAK SPACE
    "\u00ad",  # SOFT HYPHEN
    "\u034f",  # COMBINING GRAPHEME JOINER (default ignorable, not Cf)
    "\ufe0f",  # VARIATION SELECTOR-16
    "\u3164",  # HANGUL FILLER
    "\u115f",  # HANGUL CHOSEONG FILLER
    "\u2800",  # BRAILLE PATTERN BLANK
    "\U000e0041",  # TAG LATIN CAPITAL LETTER A
    "\u2064",  # INVISIBLE PLUS
]


@pytest.mark.parametrize("ch", BIDI_CONTROLS + INVISIBLES)
def test_nicks_and_channel_names_refuse_bidi_controls_and_invisible_characters(ch: str) -> None:
    assert is_invisible(ch)
    for name in (f"ali{ch}ce", f"alice{ch}", f"{ch}alice"):
        assert not valid_nick(name, 30), repr(name)
    for name in (f"#ch{ch}at", f"#chat{ch}", f"#{ch}chat"):
        assert not valid_channel_name(name, 50), repr(name)


@pytest.mark.parametrize("ch", ["a", "é", "ж", "日", "\u0301", "🙂", "_", "|", "\u00a0"])
def test_visible_characters_are_not_invisible(ch: str) -> None:
    assert not is_invisible(ch)
