"""Message search over the full-text index (schema version 13, ``message_text``).

The index holds what every PRIVMSG and NOTICE says, by the message's row id, tokenized by FTS5's
``unicode61`` (case-insensitive, diacritics removed); triggers keep it in step with the messages
table (schema.py). A search names the conversations it may look in, each with the oldest time
it may see there: the server decides who may read what (the privacy rules of CHATHISTORY), the
store only obeys.

What a user types is never handed to FTS5 as a query: each word becomes a quoted phrase, so
FTS5's own syntax (``AND``, ``NEAR``, ``col:``, quotes, parentheses) in it is only text. A
trailing ``*`` on a word of two or more characters makes it a prefix, as search boxes do.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable

# The query and its rows are defined with the Store interface (model.py), which names them.
from .model import SearchQuery, SearchRow, StoreError

__all__ = ["SearchQuery", "SearchRow", "SearchTimeout", "fts_query", "search_rows"]

# SQLite virtual machine steps between two looks at the clock while a search runs.
_PROGRESS_STEPS = 1000
# Longest text searched for, in characters, and most words in it: a query stays cheap to plan.
MAX_TEXT = 300
MAX_WORDS = 16


class SearchTimeout(StoreError):
    """A search ran past its time budget and was stopped."""


def fts_query(text: str) -> str:
    """An FTS5 query for the words of ``text``: each a quoted phrase, all required ("" if none).

    A ``"`` inside a word is doubled, as FTS5 quotes it; a trailing ``*`` (after two or more
    characters) is kept outside the quotes as a prefix search.
    """
    phrases = []
    for word in text.split()[:MAX_WORDS]:
        prefix = len(word) > 2 and word.endswith("*")
        word = word.rstrip("*") if prefix else word
        if not word.strip("*"):
            continue
        phrase = '"' + word.replace('"', '""') + '"'
        phrases.append(phrase + "*" if prefix else phrase)
    return " ".join(phrases)


_SEARCH = """
SELECT m.target, m.msgid, m.time_ms, m.command, m.source, m.params, m.account, m.tags
FROM message_text AS f
JOIN messages AS m ON m.id = f.rowid
JOIN (SELECT json_extract(value, '$[0]') AS target, json_extract(value, '$[1]') AS since
      FROM json_each(?)) AS s ON s.target = m.target
WHERE message_text MATCH ?
  AND m.time_ms >= s.since AND m.time_ms >= ? AND m.time_ms <= ?
  {source}
ORDER BY f.rowid {order}
LIMIT ?
"""


def search_rows(
    db: sqlite3.Connection,
    query: SearchQuery,
    *,
    fold: Callable[[str], str] | None = None,
    budget_s: float = 0.0,
) -> list[SearchRow]:
    """The newest ``query.limit`` matches of ``query``, in history order (newest last).

    With ``after_ms`` the search runs forward from that time instead (the oldest matches after
    it), as soju.im/search asks. ``fold`` casefolds nicks for ``source_nick``. With ``budget_s``
    the search is stopped after that many seconds (:class:`SearchTimeout`): it runs on the
    server's event loop, and a word found in millions of messages others may not read must not
    hold it up.
    """
    words = fts_query(query.text)
    if not words or not query.scopes or query.limit <= 0:
        return []
    # The conversations are tokens of the index's target column (their keys in hex, as the
    # schema indexes them): FTS5 intersects the words' lists with theirs.
    places = " OR ".join(f'"{key.encode().hex()}"' for key, _since in query.scopes)
    match = f"text : ({words}) AND target : ({places})"
    scopes = json.dumps([[key, since] for key, since in query.scopes])
    low = query.after_ms if query.after_ms is not None else -(1 << 62)
    high = query.before_ms if query.before_ms is not None else 1 << 62
    source = ""
    args: list[object] = [scopes, match, low, high]
    if query.source_nick is not None:
        fold_nick = fold or str.lower
        db.create_function("hubbub_fold", 1, fold_nick, deterministic=True)
        # The nick is the source up to its "!".
        source = "AND hubbub_fold(substr(m.source, 1, instr(m.source || '!', '!') - 1)) = ?"
        args.append(fold_nick(query.source_nick))
    args.append(query.limit)
    forward = query.after_ms is not None
    sql = _SEARCH.format(source=source, order="ASC" if forward else "DESC")
    deadline = time.monotonic() + budget_s if budget_s > 0 else None

    def overdue() -> int:
        return 1 if deadline is not None and time.monotonic() > deadline else 0

    if deadline is not None:
        db.set_progress_handler(overdue, _PROGRESS_STEPS)
    try:
        rows: list[SearchRow] = db.execute(sql, args).fetchall()
    except sqlite3.OperationalError as exc:
        if deadline is not None and time.monotonic() > deadline:
            raise SearchTimeout("the search took too long") from exc
        raise StoreError(f"cannot search history: {exc}") from exc
    except sqlite3.Error as exc:
        raise StoreError(f"cannot search history: {exc}") from exc
    finally:
        if deadline is not None:
            db.set_progress_handler(None, _PROGRESS_STEPS)
    if not forward:
        rows.reverse()
    return rows
