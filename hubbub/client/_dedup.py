"""Per-buffer memory of msgids: de-duplication and the last message seen (for gap filling)."""

from __future__ import annotations

from collections import OrderedDict
from datetime import datetime


class MessageLog:
    """Remembers, per buffer key, the most recent ``size`` msgids and the newest message seen.

    History replay and live delivery can carry the same message (a CHATHISTORY AFTER that
    overlaps what arrived live, a server replaying on join); :meth:`first_sight` lets each
    msgid through once. Memory is bounded per buffer: the oldest msgids are forgotten first.
    """

    __slots__ = ("_last", "_seen", "size")

    def __init__(self, size: int) -> None:
        self.size = max(1, size)
        self._seen: dict[str, OrderedDict[str, None]] = {}
        self._last: dict[str, tuple[datetime, str]] = {}

    def first_sight(self, key: str, msgid: str, time: datetime) -> bool:
        """Record ``msgid`` for buffer ``key``; false when it was seen before (a duplicate)."""
        seen = self._seen.get(key)
        if seen is None:
            seen = self._seen[key] = OrderedDict()
        if msgid in seen:
            seen.move_to_end(msgid)
            return False
        seen[msgid] = None
        if len(seen) > self.size:
            seen.popitem(last=False)
        last = self._last.get(key)
        if last is None or time >= last[0]:
            self._last[key] = (time, msgid)
        return True

    def last_msgid(self, key: str) -> str | None:
        """The msgid of the newest message seen in buffer ``key``."""
        last = self._last.get(key)
        return last[1] if last else None

    def keys(self) -> list[str]:
        """Buffer keys with a newest message recorded."""
        return list(self._last)

    def rename(self, old: str, new: str) -> None:
        """Move buffer ``old``'s memory to ``new`` (a private buffer whose peer changed nick)."""
        if old == new:
            return
        if old in self._seen and new not in self._seen:
            self._seen[new] = self._seen.pop(old)
        if old in self._last and new not in self._last:
            self._last[new] = self._last.pop(old)
