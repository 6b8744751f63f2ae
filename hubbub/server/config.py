"""Settings: one frozen dataclass built from defaults, a TOML file, the environment and flags.

Precedence (DESIGN.md contracts): flags beat environment beats file beats defaults. Every setting
has a TOML key (in the section named by its metadata), an environment variable ``HUBBUB_<NAME>``
and, for the common ones, a command-line flag. Everything is validated once, at start-up.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hubbub.protocol import valid_channel_name
from hubbub.store.url import SCHEMES as STORE_SCHEMES


class ConfigError(Exception):
    """A setting with a bad value; ``key`` names it as it appears in the file."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key


def _s(default: Any, section: str, doc: str, **extra: Any) -> Any:
    meta = {"section": section, "doc": doc, **extra}
    if isinstance(default, list | tuple):
        return field(default_factory=lambda: tuple(default), metadata=meta)
    return field(default=default, metadata=meta)


DEFAULT_MOTD = "Welcome to hubbub. Be kind; have fun."
# A century: a ban's expiry, in milliseconds, stays far inside the store's 64-bit integers.
MAX_SERVER_BAN_DAYS = 36500


@dataclass(frozen=True, slots=True)
class Settings:
    """Every setting of a hubbub server, with its default."""

    # [server]
    host: str = _s("127.0.0.1", "server", "Address to listen on")
    port: int = _s(1100, "server", "Plain-text IRC port (0 picks a free port)")
    data_dir: str = _s("./hubbub-data", "server", "Directory for the SQLite file and other state")
    store_url: str = _s(
        "",
        "server",
        "PostgreSQL database for history and accounts, postgresql://user@host/db (empty: the data"
        " directory's SQLite file); see docs/postgresql.md",
    )
    store_timeout: float = _s(30.0, "server", "Seconds one PostgreSQL store write may take before it fails")
    store_read_timeout: float = _s(
        2.0,
        "server",
        "Seconds a PostgreSQL read on the event loop (CHATHISTORY, SEARCH, logins) may take before it fails",
    )
    store_readers: int = _s(4, "server", "Connections the PostgreSQL store reads history through, at most")
    server_name: str = _s("hubbub.local", "server", "This server's name, the source of its replies")
    network: str = _s("hubbub", "server", "Network name (ISUPPORT NETWORK)")
    password: str = _s("", "server", "Server password clients must send with PASS (empty: none)")
    motd: str = _s(DEFAULT_MOTD, "server", "Message of the day text (when no motd_file)")
    motd_file: str = _s("", "server", "File whose lines are the message of the day")
    casemapping: str = _s("ascii", "server", "Nick and channel casemapping: ascii or rfc1459")
    admin_name: str = _s("hubbub admin", "server", "ADMIN reply: who runs this server")
    admin_location: str = _s("", "server", "ADMIN reply: where")
    admin_email: str = _s("", "server", "ADMIN reply: contact address")
    log_format: str = _s("text", "server", "Log lines as text, or as one JSON object each: text or json")
    # [limits]
    nicklen: int = _s(32, "limits", "Longest nickname (NICKLEN)")
    channellen: int = _s(64, "limits", "Longest channel name (CHANNELLEN)")
    topiclen: int = _s(390, "limits", "Longest topic (TOPICLEN)")
    awaylen: int = _s(390, "limits", "Longest away message (AWAYLEN)")
    kicklen: int = _s(390, "limits", "Longest kick reason (KICKLEN)")
    userlen: int = _s(18, "limits", "Longest username from USER (USERLEN)")
    max_channels: int = _s(100, "limits", "Channels one client may be in (CHANLIMIT)")
    max_targets: int = _s(4, "limits", "Targets per PRIVMSG/NOTICE/TAGMSG (TARGMAX)")
    max_kick_targets: int = _s(4, "limits", "Nicks per KICK (TARGMAX KICK); any past it are dropped")
    max_modes: int = _s(6, "limits", "Modes with a parameter per MODE command (MODES)")
    max_list_entries: int = _s(100, "limits", "Entries per ban/except/invex list (MAXLIST)")
    masklen: int = _s(200, "limits", "Longest ban, exception or invite-exception mask (longer: 696)")
    whowas_size: int = _s(1000, "limits", "Departed nicks remembered for WHOWAS")
    sendq: int = _s(96 * 1024, "limits", "Bytes queued to one client before it is dropped")
    registration_timeout: float = _s(60.0, "limits", "Seconds a connection has to register")
    ping_interval: float = _s(90.0, "limits", "Seconds of silence before the server sends PING")
    ping_timeout: float = _s(150.0, "limits", "Seconds of silence before a client is dropped")
    flood_control: bool = _s(True, "limits", "Limit each client's command rate")
    flood_burst: int = _s(5, "limits", "Messages (PRIVMSG, NOTICE, TAGMSG) sent at once before slowing")
    flood_rate: float = _s(2.0, "limits", "Messages per second allowed after the burst")
    flood_command_burst: int = _s(20, "limits", "Other commands sent at once before slowing")
    flood_command_rate: float = _s(5.0, "limits", "Other commands per second allowed after their burst")
    recvq: int = _s(
        64 * 1024, "limits", "Bytes of a client's input held for flood control before it is dropped"
    )
    store_backlog: int = _s(10000, "limits", "Messages waiting for the store before senders are slowed down")
    multiline_max_bytes: int = _s(
        4096, "limits", "Bytes of text in one draft/multiline message, line feeds counted (max-bytes)"
    )
    multiline_max_lines: int = _s(
        100,
        "limits",
        "Lines in one draft/multiline message (max-lines); keep max-bytes + 512 per line within sendq",
    )
    multiline_timeout: float = _s(
        30.0, "limits", "Seconds a draft/multiline batch may stay open before it is dropped"
    )
    max_connections: int = _s(20000, "limits", "Connections in total")
    max_per_ip: int = _s(20, "limits", "Connections from one IP address")
    exempt_loopback: bool = _s(
        True, "limits", "Loopback addresses are exempt from max_per_ip and register_max_per_ip"
    )
    typing_burst: int = _s(
        5, "limits", "Typing notifications (TAGMSG with +typing) one client sends at once; more are dropped"
    )
    typing_rate: float = _s(1.0, "limits", "Typing notifications per second allowed after their burst")
    react_max_bytes: int = _s(64, "limits", "Longest +draft/react (+react) value; a longer one gets FAIL")
    reply_max_length: int = _s(
        64, "limits", "Longest +draft/reply (+reply) value, a message id; a longer one gets FAIL"
    )
    # [history]
    history_on_join: int = _s(50, "history", "Lines replayed on join to clients without chathistory")
    history_on_join_window: float = _s(86400.0, "history", "Only replay lines younger than this (s)")
    chathistory_max: int = _s(1000, "history", "Most messages one CHATHISTORY request returns")
    search_max: int = _s(100, "history", "Most messages one SEARCH (soju.im/search) returns")
    search_burst: int = _s(5, "history", "SEARCH commands one client may send at once before slowing")
    search_rate: float = _s(0.5, "history", "SEARCH commands per second allowed after their burst")
    search_timeout: float = _s(
        0.5, "history", "Seconds one SEARCH may read the index before it is stopped (FAIL SEARCH)"
    )
    history_events: bool = _s(False, "history", "Also store JOIN/PART/QUIT/KICK/TOPIC/NICK")
    history_public: bool = _s(False, "history", "Anyone may read any channel's history")
    redact_window: int = _s(
        0, "history", "Authors may REDACT their own messages only this long after sending (s, 0: no limit)"
    )
    retention_days: float = _s(0.0, "history", "Delete messages older than this (0: keep)")
    retention_messages: int = _s(0, "history", "Keep at most this many per target (0: no limit)")
    persistent_channels: tuple[str, ...] = _s(
        [], "history", "Channels that always exist, even empty and never used (durable in either lifetime)"
    )
    channel_lifetime: str = _s(
        "durable",
        "history",
        "durable: a channel that had a message, topic, mode or list entry keeps all of it while"
        " empty and across restarts, until an operator drops it; ephemeral: an emptied channel is"
        " gone (classic IRC)",
    )
    # [channels]
    invite_overrides_limit: bool = _s(
        True, "channels", "A channel operator's INVITE lets its user into a full channel (+l)"
    )
    invite_overrides_bans: bool = _s(
        True,
        "channels",
        "A channel operator's INVITE also lets its user past bans (+b) and the key (+k), as Ergo and"
        " InspIRCd do; off: only past +i and +l, as Solanum does. A plain member's INVITE lets nobody"
        " past anything",
    )
    channel_rename_interval: float = _s(
        60.0,
        "channels",
        "Seconds after a RENAME before the same channel may be renamed again (each rename sends"
        " members without draft/channel-rename a PART, JOIN, topic and NAMES; 0: no wait)",
    )
    # [metadata]
    metadata_max_subs: int = _s(
        100, "metadata", "Keys one client may subscribe to (draft/metadata-2 max-subs)"
    )
    metadata_max_keys: int = _s(
        50, "metadata", "Keys one user or one channel may have set (draft/metadata-2 max-keys)"
    )
    metadata_max_value_bytes: int = _s(
        300, "metadata", "Longest metadata value in UTF-8 bytes (draft/metadata-2 max-value-bytes)"
    )
    metadata_max_key_length: int = _s(64, "metadata", "Longest metadata key name")
    metadata_join_sync_max: int = _s(
        100,
        "metadata",
        "METADATA lines a JOIN (or a SUB) sends at most; past it the client gets 774 and asks with"
        " METADATA <channel> SYNC when it is ready",
    )
    # [accounts]
    registration_open: bool = _s(True, "accounts", "Anyone may register an account (REGISTER, NickServ)")
    register_before_connect: bool = _s(
        True,
        "accounts",
        "REGISTER is accepted before connection registration completes (cap key before-connect);"
        " off: FAIL REGISTER COMPLETE_CONNECTION_REQUIRED until 001",
    )
    register_custom_account_name: bool = _s(
        False,
        "accounts",
        "REGISTER may name an account other than the current nick (cap key custom-account-name);"
        " off: FAIL REGISTER ACCOUNT_NAME_MUST_BE_NICK",
    )
    team_mode: bool = _s(False, "accounts", "Clients must log in with SASL before registration completes")
    nick_enforcement: str = _s(
        "strict", "accounts", "strict: only the logged-in owner may use a registered nick; none: anyone"
    )
    offline_messages: bool = _s(
        True, "accounts", "Keep PRIVMSGs to a registered account that is offline; shown at its next login"
    )
    multi_device: bool = _s(
        True, "accounts", "Connections logged in to an account already online share its nick and channels"
    )
    password_min_length: int = _s(8, "accounts", "Shortest password accepted when registering")
    scram_iterations: int = _s(
        4096,
        "accounts",
        "PBKDF2 iterations of the SASL SCRAM-SHA-256 verifiers made from now on (at least 4096, RFC"
        " 7677); clients pay them at each login",
    )
    login_max_failures: int = _s(
        5,
        "accounts",
        "Failed logins (SASL, IDENTIFY, OPER) from one address, and on one account, before the next"
        " attempts must wait",
    )
    login_failure_window: float = _s(
        300.0,
        "accounts",
        "Seconds without a failed login, after the last wait is over, before an address's or"
        " account's failures are forgotten",
    )
    login_delay: float = _s(
        2.0,
        "accounts",
        "Seconds the first attempt past login_max_failures waits; each further failure doubles it",
    )
    login_max_delay: float = _s(600.0, "accounts", "Longest wait between failed logins (s)")
    login_concurrent_per_ip: int = _s(
        2, "accounts", "Password checks in progress at once from one address (IPv6: one /64)"
    )
    login_concurrent_per_account: int = _s(
        3, "accounts", "Password checks in progress at once for one account"
    )
    register_max_per_ip: int = _s(
        3,
        "accounts",
        "Accounts one address (IPv6: one /64) may register within register_window (loopback is"
        " exempt when exempt_loopback)",
    )
    register_window: float = _s(3600.0, "accounts", "Seconds over which register_max_per_ip counts")
    unused_account_days: float = _s(
        14.0,
        "accounts",
        "Days after which an account registered over IRC and never logged in since stops reserving"
        " its nick (0: it always does)",
    )
    sasl_plain_insecure: bool = _s(
        False, "accounts", "Allow SASL PLAIN over plain text from non-loopback addresses"
    )
    password_hash_memory_kib: int = _s(65536, "accounts", "argon2id memory cost of new password hashes")
    password_hash_time_cost: int = _s(3, "accounts", "argon2id time cost (iterations) of new hashes")
    realnamelen: int = _s(150, "limits", "Longest realname from USER or SETNAME")
    monitor_limit: int = _s(100, "limits", "Nicks one client may watch with MONITOR (ISUPPORT MONITOR)")
    sasl_max_response: int = _s(
        4096,
        "limits",
        "Bytes of base64 one SASL response may total over its AUTHENTICATE chunks (904 past it)",
    )
    read_markers_per_connection: int = _s(
        200, "limits", "Read markers (MARKREAD) kept for a connection not logged in; the oldest goes first"
    )
    # [operators]
    opers: tuple[str, ...] = _s(
        [], "operators", "Operator credentials, each 'name argon2-hash' (hubbub account hash-password)"
    )
    server_ban_max_days: float = _s(
        365.0,
        "operators",
        "Longest KLINE or DLINE duration in days; a longer one is cut to it (no duration: permanent)",
    )
    # [tutorial]
    tutorial_port: int | None = _s(
        None,
        "tutorial",
        "Port of the tutorial door, the original tutorial's name~text protocol (none: off; 0 picks one)",
        kind=int,
    )
    tutorial_channel: str = _s("#general", "tutorial", "The channel tutorial clients chat in")
    tutorial_message_max: int = _s(
        4096,
        "tutorial",
        "Longest tutorial message in bytes (split into several PRIVMSGs); a longer one ends the connection",
    )
    # [tls]
    tls_port: int = _s(6697, "tls", "TLS IRC port, used when tls_cert and tls_key are set (0 picks one)")
    tls_cert: str = _s("", "tls", "PEM certificate chain of the TLS listener (empty: no TLS)")
    tls_key: str = _s("", "tls", "PEM private key of the TLS listener")
    tls_client_ca: str = _s("", "tls", "PEM file of CAs whose client certificates are accepted")
    sts_duration: int = _s(0, "tls", "Seconds clients should keep to TLS (IRCv3 sts; 0: not offered)")
    tls_handshake_timeout: float = _s(
        5.0, "tls", "Seconds a TLS handshake may take before the connection is dropped"
    )

    # [web]
    web_port: int | None = _s(
        None,
        "web",
        "HTTP port of the web door: the browser client, IRC over WebSocket and /healthz (none: off;"
        " 0 picks a free port); HTTPS with tls_cert and tls_key",
        kind=int,
    )
    web_host: str = _s("", "web", "Address the web door listens on (empty: the same as host)")
    web_origins: tuple[str, ...] = _s(
        [],
        "web",
        "Origins (scheme://host[:port]) whose pages may open a WebSocket, besides the page's own"
        " host; empty: http(s) pages on localhost, 127.0.0.1 and [::1]; '*': any",
    )
    web_trusted_proxies: tuple[str, ...] = _s(
        [],
        "web",
        "Addresses or CIDR networks of reverse proxies whose X-Forwarded-For is believed (its last"
        " hop is then the client's address)",
    )
    web_ping_interval: float = _s(
        30.0, "web", "Seconds between WebSocket pings; a client with no answer by the next one is dropped"
    )
    web_request_timeout: float = _s(
        10.0, "web", "Seconds a web connection has to send its whole HTTP request"
    )
    web_max_requests: int = _s(
        256, "web", "HTTP connections at once that are not WebSockets (yet); more are answered 503"
    )
    web_max_requests_per_ip: int = _s(
        64, "web", "Of those, from one address (a trusted proxy's are not counted per address)"
    )
    web_health_max_lag: float = _s(
        1.0, "web", "Seconds the event loop may take to run a callback before /healthz answers 503"
    )

    # [cluster]
    cluster_url: str = _s(
        "",
        "cluster",
        "Redis URL of the cluster's bus (redis://HOST:PORT/DB); empty: a single node (docs/cluster.md)",
    )
    node_name: str = _s(
        "", "cluster", "This node's name in logs, /metrics and WHOIS (empty: the host name and port)"
    )
    cluster_lease: float = _s(
        15.0, "cluster", "Seconds a silent node's users stay online elsewhere before their QUITs are shown"
    )
    cluster_order_wait: float = _s(
        0.5,
        "cluster",
        "Seconds a node waits for another node's earlier message before asking the store about it",
    )

    def validate(self) -> Settings:
        """Check every value; raise :class:`ConfigError` naming the first bad key."""
        positive = [
            "nicklen",
            "channellen",
            "topiclen",
            "awaylen",
            "kicklen",
            "userlen",
            "max_channels",
            "max_targets",
            "max_kick_targets",
            "max_modes",
            "max_list_entries",
            "masklen",
            "sendq",
            "flood_burst",
            "flood_command_burst",
            "store_backlog",
            "store_readers",
            "max_connections",
            "max_per_ip",
            "chathistory_max",
            "search_max",
            "search_burst",
        ]
        for key in positive:
            if getattr(self, key) <= 0:
                raise ConfigError(key, "must be greater than 0")
        for key in (
            "registration_timeout",
            "ping_interval",
            "ping_timeout",
            "flood_rate",
            "flood_command_rate",
            "tls_handshake_timeout",
            "search_rate",
            "search_timeout",
            "store_timeout",
            "store_read_timeout",
        ):
            if getattr(self, key) <= 0:
                raise ConfigError(key, "must be greater than 0")
        if self.store_url and not self.store_url.startswith(STORE_SCHEMES):
            # The URL may hold a password: the message names the schemes, never the URL.
            raise ConfigError("store_url", "must start with postgresql:// or postgres:// (or be empty)")
        if not 0 <= self.port <= 65535:
            raise ConfigError("port", "must be between 0 and 65535")
        if self.recvq < 16 * 1024:
            raise ConfigError("recvq", "must be at least 16384 (two of the longest lines)")
        for key in ("multiline_max_bytes", "multiline_max_lines", "multiline_timeout"):
            if getattr(self, key) <= 0:
                raise ConfigError(key, "must be greater than 0")
        if self.multiline_max_bytes > self.recvq:
            # An open batch is input held for the client, like its recvq, and bounded alike.
            raise ConfigError("multiline_max_bytes", "must not exceed recvq")
        if self.ping_timeout <= self.ping_interval:
            raise ConfigError("ping_timeout", "must be longer than ping_interval")
        if self.casemapping not in ("ascii", "rfc1459"):
            raise ConfigError("casemapping", "must be ascii or rfc1459")
        if self.log_format not in ("text", "json"):
            raise ConfigError("log_format", "must be text or json")
        if "." not in self.server_name or " " in self.server_name:
            raise ConfigError("server_name", "must look like a host name (with a dot, no spaces)")
        if self.nicklen > 200 or self.channellen > 200:
            raise ConfigError("nicklen" if self.nicklen > 200 else "channellen", "at most 200")
        for key in ("history_on_join", "whowas_size", "retention_messages", "redact_window"):
            if getattr(self, key) < 0:
                raise ConfigError(key, "must not be negative")
        if self.channel_lifetime not in ("durable", "ephemeral"):
            raise ConfigError("channel_lifetime", "must be durable or ephemeral")
        if self.nick_enforcement not in ("strict", "none"):
            raise ConfigError("nick_enforcement", "must be strict or none")
        for key in ("typing_burst", "typing_rate", "react_max_bytes", "reply_max_length"):
            if getattr(self, key) <= 0:
                raise ConfigError(key, "must be greater than 0")
        for key in (
            "password_min_length",
            "login_max_failures",
            "login_failure_window",
            "login_delay",
            "login_concurrent_per_ip",
            "login_concurrent_per_account",
            "register_max_per_ip",
            "register_window",
            "realnamelen",
            "password_hash_time_cost",
            "monitor_limit",
            "read_markers_per_connection",
            "sasl_max_response",
        ):
            if getattr(self, key) <= 0:
                raise ConfigError(key, "must be greater than 0")
        for key in (
            "metadata_max_subs",
            "metadata_max_keys",
            "metadata_max_value_bytes",
            "metadata_max_key_length",
        ):
            if getattr(self, key) <= 0:
                raise ConfigError(key, "must be greater than 0")
        if self.metadata_max_key_length + self.metadata_max_value_bytes > 400:
            # RPL_KEYVALUE and METADATA carry a nick or channel, the key and the value in one line.
            raise ConfigError("metadata_max_value_bytes", "with metadata_max_key_length, at most 400")
        if self.metadata_join_sync_max < 0:
            raise ConfigError("metadata_join_sync_max", "must not be negative")
        if self.login_max_delay < self.login_delay:
            raise ConfigError("login_max_delay", "must be at least login_delay")
        if self.unused_account_days < 0:
            raise ConfigError("unused_account_days", "must not be negative")
        if self.scram_iterations < 4096:
            raise ConfigError("scram_iterations", "must be at least 4096 (RFC 7677)")
        if self.channel_rename_interval < 0:
            raise ConfigError("channel_rename_interval", "must not be negative")
        if self.password_hash_memory_kib < 8:
            raise ConfigError("password_hash_memory_kib", "must be at least 8")
        if self.tutorial_port is not None and not 0 <= self.tutorial_port <= 65535:
            raise ConfigError("tutorial_port", "must be between 0 and 65535")
        if not valid_channel_name(self.tutorial_channel, self.channellen):
            raise ConfigError("tutorial_channel", "must be a channel name, such as #general")
        if not 0 < self.tutorial_message_max <= self.recvq:
            raise ConfigError("tutorial_message_max", "must be greater than 0 and at most recvq")
        if not 0 <= self.tls_port <= 65535:
            raise ConfigError("tls_port", "must be between 0 and 65535")
        if self.web_port is not None and not 0 <= self.web_port <= 65535:
            raise ConfigError("web_port", "must be between 0 and 65535")
        for key in ("web_ping_interval", "web_request_timeout", "web_health_max_lag", "web_max_requests"):
            if getattr(self, key) <= 0:
                raise ConfigError(key, "must be greater than 0")
        if self.cluster_url and not self.cluster_url.startswith(("redis://", "rediss://", "unix://")):
            raise ConfigError("cluster_url", "must be a Redis URL: redis://HOST:PORT/DB")
        if not 1.0 <= self.cluster_lease <= 3600:
            raise ConfigError("cluster_lease", "must be between 1 and 3600 seconds")
        if not 0 < self.cluster_order_wait <= 60:
            raise ConfigError("cluster_order_wait", "must be greater than 0 and at most 60 seconds")
        if self.web_max_requests_per_ip < 1:
            raise ConfigError("web_max_requests_per_ip", "must be at least 1")
        for entry in self.web_trusted_proxies:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ConfigError("web_trusted_proxies", f"not an address or network: {entry}") from None
        for origin in self.web_origins:
            if origin != "*" and "://" not in origin:
                raise ConfigError("web_origins", f"not an origin (scheme://host[:port]): {origin}")
        if bool(self.tls_cert) != bool(self.tls_key):
            raise ConfigError("tls_key" if self.tls_cert else "tls_cert", "tls_cert and tls_key go together")
        for key in ("tls_cert", "tls_key", "tls_client_ca"):
            if getattr(self, key) and not Path(getattr(self, key)).is_file():
                raise ConfigError(key, f"no such file: {getattr(self, key)}")
        if not 0 < self.server_ban_max_days <= MAX_SERVER_BAN_DAYS:
            raise ConfigError(
                "server_ban_max_days", f"must be greater than 0 and at most {MAX_SERVER_BAN_DAYS}"
            )
        for entry in self.opers:
            name, _, hashed = entry.partition(" ")
            if not name or not hashed.startswith("$argon2"):
                raise ConfigError("opers", "each entry is 'name argon2-hash'")
        if self.motd_file and not Path(self.motd_file).is_file():
            raise ConfigError("motd_file", f"no such file: {self.motd_file}")
        return self

    @property
    def tls_enabled(self) -> bool:
        """Whether a TLS listener is configured."""
        return bool(self.tls_cert and self.tls_key)

    def motd_lines(self) -> list[str]:
        """The message of the day, line by line."""
        if self.motd_file:
            text = Path(self.motd_file).read_text(encoding="utf-8", errors="replace")
        else:
            text = self.motd
        return text.splitlines()


