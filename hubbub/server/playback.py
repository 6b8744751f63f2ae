"""Stored rows as lines to send again: CHATHISTORY pages and the replay on join.

A page is a hundred lines, each of a different message, so nothing is shared between them as in
a fan-out (DESIGN.md principle 4 saves nothing here): what counts is the cost of one line. A row
without tags of its own, nearly every row, is written straight from its fields with one format
(the same bytes :func:`caps.render` makes of :func:`to_message`, which a test holds to); a row
with tags (a reaction, a reply, a multiline message) takes that general way.
"""

from __future__ import annotations

import time

from hubbub.protocol import Message, escape_tag_value
from hubbub.store import StoredMessage

from . import caps as capmod

__all__ = ["lines", "time_text", "to_message"]

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


def lines(rows: list[StoredMessage], view: int, batch: str | None) -> str:
    """``rows`` formatted for a client with ``view``, each line tagged with ``batch`` if given:
    the text of the whole page (CRLF after each line), to be encoded once."""
    if not rows:
        return ""
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
        msgid, time_ms, _target, command, source, params, account, tags = row
        if tags or len(params) != 2 or not usual or not msgid.isalnum() or not source:
            append(_line(row, view, batch, lead))
            continue
        middle, last = params
        if not last or last[0] == ":" or " " in last:
            last = ":" + last
        if with_account and account:
            if not account.isalnum():
                if "\0" in account:
                    append(_line(row, view, batch, lead))
                    continue
                account = escape_tag_value(account)
            tail = f";account={account}"
        else:
            tail = ""
        second = seconds.get(time_ms // 1000) or time_text(time_ms)[:-5]
        line = f"{lead}time={second}{millis[time_ms % 1000]}{msgid}{tail} :{source} {command} {middle} {last}"
        # A row no line can carry (only an imported archive could hold one) goes the general way,
        # which refuses it as it always did: the tags hold no space, so four spaces before the
        # last parameter mean none in the source, the command or the middle parameter; then an
        # empty middle parameter or one starting with a colon, and CR, LF or NUL anywhere.
        if (
            not middle
            or middle[0] == ":"
            or line.count(" ", 0, len(line) - len(last)) != 4
            or (not line.isprintable() and ("\r" in line or "\n" in line or "\0" in line))
        ):
            append(_line(row, view, batch, lead))
            continue
        append(line)
    out.append("")
    return "\r\n".join(out)


def _tagged(lead: str, time_ms: int | None, msgid: str, tail: str, body: str) -> str:
    """A plain row's line for a client without server-time or message-tags."""
    tags = lead[1:]
    if time_ms is not None:
        tags += f"time={time_text(time_ms)};"
    if msgid:
        tags += f"msgid={msgid};"
    tags = (tags + tail[1:]) if tail else tags[:-1]
    return f"@{tags} {body}" if tags else body


def _line(row: StoredMessage, view: int, batch: str | None, lead: str) -> str:
    """A row the usual way cannot write: one of other shape, or with tags of its own."""
    msgid, time_ms, account, params = row.msgid, row.time_ms, row.account, row.params
    body = None if row.tags else _body(row.command, params, row.source)
    ok = (
        body is not None
        and msgid
        and "\0" not in msgid
        and row.source
        and " " not in row.source
        and " " not in row.command
        and "\r" not in body
        and "\n" not in body
        and "\0" not in body
        and not (view & capmod.ACCOUNT and account and "\0" in account)
    )
    if not ok or body is None:
        return general_line(row, view, batch).decode()[:-2]
    tail = f";account={escape_tag_value(account)}" if view & capmod.ACCOUNT and account else ""
    return _tagged(
        lead,
        time_ms if view & capmod.TIME else None,
        escape_tag_value(msgid) if view & capmod.TAGS else "",
        tail,
        body,
    )


def _body(command: str, params: tuple[str, ...], source: str) -> str | None:
    """``:source COMMAND params`` (format_body's form), or None when a middle parameter could not
    stand in the middle of a line."""
    if not params:
        return f":{source} {command}"
    last = params[-1]
    if not last or last[0] == ":" or " " in last:
        last = ":" + last
    for p in params[:-1]:
        if not p or p[0] == ":" or " " in p:
            return None
    return f":{source} {command} {' '.join((*params[:-1], last))}"
