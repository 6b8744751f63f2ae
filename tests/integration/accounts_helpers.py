"""Helpers for the account tests: fast password hashing, SASL from the raw test client."""

from __future__ import annotations

import base64
from typing import Any

from hubbub.protocol import Message
from hubbub.server.accounts import hash_password

from .ircclient import IRCClient

# Cheap argon2id costs so that tests hash quickly; the defaults are for production.
FAST: dict[str, Any] = {"password_hash_memory_kib": 1024, "password_hash_time_cost": 1}
OPER_PASSWORD = "oper-secret"
OPERS: dict[str, Any] = {"opers": (f"admin {hash_password(OPER_PASSWORD, 1024, 1)}",), **FAST}


def plain_payload(account: str, password: str) -> str:
    """The base64 SASL PLAIN response for ``account``/``password``."""
    return base64.b64encode(f"\0{account}\0{password}".encode()).decode()


async def sasl_plain(client: IRCClient, account: str, password: str) -> Message:
    """Run AUTHENTICATE PLAIN (the sasl cap must be acked); return the 903 or 904."""
    client.send("AUTHENTICATE PLAIN")
    await client.expect("AUTHENTICATE", "+")
    client.send(f"AUTHENTICATE {plain_payload(account, password)}")
    return await client.expect(lambda m: m.command in ("903", "904"))


async def login_and_register(
    client: IRCClient, nick: str, account: str, password: str, caps: tuple[str, ...] = ()
) -> Message:
    """Register with SASL PLAIN during CAP negotiation; return the 903/904 (registration waits)."""
    client.nick = nick
    client.send("CAP LS 302")
    client.send(f"CAP REQ :{' '.join(('sasl', *caps))}")
    client.send(f"NICK {nick}")
    client.send("USER user 0 * :Real Name")
    await client.expect("CAP", None, "ACK")  # type: ignore[arg-type]
    result = await sasl_plain(client, account, password)
    client.send("CAP END")
    return result


async def register_account(client: IRCClient, password: str) -> None:
    """Register the client's current nick with NickServ and wait for the login (900)."""
    client.send(f"PRIVMSG NickServ :REGISTER {password}")
    await client.expect("900")
