"""Capabilities the server offers, and how a client's caps decide what it is sent.

A client's *view* is a small bit set of the caps that change how a relayed message is written
(DESIGN.md principle 4): messages are formatted once per distinct view, not once per recipient.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

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

_VIEW_BITS = {
    "message-tags": TAGS,
    "server-time": TIME,
    "account-tag": ACCOUNT,
    "batch": BATCH,
    "labeled-response": LABEL,
}


def view_of(caps: set[str]) -> int:
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


_last_ms = -1
_last_stamp = ""


def server_time(now: float | None = None) -> str:
    """The IRCv3 server-time value for ``now`` (``YYYY-MM-DDThh:mm:ss.sssZ``)."""
    global _last_ms, _last_stamp
    t = time.time() if now is None else now
    ms = int(t * 1000)
    if ms != _last_ms:
        _last_ms = ms
        _last_stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + f".{ms % 1000:03d}Z"
    return _last_stamp


def render(message: Message, view: int) -> bytes:
    """Format ``message`` for a client with ``view``: keep only the tags it may see."""
    tags: Mapping[str, str] = message.tags
    if view & TIME and "time" not in tags:
        tags = {"time": server_time(), **tags}
    body = format_body(message.command, message.params, message.source)
    if tags and view:
        kept = {k: v for k, v in tags.items() if tag_allowed(k, view)}
        if kept:
            return f"{format_tags(kept)} {body}\r\n".encode()
    return f"{body}\r\n".encode()


def add_tag(line: bytes, key: str, value: str) -> bytes:
    """Put one tag at the front of an already formatted line (``label`` and ``batch``)."""
    tag = f"{key}={escape_tag_value(value)}".encode() if value else key.encode()
    if line.startswith(b"@"):
        return b"@" + tag + b";" + line[1:]
    return b"@" + tag + b" " + line
