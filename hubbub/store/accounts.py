"""Accounts, certificate fingerprints, read markers, server bans and registered channels.

These live in the same SQLite file as the history (schema version 3) but through their own
connection: they change rarely, outside the per-turn group commit of messages. Passwords arrive
here already hashed; this module never sees one in clear.

An account has an immutable random id besides its name (schema version 5). Read markers, channel
registrations and direct conversations name the account by that id, so an account registered
later under a dropped account's name inherits none of them.

No two accounts may look alike: the store keeps each name's skeleton (:func:`hubbub.protocol.skeleton`,
schema version 9) and refuses a new account whose key or skeleton is taken, in the transaction
that would insert it, so no other process can slip one in between.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import logging
import os
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from hubbub.protocol import skeleton

from .model import new_account_id, store_errors
from .schema import migrate
from .sqlite import database_path

__all__ = [
    "Account",
    "AccountStore",
    "RegisteredChannel",
    "ScramVerifier",
    "ServerBan",
    "make_scram",
    "open_accounts",
    "parse_scram",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Account:
    """A registered account."""

    key: str
    """Casefolded name, the primary key."""
    name: str
    """The name as registered (also the nick it owns)."""
    password_hash: str
    """argon2id hash in PHC string form."""
    email: str = ""
    created_ms: int = 0
    id: str = field(default_factory=new_account_id)
    """Immutable random id; never given to another account, even one of the same name."""
    used_ms: int | None = None
    """When it was last used (logged in, or created by an administrator); None for an account
    registered over IRC and not logged in since (schema version 8)."""
    scram: str | None = None
    """The SASL SCRAM-SHA-256 verifier (:func:`make_scram`), or None until the next PLAIN login
    of an account made before schema version 10."""


_ACCOUNT_COLUMNS = "key, name, password_hash, email, created_ms, id, used_ms, scram"


@dataclass(frozen=True, slots=True)
class ScramVerifier:
    """What SCRAM-SHA-256 (RFC 5802, RFC 7677) keeps of a password: enough to check a client's
    proof and prove the server knows it, not enough to log in as the client."""

    iterations: int
    salt: bytes
    stored_key: bytes
    server_key: bytes


def make_scram(password: str, iterations: int, salt: bytes | None = None) -> str:
    """The stored form of ``password``'s SCRAM-SHA-256 verifier (a new random salt unless given).

    The password is taken as its UTF-8 bytes (no SASLprep: passwords are compared as sent, as
    PLAIN compares them).
    """
    salt = os.urandom(16) if salt is None else salt
    salted = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, iterations)
    client_key = hmac.digest(salted, b"Client Key", "sha256")
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.digest(salted, b"Server Key", "sha256")
    parts = (salt, stored_key, server_key)
    return f"{iterations}:" + ":".join(base64.b64encode(p).decode("ascii") for p in parts)


def parse_scram(text: str) -> ScramVerifier | None:
    """The verifier stored as ``text`` by :func:`make_scram`, or None if it is not one."""
    try:
        iterations, salt, stored_key, server_key = text.split(":")
        return ScramVerifier(
            int(iterations),
            base64.b64decode(salt, validate=True),
            base64.b64decode(stored_key, validate=True),
            base64.b64decode(server_key, validate=True),
        )
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class ServerBan:
    """An operator's ban: ``kind`` is ``mask`` (nick!user@host), ``ip`` (address/CIDR) or ``account``."""

    kind: str
    mask: str
    reason: str
    setter: str
    set_ms: int
    expires_ms: int | None = None


@dataclass(frozen=True, slots=True)
class RegisteredChannel:
    """A channel registered with ChanServ: its founder and access list (account id -> "o"/"v")."""

    key: str
    founder: str
    access: dict[str, str] = field(default_factory=dict)
    registered_ms: int = 0


@contextlib.contextmanager
def _immediate(db: sqlite3.Connection) -> Iterator[None]:
    # A write transaction taken at once, so that what it reads stays true until it commits. A
    # COMMIT that fails for a full disk has already rolled back: its error is the one to report.
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                db.execute("ROLLBACK")
        raise


