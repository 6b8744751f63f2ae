"""History archives: stored messages as JSON lines, out of a store and back in.

One message per line: ``msgid``, ``time`` (ISO 8601 UTC with milliseconds), ``time_ms``,
``target``, ``command``, ``source``, ``account``, ``params`` and ``tags``; a message of a direct
conversation also has ``names``, the display name of each side of its key (which names
identities, not people) as far as the store remembers them. Importing skips messages the store
already holds, so importing the same archive twice is harmless, and restores the names.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from typing import Any, TextIO

from .model import Store, StoredMessage, dm_sides

__all__ = [
    "format_time",
    "message_from_json",
    "message_to_json",
    "parse_since",
    "read_archive",
    "write_archive",
]

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def format_time(time_ms: int) -> str:
    """``time_ms`` as ISO 8601 UTC with milliseconds, the IRCv3 server-time format."""
    when = _EPOCH + dt.timedelta(milliseconds=time_ms)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{time_ms % 1000:03d}Z"


def parse_since(text: str) -> int:
    """Milliseconds since the epoch from an integer (already ms) or an ISO 8601 date or time.

    A time without a zone is taken as UTC.
    """
    text = text.strip()
    if text.lstrip("-").isdigit():
        return int(text)
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"not epoch milliseconds or an ISO 8601 time: {text!r}") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return (when - _EPOCH) // dt.timedelta(milliseconds=1)


def message_to_json(message: StoredMessage) -> dict[str, Any]:
    """The archive form of one message (a JSON object)."""
    return {
        "msgid": message.msgid,
        "time": format_time(message.time_ms),
        "time_ms": message.time_ms,
        "target": message.target,
        "command": message.command,
        "source": message.source,
        "account": message.account,
        "params": list(message.params),
        "tags": dict(message.tags),
    }


def _text(obj: dict[str, Any], name: str) -> str:
    value = obj.get(name)
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name!r} must be a non-empty string")
    return value


def message_from_json(obj: object) -> StoredMessage:
    """A message from its archive form; raises ValueError naming the bad field."""
    if not isinstance(obj, dict):
        raise ValueError("a message must be a JSON object")
    time_ms = obj.get("time_ms")
    if time_ms is None and isinstance(obj.get("time"), str):
        time_ms = parse_since(obj["time"])
    if not isinstance(time_ms, int) or isinstance(time_ms, bool):
        raise ValueError("'time_ms' must be an integer")
    params = obj.get("params", [])
    if not isinstance(params, list) or not all(isinstance(p, str) for p in params):
        raise ValueError("'params' must be a list of strings")
    tags = obj.get("tags") or {}
    if not isinstance(tags, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in tags.items()
    ):
        raise ValueError("'tags' must map strings to strings")
    account = obj.get("account")
    if account is not None and not isinstance(account, str):
        raise ValueError("'account' must be a string or null")
    return StoredMessage(
        msgid=_text(obj, "msgid"),
        time_ms=time_ms,
        target=_text(obj, "target"),
        command=_text(obj, "command"),
        source=_text(obj, "source"),
        params=tuple(params),
        account=account,
        tags=tags,
    )


def _names(obj: dict[str, Any]) -> dict[str, str]:
    """The ``names`` of a direct message's sides in its archive form (``{}`` if none)."""
    names = obj.get("names") or {}
    if not isinstance(names, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in names.items()
    ):
        raise ValueError("'names' must map strings to strings")
    return names


def write_archive(store: Store, out: TextIO, target: str | None = None, since_ms: int | None = None) -> int:
    """Write the history (of ``target``, from ``since_ms``) to ``out`` as JSON lines; return the count."""
    count = 0
    names: dict[str, dict[str, str]] = {}
    for message in store.iter_messages(target, since_ms):
        obj = message_to_json(message)
        if dm_sides(message.target) is not None:
            if message.target not in names:
                names[message.target] = store.dm_names([message.target]).get(message.target, {})
            if names[message.target]:
                obj["names"] = names[message.target]
        out.write(json.dumps(obj, ensure_ascii=False))
        out.write("\n")
        count += 1
    return count


def read_archive(store: Store, lines: Iterable[str], batch: int = 500) -> tuple[int, int]:
    """Append the messages of an archive that the store lacks; return (imported, skipped).

    Each batch is one transaction. A bad line raises ValueError naming its line number; the
    batches before it stay imported, so fixing the line and importing again completes the job.
    """
    imported = skipped = 0
    pending: list[StoredMessage] = []
    names: dict[str, str] = {}  # direct-conversation side -> display name
    # (msgid, target) of this batch: earlier batches are in the store, where known_messages sees them.
    in_batch: set[tuple[str, str]] = set()

    def flush() -> None:
        nonlocal imported, skipped
        known = store.known_messages(pending)
        fresh = [m for m in pending if (m.msgid, m.target) not in known]
        store.append(fresh, names)
        imported += len(fresh)
        skipped += len(pending) - len(fresh)
        pending.clear()
        in_batch.clear()
        names.clear()

    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
            message = message_from_json(obj)
            names.update(_names(obj))
        except ValueError as exc:  # json.JSONDecodeError is a ValueError too
            raise ValueError(f"line {number}: {exc}") from None
        if (message.msgid, message.target) in in_batch:
            skipped += 1  # the same message twice in one archive: keep the first
            continue
        in_batch.add((message.msgid, message.target))
        pending.append(message)
        if len(pending) >= batch:
            flush()
    if pending:
        flush()
    return imported, skipped
