"""Sans-IO IRC protocol: messages and tags, framing, names and casemapping, numerics.

Nothing here touches a socket, a clock or asyncio (DESIGN.md principle 2).
"""

from . import numerics
from ._errors import ProtocolError
from ._framer import LineFramer
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
    parse,
    parse_tags,
    unescape_tag_value,
    valid_tag_key,
)
from ._names import (
    CHANTYPES,
    Casemapping,
    casefold,
    is_channel_name,
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
    "match_mask",
    "normalize_mask",
    "numerics",
    "parse",
    "parse_tags",
    "unescape_tag_value",
    "valid_channel_name",
    "valid_nick",
    "valid_tag_key",
    "valid_username",
]
