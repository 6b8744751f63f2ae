"""Host masks (``nick!user@host`` with ``*`` and ``?`` wildcards) for bans and exceptions."""

from __future__ import annotations

import re
from functools import lru_cache

from ._names import Casemapping, casefold


def normalize_mask(mask: str) -> str:
    """Complete a partial mask the way servers do: ``nick`` → ``nick!*@*``, ``u@h`` → ``*!u@h``."""
    if "!" not in mask and "@" not in mask:
        if "." in mask or ":" in mask:
            return f"*!*@{mask}"
        return f"{mask}!*@*"
    if "!" not in mask:
        return f"*!{mask}"
    if "@" not in mask:
        return f"{mask}@*"
    return mask


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
