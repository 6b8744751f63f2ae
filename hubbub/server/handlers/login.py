"""Logging in and registering: AUTHENTICATE (IRCv3 SASL 3.2), REGISTER and VERIFY.

SASL PLAIN checks a password (hashed with argon2id, verified off the event loop); SASL
SCRAM-SHA-256 (RFC 5802, RFC 7677) checks the client's proof against the account's stored verifier,
so the password never crosses the wire; SASL EXTERNAL logs in with the TLS client certificate
whose fingerprint is stored on the account. REGISTER follows IRCv3 ``draft/account-registration``
(the account name is the nick unless ``register_custom_account_name``; before 001 only with
``register_before_connect``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ipaddress
import logging
import re
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hubbub.protocol import Message, numerics
from hubbub.store import StoreError

from ..services import service_notice
from ..throttle import Throttled
from .registration import try_register

if TYPE_CHECKING:
    from hubbub.store.accounts import Account, ScramVerifier

    from ..config import Settings
    from ..session import Session
    from .context import Context

log = logging.getLogger(__name__)

# IRCv3 SASL: AUTHENTICATE payloads come in chunks of 400 bytes.
CHUNK = 400
SCRAM = "SCRAM-SHA-256"


def mechanisms(ctx: Context, session: Session) -> list[str]:
    """The SASL mechanisms offered (EXTERNAL only where TLS is configured)."""
    return ["PLAIN", SCRAM, "EXTERNAL"] if ctx.settings.tls_enabled else ["PLAIN", SCRAM]


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
    auth = session.own_auth()
    auth.mechanism = None
    auth.buffer = ""
    auth.pending = False
    auth.scram = None
    if not session.registered and not session.gone:
        try_register(ctx, session)


def _sasl_fail(ctx: Context, session: Session, text: str | None = "SASL authentication failed") -> None:
    session.reply(numerics.ERR_SASLFAIL, text=text or "SASL authentication failed")
    _finish(ctx, session)


def handle_authenticate(ctx: Context, session: Session, msg: Message) -> None:
    """AUTHENTICATE <mechanism> | <base64 chunk> | + | *."""
    auth = session.own_auth()
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
    auth.buffer = ""  # SCRAM takes more than one response
    if auth.mechanism == "PLAIN":
        _plain(ctx, session, data)
    elif auth.mechanism == SCRAM:
        _scram(ctx, session, data)
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
    auth = session.own_auth()
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
    session.own_auth().pending = True
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


# SCRAM-SHA-256 ------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Scram:
    """One SCRAM-SHA-256 exchange: what the server must remember between its messages."""

    name: str
    account: Account | None  # None: no such account, or none with a verifier (the proof fails)
    verifier: ScramVerifier
    gs2_header: bytes  # "n,," or "y,," (with the authzid, if given)
    nonce: str  # the client's nonce and the server's
    auth_message: bytes = b""  # client-first-bare, server-first; client-final-without-proof added
    server_final: bytes = b""  # "v=...", sent once the proof is right; the client then says "+"


def _scram_name(text: str) -> str | None:
    """RFC 5802 saslname: "=2C" is a comma, "=3D" an equals sign; any other "=" is malformed."""
    if re.search("=(?!2C|3D)", text):
        return None
    return text.replace("=2C", ",").replace("=3D", "=")


def _scram(ctx: Context, session: Session, data: bytes) -> None:
    state = session.auth.scram
    if state is None:
        _scram_first(ctx, session, data)
    elif isinstance(state, _Scram) and not state.server_final:
        _scram_final(ctx, session, state, data)
    elif isinstance(state, _Scram) and data == b"" and state.account is not None:
        _succeed(ctx, session, state.account.name)  # the client accepted the server's signature
    else:
        _sasl_fail(ctx, session)


def _scram_first(ctx: Context, session: Session, data: bytes) -> None:
    """client-first-message: gs2-header, then "n=<user>,r=<nonce>"; answer server-first-message."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        _sasl_fail(ctx, session)
        return
    parts = text.split(",", 2)
    # Channel binding ("p=") is not offered; "y" says the client could have used it.
    if len(parts) != 3 or parts[0] not in ("n", "y") or (parts[1] and not parts[1].startswith("a=")):
        _sasl_fail(ctx, session)
        return
    bare = parts[2]
    attrs = bare.split(",")
    if len(attrs) < 2 or not attrs[0].startswith("n=") or not attrs[1].startswith("r=") or len(attrs[1]) < 3:
        _sasl_fail(ctx, session)  # also a mandatory extension ("m=") first
        return
    name = _scram_name(attrs[0][2:])
    authzid = _scram_name(parts[1][2:]) if parts[1] else None
    client_nonce = attrs[1][2:]
    if not name or (authzid and authzid != name) or not client_nonce.isprintable() or "," in client_nonce:
        _sasl_fail(ctx, session, "Authorization identity must match the account" if authzid else None)
        return
    account, verifier = ctx.accounts.scram_verifier(name)
    nonce = client_nonce + secrets.token_urlsafe(18)
    salt = base64.b64encode(verifier.salt).decode("ascii")
    server_first = f"r={nonce},s={salt},i={verifier.iterations}"
    header = (parts[0] + "," + parts[1] + ",").encode("utf-8")
    state = _Scram(name, account, verifier, header, nonce, f"{bare},{server_first}".encode())
    session.own_auth().scram = state
    _send_challenge(ctx, session, server_first.encode("utf-8"))


