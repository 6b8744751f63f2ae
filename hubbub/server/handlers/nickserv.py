"""NickServ: accounts for clients without the IRCv3 account caps.

``/msg NickServ REGISTER <password>``, ``IDENTIFY``, ``LOGOUT``, ``INFO``, ``DROP`` and ``CERT``;
the same accounts as SASL and ``REGISTER`` (login.py).
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from hubbub.store import StoreError

from ..services import service_notice
from ..throttle import Throttled
from .login import start_registration, throttled_text
from .service_commands import ServiceCommand

if TYPE_CHECKING:
    from ..session import Session
    from .context import Context

log = logging.getLogger(__name__)


def _ns(session: Session, text: str) -> None:
    service_notice(session, "NickServ", text)


def _ns_register(ctx: Context, session: Session, args: list[str]) -> None:
    if not args:
        _ns(session, "Syntax: REGISTER <password> [email]")
        return
    start_registration(ctx, session, session.nick, args[1] if len(args) > 1 else "", args[0], via="NickServ")


def _ns_identify(ctx: Context, session: Session, args: list[str]) -> None:
    if not args:
        _ns(session, "Syntax: IDENTIFY [account] <password>")
        return
    if session.account is not None:
        _ns(session, f"You are already logged in as {session.account}")
        return
    if session.auth.pending:
        _ns(session, "Another login is in progress")
        return
    name, password = (args[0], args[1]) if len(args) > 1 else (session.nick, args[0])
    session.own_auth().pending = True
    session.run_async(_identify(ctx, session, name, password))


async def _identify(ctx: Context, session: Session, name: str, password: str) -> None:
    accounts = ctx.accounts
    try:
        account = await accounts.check_password(name, password, session.conn.peer_ip)
    except Throttled as refused:
        account = None
        text = throttled_text(refused)
    else:
        text = "Invalid account or password"
    session.own_auth().pending = False
    if session.gone:
        return
    if account is None:
        _ns(session, text)
        return
    if ctx.bans.account_banned(session, account.key):
        _ns(session, "This account is banned")
        return
    accounts.log_in(session, account)
    _ns(session, f"You are now identified for {account.name}")


def _ns_info(ctx: Context, session: Session, args: list[str]) -> None:
    name = args[0] if args else (session.account or session.nick)
    account = ctx.accounts.get(name)
    if account is None:
        _ns(session, f"{name} is not registered")
        return
    when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(account.created_ms / 1000))
    _ns(session, f"Account {account.name}, registered {when}")
    online = ctx.world.find_user(account.name)
    if online is not None and online.account == account.name:
        _ns(session, f"{account.name} is online")


def _ns_drop(ctx: Context, session: Session, args: list[str]) -> None:
    accounts = ctx.accounts
    if session.account is None or accounts.store is None:
        _ns(session, "You must be logged in to drop your account")
        return
    if not args or accounts.fold(args[0]) != accounts.fold(session.account):
        _ns(session, f"To drop your account, send: DROP {session.account}")
        return
    key = accounts.fold(session.account)
    name = session.account

    async def drop() -> None:
        try:
            # With its read markers and channel registrations, on the store writer.
            await accounts.write(lambda store: store.delete(key))
        except StoreError as exc:
            log.error("could not drop account %s: %s", name, exc)
            _ns(session, "The server cannot change accounts right now; try again later")
            return
        ctx.account_dropped(key)
        _ns(session, f"Account {name} has been dropped")

    session.run_async(drop())


def _ns_cert(ctx: Context, session: Session, args: list[str]) -> None:
    accounts = ctx.accounts
    store = accounts.store
    if session.account is None or store is None:
        _ns(session, "You must be logged in to manage certificate fingerprints")
        return
    key = accounts.fold(session.account)
    sub = args[0].upper() if args else "LIST"
    if sub == "LIST":
        fps = store.certfps(key)
        _ns(session, f"Certificate fingerprints of {session.account}: {', '.join(fps) or 'none'}")
        return
    fingerprint = args[1].lower() if len(args) > 1 else (session.auth.certfp or "")
    if sub not in ("ADD", "DEL") or not fingerprint:
        _ns(session, "Syntax: CERT LIST | CERT ADD [fingerprint] | CERT DEL <fingerprint>")
        return

    async def change() -> None:
        try:
            if sub == "ADD":
                ok = await accounts.write(lambda store: store.add_certfp(key, fingerprint))
                _ns(session, f"Added {fingerprint}" if ok else f"{fingerprint} is already in use")
            else:
                ok = await accounts.write(lambda store: store.remove_certfp(key, fingerprint))
                _ns(session, f"Removed {fingerprint}" if ok else f"{fingerprint} is not on your account")
        except StoreError as exc:
            log.error("could not change the certificates of %s: %s", key, exc)
            _ns(session, "The server cannot change accounts right now; try again later")

    session.run_async(change())


def _ns_logout(ctx: Context, session: Session, args: list[str]) -> None:
    if session.account is None:
        _ns(session, "You are not logged in")
        return
    ctx.accounts.log_out(session)
    _ns(session, "You are now logged out")


def _ns_help(ctx: Context, session: Session, args: list[str]) -> None:
    for line in (
        "REGISTER <password> [email]  register your current nick as an account",
        "IDENTIFY [account] <password>  log in",
        "LOGOUT  log out",
        "INFO [account]  show an account",
        "DROP <account>  delete your account",
        "CERT LIST | ADD [fingerprint] | DEL <fingerprint>  TLS certificates for SASL EXTERNAL",
    ):
        _ns(session, line)


NICKSERV: dict[str, ServiceCommand] = {
    "REGISTER": _ns_register,
    "IDENTIFY": _ns_identify,
    "LOGIN": _ns_identify,
    "LOGOUT": _ns_logout,
    "INFO": _ns_info,
    "DROP": _ns_drop,
    "CERT": _ns_cert,
    "HELP": _ns_help,
}