class AccountStore:
    """Account data in the data directory's SQLite file."""

    def __init__(self, path: str | os.PathLike[str], *, busy_timeout_ms: int = 5000) -> None:
        self.path = Path(path)
        with store_errors(f"cannot open {self.path}"):
            self._db = sqlite3.connect(self.path, isolation_level=None)
            try:
                self._db.execute("PRAGMA journal_mode = WAL")
                self._db.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
                self._db.execute("PRAGMA foreign_keys = ON")
                migrate(self._db)
                self._refresh_skeletons()
            except BaseException:
                self._db.close()
                raise

    def _refresh_skeletons(self) -> None:
        # Fill in the skeletons of accounts made before schema version 9, and recompute those
        # made with other confusables data than this hubbub's.
        db = self._db
        rows = db.execute("SELECT key, name, skeleton FROM accounts").fetchall()
        stale = [(skeleton(name), key) for key, name, old in rows if old != skeleton(name)]
        if not stale:
            return
        with _immediate(db):
            db.executemany("UPDATE accounts SET skeleton = ? WHERE key = ?", stale)
        alike = db.execute(
            "SELECT group_concat(name, ', ') FROM accounts GROUP BY skeleton HAVING count(*) > 1"
        ).fetchall()
        for (names,) in alike:
            # Registered before look-alikes were refused: each keeps its name, and no more join them.
            log.warning("accounts %s look alike", names)

    def close(self) -> None:
        """Close the connection."""
        with store_errors("cannot close the account store"):
            self._db.close()

    # accounts ---------------------------------------------------------------------------------

    def create(self, account: Account) -> bool:
        """Add ``account``; False if its name is taken or looks like a registered one."""
        db = self._db
        key = skeleton(account.name)
        with store_errors(f"cannot create account {account.name!r}"), _immediate(db):
            taken = db.execute(
                "SELECT 1 FROM accounts WHERE key = ? OR skeleton = ? LIMIT 1", (account.key, key)
            ).fetchone()
            if taken is None:
                db.execute(
                    f"INSERT INTO accounts ({_ACCOUNT_COLUMNS}, skeleton) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        account.key,
                        account.name,
                        account.password_hash,
                        account.email,
                        account.created_ms,
                        account.id,
                        account.used_ms,
                        account.scram,
                        key,
                    ),
                )
        return taken is None

    def lookalikes(self, name: str) -> list[Account]:
        """The accounts whose names look like ``name`` (the same skeleton), by key."""
        with store_errors("cannot read accounts"):
            rows = self._db.execute(
                f"SELECT {_ACCOUNT_COLUMNS} FROM accounts WHERE skeleton = ? ORDER BY key", (skeleton(name),)
            ).fetchall()
        return [Account(*r) for r in rows]

    def get(self, key: str) -> Account | None:
        """The account with casefolded name ``key``."""
        with store_errors("cannot read accounts"):
            row = self._db.execute(
                f"SELECT {_ACCOUNT_COLUMNS} FROM accounts WHERE key = ?", (key,)
            ).fetchone()
        return Account(*row) if row else None

    def by_id(self, account_id: str) -> Account | None:
        """The account whose immutable id is ``account_id``."""
        with store_errors("cannot read accounts"):
            row = self._db.execute(
                f"SELECT {_ACCOUNT_COLUMNS} FROM accounts WHERE id = ?", (account_id,)
            ).fetchone()
        return Account(*row) if row else None

    def set_password(self, key: str, password_hash: str, scram: str | None = None) -> bool:
        """Replace the password hash and the SCRAM verifier (without one, the old verifier goes:
        the old password must not still log in by SCRAM); False if there is no such account."""
        with store_errors("cannot change the password"):
            cur = self._db.execute(
                "UPDATE accounts SET password_hash = ?, scram = ? WHERE key = ?", (password_hash, scram, key)
            )
        return cur.rowcount == 1

    def set_scram(self, key: str, password_hash: str, scram: str) -> bool:
        """Store the SCRAM verifier made from the password that ``password_hash`` checked; not if
        the password changed meanwhile. False if nothing was stored."""
        with store_errors("cannot store the SCRAM verifier"):
            cur = self._db.execute(
                "UPDATE accounts SET scram = ? WHERE key = ? AND password_hash = ?",
                (scram, key, password_hash),
            )
        return cur.rowcount == 1

    def mark_used(self, key: str, time_ms: int) -> bool:
        """Record that the account was used (logged in to) at ``time_ms``; False if unknown."""
        with store_errors("cannot record the login"):
            cur = self._db.execute(
                "UPDATE accounts SET used_ms = max(coalesce(used_ms, 0), ?) WHERE key = ?", (time_ms, key)
            )
        return cur.rowcount == 1

    def delete(self, key: str) -> bool:
        """Delete an account with everything it owns; False if unknown.

        Its fingerprints, read markers and the channels it founded go, and it leaves every access
        list. Its direct conversations stay for the people it talked to, keyed by its id, which
        no account is ever given again.
        """
        db = self._db
        with store_errors("cannot delete the account"):
            db.execute("BEGIN")
            try:
                row = db.execute("SELECT id FROM accounts WHERE key = ?", (key,)).fetchone()
                if row is None:
                    db.execute("ROLLBACK")
                    return False
                (account_id,) = row
                db.execute("DELETE FROM accounts WHERE key = ?", (key,))
                db.execute("DELETE FROM certfps WHERE account = ?", (key,))
                db.execute("DELETE FROM read_markers WHERE account = ?", (account_id,))
                db.execute("DELETE FROM account_metadata WHERE account = ?", (account_id,))
                db.execute("DELETE FROM registered_channels WHERE founder = ?", (account_id,))
                db.execute(
                    "UPDATE registered_channels SET access = json_remove(access, '$.' || json_quote(?))"
                    " WHERE json_extract(access, '$.' || json_quote(?)) IS NOT NULL",
                    (account_id, account_id),
                )
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        return True

    def all(self) -> list[Account]:
        """Every account, by key."""
        with store_errors("cannot read accounts"):
            rows = self._db.execute(f"SELECT {_ACCOUNT_COLUMNS} FROM accounts ORDER BY key").fetchall()
        return [Account(*r) for r in rows]

    # certificate fingerprints -----------------------------------------------------------------

    def add_certfp(self, key: str, fingerprint: str, pem: str = "") -> bool:
        """Attach a certificate fingerprint to an account; False if it is already someone's."""
        with store_errors("cannot add the fingerprint"):
            cur = self._db.execute(
                "INSERT OR IGNORE INTO certfps (fingerprint, account, pem) VALUES (?, ?, ?)",
                (fingerprint.lower(), key, pem),
            )
        return cur.rowcount == 1

    def remove_certfp(self, key: str, fingerprint: str) -> bool:
        """Detach a fingerprint from an account."""
        with store_errors("cannot remove the fingerprint"):
            cur = self._db.execute(
                "DELETE FROM certfps WHERE fingerprint = ? AND account = ?", (fingerprint.lower(), key)
            )
        return cur.rowcount == 1

    def account_of_certfp(self, fingerprint: str) -> str | None:
        """The account key a fingerprint belongs to."""
        with store_errors("cannot read fingerprints"):
            row = self._db.execute(
                "SELECT account FROM certfps WHERE fingerprint = ?", (fingerprint.lower(),)
            ).fetchone()
        return str(row[0]) if row else None

    def certfps(self, key: str) -> list[str]:
        """The fingerprints of an account."""
        with store_errors("cannot read fingerprints"):
            rows = self._db.execute(
                "SELECT fingerprint FROM certfps WHERE account = ? ORDER BY fingerprint", (key,)
            ).fetchall()
        return [str(r[0]) for r in rows]

    def client_certificates(self) -> list[str]:
        """Every stored client certificate (PEM), for the TLS listener's trust store."""
        with store_errors("cannot read fingerprints"):
            rows = self._db.execute("SELECT pem FROM certfps WHERE pem != ''").fetchall()
        return [str(r[0]) for r in rows]

    # metadata (draft/metadata-2) --------------------------------------------------------------

    def metadata(self, account_id: str) -> dict[str, str]:
        """The metadata of the account with id ``account_id``: key to value."""
        with store_errors("cannot read metadata"):
            rows = self._db.execute(
                "SELECT key, value FROM account_metadata WHERE account = ? ORDER BY key", (account_id,)
            ).fetchall()
        return {str(k): str(v) for k, v in rows}

    def set_metadata(self, account_id: str, key: str, value: str | None) -> None:
        """Set ``key`` of the account's metadata to ``value``; None removes it."""
        with store_errors("cannot store metadata"):
            if value is None:
                self._db.execute(
                    "DELETE FROM account_metadata WHERE account = ? AND key = ?", (account_id, key)
                )
            else:
                self._db.execute(
                    "INSERT INTO account_metadata (account, key, value) VALUES (?, ?, ?)"
                    " ON CONFLICT (account, key) DO UPDATE SET value = excluded.value",
                    (account_id, key, value),
                )

    # read markers -----------------------------------------------------------------------------

    def set_read_marker(self, account_id: str, target: str, time_ms: int) -> int:
        """Move the account's marker forward (never back); return the stored time."""
        with store_errors("cannot store the read marker"):
            self._db.execute(
                "INSERT INTO read_markers (account, target, time_ms) VALUES (?, ?, ?)"
                " ON CONFLICT (account, target) DO UPDATE SET time_ms = max(time_ms, excluded.time_ms)",
                (account_id, target, time_ms),
            )
        stored = self.read_marker(account_id, target)
        return stored if stored is not None else time_ms

    def read_marker(self, account_id: str, target: str) -> int | None:
        """The stored read time of ``target`` for the account with id ``account_id``, if any."""
        with store_errors("cannot read the read marker"):
            row = self._db.execute(
                "SELECT time_ms FROM read_markers WHERE account = ? AND target = ?", (account_id, target)
            ).fetchone()
        return int(row[0]) if row else None

    # server bans ------------------------------------------------------------------------------

    def add_ban(self, ban: ServerBan) -> None:
        """Insert or replace a server ban."""
        with store_errors("cannot store the ban"):
            self._db.execute(
                "INSERT OR REPLACE INTO server_bans (kind, mask, reason, setter, set_ms, expires_ms)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (ban.kind, ban.mask, ban.reason, ban.setter, ban.set_ms, ban.expires_ms),
            )

    def remove_ban(self, kind: str, mask: str) -> bool:
        """Lift a ban; False if there was none."""
        with store_errors("cannot remove the ban"):
            cur = self._db.execute("DELETE FROM server_bans WHERE kind = ? AND mask = ?", (kind, mask))
        return cur.rowcount == 1

    def bans(self, now_ms: int) -> list[ServerBan]:
        """Every ban still in force (expired ones are deleted on the way)."""
        with store_errors("cannot read bans"):
            self._db.execute(
                "DELETE FROM server_bans WHERE expires_ms IS NOT NULL AND expires_ms <= ?", (now_ms,)
            )
            rows = self._db.execute(
                "SELECT kind, mask, reason, setter, set_ms, expires_ms FROM server_bans ORDER BY set_ms"
            ).fetchall()
        return [ServerBan(*r) for r in rows]

    # registered channels ----------------------------------------------------------------------

    def save_channel(self, channel: RegisteredChannel) -> None:
        """Insert or replace a channel registration."""
        with store_errors("cannot register the channel"):
            self._db.execute(
                "INSERT OR REPLACE INTO registered_channels (key, founder, access, registered_ms)"
                " VALUES (?, ?, ?, ?)",
                (channel.key, channel.founder, json.dumps(channel.access), channel.registered_ms),
            )

    def drop_channel(self, key: str) -> bool:
        """Forget a channel registration."""
        with store_errors("cannot drop the channel"):
            cur = self._db.execute("DELETE FROM registered_channels WHERE key = ?", (key,))
        return cur.rowcount == 1

    def channels(self) -> list[RegisteredChannel]:
        """Every registered channel."""
        with store_errors("cannot read registered channels"):
            rows = self._db.execute(
                "SELECT key, founder, access, registered_ms FROM registered_channels ORDER BY key"
            ).fetchall()
        return [RegisteredChannel(k, f, dict(json.loads(a)), ms) for k, f, a, ms in rows]


def open_accounts(data_dir: str | os.PathLike[str]) -> AccountStore:
    """Open the account store of ``data_dir`` (creating the directory and database if needed)."""
    return AccountStore(database_path(data_dir))
