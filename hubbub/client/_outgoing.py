"""Turning a chat text into the PRIVMSG or NOTICE lines (or draft/multiline batches) that carry it."""

from __future__ import annotations

from hubbub.protocol import Message as IRCMessage

from ._text import format_action, split_lines, split_text

# "\x01ACTION " and the closing "\x01" wrap every piece of an action.
_ACTION_OVERHEAD = len(format_action("").encode())
_CONCAT = "draft/multiline-concat"


def text_budget(prefix: str, command: str, target: str, linelen: int = 512) -> int:
    """Bytes of text one line may carry once the server adds ``:prefix`` to it.

    RFC 1459 2.3: a line is at most 512 bytes with CRLF, and the server relays ours with our
    ``nick!user@host`` in front, so that must fit too.
    """
    overhead = len(f":{prefix} {command} {target} :".encode()) + 2
    return linelen - overhead


def _multiline_limits(value: str) -> tuple[int, int]:
    max_bytes, max_lines = 4096, 100
    for item in value.split(","):
        key, _, raw = item.partition("=")
        if raw.isdigit():
            if key == "max-bytes":
                max_bytes = int(raw)
            elif key == "max-lines":
                max_lines = int(raw)
    return max(1, max_bytes), max(1, max_lines)


def build_chat_units(
    target: str,
    text: str,
    *,
    kind: str,
    prefix: str,
    linelen: int = 512,
    multiline: str | None = None,
    batch_ref: str = "ml",
) -> list[tuple[list[IRCMessage], str, int]]:
    """The messages that send ``text`` to ``target``, one group per message the server relays.

    Each group is ``(lines, shown, pieces)``: the IRC lines that make the message (one PRIVMSG,
    or a whole draft/multiline batch), the text it shows, and how many pieces of text it carries.
    A client paces and resends whole groups: a batch cut by a dropped connection is discarded.

    ``multiline`` is the server's draft/multiline value when that capability is enabled; then a
    text of several pieces goes as one batch (several when it exceeds max-bytes or max-lines),
    long lines continued with the ``draft/multiline-concat`` tag. Otherwise each non-empty line
    is its own message, and each piece of a long line too.
    """
    command = "NOTICE" if kind == "notice" else "PRIVMSG"
    budget = text_budget(prefix, command, target, linelen)
    if kind == "action":
        budget -= _ACTION_OVERHEAD
    if not text.strip():
        return []
    lines = split_lines(text)
    # (piece, continues the previous piece of the same line)
    pieces: list[tuple[str, bool]] = []
    for line in lines:
        if not line and (multiline is None or kind == "action"):
            continue
        for i, piece in enumerate(split_text(line, budget)):
            pieces.append((piece, i > 0))
    if multiline is None or kind == "action" or len(pieces) <= 1:
        wrap = format_action if kind == "action" else str
        return [([IRCMessage.build(command, target, wrap(piece))], piece, 1) for piece, _ in pieces]
    max_bytes, max_lines = _multiline_limits(multiline)
    groups: list[list[tuple[str, bool]]] = [[]]
    used = 0
    for piece, concat in pieces:
        size = len(piece.encode()) + 1
        if groups[-1] and (len(groups[-1]) >= max_lines or used + size > max_bytes):
            groups.append([])
            used = 0
        groups[-1].append((piece, concat and bool(groups[-1])))
        used += size
    units: list[tuple[list[IRCMessage], str, int]] = []
    for n, group in enumerate(groups):
        ref = f"{batch_ref}.{n}" if len(groups) > 1 else batch_ref
        messages = [IRCMessage.build("BATCH", "+" + ref, "draft/multiline", target)]
        parts: list[str] = []
        for piece, concat in group:
            tags = {"batch": ref, _CONCAT: ""} if concat else {"batch": ref}
            messages.append(IRCMessage.build(command, target, piece, tags=tags))
            if parts and not concat:
                parts.append("\n")
            parts.append(piece)
        messages.append(IRCMessage.build("BATCH", "-" + ref))
        units.append((messages, "".join(parts), len(group)))
    return units


def build_chat_lines(
    target: str,
    text: str,
    *,
    kind: str,
    prefix: str,
    linelen: int = 512,
    multiline: str | None = None,
    batch_ref: str = "ml",
) -> tuple[list[IRCMessage], list[str]]:
    """The messages that send ``text`` to ``target``, and the texts each delivered message shows.

    :func:`build_chat_units` flattened: every line in order, and one text per relayed message.
    """
    units = build_chat_units(
        target, text, kind=kind, prefix=prefix, linelen=linelen, multiline=multiline, batch_ref=batch_ref
    )
    return [m for lines, _, _ in units for m in lines], [shown for _, shown, _ in units]
