"""Stored rows as lines to send again: CHATHISTORY pages and the replay on join.

A page is a hundred lines, each of a different message, so nothing is shared between them as in
a fan-out (DESIGN.md principle 4 saves nothing here): what counts is the cost of one line. So a
page is written from the rows as the store keeps them (``store.Row``), not decoded into
messages: a row without tags of its own, nearly every row, is one format of its fields, its
parameters copied as they are kept (they are kept as a line writes them, store.params). That is
the same bytes :func:`caps.render` makes of :func:`to_message`, which a test holds to; a row with
tags (a reaction, a reply, a multiline message) takes that general way.
"""

from __future__ import annotations

import time

from hubbub.protocol import Message, escape_tag_value
from hubbub.store import StoredMessage
from hubbub.store.sqlite import Row, decode_rows

from . import caps as capmod

__all__ = ["general_line", "page", "time_text", "to_message"]

# Shown to every client; TAGMSGs only to one with message-tags, other events with event-playback.
_MESSAGES = frozenset({"PRIVMSG", "NOTICE"})

# The server-time text of each second met lately: a page spans a few seconds, and strftime is
# most of what formatting a stamp costs.
_SECONDS: dict[int, str] = {}
_SECONDS_KEPT = 4096
# What follows the seconds of a stamp up to the msgid's value, by millisecond: formatting ".%03d"
# for every line cost more than all the rest of it.
_MILLIS = [f".{ms:03d}Z;msgid=" for ms in range(1000)]


def time_text(time_ms: int) -> str:
    """The IRCv3 server-time text of ``time_ms`` (milliseconds since the epoch)."""
    seconds = time_ms // 1000
    text = _SECONDS.get(seconds)
    if text is None:
        if len(_SECONDS) >= _SECONDS_KEPT:
            _SECONDS.clear()
        text = _SECONDS[seconds] = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    return f"{text}.{time_ms % 1000:03d}Z"


def to_message(row: StoredMessage) -> Message:
    """A stored row as a message to send again, with its original time and msgid."""
    tags = dict(row.tags)
    tags["time"] = time_text(row.time_ms)
    tags["msgid"] = row.msgid
    if row.account:
        tags["account"] = row.account
    return Message(row.command, row.params, row.source, tags)


def general_line(row: StoredMessage, view: int, batch: str | None) -> bytes:
    """``row`` for a client with ``view`` through :func:`caps.render`, in ``batch`` if given."""
    line = capmod.render(to_message(row), view)
    return capmod.tag_batch(line, batch) if batch is not None else line


def page(rows: list[Row], view: int, batch: str | None, *, since: int = 0, events: bool = False) -> str:
    """The lines of ``rows`` for a client with ``view``, each tagged with ``batch`` if given: the
    text of a whole page (CRLF after each line), to be encoded once.

    Only rows stamped at ``since`` or later, and of those the PRIVMSGs and NOTICEs, TAGMSGs for
    a client with message-tags, and other events with ``events`` (draft/event-playback).
    """
    out: list[str] = []  # each line without its CRLF
    append = out.append
    seconds = _SECONDS
    millis = _MILLIS
    # The tags of a plain row, in render's order after the batch's: time, msgid, account.
    lead = f"@batch={escape_tag_value(batch)};" if batch is not None else "@"
    with_time = bool(view & capmod.TIME)
    with_msgid = bool(view & capmod.TAGS)
    with_account = bool(view & capmod.ACCOUNT)
    usual = with_time and with_msgid  # what a client that asks for history has
    for row in rows:
        msgid, time_ms, command, source, params, account, tags = row
        if time_ms < since:
            continue
        if command not in _MESSAGES:
            if not with_msgid if command == "TAGMSG" else not events:
                continue
            if not command.isalnum():
                append(_general(row, view, batch))
                continue
        # Parameters in their plain form (store.params) are what follows the command on the line,
        # and hold no CR, LF or NUL; anything a line could not carry as it is (a source with a
        # space, a msgid needing escapes, a multiline message, tags of its own) goes the general way.
        if (
            tags
            or params[:1] == "\0"
            or not msgid.isalnum()
            or not source
            or " " in source
            or not source.isprintable()
        ):
            append(_general(row, view, batch))
            continue
        if with_account and account:
            if not account.isalnum():
                if "\0" in account:
                    append(_general(row, view, batch))
                    continue
                account = escape_tag_value(account)
            tail = f";account={account}"
        else:
            tail = ""
        if usual:
            second = seconds.get(time_ms // 1000) or time_text(time_ms)[:-5]
            if params:
                append(
                    f"{lead}time={second}{millis[time_ms % 1000]}{msgid}{tail} :{source} {command} {params}"
                )
            else:
                append(f"{lead}time={second}{millis[time_ms % 1000]}{msgid}{tail} :{source} {command}")
            continue
        tagged = lead[1:]
        if with_time:
            tagged += f"time={time_text(time_ms)};"
        if with_msgid:
            tagged += f"msgid={msgid};"
        tagged = tagged + tail[1:] if tail else tagged[:-1]
        body = f":{source} {command} {params}" if params else f":{source} {command}"
        append(f"@{tagged} {body}" if tagged else body)
    if not out:
        return ""
    out.append("")
    return "\r\n".join(out)


def _general(row: Row, view: int, batch: str | None) -> str:
    """A row the usual way does not write, through :func:`caps.render` (without its CRLF)."""
    (message,) = decode_rows("", [row])
    return general_line(message, view, batch).decode()[:-2]
