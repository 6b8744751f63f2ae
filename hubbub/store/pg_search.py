"""Message search on PostgreSQL: the query language of search.py over a ``tsvector`` column.

SQLite's index (FTS5, ``unicode61 remove_diacritics 2``) is matched here without PostgreSQL's
text parser, whose idea of a word depends on the database's locale and which keeps host names
and e-mail addresses whole: the store splits the text itself, as unicode61 does, into runs of
Unicode letters and digits, lower-cased and without diacritics, and writes the ``tsvector``
literally (each word with its positions). A search's words are split the same way; a word that
splits into several is a phrase (``<->``), a trailing ``*`` makes its last part a prefix
(``:*``), and all words are required (``&``). Nothing the user typed reaches the query parser
as syntax: every lexeme is quoted. A GIN index over the column finds the candidates.

Differences from SQLite's search, both rare: a word's letters are folded with Python's
``lower()`` after NFKD decomposition (FTS5 folds with its own tables), and words longer than
``MAX_WORD`` characters are cut there, in the text and in the query alike.
"""

from __future__ import annotations

import re
import time
import unicodedata
from collections.abc import Callable, Sequence

import asyncpg

from .search import MAX_WORDS, SearchQuery, SearchRow, SearchTimeout

__all__ = ["MAX_WORD", "search", "tsquery_text", "tsvector_text", "words"]

MAX_WORD = 200
"""Longest word indexed, in characters (PostgreSQL refuses lexemes over 2 KiB)."""
_MAX_POSITION = 16383  # PostgreSQL's largest tsvector position
_WORD = re.compile(r"[^\W_]+")
_TEXT_COMMANDS = frozenset(("PRIVMSG", "NOTICE"))


def _fold(text: str) -> str:
    if text.isascii():
        return text.lower()
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()


def words(text: str) -> list[str]:
    """The words of ``text`` as the index keeps them: letters and digits, folded, in order."""
    return [w[:MAX_WORD] for w in _WORD.findall(_fold(text))]


def tsvector_text(command: str, params: Sequence[str]) -> str | None:
    """The ``words`` column of a message (its ``tsvector`` literal), or None if not searchable.

    What a PRIVMSG or NOTICE says is its last parameter (the joined lines of a multiline one).
    """
    if command not in _TEXT_COMMANDS or not params:
        return None
    positions: dict[str, list[str]] = {}
    for number, word in enumerate(words(params[-1]), 1):
        positions.setdefault(word, []).append(str(min(number, _MAX_POSITION)))
    if not positions:
        return None
    return " ".join(f"'{word}':{','.join(at)}" for word, at in positions.items())


def tsquery_text(text: str) -> str:
    """A ``tsquery`` literal for what the user typed ("" if it has no words; see the docstring)."""
    phrases = []
    for word in text.split()[:MAX_WORDS]:
        prefix = len(word) > 2 and word.endswith("*")
        parts = words(word.rstrip("*") if prefix else word)
        if not parts:
            continue
        lexemes = [f"'{part}'" for part in parts]
        if prefix:
            lexemes[-1] += ":*"
        phrases.append("(" + " <-> ".join(lexemes) + ")")
    return " & ".join(phrases)


_SEARCH = """
SELECT m.id, m.target, m.msgid, m.time_ms, m.command, m.source, m.params, m.account, m.tags
FROM messages AS m
JOIN unnest($1::text[], $2::bigint[]) AS s (target, since) ON s.target = m.target
WHERE m.words @@ $3::tsquery
  AND m.time_ms >= s.since AND m.time_ms >= $4 AND m.time_ms <= $5
  AND m.id {beyond} $6
ORDER BY m.id {order}
LIMIT $7
"""


async def search(
    connection: asyncpg.Connection,
    query: SearchQuery,
    params_out: Callable[[str], str],
    *,
    fold: Callable[[str], str] | None = None,
    budget_s: float = 0.0,
) -> list[SearchRow]:
    """The newest ``query.limit`` matches in history order (oldest first), as search.search_rows.

    ``source_nick`` is compared with ``fold`` here, page by page, since PostgreSQL cannot call it;
    ``budget_s`` bounds each statement (``statement_timeout``) and the whole search.
    """
    match = tsquery_text(query.text)
    if not match or not query.scopes or query.limit <= 0:
        return []
    forward = query.after_ms is not None
    sql = _SEARCH.format(beyond=">" if forward else "<", order="ASC" if forward else "DESC")
    low = query.after_ms if query.after_ms is not None else -(1 << 62)
    high = query.before_ms if query.before_ms is not None else 1 << 62
    keys = [key for key, _since in query.scopes]
    sinces = [since for _key, since in query.scopes]
    fold_nick = fold or str.lower
    wanted = None if query.source_nick is None else fold_nick(query.source_nick)
    page = query.limit if wanted is None else max(4 * query.limit, 200)
    deadline = time.monotonic() + budget_s if budget_s > 0 else None
    cursor = -(1 << 62) if forward else 1 << 62
    found: list[SearchRow] = []
    async with connection.transaction():
        if deadline is not None:
            await connection.execute(f"SET LOCAL statement_timeout = {max(1, int(budget_s * 1000))}")
        while len(found) < query.limit:
            if deadline is not None and time.monotonic() > deadline:
                raise SearchTimeout("the search took too long")
            try:
                rows = await connection.fetch(sql, keys, sinces, match, low, high, cursor, page)
            except asyncpg.QueryCanceledError as exc:
                raise SearchTimeout("the search took too long") from exc
            for row in rows:
                source = row[5]
                if wanted is not None and fold_nick(source.partition("!")[0]) != wanted:
                    continue
                found.append((row[1], row[2], row[3], row[4], source, params_out(row[6]), row[7], row[8]))
                if len(found) == query.limit:
                    break
            if len(rows) < page:
                break
            cursor = rows[-1][0]
    if not forward:
        found.reverse()
    return found
