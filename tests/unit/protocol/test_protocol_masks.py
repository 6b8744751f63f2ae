"""Host masks: normalisation and wildcard matching."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hubbub.protocol import match_mask, normalize_mask


@pytest.mark.parametrize(
    ("mask", "normal"),
    [
        ("nick", "nick!*@*"),
        ("*", "*!*@*"),
        ("host.example.com", "*!*@host.example.com"),
        ("2001:db8::1", "*!*@2001:db8::1"),
        ("user@host", "*!user@host"),
        ("nick!user", "nick!user@*"),
        ("nick!user@host", "nick!user@host"),
        ("!user@host", "*!user@host"),
        ("nick!@host", "nick!*@host"),
        ("nick!user@", "nick!user@*"),
        ("@host", "*!*@host"),
        ("*!*@*.example.com", "*!*@*.example.com"),
    ],
)
def test_partial_masks_are_completed(mask: str, normal: str) -> None:
    assert normalize_mask(mask) == normal
    assert normalize_mask(normal) == normal


@pytest.mark.parametrize(
    ("mask", "hostmask", "matches"),
    [
        ("*!*@*", "n!u@h", True),
        ("*!*@*.example.com", "alice!al@host.example.com", True),
        ("*!*@*.example.com", "alice!al@example.com", False),
        ("al?ce!*@*", "alice!u@h", True),
        ("al?ce!*@*", "allice!u@h", False),
        ("ALICE!*@*", "alice!u@H", True),  # case-insensitive
        ("a.b!*@*", "aXb!u@h", False),  # '.' is literal, not a regex
        ("a+(b)!*@*", "a+(b)!u@h", True),
        ("a+(b)!*@*", "aa(b)!u@h", False),
        ("n!u@h", "n!u@h.x", False),  # the whole hostmask must match
        ("*n!u@h", "n!u@h", True),  # '*' matches nothing too
    ],
)
def test_masks_match_with_wildcards(mask: str, hostmask: str, matches: bool) -> None:
    assert match_mask(mask, hostmask) is matches


def test_rfc1459_matching_treats_brackets_as_braces() -> None:
    assert match_mask("[x]!*@*", "{X}!u@h", "rfc1459")
    assert not match_mask("[x]!*@*", "{X}!u@h", "ascii")
    assert match_mask("a\\b!*@*", "A|B!u@h", "rfc1459")


_HOSTMASK_CHARS = st.characters(blacklist_characters="*?", min_codepoint=0x21, max_codepoint=0x2FF)


@settings(deadline=None)
@given(st.text(alphabet=_HOSTMASK_CHARS, max_size=30))
def test_a_mask_without_wildcards_matches_itself_and_star_matches_all(hostmask: str) -> None:
    assert match_mask(hostmask, hostmask)
    assert match_mask(hostmask.upper(), hostmask.lower()) or not hostmask.isascii()
    assert match_mask("*", hostmask)
