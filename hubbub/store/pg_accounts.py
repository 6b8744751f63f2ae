"""The account store of accounts.py on PostgreSQL: the same methods, answers and guarantees.

Accounts live in the same database as the history (pg_schema.py). Registration checks that no
account has the name or a look-alike of it in the transaction that inserts it, under a
transaction-scoped advisory lock, so two servers registering look-alikes at once cannot both
succeed.
"""

from __future__ import annotations

import json
import logging

from asyncpg import Connection

from hubbub.protocol import skeleton

from .accounts import Account, RegisteredChannel, ServerBan
from .pgconn import DEFAULT_READERS, DEFAULT_TIMEOUT_S, Database

__all__ = ["PostgresAccountStore"]

log = logging.getLogger(__name__)

_ACCOUNT_COLUMNS = "key, name, password_hash, email, created_ms, id, used_ms, scram"
_REGISTRATION_LOCK = 0x61636374  # "acct": held while a registration checks and inserts


def _updated(status: str) -> bool:
    """Whether a command status such as ``UPDATE 1`` touched exactly one row."""
    return status.rsplit(" ", 1)[-1] == "1"


class PostgresAccountStore:
    """Account data in a PostgreSQL database (see ``hubbub.store.accounts.AccountStore``)."""

    def __init__(
        self, url: str, *, timeout_s: float = DEFAULT_TIMEOUT_S, readers: int = DEFAULT_READERS
    ) -> None:
        self.url = url
        self._db = Database(url, timeout_s=timeout_s, readers=readers)
        try:
            self._refresh_skeletons()
        except BaseException:
            self._db.close()
            raise

    def _refresh_skeletons(self) -> None:
        # Recompute the skeletons made with other confusables data than this hubbub's.
        async def work(c: Connection) -> list[str]:
            rows = await c.fetch("SELECT key, name, skeleton FROM accounts")
            stale = [(skeleton(name), key) for key, name, old in rows if old != skeleton(name)]
            if not stale:
                return []
            await c.executemany("UPDATE accounts SET skeleton = $1 WHERE key = $2", stale)
            alike = await c.fetch(
                "SELECT string_agg(name, ', ' ORDER BY key) FROM accounts"
                " GROUP BY skeleton HAVING count(*) > 1"
            )
            return [str(names) for (names,) in alike]

        for names in self._db.write("cannot read accounts", work):
            log.warning("accounts %s look alike", names)

    def close(self) -> None:
        """Close the connections."""
        self._db.close()

    # accounts ---------------------------------------------------------------------------------

    def create(self, account: Account) -> bool:
        """Add ``account``; False if its name is taken or looks like a registered one."""
        a = account
        key = skeleton(a.name)

        async def work(c: Connection) -> bool:
            await c.execute("SELECT pg_advisory_xact_lock($1)", _REGISTRATION_LOCK)
            taken = await c.fetchval(
                "SELECT 1 FROM accounts WHERE key = $1 OR skeleton = $2 LIMIT 1", a.key, key
            )
            if taken is not None:
                return False
            await c.execute(
                f"INSERT INTO accounts ({_ACCOUNT_COLUMNS}, skeleton)"
                " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                a.key,
                a.name,
                a.password_hash,
                a.email,
                a.created_ms,
                a.id,
                a.used_ms,
                a.scram,
                key,
            )
            return True

        return self._db.write(f"cannot create account {account.name!r}", work)

    def _accounts(self, sql: str, *args: object) -> list[Account]:
        async def work(c: Connection) -> list[Account]:
            return [Account(*row) for row in await c.fetch(sql, *args)]

        return self._db.read("cannot read accounts", work)

    def lookalikes(self, name: str) -> list[Account]:
        """The accounts whose names look like ``name`` (the same skeleton), by key."""
        return self._accounts(
            f'SELECT {_ACCOUNT_COLUMNS} FROM accounts WHERE skeleton = $1 ORDER BY key COLLATE "C"',
            skeleton(name),
        )

    def get(self, key: str) -> Account | None:
        """The account with casefolded name ``key``."""
        found = self._accounts(f"SELECT {_ACCOUNT_COLUMNS} FROM accounts WHERE key = $1", key)
        return found[0] if found else None

    def by_id(self, account_id: str) -> Account | None:
        """The account whose immutable id is ``account_id``."""
        found = self._accounts(f"SELECT {_ACCOUNT_COLUMNS} FROM accounts WHERE id = $1", account_id)
        return found[0] if found else None

    def all(self) -> list[Account]:
        """Every account, by key."""
        return self._accounts(f'SELECT {_ACCOUNT_COLUMNS} FROM accounts ORDER BY key COLLATE "C"')

    def _change(self, what: str, sql: str, *args: object) -> bool:
        async def work(c: Connection) -> bool:
            return _updated(await c.execute(sql, *args))

        return self._db.write(what, work)

    def set_password(self, key: str, password_hash: str, scram: str | None = None) -> bool:
        """Replace the password hash and the SCRAM verifier (without one, the old verifier goes);
        False if there is no such account."""
        return self._change(
            "cannot change the password",
            "UPDATE accounts SET password_hash = $1, scram = $2 WHERE key = $3",
            password_hash,
            scram,
            key,
        )

    def set_scram(self, key: str, password_hash: str, scram: str) -> bool:
        """Store the SCRAM verifier made from the password that ``password_hash`` checked; not if
        the password changed meanwhile. False if nothing was stored."""
        return self._change(
            "cannot store the SCRAM verifier",
            "UPDATE accounts SET scram = $1 WHERE key = $2 AND password_hash = $3",
            scram,
            key,
            password_hash,
        )

    def mark_used(self, key: str, time_ms: int) -> bool:
        """Record that the account was used (logged in to) at ``time_ms``; False if unknown."""
        return self._change(
            "cannot record the login",
            "UPDATE accounts SET used_ms = greatest(coalesce(used_ms, 0), $1) WHERE key = $2",
            time_ms,
            key,
        )

    def delete(self, key: str) -> bool:
        """Delete an account with everything it owns; False if unknown (see AccountStore.delete)."""

        async def work(c: Connection) -> bool:
            account_id = await c.fetchval("DELETE FROM accounts WHERE key = $1 RETURNING id", key)
            if account_id is None:
                return False
            await c.execute("DELETE FROM certfps WHERE account = $1", key)
            await c.execute("DELETE FROM read_markers WHERE account = $1", account_id)
            await c.execute("DELETE FROM account_metadata WHERE account = $1", account_id)
            await c.execute("DELETE FROM registered_channels WHERE founder = $1", account_id)
            await c.execute(
                "UPDATE registered_channels SET access = access - $1::text WHERE access ? $1::text",
                account_id,
            )
            return True

        return self._db.write("cannot delete the account", work)

    # certificate fingerprints -----------------------------------------------------------------

    def add_certfp(self, key: str, fingerprint: str, pem: str = "") -> bool:
        """Attach a certificate fingerprint to an account; False if it is already someone's."""
        return self._change(
            "cannot add the fingerprint",
            "INSERT INTO certfps (fingerprint, account, pem) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
            fingerprint.lower(),
            key,
            pem,
        )

    def remove_certfp(self, key: str, fingerprint: str) -> bool:
        """Detach a fingerprint from an account."""
        return self._change(
            "cannot remove the fingerprint",
            "DELETE FROM certfps WHERE fingerprint = $1 AND account = $2",
            fingerprint.lower(),
            key,
        )

    def _strings(self, what: str, sql: str, *args: object) -> list[str]:
        async def work(c: Connection) -> list[str]:
            return [str(row[0]) for row in await c.fetch(sql, *args)]

        return self._db.read(what, work)

    def account_of_certfp(self, fingerprint: str) -> str | None:
        """The account key a fingerprint belongs to."""
        found = self._strings(
            "cannot read fingerprints",
            "SELECT account FROM certfps WHERE fingerprint = $1",
            fingerprint.lower(),
        )
        return found[0] if found else None

    def certfps(self, key: str) -> list[str]:
        """The fingerprints of an account."""
        return self._strings(
            "cannot read fingerprints",
            'SELECT fingerprint FROM certfps WHERE account = $1 ORDER BY fingerprint COLLATE "C"',
            key,
        )

    def client_certificates(self) -> list[str]:
        """Every stored client certificate (PEM), for the TLS listener's trust store."""
        return self._strings("cannot read fingerprints", "SELECT pem FROM certfps WHERE pem != ''")

    # metadata (draft/metadata-2) --------------------------------------------------------------

    def metadata(self, account_id: str) -> dict[str, str]:
        """The metadata of the account with id ``account_id``: key to value."""

        async def work(c: Connection) -> dict[str, str]:
            rows = await c.fetch(
                'SELECT key, value FROM account_metadata WHERE account = $1 ORDER BY key COLLATE "C"',
                account_id,
            )
            return {str(k): str(v) for k, v in rows}

        return self._db.read("cannot read metadata", work)

    def set_metadata(self, account_id: str, key: str, value: str | None) -> None:
        """Set ``key`` of the account's metadata to ``value``; None removes it."""

        async def work(c: Connection) -> None:
            if value is None:
                await c.execute(
                    "DELETE FROM account_metadata WHERE account = $1 AND key = $2", account_id, key
                )
            else:
                await c.execute(
                    "INSERT INTO account_metadata (account, key, value) VALUES ($1, $2, $3)"
                    " ON CONFLICT (account, key) DO UPDATE SET value = excluded.value",
                    account_id,
                    key,
                    value,
                )

        self._db.write("cannot store metadata", work)

    # read markers -----------------------------------------------------------------------------

    def set_read_marker(self, account_id: str, target: str, time_ms: int) -> int:
        """Move the account's marker forward (never back); return the stored time."""

        async def work(c: Connection) -> int:
            stored = await c.fetchval(
                "INSERT INTO read_markers AS r (account, target, time_ms) VALUES ($1, $2, $3)"
                " ON CONFLICT (account, target) DO UPDATE SET time_ms = greatest(r.time_ms, excluded.time_ms)"
                " RETURNING time_ms",
                account_id,
                target,
                time_ms,
            )
            return int(stored)

        return self._db.write("cannot store the read marker", work)

    def read_marker(self, account_id: str, target: str) -> int | None:
        """The stored read time of ``target`` for the account with id ``account_id``, if any."""

        async def work(c: Connection) -> int | None:
            found = await c.fetchval(
                "SELECT time_ms FROM read_markers WHERE account = $1 AND target = $2", account_id, target
            )
            return None if found is None else int(found)

        return self._db.read("cannot read the read marker", work)

    # server bans ------------------------------------------------------------------------------

    def add_ban(self, ban: ServerBan) -> None:
        """Insert or replace a server ban."""

        async def work(c: Connection) -> None:
            await c.execute(
                "INSERT INTO server_bans (kind, mask, reason, setter, set_ms, expires_ms)"
                " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (kind, mask) DO UPDATE SET"
                " reason = excluded.reason, setter = excluded.setter, set_ms = excluded.set_ms,"
                " expires_ms = excluded.expires_ms",
                ban.kind,
                ban.mask,
                ban.reason,
                ban.setter,
                ban.set_ms,
                ban.expires_ms,
            )

        self._db.write("cannot store the ban", work)

    def remove_ban(self, kind: str, mask: str) -> bool:
        """Lift a ban; False if there was none."""
        return self._change(
            "cannot remove the ban", "DELETE FROM server_bans WHERE kind = $1 AND mask = $2", kind, mask
        )

    def bans(self, now_ms: int) -> list[ServerBan]:
        """Every ban still in force (expired ones are deleted on the way)."""

        async def work(c: Connection) -> list[ServerBan]:
            await c.execute(
                "DELETE FROM server_bans WHERE expires_ms IS NOT NULL AND expires_ms <= $1", now_ms
            )
            rows = await c.fetch(
                "SELECT kind, mask, reason, setter, set_ms, expires_ms FROM server_bans ORDER BY set_ms"
            )
            return [ServerBan(*row) for row in rows]

        return self._db.write("cannot read bans", work)

    # registered channels ----------------------------------------------------------------------

    def save_channel(self, channel: RegisteredChannel) -> None:
        """Insert or replace a channel registration."""

        async def work(c: Connection) -> None:
            await c.execute(
                "INSERT INTO registered_channels (key, founder, access, registered_ms)"
                " VALUES ($1, $2, $3::jsonb, $4) ON CONFLICT (key) DO UPDATE SET"
                " founder = excluded.founder, access = excluded.access,"
                " registered_ms = excluded.registered_ms",
                channel.key,
                channel.founder,
                json.dumps(channel.access),
                channel.registered_ms,
            )

        self._db.write("cannot register the channel", work)

    def drop_channel(self, key: str) -> bool:
        """Forget a channel registration."""
        return self._change("cannot drop the channel", "DELETE FROM registered_channels WHERE key = $1", key)

    def channels(self) -> list[RegisteredChannel]:
        """Every registered channel."""

        async def work(c: Connection) -> list[RegisteredChannel]:
            rows = await c.fetch(
                "SELECT key, founder, access::text, registered_ms FROM registered_channels"
                ' ORDER BY key COLLATE "C"'
            )
            return [RegisteredChannel(k, f, dict(json.loads(a)), ms) for k, f, a, ms in rows]

        return self._db.read("cannot read registered channels", work)
