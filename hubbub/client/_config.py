"""Client settings: who we are on the network and how the driver reconnects."""

from __future__ import annotations

from dataclasses import dataclass

KNOWN_CAPS: frozenset[str] = frozenset(
    {
        "message-tags",
        "server-time",
        "echo-message",
        "batch",
        "labeled-response",
        "multi-prefix",
        "userhost-in-names",
        "away-notify",
        "extended-join",
        "invite-notify",
        "setname",
        "account-tag",
        "account-notify",
        "chghost",
        "cap-notify",
        "sasl",
        "draft/chathistory",
        "draft/event-playback",
        "draft/multiline",
        "draft/channel-rename",
        "draft/message-redaction",
        "draft/metadata-2",
        "standard-replies",
        "soju.im/search",
    }
)
"""The IRCv3 capabilities this client understands and requests when the server offers them."""


@dataclass(frozen=True, slots=True)
class ClientConfig:
    """Who the client is and what it asks for at registration.

    ``password`` is the server password (PASS). ``sasl_username`` and ``sasl_password`` log in
    with SASL PLAIN when the server offers it. ``channels`` are joined after registration.
    ``auto_fallback_nick`` tries ``nick_`` (then ``nick__`` ...) when the nick is taken at
    registration; otherwise the application answers :class:`NickInUse` with ``set_nick``.
    ``caps`` limits which capabilities are requested (all known ones by default).
    ``dedup_size`` bounds the msgids remembered per buffer for de-duplication.
    ``history_limit`` is how many messages one CHATHISTORY request asks for when the server
    sets no lower limit. ``metadata_keys`` are the draft/metadata-2 keys subscribed to when the
    server offers it (none: no subscription).
    """

    nick: str
    username: str | None = None
    realname: str | None = None
    password: str | None = None
    sasl_username: str | None = None
    sasl_password: str | None = None
    channels: tuple[str, ...] = ()
    auto_fallback_nick: bool = True
    caps: frozenset[str] = KNOWN_CAPS
    dedup_size: int = 4096
    history_limit: int = 100
    metadata_keys: tuple[str, ...] = ("display-name", "status")

    @property
    def user(self) -> str:
        """The username sent in USER (the nick when none is set)."""
        return self.username or self.nick

    @property
    def real(self) -> str:
        """The realname sent in USER (the nick when none is set)."""
        return self.realname or self.nick


@dataclass(frozen=True, slots=True)
class ReconnectPolicy:
    """Exponential backoff for reconnecting: ``initial`` seconds doubled per failure up to ``maximum``.

    Each delay is scaled by a random factor in ``[1 - jitter, 1 + jitter]`` so that many clients
    dropped by one restart do not return in lock step. ``enabled=False`` turns reconnecting off.
    ``max_attempts`` of 0 means keep trying forever.
    """

    enabled: bool = True
    initial: float = 1.0
    maximum: float = 60.0
    factor: float = 2.0
    jitter: float = 0.2
    max_attempts: int = 0

    def delay(self, attempt: int, random_unit: float) -> float:
        """The delay before attempt number ``attempt`` (1-based); ``random_unit`` is in ``[0, 1)``."""
        base = min(self.maximum, self.initial * self.factor ** max(0, attempt - 1))
        return max(0.0, base * (1 + self.jitter * (2 * random_unit - 1)))