FIELDS: dict[str, dataclasses.Field[Any]] = {f.name: f for f in dataclasses.fields(Settings)}


def _coerce(key: str, value: Any, source: str) -> Any:
    f = FIELDS[key]
    kind: type = f.metadata.get("kind") or (
        type(f.default) if f.default is not dataclasses.MISSING else tuple
    )
    try:
        if f.default is None and (value is None or str(value).strip().lower() in ("", "none", "off")):
            return None  # an optional setting turned off
        if kind is bool:
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in ("1", "true", "yes", "on"):
                return True
            if text in ("0", "false", "no", "off"):
                return False
            raise ValueError(f"not a boolean: {value!r}")
        if kind is int:
            if isinstance(value, bool):
                raise ValueError("not an integer")
            return int(value)
        if kind is float:
            return float(value)
        if kind is tuple:
            if isinstance(value, str):
                return tuple(v.strip() for v in value.split(",") if v.strip())
            return tuple(str(v) for v in value)
        return str(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(key, f"bad value from {source}: {exc}") from None


def from_toml(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a TOML file into flat setting values (sections are only for grouping)."""
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except OSError as exc:
        raise ConfigError("config", f"cannot read {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("config", f"{path}: {exc}") from None
    out: dict[str, Any] = {}
    for section, table in data.items():
        items = table.items() if isinstance(table, dict) else [(section, table)]
        for key, value in items:
            if key not in FIELDS:
                raise ConfigError(f"{section}.{key}" if isinstance(table, dict) else key, "unknown setting")
            out[key] = _coerce(key, value, str(path))
    return out


def from_environ(environ: Mapping[str, str]) -> dict[str, Any]:
    """Setting values from ``HUBBUB_<NAME>`` environment variables."""
    out: dict[str, Any] = {}
    for key in FIELDS:
        name = "HUBBUB_" + key.upper()
        if name in environ:
            out[key] = _coerce(key, environ[name], name)
    return out


def load(
    *,
    config_file: str | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Build validated settings: defaults < file < environment < ``overrides`` (the flags)."""
    values: dict[str, Any] = {}
    env = os.environ if environ is None else environ
    config_file = config_file or env.get("HUBBUB_CONFIG") or None
    if config_file:
        values.update(from_toml(config_file))
    values.update(from_environ(env))
    for key, value in (overrides or {}).items():
        if value is not None:
            values[key] = _coerce(key, value, "command line")
    return Settings(**values).validate()


def reference_markdown() -> str:
    """The configuration reference (docs/configuration.md), generated from the settings above."""
    flags = {
        "host": "--host",
        "port": "--port",
        "data_dir": "--data-dir",
        "store_url": "--store",
        "password": "--password",
        "server_name": "--server-name",
        "network": "--network",
        "motd_file": "--motd-file",
        "flood_control": "--no-flood-control",
        "tls_port": "--tls-port",
        "tls_cert": "--tls-cert",
        "tls_key": "--tls-key",
        "web_port": "--web-port",
        "web_host": "--web-host",
        "tutorial_port": "--tutorial-port",
    }
    lines = [
        "# Configuration reference",
        "",
        "Generated from `hubbub/server/config.py` by `python -m hubbub.server.config`; a test keeps",
        "this page and the code in step.",
        "",
        "Every setting can be given in the TOML file (`hubbub serve --config FILE`, or `HUBBUB_CONFIG`)",
        "under its section, as an environment variable `HUBBUB_<NAME>`, and the common ones as a flag.",
        "Flags beat the environment, which beats the file, which beats the defaults. Lists are written",
        "as TOML arrays in the file and comma-separated in the environment.",
        "",
    ]
    sections: dict[str, list[dataclasses.Field[Any]]] = {}
    for f in dataclasses.fields(Settings):
        sections.setdefault(f.metadata["section"], []).append(f)
    for section, fields in sections.items():
        lines += [
            f"## [{section}]",
            "",
            "| key | default | environment | flag | meaning |",
            "|---|---|---|---|---|",
        ]
        for f in fields:
            default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[operator]
            if default is None:
                shown = "none"
            elif isinstance(default, bool):
                shown = str(default).lower()
            elif isinstance(default, tuple):
                shown = "[" + ", ".join(default) + "]"
            elif default is None:
                shown = "none"
            elif isinstance(default, str):
                shown = f'"{default}"'
            else:
                shown = str(default)
            flag = flags.get(f.name, "")
            lines.append(
                f"| `{f.name}` | `{shown}` | `HUBBUB_{f.name.upper()}` | {flag} | {f.metadata['doc']} |"
            )
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    print(reference_markdown(), end="")
