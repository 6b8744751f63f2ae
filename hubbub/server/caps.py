"""Capabilities the server offers, and how a client's caps decide what it is sent.

A client's *view* is a small bit set of the caps that change how a relayed message is written
(DESIGN.md principle 4): messages are formatted once per distinct view, not once per recipient.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from collections.abc import Set as AbstractSet

from hubbub.protocol import Message, escape_tag_value, format_body, format_tags

# name -> value advertised in CAP LS 302 ("" for none); order is the order of CAP LS
SUPPORTED: dict[str, str] = {
    "away-notify": "",
    "batch": "",
    "cap-notify": "",
    "draft/read-marker": "",
    "draft/channel-rename": "",
    "chghost": "",
    "echo-message": "",
    "extended-join": "",
    "extended-monitor": "",
    "invite-notify": "",
    "labeled-response": "",
    "message-tags": "",
    "multi-prefix": "",
    "server-time": "",
    "setname": "",
    "standard-replies": "",
    "userhost-in-names": "",
}

TAGS = 1  # message-tags: client tags and msgid
TIME = 2  # server-time
ACCOUNT = 4  # account-tag
BATCH = 8  # batch
LABEL = 16  # labeled-response
MULTILINE = 32  # draft/multiline: multiline messages arrive as one batch

# The tag a multiline message carries inside the server and in history (never on the wire): the
# indices of its lines that join the one before with no line feed (``draft/multiline-concat``),
# comma-separated. Its text is its lines joined by "\n", which no IRC line can hold, so the
# split is exact. :func:`render` writes it as a batch or as its lines.
MULTILINE_TAG = "hubbub/multiline"
MULTILINE_CONCAT = "draft/multiline-concat"
# Tags the fallback lines after the first keep (IRCv3 multiline: "Tags MAY also be included on
# subsequent lines where it makes sense"); the msgid only ever goes on the first.
_FALLBACK_KEPT = frozenset({"time", "account", "bot", "draft/bot"})

_VIEW_BITS = {
    "message-tags": TAGS,
    "server-time": TIME,
    "account-tag": ACCOUNT,
    "batch": BATCH,
    "labeled-response": LABEL,
    "draft/multiline": MULTILINE,
}


# A client's enabled caps are one of few combinations: every client with the same ones shares
# one frozenset (Session.set_caps), up to this many combinations (a hostile client could make more).
SHARED_CAPS_LIMIT = 1024
NO_CAPS: frozenset[str] = frozenset()
_shared_caps: dict[frozenset[str], frozenset[str]] = {NO_CAPS: NO_CAPS}


def shared(caps: frozenset[str]) -> frozenset[str]:
    """The one frozenset equal to ``caps`` that clients share (``caps`` itself, the first time)."""
    found = _shared_caps.get(caps)
    if found is None:
        found = caps
        if len(_shared_caps) < SHARED_CAPS_LIMIT:
            _shared_caps[caps] = caps
    return found


def view_of(caps: AbstractSet[str]) -> int:
    """The view bits for a set of enabled capabilities."""
    view = 0
    for cap in caps:
        view |= _VIEW_BITS.get(cap, 0)
    return view


def tag_allowed(key: str, view: int) -> bool:
    """Whether a tag named ``key`` may be sent to a client with ``view``."""
    if key == "time":
        return bool(view & TIME)
    if key == "account":
        return bool(view & ACCOUNT)
    if key == "batch":
        return bool(view & BATCH)
    if key == "label":
        return bool(view & LABEL)
    return bool(view & TAGS)  # msgid, client-only tags and every other tag need message-tags


# The last stamp made, and the date and time of its second: a busy server stamps many messages
# in one millisecond, and a quiet one several in one second (strftime is the costly part).
_last_ms = -1
_last_stamp = ""
_last_second = -1
_second_prefix = ""


def server_time(now: float | None = None) -> str:
    """The IRCv3 server-time value for ``now`` (``YYYY-MM-DDThh:mm:ss.sssZ``)."""
    global _last_ms, _last_stamp, _last_second, _second_prefix
    t = time.time() if now is None else now
    ms = int(t * 1000)
    if ms != _last_ms:
        _last_ms = ms
        second = ms // 1000
        if second != _last_second:
            _last_second = second
            _second_prefix = time.strftime("%Y-%m-%dT%H:%M:%S.", time.gmtime(second))
        _last_stamp = f"{_second_prefix}{ms % 1000:03d}Z"
    return _last_stamp


# The view bit a tag needs; every tag not named here needs message-tags (see tag_allowed).
_TAG_BITS = {"time": TIME, "account": ACCOUNT, "batch": BATCH, "label": LABEL}


def render(message: Message, view: int) -> bytes:
    """Format ``message`` for a client with ``view``: keep only the tags it may see."""
    tags: Mapping[str, str] = message.tags
    if tags and MULTILINE_TAG in tags:
        return _render_multiline(message, view)
    body = format_body(message.command, message.params, message.source)
    if not view:
        return f"{body}\r\n".encode()
    # This runs once per view for every message relayed: the loop is tag_allowed, inlined.
    kept: dict[str, str] = {}
    if view & TIME and "time" not in tags:
        kept["time"] = server_time()
    bit = _TAG_BITS.get
    for k, v in tags.items():
        if view & bit(k, TAGS):
            kept[k] = v
    if kept:
        return f"{format_tags(kept)} {body}\r\n".encode()
    return f"{body}\r\n".encode()


def multiline_lines(message: Message) -> list[tuple[str, bool]]:
    """The lines of a multiline ``message``: (text, whether it joins the one before directly)."""
    concat = {int(i) for i in message.tags.get(MULTILINE_TAG, "").split(",") if i.isdigit()}
    return [(text, i in concat) for i, text in enumerate(message.param(1).split("\n"))]


def _render_multiline(message: Message, view: int) -> bytes:
    """A multiline message (:data:`MULTILINE_TAG`) as one ``draft/multiline`` batch for a client
    with the cap, else as its lines, each its own message (IRCv3 multiline, "Fallback")."""
    command, source, target = message.command, message.source, message.param(0)
    tags = {k: v for k, v in message.tags.items() if k != MULTILINE_TAG}
    lines = multiline_lines(message)
    parts: list[bytes] = []
    if view & MULTILINE and view & BATCH:
        # The msgid is unique, so as the batch's reference it never meets another batch open on
        # the same connection, however many of these a CHATHISTORY batch holds.
        ref = tags.get("msgid") or "multiline"
        parts.append(render(Message("BATCH", ("+" + ref, "draft/multiline", target), source, tags), view))
        for text, joined in lines:
            inner = {"batch": ref, MULTILINE_CONCAT: ""} if joined else {"batch": ref}
            parts.append(f"{format_tags(inner)} {format_body(command, (target, text), source)}\r\n".encode())
        parts.append(f"{format_body('BATCH', ('-' + ref,), source)}\r\n".encode())
        return b"".join(parts)
    # Fallback: the client's own line composition, no blank line, the msgid on the first line only.
    first = True
    for text, _ in lines:
        if not text:
            continue
        kept = tags if first else {k: v for k, v in tags.items() if k in _FALLBACK_KEPT}
        parts.append(render(Message(command, (target, text), source, kept), view))
        first = False
    return b"".join(parts)


def tag_batch(data: bytes, ref: str) -> bytes:
    """Put ``data`` in batch ``ref``: one line, or several (a multiline message, :func:`render`).

    Of several lines, each goes in ``ref`` but those already in a batch of their own: the lines
    inside a nested batch keep its tag alone, while its BATCH + and BATCH - lines belong to the
    enclosing one (IRCv3 batch). Inner lines are written with ``batch`` as their first tag.
    """
    end = data.find(b"\r\n")
    if end < 0 or end == len(data) - 2:
        return add_tag(data, "batch", ref)
    return b"".join(
        line if line.startswith(b"@batch=") else add_tag(line, "batch", ref)
        for line in data.splitlines(keepends=True)
    )


def add_tag(line: bytes, key: str, value: str) -> bytes:
    """Put one tag at the front of an already formatted line (``label`` and ``batch``)."""
    tag = f"{key}={escape_tag_value(value)}".encode() if value else key.encode()
    if line.startswith(b"@"):
        return b"@" + tag + b";" + line[1:]
    return b"@" + tag + b" " + line
