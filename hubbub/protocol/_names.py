"""Casemapping, look-alike skeletons and the rules for nicknames and channel names."""

from __future__ import annotations

import unicodedata
from bisect import bisect_right
from typing import Literal

from ._confusables import DEFAULT_IGNORABLE, PROTOTYPES

Casemapping = Literal["ascii", "rfc1459"]

_ASCII = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
# RFC 1459 2.2: {}|^ are the lower-case forms of []\~
_RFC1459 = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ[]\\~", "abcdefghijklmnopqrstuvwxyz{}|^")

CHANTYPES = "#&"
"""Channel name prefixes this server accepts (advertised as CHANTYPES)."""

_NICK_FIRST_FORBIDDEN = "#&:$+@%!~0123456789-"
# Modern IRC: nicknames MUST NOT contain space, comma, *, ?, !, @ and SHOULD NOT start with
# $, :, or a channel type or prefix character.
_NICK_FORBIDDEN = " ,*?!@.:\x00\r\n\x07"
_CHANNEL_FORBIDDEN = " ,\x07\x00\r\n:"


# Characters that draw nothing without being format characters or default ignorables: a name
# made of them (or padded with them) looks empty or like another.
_BLANKS = frozenset("\u2800")  # BRAILLE PATTERN BLANK

_IGNORABLE_STARTS = [first for first, _ in DEFAULT_IGNORABLE]


def _is_control(ch: str) -> bool:
    # C0 controls and DEL: invisible in clients, and CR, LF, NUL and BEL break or garble lines.
    return ord(ch) < 0x20 or ch == "\x7f"


def _default_ignorable(ch: str) -> bool:
    code = ord(ch)
    i = bisect_right(_IGNORABLE_STARTS, code) - 1
    return i >= 0 and code <= DEFAULT_IGNORABLE[i][1]


def is_invisible(ch: str) -> bool:
    """Whether ``ch`` changes how a name is shown without being seen itself.

    That is a format character (category Cf: the bidi controls U+202A..U+202E, U+2066..U+2069,
    U+200E, U+200F and U+061C, the zero-width U+200B..U+200D, U+2060, U+FEFF ...), any other
    default-ignorable code point (variation selectors, Hangul fillers, tags ...), or a blank such as
    U+2800. A name holding one can reorder what follows it or pass for another name.
    """
    return ch >= "\x80" and (unicodedata.category(ch) == "Cf" or _default_ignorable(ch) or ch in _BLANKS)


def casefold(name: str, casemapping: Casemapping = "ascii") -> str:
    """Fold a nick or channel name for comparison under ``casemapping``.

    A name already folded is returned itself, not an equal copy: the server keeps both, and most
    names are lower case.
    """
    if name.isascii():
        # Every lookup of a nick or channel folds its name: str.lower is the same on ASCII text
        # and far cheaper than translate with a table.
        folded = name.lower()
        if casemapping == "rfc1459" and ("[" in folded or "]" in folded or "\\" in folded or "~" in folded):
            folded = folded.translate(_RFC1459)
    else:
        folded = name.translate(_RFC1459 if casemapping == "rfc1459" else _ASCII)
    return name if folded == name else folded


def _width_folding() -> dict[int, str]:
    # confusables.txt maps some fullwidth letters to ASCII but not all (FULLWIDTH LATIN CAPITAL
    # LETTER L is missing): fold the halfwidth and fullwidth forms to their plain letters first.
    table: dict[int, str] = {}
    for code in (0x3000, *range(0xFF00, 0xFFF0)):
        tag, _, codes = unicodedata.decomposition(chr(code)).partition(" ")
        if tag in ("<wide>", "<narrow>"):
            table[code] = "".join(chr(int(c, 16)) for c in codes.split())
    return table


_WIDTH = _width_folding()


def _full_skeleton(name: str) -> str:
    text = unicodedata.normalize("NFD", name.translate(_WIDTH))
    if any(_default_ignorable(ch) for ch in text):
        text = "".join(ch for ch in text if not _default_ignorable(ch))
    text = unicodedata.normalize("NFD", text.translate(PROTOTYPES))
    return unicodedata.normalize("NFD", text.casefold()).translate(_RFC1459)


# An ASCII name is its own NFD form and maps character by character, so its skeleton is one
# translate() through this table of each ASCII character's skeleton.
_ASCII_SKELETON = {code: _full_skeleton(chr(code)) for code in range(128)}


def skeleton(name: str) -> str:
    """The look-alike key of a nick, account or channel name: equal for names that look the same.

    Unicode Technical Standard #39's skeleton (NFD; default ignorables removed; each character
    replaced by its confusables.txt prototype; NFD again), then folded: Unicode case folding and
    the rfc1459 casemapping (``[]\\~`` as ``{}|^``) whatever the server's casemapping, so the
    key depends on the name alone and the store can keep it. Two names in use at once must differ
    in both their casefolded form and their skeleton; the name shown stays as it was given.

    Halfwidth and fullwidth forms are folded to their plain letters first, as PRECIS does. The
    skeleton maps before it folds case, because case matters to the eye: a capital ``I`` looks
    like ``l``, so ``aIice`` passes for ``alice`` (and is refused beside it), while ``ALICE`` is
    ``alice``'s own nick by case folding and passes for ``allce``.
    """
    if name.isascii():
        shown = name.translate(_ASCII_SKELETON)
        return name if shown == name else shown  # the name itself, not a copy to keep beside it
    return _full_skeleton(name)


def is_channel_name(name: str) -> bool:
    """Whether ``name`` is meant as a channel (starts with a channel type)."""
    return bool(name) and name[0] in CHANTYPES


def valid_nick(nick: str, max_length: int) -> bool:
    """Whether ``nick`` may be used as a nickname, ``max_length`` characters at most.

    Letters of any script are allowed (UTF8ONLY); control characters, the characters that carry
    meaning in the protocol and invisible ones (:func:`is_invisible`: bidi controls, zero-width
    and other format characters) are not.
    """
    if not nick or len(nick) > max_length:
        return False
    if nick[0] in _NICK_FIRST_FORBIDDEN:
        return False
    if not nick.isascii() and any(is_invisible(ch) for ch in nick):
        return False
    return all(not (ch in _NICK_FORBIDDEN or _is_control(ch) or ch.isspace()) for ch in nick)


def valid_channel_name(name: str, max_length: int) -> bool:
    """Whether ``name`` may name a channel: a channel type first; no space, comma, BEL or other
    control character, and nothing invisible (:func:`is_invisible`)."""
    if len(name) < 2 or len(name) > max_length or name[0] not in CHANTYPES:
        return False
    if not name.isascii() and any(is_invisible(ch) for ch in name):
        return False
    return all(not (ch in _CHANNEL_FORBIDDEN or _is_control(ch) or ch.isspace()) for ch in name)


def valid_username(user: str) -> bool:
    """Whether ``user`` can stand as the user part of ``nick!user@host``."""
    if not user:
        return False
    return all(not (ch in " @!:" or _is_control(ch)) for ch in user)
