"""How a message's parameters are kept in the ``params`` column (schema version 12 on).

As they are written on an IRC line (Modern IRC, "Message format"): the middle parameters each
followed by a space, and the last one after a colon when it needs one (it is empty, starts with
``:`` or holds a space), e.g. ``#chat :hello there``. Every parameter list a client can send has
this form exactly: a middle parameter is never empty, never starts with ``:`` and never holds a
space, and no parameter holds CR, LF or NUL (the server refuses such lines). So the text is what
follows the command on the line that plays the message back (hubbub.server.playback writes it
as it is), a split reads it back and a join writes it: a few hundred nanoseconds where JSON took
one or two microseconds, on every message kept and every row read back.

Any other list is kept as NUL followed by its JSON array, so the encoding is exact for every list
of strings: a draft/multiline message (its text is its lines joined by line feeds, and it is
played back as a batch of lines anyway), or what an imported archive brought.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

__all__ = ["decode_params", "encode_params", "params_from_json"]

_JSON_MARK = "\0"
_encode_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_decode_json = json.JSONDecoder().decode


def encode_params(params: Sequence[str]) -> str:
    """The ``params`` column's text for ``params`` (see the module's docstring)."""
    if not params:
        return ""
    last = params[-1]
    if "\0" in last or "\r" in last or "\n" in last:
        return _JSON_MARK + _encode_json(list(params))
    if not last or last[0] == ":" or " " in last:
        last = ":" + last
    if len(params) == 1:
        return last
    for p in params[:-1]:
        if not p or p[0] == ":" or " " in p or "\0" in p or "\r" in p or "\n" in p:
            return _JSON_MARK + _encode_json(list(params))
    return " ".join(params[:-1]) + " " + last


def decode_params(text: str) -> tuple[str, ...]:
    """The parameters kept as ``text`` by :func:`encode_params`."""
    if not text:
        return ()
    first = text[0]
    if first == ":":
        return (text[1:],)
    if first == _JSON_MARK:
        return tuple(_decode_json(text[1:]))
    head, sep, last = text.partition(" :")
    if not sep:
        return tuple(head.split(" "))
    if not head:  # cannot happen: the text would start with ":"
        return (last,)
    return (*head.split(" "), last)


def params_from_json(text: str) -> str:
    """A ``params`` value of schema version 11 and before (a JSON array) in the current form."""
    return encode_params([str(p) for p in _decode_json(text)])
