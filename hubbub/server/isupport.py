"""What the server offers, as clients read it: its capabilities (CAP LS) and ISUPPORT tokens.

Both are made from the settings alone (and the TLS port, for STS), once at start-up and again on
REHASH.
"""

from __future__ import annotations

from hubbub.protocol import CHANTYPES

from . import caps as capmod
from .config import Settings
from .world import PREFIX_MODES, PREFIX_SYMBOLS


def offered_caps(settings: Settings, tls_port: int | None) -> dict[str, str]:
    """The capabilities offered on the plain-text listener, with their CAP LS 302 values."""
    caps = dict(capmod.SUPPORTED)
    if settings.cluster_url:
        del caps["draft/channel-rename"]  # RENAME is refused in a cluster (handlers/rename.py)
    caps["draft/chathistory"] = ""
    caps["draft/message-redaction"] = ""
    caps["soju.im/search"] = ""  # SEARCH (handlers/search.py)
    caps["draft/multiline"] = (
        f"max-bytes={settings.multiline_max_bytes},max-lines={settings.multiline_max_lines}"
    )
    if settings.history_events:
        caps["draft/event-playback"] = ""
    caps["sasl"] = "PLAIN,SCRAM-SHA-256,EXTERNAL" if settings.tls_enabled else "PLAIN,SCRAM-SHA-256"
    caps["account-notify"] = ""
    caps["account-tag"] = ""
    # IRCv3 metadata (work in progress): the draft/metadata-2 name the spec asks for, with its limits.
    caps["draft/metadata-2"] = (
        f"max-subs={settings.metadata_max_subs},max-keys={settings.metadata_max_keys},"
        f"max-value-bytes={settings.metadata_max_value_bytes}"
    )
    caps["draft/metadata-notify-2"] = ""  # and of the users one MONITORs
    if settings.registration_open:
        keys = []
        if settings.register_before_connect and not settings.password:
            # With a server password, a REGISTER before PASS is refused (COMPLETE_CONNECTION_
            # REQUIRED), which the before-connect key would forbid.
            keys.append("before-connect")
        if settings.register_custom_account_name:
            keys.append("custom-account-name")
        caps["draft/account-registration"] = ",".join(keys)
    if settings.tls_enabled and settings.sts_duration > 0 and tls_port is not None:
        # IRCv3 sts: on plain text, the policy names the TLS port; clients upgrade.
        caps["sts"] = f"port={tls_port},duration={settings.sts_duration}"
    return caps


def isupport_tokens(settings: Settings) -> list[str]:
    """The RPL_ISUPPORT (005) tokens, sorted."""
    s = settings
    targets = s.max_targets
    return [
        "ACCOUNTEXTBAN=a",  # IRCv3 account-extban: the EXTBAN type that matches account names
        f"AWAYLEN={s.awaylen}",
        "BOT=B",
        f"CASEMAPPING={s.casemapping}",
        f"CHANLIMIT={CHANTYPES}:{s.max_channels}",
        "CHANMODES=beI,k,l,Cimnst",
        f"CHANNELLEN={s.channellen}",
        f"CHANTYPES={CHANTYPES}",
        f"CHATHISTORY={s.chathistory_max}",
        "ELIST=MNU",
        "EXCEPTS=e",
        # Modern IRC "EXTBAN Parameter": no prefix, types a (account) and m (mute); a:bob, m:a:bob
        "EXTBAN=,am",
        "INVEX=I",
        f"KICKLEN={s.kicklen}",
        "LINELEN=512",
        f"MAXLIST=beI:{s.max_list_entries}",
        f"MAXTARGETS={targets}",
        f"MODES={s.max_modes}",
        f"MONITOR={s.monitor_limit}",
        "MSGREFTYPES=msgid,timestamp",
        f"NETWORK={s.network}",
        f"NICKLEN={s.nicklen}",
        f"PREFIX=({PREFIX_MODES}){PREFIX_SYMBOLS}",
        "SAFELIST",
        f"STATUSMSG={PREFIX_SYMBOLS}",
        f"TARGMAX=JOIN:,KICK:{s.max_kick_targets},LIST:,NAMES:1,NOTICE:{targets},PART:,PRIVMSG:{targets},"
        f"TAGMSG:{targets},WHOIS:1",
        f"TOPICLEN={s.topiclen}",
        f"USERLEN={s.userlen}",
        "UTF8ONLY",
        "WHOX",
    ]