def _send_challenge(ctx: Context, session: Session, payload: bytes) -> None:
    """A server challenge in AUTHENTICATE lines of at most 400 bytes (a "+" after a full one)."""
    text = base64.b64encode(payload).decode("ascii")
    for i in range(0, len(text), CHUNK):
        session.send(Message.build("AUTHENTICATE", text[i : i + CHUNK], source=ctx.name))
    if len(text) % CHUNK == 0:
        session.send(Message.build("AUTHENTICATE", "+", source=ctx.name))


def _scram_final(ctx: Context, session: Session, state: _Scram, data: bytes) -> None:
    """client-final-message: "c=<gs2 header>,r=<nonce>,p=<proof>"; its proof is checked once the
    login throttle lets the attempt through."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        _sasl_fail(ctx, session)
        return
    without_proof, _, proof_text = text.rpartition(",p=")
    attrs = without_proof.split(",")
    try:
        proof = base64.b64decode(proof_text, validate=True)
        binding = base64.b64decode(attrs[0][2:], validate=True) if attrs[0].startswith("c=") else None
    except (binascii.Error, ValueError):
        _sasl_fail(ctx, session)
        return
    if binding != state.gs2_header or len(attrs) < 2 or attrs[1] != "r=" + state.nonce or len(proof) != 32:
        _sasl_fail(ctx, session)
        return
    state.auth_message += b"," + without_proof.encode("utf-8")
    session.own_auth().pending = True
    session.run_async(_check_scram(ctx, session, state, proof))


async def _check_scram(ctx: Context, session: Session, state: _Scram, proof: bytes) -> None:
    accounts = ctx.accounts
    ip = session.conn.peer_ip
    try:
        attempt = await accounts.throttle.begin("account:" + accounts.fold(state.name), ip)
    except Throttled as refused:
        if not session.gone:
            _sasl_fail(ctx, session, throttled_text(refused))
        return
    verifier = state.verifier
    signature = hmac.digest(verifier.stored_key, state.auth_message, "sha256")
    client_key = bytes(a ^ b for a, b in zip(proof, signature, strict=True))
    ok = state.account is not None and hmac.compare_digest(
        hashlib.sha256(client_key).digest(), verifier.stored_key
    )
    attempt.finish(ok)
    if session.gone:
        return
    session.own_auth().pending = False
    if not ok:
        log.info("failed SCRAM login for account %r from %s", state.name, ip)
        _sasl_fail(ctx, session)
        return
    server_signature = hmac.digest(verifier.server_key, state.auth_message, "sha256")
    state.server_final = b"v=" + base64.b64encode(server_signature)
    _send_challenge(ctx, session, state.server_final)


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
    session.own_auth().pending = True
    session.run_async(_create(ctx, session, name, email, password, via))


async def _create(
    ctx: Context, session: Session, name: str, email: str, password: str, via: str | None
) -> None:
    accounts = ctx.accounts
    try:
        account = await accounts.create(name, password, email, ip=session.conn.peer_ip)
    except Throttled as refused:
        session.own_auth().pending = False
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
        session.own_auth().pending = False
        if session.gone:
            return
        text = "The server cannot save new accounts right now; try again later"
        if via is None:
            session.fail("REGISTER", "TEMPORARILY_UNAVAILABLE", text, name)
        else:
            service_notice(session, via, text)
        return
    session.own_auth().pending = False
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
