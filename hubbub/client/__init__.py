"""Async IRC client library: a sans-IO client state machine and an asyncio driver.

``ClientProtocol`` turns received bytes into typed events and commands into bytes; ``Client``
runs it over TCP or TLS with reconnects. Depends only on :mod:`hubbub.protocol`.
"""

from ._client import Client
from ._config import KNOWN_CAPS, ClientConfig, ReconnectPolicy
from ._errors import ClientError
from ._events import (
    AwayChanged,
    CapabilitiesChanged,
    ChannelRenamed,
    Connected,
    Disconnected,
    Error,
    Event,
    HistoryBatch,
    HistoryGap,
    Invited,
    Joined,
    Kicked,
    LabeledResponse,
    MembersChanged,
    Message,
    MessageKind,
    MessageRedacted,
    MetadataChanged,
    ModeChanged,
    NickChanged,
    NickInUse,
    NotSent,
    Parted,
    Quit,
    Reconnecting,
    Registered,
    Sending,
    ServerReply,
    TopicChanged,
    Typing,
    TypingState,
)
from ._pacing import SendPacing
from ._protocol import ClientProtocol
from ._state import Channel, ISupport, Member, User
from ._text import format_action, parse_action, split_text

__all__ = [
    "KNOWN_CAPS",
    "AwayChanged",
    "CapabilitiesChanged",
    "Channel",
    "ChannelRenamed",
    "Client",
    "ClientConfig",
    "ClientError",
    "ClientProtocol",
    "Connected",
    "Disconnected",
    "Error",
    "Event",
    "HistoryBatch",
    "HistoryGap",
    "ISupport",
    "Invited",
    "Joined",
    "Kicked",
    "LabeledResponse",
    "Member",
    "MembersChanged",
    "Message",
    "MessageKind",
    "MessageRedacted",
    "MetadataChanged",
    "ModeChanged",
    "NickChanged",
    "NickInUse",
    "NotSent",
    "Parted",
    "Quit",
    "ReconnectPolicy",
    "Reconnecting",
    "Registered",
    "SendPacing",
    "Sending",
    "ServerReply",
    "TopicChanged",
    "Typing",
    "TypingState",
    "User",
    "format_action",
    "parse_action",
    "split_text",
]
