"""Sans-IO IRC protocol: messages and tags, framing, names and casemapping, numerics.

Nothing here touches a socket, a clock or asyncio (DESIGN.md principle 2).

- :class:`LineFramer` turns received bytes into lines; an over-long line is a fatal 417
  (:func:`split_lines` does the same for a caller that keeps the unfinished line itself).
- :func:`check_client_line` applies a client's byte limits (510 body, 4094 tag data) to a line.
- :func:`parse` turns a line into a frozen :class:`Message`; :func:`format_message` turns it
  back into bytes and refuses what could not be read back the same. Both follow Modern IRC's
  message format and IRCv3 message-tags (escaping, opaque keys, last duplicate wins).
  :func:`parse_loosely` reads what it can of a refused line, so that the refusal can name its
  command and answer its label.
- :func:`casefold`, :func:`valid_nick`, :func:`valid_channel_name`: names and casemapping
  (``ascii`` or ``rfc1459``); :func:`skeleton`: the look-alike key of a name (Unicode TR39
  confusables), :func:`is_invisible`: characters no name may hold; :func:`match_mask` and
  :func:`normalize_mask`: ban masks.
- :mod:`numerics` names the numeric replies. Every error is a :class:`ProtocolError`.
"""

from . import numerics
from ._errors import ProtocolError
from ._framer import LineFramer, split_lines
from ._masks import match_mask, normalize_mask
from ._message import (
    MAX_CLIENT_TAG_DATA,
    MAX_LINE,
    MAX_LINE_BODY,
    MAX_SERVER_TAG_DATA,
    Message,
    check_client_line,
    escape_tag_value,
    format_body,
    format_message,
    format_tags,
    pack,
    parse,
    parse_loosely,
    parse_tags,
    unescape_tag_value,
    valid_tag_key,
)
from ._names import (
    CHANTYPES,
    Casemapping,
    casefold,
    is_channel_name,
    is_invisible,
    skeleton,
    valid_channel_name,
    valid_nick,
    valid_username,
)

__all__ = [
    "CHANTYPES",
    "MAX_CLIENT_TAG_DATA",
    "MAX_LINE",
    "MAX_LINE_BODY",
    "MAX_SERVER_TAG_DATA",
    "Casemapping",
    "LineFramer",
    "Message",
    "ProtocolError",
    "casefold",
    "check_client_line",
    "escape_tag_value",
    "format_body",
    "format_message",
    "format_tags",
    "is_channel_name",
    "is_invisible",
    "match_mask",
    "normalize_mask",
    "numerics",
    "pack",
    "parse",
    "parse_loosely",
    "parse_tags",
    "skeleton",
    "split_lines",
    "unescape_tag_value",
    "valid_channel_name",
    "valid_nick",
    "valid_tag_key",
    "valid_username",
]
