"""Casemapping and the rules for nicknames and channel names."""

from __future__ import annotations

from typing import Literal

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


def _is_control(ch: str) -> bool:
    # C0 controls and DEL: invisible in clients, and CR, LF, NUL and BEL break or garble lines.
    return ord(ch) < 0x20 or ch == "\x7f"


def casefold(name: str, casemapping: Casemapping = "ascii") -> str:
    """Fold a nick or channel name for comparison under ``casemapping``."""
    return name.translate(_RFC1459 if casemapping == "rfc1459" else _ASCII)


def is_channel_name(name: str) -> bool:
    """Whether ``name`` is meant as a channel (starts with a channel type)."""
    return bool(name) and name[0] in CHANTYPES


def valid_nick(nick: str, max_length: int) -> bool:
    """Whether ``nick`` may be used as a nickname, ``max_length`` characters at most.

    Letters of any script are allowed (UTF8ONLY); control characters and the characters that
    carry meaning in the protocol are not.
    """
    if not nick or len(nick) > max_length:
        return False
    if nick[0] in _NICK_FIRST_FORBIDDEN:
        return False
    return all(not (ch in _NICK_FORBIDDEN or _is_control(ch) or ch.isspace()) for ch in nick)


def valid_channel_name(name: str, max_length: int) -> bool:
    """Whether ``name`` may name a channel: a channel type first, no space, comma or BEL."""
    if len(name) < 2 or len(name) > max_length or name[0] not in CHANTYPES:
        return False
    return all(not (ch in _CHANNEL_FORBIDDEN or _is_control(ch) or ch.isspace()) for ch in name)


def valid_username(user: str) -> bool:
    """Whether ``user`` can stand as the user part of ``nick!user@host``."""
    if not user:
        return False
    return all(not (ch in " @!:" or _is_control(ch)) for ch in user)
