"""A batch of messages as the values the store writes: the writer thread's per-message work.

A module of its own, with nothing but plain functions over built-in types, so that the optional
compiled build (``[tool.hubbub.compile]`` in pyproject.toml) can compile it: this loop runs once for
every message kept, on the store writer's thread, and its CPU counts against every message.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from .model import StoredMessage, dm_sides
from .params import encode_params

__all__ = ["COLUMNS", "VALUES", "message_values"]

COLUMNS = "msgid, time_ms, target, command, source, params, account, tags"
"""The columns of the messages table that :func:`message_values` gives values for, in order."""

# The sqlite3 module binds an int or a str directly but sends None through its adaptation
# protocol (two failed attribute lookups, each formatting an AttributeError): a few thousand
# instructions per None. The optional columns are bound as "" and stored as NULL.
VALUES = "(?, ?, ?, ?, ?, ?, nullif(?, ''), nullif(?, ''))"
"""One row's placeholders for :data:`COLUMNS`."""
SUMMARY_VALUES = "(?, nullif(?, ''), nullif(?, ''), ?, ?, nullif(?, ''), nullif(?, ''))"
"""One row's placeholders for a :func:`message_values` summary row: target, side_a, side_b,
last_time_ms, message_count, name_a, name_b."""

_encode_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def message_values(
    messages: Sequence[StoredMessage], names: Mapping[str, str] | None = None
) -> tuple[list[object], list[tuple[str, str, str, int, int, str, str]]]:
    """The values to insert for ``messages``, flat (``len(COLUMNS)`` per message, in order), and
    one summary row per conversation (for ``conversations``): its sides and their display names
    from ``names`` when it is a direct one, the time of its last message and how many there are.
    """
    values: list[object] = []
    add = values.append
    counts: dict[str, list[int]] = {}
    for msgid, time_ms, target, command, source, params, account, tags in messages:
        add(msgid)
        add(time_ms)
        add(target)
        add(command)
        add(source)
        add(encode_params(params))
        add(account or "")
        add(_encode_json(dict(tags)) if tags else "")
        seen = counts.get(target)
        if seen is None:
            counts[target] = [time_ms, 1]
        else:
            if time_ms > seen[0]:
                seen[0] = time_ms
            seen[1] += 1
    summary: list[tuple[str, str, str, int, int, str, str]] = []
    known = names or {}
    for target, (last_ms, n) in counts.items():
        sides = dm_sides(target)
        if sides is None:  # a channel
            summary.append((target, "", "", last_ms, n, "", ""))
        else:
            a, b = sides
            summary.append((target, a, b, last_ms, n, known.get(a, ""), known.get(b, "")))
    return values, summary
