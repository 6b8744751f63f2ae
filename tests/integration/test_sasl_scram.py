"""SASL SCRAM-SHA-256 (RFC 5802, RFC 7677): a real client exchange written out here with hashlib
and hmac, against stored verifiers; wrong passwords, tampered proofs and nonces fail; accounts made
before there were verifiers get one at their next PLAIN login."""

from __future__ import annotations

import base64
import hashlib
import hmac
import sqlite3
from pathlib import Path

from hubbub.store import DATABASE_NAME
from hubbub.store.accounts import Account, AccountStore, make_scram, parse_scram

from .accounts_helpers import FAST, register_account, sasl_plain
from .conftest import Connect, StartServer
from .ircclient import IRCClient

PASSWORD = "correct-horse-battery"
CLIENT_NONCE = "fyko+d2lbbFgONRv9qkxdawL"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


async def challenge(client: IRCClient) -> str:
    """The server's next SASL message, decoded."""
    reply = await client.expect(lambda m: m.command in ("AUTHENTICATE", "904"))
    assert reply.command == "AUTHENTICATE", reply
    return base64.b64decode(reply.params[0]).decode()


def fields(message: str) -> dict[str, str]:
    return {part[0]: part[2:] for part in message.split(",")}


async def scram_login(
    client: IRCClient,
    user: str,
    password: str,
    *,
    tamper_proof: bool = False,
    tamper_nonce: bool = False,
) -> tuple[str, str]:
    """Run the exchange as a client does; return the server-first message and the final numeric.

    The proof is computed as RFC 5802 section 3 says: SaltedPassword := Hi(password, salt, i),
    ClientKey := HMAC(SaltedPassword, "Client Key"), StoredKey := H(ClientKey), ClientSignature :=
    HMAC(StoredKey, AuthMessage), ClientProof := ClientKey XOR ClientSignature; the server's
    signature is checked against ServerSignature := HMAC(ServerKey, AuthMessage).
    """
    client.send("AUTHENTICATE SCRAM-SHA-256")
    await client.expect("AUTHENTICATE", "+")
    bare = f"n={user},r={CLIENT_NONCE}"
    client.send(f"AUTHENTICATE {b64(('n,,' + bare).encode())}")
    server_first = await challenge(client)
    got = fields(server_first)
    assert got["r"].startswith(CLIENT_NONCE) and len(got["r"]) > len(CLIENT_NONCE)
    salt, iterations = base64.b64decode(got["s"]), int(got["i"])
    nonce = got["r"] + ("x" if tamper_nonce else "")
    without_proof = f"c={b64(b'n,,')},r={nonce}"
    auth_message = f"{bare},{server_first},{without_proof}".encode()
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.digest(salted, b"Client Key", "sha256")
    stored_key = hashlib.sha256(client_key).digest()
    signature = hmac.digest(stored_key, auth_message, "sha256")
    proof = bytearray(a ^ b for a, b in zip(client_key, signature, strict=True))
    if tamper_proof:
        proof[0] ^= 1
    client.send(f"AUTHENTICATE {b64(without_proof.encode() + b',p=' + b64(bytes(proof)).encode())}")
    final = await client.expect(lambda m: m.command in ("AUTHENTICATE", "904"))
    if final.command == "904":
        return server_first, "904"
    server_key = hmac.digest(salted, b"Server Key", "sha256")
    expected = "v=" + b64(hmac.digest(server_key, auth_message, "sha256"))
    assert base64.b64decode(final.params[0]).decode() == expected  # the server knows the verifier
    client.send("AUTHENTICATE +")
    done = await client.expect(lambda m: m.command in ("903", "904"))
    return server_first, done.command


async def sasl_client(connect: Connect, server: object, nick: str) -> IRCClient:
    client = await connect(nick, register=False, target=server)  # type: ignore[arg-type]
    client.send("CAP LS 302")
    client.send("CAP REQ :sasl")
    client.send(f"NICK {nick}")
    client.send("USER user 0 * :Real Name")
    await client.expect("CAP", None, "ACK")  # type: ignore[arg-type]
    return client


async def test_scram_logs_in_with_the_password_and_the_server_proves_it_knows_the_verifier(
    start_server: StartServer, connect: Connect
) -> None:
    """RFC 5802 section 3: "The server verifies the nonce and the proof, verifies that the
    authorization identity (if supplied by the client in the first message) is authorized to act as
    the authentication identity, and, finally, it responds with a server-final-message"; RFC 7677:
    the SCRAM-SHA-256 mechanism; IRCv3 sasl-3.2: the mechanisms in the cap value."""
    server = await start_server(**FAST)
    owner = await connect("alice", target=server)
    await register_account(owner, PASSWORD)
    await owner.close()
    client = await sasl_client(connect, server, "laptop")
    ls = await client.cap_ls()
    assert "sasl=PLAIN,SCRAM-SHA-256" in ls
    server_first, result = await scram_login(client, "alice", PASSWORD)
    assert result == "903"
    assert int(fields(server_first)["i"]) == 4096
    logged_in = [m for m in client.buffer if m.command == "900"]
    assert logged_in and logged_in[0].params[2] == "alice"
    client.send("CAP END")
    await client.expect("001")


