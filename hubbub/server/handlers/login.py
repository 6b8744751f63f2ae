"""Logging in and registering: AUTHENTICATE (IRCv3 SASL 3.2), REGISTER and VERIFY.

SASL PLAIN checks a password (hashed with argon2id, verified off the event loop); SASL EXTERNAL
logs in with the TLS client certificate whose fingerprint is stored on the account. REGISTER
follows IRCv3 ``draft/account-registration`` (the account name is the nick unless
``register_custom_account_name``; before 001 only with ``register_before_connect``).
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import logging
from typing import TYPE_CHECKING

from hubbub.protocol import Message, numerics
from hubbub.store import StoreError

from ..services import service_notice
from ..throttle import Throttled
from .registration import try_register

if TYPE_CHECKING:
    from ..config import Settings
    from ..session import Session
    from .context import Context

log = logging.getLogger(__name__)

# IRCv3 SASL: AUTHENTICATE payloads come in chunks of 400 bytes.
CHUNK = 400


def mechanisms(ctx: Context, session: Session) -> list[str]:
    """The SASL mechanisms offered (EXTERNAL only where TLS is configured)."""
    return ["PLAIN", "EXTERNAL"] if ctx.settings.tls_enabled else ["PLAIN"]


def _is_loopback(ip: str) -> bool:
    try:
        address = ipaddress.ip_address(ip.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback  # a dual-stack listener's IPv4 peer
    return address.is_loopback


def plain_allowed(settings: Settings, *, tls: bool, ip: str) -> bool:
    """Whether SASL PLAIN may run: over TLS, from loopback, or where the operator allowed it."""
    return tls or settings.sasl_plain_insecure or _is_loopback(ip)


def _finish(ctx: Context, session: Session) -> None:
    """The exchange is over: let registration continue if it waited for it."""
    auth = session.auth
    auth.mechanism = None
    auth.buffer = ""
    auth.pending = False
    if not session.registered and not session.gone:
        try_register(ctx, session)


def _sasl_fail(ctx: Context, session: Session, text: str = "SASL authentication failed") -> None:
    session.reply(numerics.ERR_SASLFAIL, text=text)
    _finish(ctx, session)


def handle_authenticate(ctx: Context, session: Session, msg: Message) -> None:
    """AUTHENTICATE <mechanism> | <base64 chunk> | + | *."""
    auth = session.auth
    arg = msg.params[0]
    if auth.pending:
        return  # a response is being checked; the client must wait for 903/904
    if arg == "*":
        if auth.mechanism is not None:
            session.reply(numerics.ERR_SASLABORTED)
            _finish(ctx, session)
        else:
            session.reply(numerics.ERR_SASLFAIL)
        return
    if auth.mechanism is None:
        _start(ctx, session, arg.upper())
        return
    if len(arg) > CHUNK:
        session.reply(numerics.ERR_SASLTOOLONG)
        _finish(ctx, session)
        return
    if arg != "+":
        auth.buffer += arg
    if len(auth.buffer) > ctx.settings.sasl_max_response:
        # sasl-3.1: 905 is for one AUTHENTICATE parameter over 400 bytes; a response too long in
        # total is one of the "other errors", 904, and the exchange is over.
        _sasl_fail(ctx, session, "SASL response too long")
        return
    if len(arg) == CHUNK:
        return  # more chunks follow (a final "+" ends an exact multiple of 400)
    try:
        data = base64.b64decode(auth.buffer, validate=True) if auth.buffer else b""
    except (binascii.Error, ValueError):
        _sasl_fail(ctx, session)
        return
    if auth.mechanism == "PLAIN":
        _plain(ctx, session, data)
    else:
        _external(ctx, session, data)


def _start(ctx: Context, session: Session, mechanism: str) -> None:
    if session.account is not None:
        session.reply(numerics.ERR_SASLALREADY)
        return
    offered = mechanisms(ctx, session)
    if mechanism not in offered:
        session.reply(numerics.RPL_SASLMECHS, ",".join(offered))
        session.reply(numerics.ERR_SASLFAIL)
        return
    auth = session.auth
    settings = ctx.settings
    if mechanism == "PLAIN" and not plain_allowed(settings, tls=auth.tls, ip=session.conn.peer_ip):
        # A password in clear text over the network: refuse it unless the operator allowed it.
        session.reply(numerics.ERR_SASLFAIL, text="SASL PLAIN is only allowed over TLS")
        return
    if mechanism == "EXTERNAL" and auth.certfp is None:
        session.reply(numerics.ERR_SASLFAIL, text="SASL EXTERNAL needs a TLS client certificate")
        return
    auth.mechanism = mechanism
    auth.buffer = ""
    session.send(Message.build("AUTHENTICATE", "+", source=ctx.name))


def _plain(ctx: Context, session: Session, data: bytes) -> None:
    parts = data.split(b"\0")
    if len(parts) != 3:
        _sasl_fail(ctx, session)
        return
    try:
        authzid, authcid, password = (p.decode("utf-8") for p in parts)
    except UnicodeDecodeError:
        _sasl_fail(ctx, session)
        return
    if authzid and authzid != authcid:
        _sasl_fail(ctx, session, "Authorization identity must match the account")
        return
    session.auth.pending = True
    session.run_async(_check_plain(ctx, session, authcid, password))


def throttled_text(refused: Throttled) -> str:
    """What a client is told when its login attempt was not checked."""
    return f"Too many login attempts; try again later (in {refused.seconds} s)"


async def _check_plain(ctx: Context, session: Session, name: str, password: str) -> None:
    accounts = ctx.accounts
    try:
        account = await accounts.check_password(name, password, session.conn.peer_ip)
    except Throttled as refused:
        # IRCv3 SASL has no reply of its own for this: 904, saying why.
        if not session.gone:
            _sasl_fail(ctx, session, throttled_text(refused))
        return
    if session.gone:
        return
    if account is None:
        _sasl_fail(ctx, session)
        return
    _succeed(ctx, session, account.name)


def _external(ctx: Context, session: Session, data: bytes) -> None:
    accounts = ctx.accounts
    certfp = session.auth.certfp
    store = accounts.store
    key = store.account_of_certfp(certfp) if store is not None and certfp else None
    account = store.get(key) if store is not None and key else None
    wanted = data.decode("utf-8", "replace")
    if account is None or (wanted and accounts.fold(wanted) != account.key):
        _sasl_fail(ctx, session)
        return
    _succeed(ctx, session, account.name)


def _succeed(ctx: Context, session: Session, name: str) -> None:
    accounts = ctx.accounts
    account = accounts.get(name)
    if account is None:
        _sasl_fail(ctx, session)
        return
    if ctx.bans.account_banned(session, account.key):
        _sasl_fail(ctx, session, "This account is banned")
        return
    accounts.log_in(session, account)
    session.reply(numerics.RPL_SASLSUCCESS)
    _finish(ctx, session)


# draft/account-registration --------------------------------------------------------------------


def handle_register(ctx: Context, session: Session, msg: Message) -> None:
    """REGISTER <account> <email|*> <password> (IRCv3 draft/account-registration)."""
    name, email, password = msg.params[0], msg.params[1], msg.params[2]
    if not session.registered and not (ctx.settings.register_before_connect and session.password_ok):
        # draft/account-registration: without the before-connect key, REGISTER waits for 001; and
        # early registration must not get round the server password, so without PASS it waits
        # too (before-connect is not offered on a server with a password, isupport.py).
        text = "Complete connection registration before registering an account"
        session.fail("REGISTER", "COMPLETE_CONNECTION_REQUIRED", text)
        return
    if name == "*":
        name = session.nick
    if name == "*":
        session.fail("REGISTER", "NEED_NICK", "Send NICK before registering an account", "*")
        return
    start_registration(ctx, session, name, "" if email == "*" else email, password, via=None)


def handle_verify(ctx: Context, session: Session, msg: Message) -> None:
    """VERIFY <account> <code>: accounts here need no verification, so there is nothing to verify."""
    session.fail("VERIFY", "INVALID_CODE", "No verification is pending for this account", msg.params[0])


def registration_refusal(ctx: Context, session: Session, name: str, password: str) -> tuple[str, str] | None:
    """Why ``session`` may not register ``name`` now: a (FAIL code, text) pair, or None."""
    accounts = ctx.accounts
    settings = ctx.settings
    if not settings.registration_open:
        return "DISALLOWED", "Account registration is closed on this server"
    if session.account is not None:
        return "ALREADY_AUTHENTICATED", "You are already logged in"
    if not accounts.valid_name(name):
        return "BAD_ACCOUNT_NAME", "That is not a valid account name"
    # An existing account is named as such whatever the nick: that is what the client must change.
    if accounts.get(name) is not None:
        return "ACCOUNT_EXISTS", "That account is already registered"
    if accounts.lookalike(name) is not None:
        return "ACCOUNT_EXISTS", "That account name looks like one already registered"
    if not settings.register_custom_account_name and ctx.world.fold(name) != ctx.world.fold(session.nick):
        return "ACCOUNT_NAME_MUST_BE_NICK", "The account name must be your current nick"
    if len(password) < settings.password_min_length:
        return "WEAK_PASSWORD", f"Passwords need at least {settings.password_min_length} characters"
    if session.auth.pending:
        return "TEMPORARILY_UNAVAILABLE", "Another login is in progress"
    return None


def start_registration(
    ctx: Context, session: Session, name: str, email: str, password: str, via: str | None
) -> None:
    """Check and create an account for ``session``; ``via`` names the service to answer as."""
    refusal = registration_refusal(ctx, session, name, password)
    if refusal is not None:
        if via is None:
            session.fail("REGISTER", refusal[0], refusal[1], name)
        else:
            service_notice(session, via, refusal[1])
        return
    session.auth.pending = True
    session.run_async(_create(ctx, session, name, email, password, via))


async def _create(
    ctx: Context, session: Session, name: str, email: str, password: str, via: str | None
) -> None:
    accounts = ctx.accounts
    try:
        account = await accounts.create(name, password, email, ip=session.conn.peer_ip)
    except Throttled as refused:
        session.auth.pending = False
        if session.gone:
            return
        minutes = max(1, (refused.seconds + 59) // 60)
        text = f"Too many accounts registered from your address; try again in {minutes} min"
        if via is None:
            # The draft names no code for a rate limit; TEMPORARILY_UNAVAILABLE is its nearest.
            session.fail("REGISTER", "TEMPORARILY_UNAVAILABLE", text, name)
        else:
            service_notice(session, via, text)
        return
    except StoreError as exc:
        # A full disk or a broken store: say so now rather than leave the client waiting.
        log.error("could not register account %s: %s", name, exc)
        session.auth.pending = False
        if session.gone:
            return
        text = "The server cannot save new accounts right now; try again later"
        if via is None:
            session.fail("REGISTER", "TEMPORARILY_UNAVAILABLE", text, name)
        else:
            service_notice(session, via, text)
        return
    session.auth.pending = False
    if session.gone:
        return
    if account is None:
        if via is None:
            session.fail("REGISTER", "ACCOUNT_EXISTS", "That account is already registered", name)
        else:
            service_notice(session, via, "That account is already registered")
        return
    if via is None:
        session.send(Message.build("REGISTER", "SUCCESS", account.name, "Account created", source=ctx.name))
    else:
        service_notice(session, via, f"Account {account.name} registered; you are now logged in")
    accounts.log_in(session, account, registering=True)
    _finish(ctx, session)
