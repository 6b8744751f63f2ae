"""Message text: splitting at byte limits on UTF-8 boundaries, and CTCP ACTION."""

from __future__ import annotations

ACTION_PREFIX = "\x01ACTION "
ACTION_SUFFIX = "\x01"


def split_text(text: str, max_bytes: int) -> list[str]:
    """Split one line of ``text`` into pieces of at most ``max_bytes`` UTF-8 bytes each.

    Cuts fall on character boundaries, at the last space in a piece when one lies in its
    second half (the space stays at the end of the earlier piece), else at the last whole
    character that fits. ``"".join(pieces) == text`` always holds. Empty text gives ``[""]``.
    """
    if max_bytes < 4:
        # One UTF-8 character takes up to 4 bytes; a smaller budget could not make progress.
        raise ValueError(f"max_bytes must be at least 4, not {max_bytes}")
    data = text.encode("utf-8", "surrogatepass")
    if len(data) <= max_bytes:
        return [text]
    pieces: list[str] = []
    start = 0
    n = len(data)
    while n - start > max_bytes:
        end = start + max_bytes
        # Step back over continuation bytes (10xxxxxx) so the cut is on a character boundary.
        while end > start and (data[end] & 0xC0) == 0x80:
            end -= 1
        space = data.rfind(b" ", start, end)
        if space >= 0 and space + 1 - start > max_bytes // 2:
            end = space + 1
        pieces.append(data[start:end].decode("utf-8", "surrogatepass"))
        start = end
    pieces.append(data[start:].decode("utf-8", "surrogatepass"))
    return pieces


def split_lines(text: str) -> list[str]:
    """The lines of ``text`` (CRLF, CR or LF end a line); a trailing newline adds no empty line."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if len(lines) > 1 and lines[-1] == "":
        lines.pop()
    return lines


def is_action(text: str) -> bool:
    """Whether ``text`` is a CTCP ACTION (``\\x01ACTION ...\\x01``, the final ``\\x01`` optional)."""
    return text.startswith("\x01ACTION ") or text in ("\x01ACTION", "\x01ACTION\x01")


def parse_action(text: str) -> str:
    """The action text of a CTCP ACTION message (``/me waves`` gives ``"waves"``)."""
    body = text[len("\x01ACTION") :]
    if body.endswith("\x01"):
        body = body[:-1]
    return body[1:] if body.startswith(" ") else body


def format_action(text: str) -> str:
    """Wrap ``text`` as a CTCP ACTION."""
    return f"{ACTION_PREFIX}{text}{ACTION_SUFFIX}"


def is_ctcp(text: str) -> bool:
    """Whether ``text`` is any CTCP message (starts with ``\\x01``)."""
    return text.startswith("\x01")
