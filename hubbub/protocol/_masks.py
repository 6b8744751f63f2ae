"""Host masks (``nick!user@host`` with ``*`` and ``?`` wildcards) for bans and exceptions."""

from __future__ import annotations

import re
from functools import lru_cache

from ._names import Casemapping, casefold


def normalize_mask(mask: str) -> str:
    """Complete a partial mask the way servers do: ``nick`` → ``nick!*@*``, ``u@h`` → ``*!u@h``.

    A bare word with a ``.`` or ``:`` is taken as a host (``host.example`` → ``*!*@host.example``),
    since nicknames may not hold those. Empty parts become ``*`` (``!u@`` → ``*!u@*``), so the
    result always has the three parts of ``nick!user@host``.
    """
    if "!" in mask:
        nick, _, userhost = mask.partition("!")
    elif "@" in mask:
        nick, userhost = "*", mask
    elif "." in mask or ":" in mask:
        nick, userhost = "*", "*@" + mask
    else:
        nick, userhost = mask, "*"
    user, _, host = userhost.partition("@")
    return f"{nick or '*'}!{user or '*'}@{host or '*'}"


@lru_cache(maxsize=4096)
def _compile(mask: str) -> re.Pattern[str]:
    out = []
    for ch in mask:
        if ch == "*":
            out.append(".*")
        elif ch == "?":
            out.append(".")
        else:
            out.append(re.escape(ch))
    return re.compile("".join(out), re.DOTALL)


def match_mask(mask: str, hostmask: str, casemapping: Casemapping = "ascii") -> bool:
    """Whether ``hostmask`` (``nick!user@host``) matches the wildcard ``mask``, case-insensitively."""
    return _compile(casefold(mask, casemapping)).fullmatch(casefold(hostmask, casemapping)) is not None
