"""IRC messages with IRCv3 tags: parsing and formatting.

Modern IRC, "Message format": ``['@' tags SPACE] [':' source SPACE] command *(SPACE param)``;
the last parameter may be trailing (``:`` prefix, may hold spaces). IRCv3 message-tags:
values are escaped with ``\\:`` ``\\s`` ``\\\\`` ``\\r`` ``\\n``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import Final

from ._errors import ProtocolError

MAX_LINE_BODY = 512
"""Bytes allowed after the tags, including the trailing CRLF (RFC 1459 2.3)."""
MAX_CLIENT_TAG_DATA = 4094
"""Bytes of tag data a client may send, excluding ``@`` and the space (message-tags)."""
MAX_SERVER_TAG_DATA = 8191
"""Bytes of tag data including ``@`` and the trailing space that a line may carry in all."""
MAX_LINE = MAX_SERVER_TAG_DATA + MAX_LINE_BODY
"""The longest line a peer may send in all: tags plus body, including the CRLF."""

_EMPTY_TAGS: Mapping[str, str] = MappingProxyType({})

_ESCAPES = {";": "\\:", " ": "\\s", "\\": "\\\\", "\r": "\\r", "\n": "\\n"}
_UNESCAPES = {":": ";", "s": " ", "\\": "\\", "r": "\r", "n": "\n"}
_ESCAPE_TABLE = str.maketrans(_ESCAPES)
_FORBIDDEN_IN_PARAM = ("\r", "\n", "\0")
# Keys the server itself writes on most lines, known to be well formed (format_tags).
_PLAIN_KEYS = frozenset({"msgid", "time", "account", "batch", "label", "bot", "draft/bot"})


def escape_tag_value(value: str) -> str:
    """Escape a tag value for the wire (message-tags, "Escaping values")."""
    if ";" in value or " " in value or "\\" in value or "\r" in value or "\n" in value:
        return value.translate(_ESCAPE_TABLE)
    return value


def unescape_tag_value(raw: str) -> str:
    """Undo :func:`escape_tag_value`; unknown escapes drop the backslash, a lone final one is dropped."""
    if "\\" not in raw:
        return raw
    out: list[str] = []
    i = 0
    n = len(raw)
    while i < n:
        ch = raw[i]
        if ch == "\\":
            i += 1
            if i < n:
                nxt = raw[i]
                out.append(_UNESCAPES.get(nxt, nxt))
        else:
            out.append(ch)
        i += 1
    return "".join(out)


def _freeze_tags(tags: Mapping[str, str] | None) -> Mapping[str, str]:
    if not tags:
        return _EMPTY_TAGS
    if isinstance(tags, MappingProxyType):
        return tags
    return MappingProxyType(dict(tags))


class Message:
    """One IRC message: tags, an optional source, a command and its parameters.

    A message is a value: its fields are final (mypy rejects an assignment after ``__init__``),
    and its tags a read-only mapping, so one message is shared by every recipient and the history.
    A plain class rather than a frozen dataclass: one is made for every line read and every
    message relayed, and a frozen class can set its fields only through ``object.__setattr__``,
    several times the cost of a slot store (more so compiled, where a store is one instruction).
    """

    __slots__ = ("command", "params", "source", "tags")

    def __init__(
        self,
        command: str,
        params: Sequence[str] = (),
        source: str | None = None,
        tags: Mapping[str, str] | None = _EMPTY_TAGS,
    ) -> None:
        self.command: Final[str] = command
        self.params: Final[tuple[str, ...]] = params if type(params) is tuple else tuple(params)
        self.source: Final[str | None] = source
        self.tags: Final[Mapping[str, str]] = tags if type(tags) is MappingProxyType else _freeze_tags(tags)

    def __repr__(self) -> str:
        return (
            f"Message(command={self.command!r}, params={self.params!r}, source={self.source!r},"
            f" tags={dict(self.tags)!r})"
        )

    @classmethod
    def build(
        cls,
        command: str,
        *params: str,
        source: str | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> Message:
        """Make a message from positional parameters: ``Message.build("PRIVMSG", "#a", "hi")``."""
        return cls(command, params, source, _freeze_tags(tags))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Message):
            return NotImplemented
        return (
            self.command == other.command
            and self.params == other.params
            and self.source == other.source
            and dict(self.tags) == dict(other.tags)
        )

    def __hash__(self) -> int:
        return hash((self.command, self.params, self.source, tuple(sorted(self.tags.items()))))

    def param(self, index: int, default: str = "") -> str:
        """The parameter at ``index``, or ``default`` when there are fewer."""
        return self.params[index] if index < len(self.params) else default

    def with_tags(self, tags: Mapping[str, str]) -> Message:
        """A copy with ``tags`` instead of the current ones."""
        return Message(self.command, self.params, self.source, _freeze_tags(tags))

    def to_bytes(self, *, tags: bool = True) -> bytes:
        """Format for the wire, with CRLF; ``tags=False`` leaves the tags out."""
        return format_message(self, tags=tags)


def parse_tags(raw: str) -> dict[str, str]:
    """Parse the tag section (without ``@``) into a dict; the last duplicate wins.

    Keys are kept as they come: message-tags says implementations "MUST NOT perform any
    validation that would reject the message if an invalid tag key name is used". Only an
    empty key (``=v``) is dropped, since it names nothing. An empty value (``k=``) is the same
    as no value (``k``) and both become ``""``.
    """
    tags: dict[str, str] = {}
    for item in raw.split(";"):
        if not item:
            continue
        key, sep, value = item.partition("=")
        if not key:
            continue
        # message-tags: "SHOULD disregard all but the final occurrence".
        tags[key] = unescape_tag_value(value) if sep else ""
    return tags


def valid_tag_key(key: str) -> bool:
    """Whether ``key`` follows the message-tags key grammar: ``['+'] [vendor '/'] key_name``.

    ``key_name`` is ASCII letters, digits and hyphens; ``vendor`` is a host name. Parsing does
    not apply this check (the spec forbids rejecting messages for it); it is for code that
    decides which tags to accept or relay.
    """
    name = key[1:] if key[:1] == "+" else key
    vendor, slash, short = name.rpartition("/")
    if not short or (slash and not vendor):
        return False
    if not all(ch.isascii() and (ch.isalnum() or ch == "-") for ch in short):
        return False
    return all(ch.isascii() and (ch.isalnum() or ch in ".-") for ch in vendor)


def parse(line: str | bytes) -> Message:
    """Parse one line (without or with its CRLF) into a :class:`Message`.

    Bytes are decoded as UTF-8. Only the protocol's own error is ever raised, and its
    ``numeric`` says how a server answers the line: ``INVALID_UTF8`` for bytes that are not
    UTF-8 and ``INVALID_CHARACTERS`` for a NUL, CR or LF inside the line (standard-replies
    ``FAIL`` codes), ``421`` for a command that is not printable; a line with no command at
    all (only tags, only a source) has none, since Modern IRC says to ignore an empty message.
    """
    if isinstance(line, bytes | bytearray | memoryview):
        try:
            text = (line if type(line) is bytes else bytes(line)).decode("utf-8")
        except UnicodeDecodeError:
            raise ProtocolError("line is not valid UTF-8", numeric="INVALID_UTF8") from None
    else:
        text = line
    text = text.rstrip("\r\n")
    if "\0" in text or "\r" in text or "\n" in text:
        raise ProtocolError("CR, LF or NUL inside a line", numeric="INVALID_CHARACTERS")
    if text and text[0] not in " @:":
        # The common line from a client, with neither tags nor source: the same result as the
        # general parser below, in a few string operations.
        head, colon, trailing = text.partition(" :")
        words = head.split(" ")
        if "" in words:
            words = [w for w in words if w]
        command = words[0]
        if not command.isprintable():
            raise ProtocolError(f"invalid command {command[:32]!r}", numeric="421")
        if colon:
            words.append(trailing)
        return Message(command.upper(), tuple(words[1:]), None, _EMPTY_TAGS)
    tags: Mapping[str, str] = _EMPTY_TAGS
    pos = 0
    n = len(text)
    if text.startswith("@"):
        end = text.find(" ")
        if end < 0:
            raise ProtocolError("tags without a command")
        tags = parse_tags(text[1:end])
        pos = end
    while pos < n and text[pos] == " ":
        pos += 1
    source: str | None = None
    if pos < n and text[pos] == ":":
        end = text.find(" ", pos)
        if end < 0:
            raise ProtocolError("source without a command")
        source = text[pos + 1 : end]
        if not source:
            raise ProtocolError("empty source")
        pos = end
        while pos < n and text[pos] == " ":
            pos += 1
    end = text.find(" ", pos)
    if end < 0:
        end = n
    command = text[pos:end]
    if not command:
        raise ProtocolError("empty command")
    if not command.isprintable():
        raise ProtocolError(f"invalid command {command[:32]!r}", numeric="421")
    # Any other word is kept, so that a server can answer a command it does not know with
    # ERR_UNKNOWNCOMMAND (Modern IRC) however it is spelt.
    pos = end
    params: list[str] = []
    while pos < n:
        while pos < n and text[pos] == " ":
            pos += 1
        if pos >= n:
            break
        if text[pos] == ":":
            params.append(text[pos + 1 :])
            break
        end = text.find(" ", pos)
        if end < 0:
            end = n
        params.append(text[pos:end])
        pos = end
    return Message(command.upper(), tuple(params), source, _freeze_tags(tags))


def parse_loosely(line: bytes) -> Message | None:
    """What a line :func:`parse` refused seems to be, to answer it: its command and tags.

    Bytes that are not UTF-8, and NUL, CR and LF, become U+FFFD, so a line refused for them
    still shows its command and its ``label``. None when even so there is no command.
    """
    text = line.decode("utf-8", "replace").rstrip("\r\n")
    for bad in _FORBIDDEN_IN_PARAM:
        text = text.replace(bad, "\ufffd")
    try:
        return parse(text)
    except ProtocolError:
        return None


def check_client_line(line: bytes) -> None:
    """Check a client's raw line (without CRLF) against the length limits.

    Raises :class:`ProtocolError` with numeric 417 when the part after the tags is longer than
    510 bytes or the tag data longer than :data:`MAX_CLIENT_TAG_DATA` bytes.
    """
    body_start = 0
    if line[:1] == b"@":
        space = line.find(b" ")
        if space < 0:
            space = len(line)
        if space - 1 > MAX_CLIENT_TAG_DATA:
            raise ProtocolError("input line too long (tags)", numeric="417")
        body_start = space + 1
    if len(line) - body_start > MAX_LINE_BODY - 2:
        raise ProtocolError("input line too long", numeric="417")


def format_tags(tags: Mapping[str, str]) -> str:
    """Format tags as ``@k=v;k2`` (no trailing space); empty string when there are none.

    An empty value is written as the bare key (message-tags: the two forms are equivalent). A key
    that is empty or holds a space, ``;``, ``=``, CR, LF or NUL, or a value holding NUL (which has
    no escape), raises :class:`ProtocolError`: the line could not be read back.
    """
    if not tags:
        return ""
    # Every relayed message comes through here: the checks are plain substring tests, which cost
    # far less than a set of characters or str.translate with a table on every value. A key is
    # opaque (message-tags "Format"), but a space, ";", "=", CR, LF or NUL would break the line.
    parts: list[str] = []
    for k, v in tags.items():
        if k not in _PLAIN_KEYS and (
            not k or " " in k or ";" in k or "=" in k or "\r" in k or "\n" in k or "\0" in k
        ):
            raise ProtocolError(f"tag key {k!r} cannot be sent")
        if v == "":
            parts.append(k)
            continue
        if "\0" in v:
            raise ProtocolError(f"value of tag {k!r} holds NUL")
        if ";" in v or " " in v or "\\" in v or "\r" in v or "\n" in v:
            v = v.translate(_ESCAPE_TABLE)
        parts.append(f"{k}={v}")
    return "@" + ";".join(parts)


def _plain_word(word: str) -> bool:
    # A command or source with a space, CR, LF or NUL would be split or cut when read back.
    # Substring tests: much cheaper than a set of characters on a word as long as a hostmask.
    return not (" " in word or "\r" in word or "\n" in word or "\0" in word)


def format_body(command: str, params: Sequence[str], source: str | None = None) -> str:
    """Format everything after the tags, without CRLF.

    The last parameter is written as trailing whenever it needs to be (empty, starts with
    ``:`` or holds a space). A parameter with CR, LF or NUL raises :class:`ProtocolError`, as
    does an empty command, a command or source holding a space, CR, LF or NUL, or a command
    starting with ``:`` or ``@``. An empty source is the same as none.
    """
    if not command or command[0] in ":@" or not _plain_word(command):
        raise ProtocolError(f"command {command[:32]!r} cannot be sent")
    if source:
        if not _plain_word(source):
            raise ProtocolError(f"source {source[:64]!r} holds a space, CR, LF or NUL")
        head = f":{source} {command}"
    else:
        head = command
    if not params:
        return head
    last = params[-1]
    if len(params) > 1:
        middle = params[:-1]
        for p in middle:
            if not p or p[0] == ":" or " " in p:
                raise ProtocolError(f"middle parameter {p!r} is empty, starts with ':' or has a space")
        text = f"{head} {' '.join(middle)} "
    else:
        text = head + " "
    text += ":" + last if not last or last[0] == ":" or " " in last else last
    # The command and source hold none of these, so one look at the whole finds them in a parameter.
    if "\r" in text or "\n" in text or "\0" in text:
        raise ProtocolError("CR, LF or NUL inside a parameter")
    return text


def format_message(message: Message, *, tags: bool = True) -> bytes:
    """Format a whole message as bytes ending in CRLF.

    Raises :class:`ProtocolError` for a message that cannot be written so that :func:`parse`
    reads it back the same (see :func:`format_body` and :func:`format_tags`), including text
    that is not encodable as UTF-8 (lone surrogates).
    """
    body = format_body(message.command, message.params, message.source)
    text = f"{format_tags(message.tags)} {body}\r\n" if tags and message.tags else f"{body}\r\n"
    try:
        return text.encode()
    except UnicodeEncodeError:
        raise ProtocolError("message text is not encodable as UTF-8") from None


def pack(items: Iterable[str], budget: int, separator: str = " ") -> list[str]:
    """Join ``items`` into as few strings as possible, each at most ``budget`` UTF-8 bytes.

    For replies that list many names (NAMES, WHOIS channels, CAP LS, MONITOR): each string then
    fits one line. An item longer than the budget still gets a string of its own; no item is cut.
    """
    lines: list[str] = []
    current: list[str] = []
    size = 0
    step = len(separator.encode())
    for item in items:
        length = len(item.encode()) + step
        if current and size + length > budget:
            lines.append(separator.join(current))
            current, size = [], 0
        current.append(item)
        size += length
    if current:
        lines.append(separator.join(current))
    return lines
