"""The services' names are theirs in every spelling: case, look-alike letters, invisible characters."""

from __future__ import annotations

import pytest

from hubbub.server.services import SERVICES, is_service, service_named


@pytest.mark.parametrize(
    ("nick", "service"),
    [
        ("NickServ", "NickServ"),
        ("nickserv", "NickServ"),
        ("NICKSERV", "NickServ"),
        ("N\u0456ckServ", "NickServ"),  # CYRILLIC SMALL LETTER BYELORUSSIAN-UKRAINIAN I
        ("NlCKSERV", "NickServ"),  # an l passes for the capital I of NICKSERV
        ("N1CKSERV", "NickServ"),
        ("\u039dickServ", "NickServ"),  # GREEK CAPITAL LETTER NU
        ("\uff2eickServ", "NickServ"),  # FULLWIDTH LATIN CAPITAL LETTER N
        ("Nick\u200bServ", "NickServ"),  # ZERO WIDTH SPACE
        ("\u0421hanServ", "ChanServ"),  # CYRILLIC CAPITAL LETTER ES
        ("ChanServ", "ChanServ"),
    ],
)
def test_every_spelling_of_a_service_names_the_service(nick: str, service: str) -> None:
    assert service_named(nick) == service
    assert is_service(nick)


@pytest.mark.parametrize("nick", ["NickServ_", "Nick", "NickServer", "ChanSer", "alice"])
def test_other_names_are_nobodys_service(nick: str) -> None:
    assert service_named(nick) is None


# Latin letters and a Cyrillic or Greek letter each passes for.
LOOKALIKE_LETTERS = {
    "a": "\u0430",
    "c": "\u0441",
    "e": "\u0435",
    "i": "\u0456",
    "o": "\u043e",
    "p": "\u0440",
    "s": "\u0455",
    "v": "\u03bd",
    "x": "\u0445",
    "y": "\u0443",
    "C": "\u0421",
    "N": "\u039d",
    "S": "\u0405",
}


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_is_reserved_in_every_case_and_with_every_look_alike_letter(service: str) -> None:
    assert service_named(service.upper()) == service_named(service.lower()) == service
    swapped = 0
    for i, letter in enumerate(service):
        if letter in LOOKALIKE_LETTERS:
            spelling = service[:i] + LOOKALIKE_LETTERS[letter] + service[i + 1 :]
            assert service_named(spelling) == service, spelling
            swapped += 1
    assert swapped >= 3