async def test_wrong_password_tampered_proof_and_nonce_fail(
    start_server: StartServer, connect: Connect
) -> None:
    """RFC 5802 section 5.1: "p: This attribute specifies a base64-encoded ClientProof" which the
    server checks; "r: ... the client MUST verify that the initial part of the nonce used in
    subsequent messages is the same as the nonce it initially specified" and the server that the
    whole nonce is its own. A failure is ERR_SASLFAIL (904)."""
    server = await start_server(**FAST)
    owner = await connect("alice", target=server)
    await register_account(owner, PASSWORD)
    client = await sasl_client(connect, server, "guess")
    assert (await scram_login(client, "alice", "wrong password"))[1] == "904"
    assert (await scram_login(client, "alice", PASSWORD, tamper_proof=True))[1] == "904"
    assert (await scram_login(client, "alice", PASSWORD, tamper_nonce=True))[1] == "904"
    # A name nobody registered goes through the same steps, with a salt of its own each time.
    first, result = await scram_login(client, "nobody", PASSWORD)
    again, _ = await scram_login(client, "nobody", PASSWORD)
    assert result == "904" and fields(first)["s"] == fields(again)["s"]
    assert (await scram_login(client, "alice", PASSWORD))[1] == "903"


async def test_a_malformed_exchange_fails_cleanly(start_server: StartServer, connect: Connect) -> None:
    """RFC 5802 section 7: channel binding ("p=") is refused when not offered, a mandatory extension
    ("m=") makes the server fail the authentication; anything malformed is a 904, never a crash."""
    server = await start_server(**FAST)
    client = await sasl_client(connect, server, "fuzzy")
    for first in ("p=tls-unique,,n=a,r=abc", "n,,m=ext,n=a,r=abc", "n,,n=a", "garbage", "n,,n=a=5,r=x"):
        client.send("AUTHENTICATE SCRAM-SHA-256")
        await client.expect("AUTHENTICATE", "+")
        client.send(f"AUTHENTICATE {b64(first.encode())}")
        assert (await client.expect(lambda m: m.command in ("AUTHENTICATE", "904"))).command == "904", first
    client.send("AUTHENTICATE SCRAM-SHA-256")
    await client.expect("AUTHENTICATE", "+")
    client.send(f"AUTHENTICATE {b64(b'n,,n=a,r=abcdef')}")
    await challenge(client)
    client.send(f"AUTHENTICATE {b64(b'c=biws,r=wrong,p=AAAA')}")
    await client.expect("904")
    client.send("CAP END")
    await client.expect("001")


async def test_an_account_made_before_verifiers_gets_one_at_its_next_plain_login(
    start_server: StartServer, connect: Connect, tmp_path: Path
) -> None:
    """What is stored is the verifier (RFC 5802 section 3: "the server stores only the salt, the
    iteration count, StoredKey and ServerKey"), not the password; an account from before schema
    version 10 has none until its owner logs in with the password once."""
    server = await start_server(**FAST)
    owner = await connect("alice", target=server)
    await register_account(owner, PASSWORD)
    await owner.close()
    await server.stop()
    path = Path(server.settings.data_dir) / DATABASE_NAME
    with sqlite3.connect(path) as db:
        stored = db.execute("SELECT scram FROM accounts WHERE key = 'alice'").fetchone()[0]
        verifier = parse_scram(stored)
        assert verifier is not None and verifier.iterations == 4096 and PASSWORD not in stored
        db.execute("UPDATE accounts SET scram = NULL")  # as the version 10 migration leaves it
    again = await start_server(**FAST)
    client = await sasl_client(connect, again, "laptop")
    assert (await scram_login(client, "alice", PASSWORD))[1] == "904"
    assert (await sasl_plain(client, "alice", PASSWORD)).command == "903"
    phone = await sasl_client(connect, again, "phone")
    # The verifier is written on the store's thread after the PLAIN login; poll with a deadline.
    for _ in range(200):
        store = AccountStore(path)
        try:
            account = store.get("alice")
        finally:
            store.close()
        if account is not None and account.scram is not None:
            break
        await phone.sync()
    assert (await scram_login(phone, "alice", PASSWORD))[1] == "903"


def test_changing_the_password_replaces_the_verifier(tmp_path: Path) -> None:
    """A new password must not leave the old one usable by SCRAM: ``set_password`` without a
    verifier clears it, and ``set_scram`` does not store one made from a password since changed."""
    store = AccountStore(tmp_path / DATABASE_NAME)
    try:
        assert store.create(Account("alice", "alice", "hash-1", scram=make_scram("old password", 4096)))
        assert store.set_password("alice", "hash-2")
        account = store.get("alice")
        assert account is not None and account.scram is None
        assert not store.set_scram("alice", "hash-1", make_scram("old password", 4096))
        assert store.set_scram("alice", "hash-2", make_scram("new password", 4096))
        account = store.get("alice")
        assert account is not None and account.scram is not None
    finally:
        store.close()
