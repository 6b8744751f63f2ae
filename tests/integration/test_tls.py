"""TLS: the listener with a certificate from ``hubbub gen-cert``, STS, and SASL EXTERNAL."""

from __future__ import annotations

import asyncio
import ssl
import subprocess
import sys
from pathlib import Path

import pytest

from hubbub.server.app import Server

from .accounts_helpers import FAST, login_and_register, register_account
from .conftest import Connect, StartServer
from .ircclient import DEFAULT_TIMEOUT, IRCClient


def _run(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "hubbub", *args],
        capture_output=True,
        text=True,
        timeout=30,
        input="pa55word-ok\n",
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture
def certs(tmp_path: Path) -> dict[str, Path]:
    """A server certificate and a client certificate, both written by ``hubbub gen-cert``."""
    paths = {name: tmp_path / f"{name}.pem" for name in ("cert", "key", "client", "client_key")}
    _run("gen-cert", "--cert", str(paths["cert"]), "--key", str(paths["key"]))
    _run("gen-cert", "--cert", str(paths["client"]), "--key", str(paths["client_key"]), "--host", "alice")
    return paths


async def _open_tls(
    server: Server, cafile: Path, name: str, client: tuple[Path, Path] | None = None
) -> IRCClient:
    ctx = ssl.create_default_context(cafile=str(cafile))  # verifies against that certificate only
    if client is not None:
        ctx.load_cert_chain(str(client[0]), str(client[1]))
    assert server.tls_port is not None
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection(server.host, server.tls_port, ssl=ctx, server_hostname="localhost"),
        DEFAULT_TIMEOUT,
    )
    return IRCClient(reader, writer, name)


async def test_tls_listener_with_a_generated_certificate_verified_by_the_client(
    start_server: StartServer, connect: Connect, certs: dict[str, Path]
) -> None:
    assert certs["key"].stat().st_mode & 0o077 == 0  # the key is private to its owner
    server = await start_server(tls_port=0, tls_cert=str(certs["cert"]), tls_key=str(certs["key"]))
    assert server.tls_context is not None and server.tls_context.minimum_version == ssl.TLSVersion.TLSv1_2
    secure = await _open_tls(server, certs["cert"], "secure")
    try:
        await secure.register("secure")
        plain = await connect("plain", target=server)
        await plain.join("#room")
        await secure.join("#room")
        secure.send("PRIVMSG #room :over TLS")
        assert (await plain.expect("PRIVMSG")).params == ("#room", "over TLS")
    finally:
        await secure.close()
    # A client trusting some other certificate refuses the server's.
    with pytest.raises(ssl.SSLCertVerificationError):
        await _open_tls(server, certs["client"], "wrong-ca")


async def _cap_ls(client: IRCClient) -> list[str]:
    """Every capability of a CAP LS 302 reply, over all its lines (``CAP * LS * :...`` continues)."""
    caps: list[str] = []
    while True:
        line = await client.expect("CAP", None, "LS")  # type: ignore[arg-type]
        caps += line.params[-1].split()
        if len(line.params) < 4 or line.params[2] != "*":
            return caps


async def test_sts_policy_names_the_tls_port_on_plain_text_and_only_duration_over_tls(
    start_server: StartServer, connect: Connect, certs: dict[str, Path]
) -> None:
    server = await start_server(
        tls_port=0, tls_cert=str(certs["cert"]), tls_key=str(certs["key"]), sts_duration=86400
    )
    plain = await connect("p", register=False, target=server)
    caps = await plain.cap_ls()
    assert f"sts=port={server.tls_port},duration=86400" in caps
    assert "sasl=PLAIN,SCRAM-SHA-256,EXTERNAL" in caps
    secure = await _open_tls(server, certs["cert"], "secure")
    try:
        caps = await secure.cap_ls()
        assert "sts=duration=86400" in caps
    finally:
        await secure.close()


async def test_no_sts_without_a_duration(
    start_server: StartServer, connect: Connect, certs: dict[str, Path]
) -> None:
    server = await start_server(tls_port=0, tls_cert=str(certs["cert"]), tls_key=str(certs["key"]))
    plain = await connect("p", register=False, target=server)
    assert not [c for c in await plain.cap_ls() if c.startswith("sts")]


async def test_sasl_external_logs_in_with_a_stored_client_certificate(
    start_server: StartServer, certs: dict[str, Path], tmp_path: Path
) -> None:
    data = str(tmp_path / "data")
    _run("account", "--data-dir", data, "--password-stdin", "create", "alice")
    added = _run("account", "--data-dir", data, "certfp", "add", "alice", str(certs["client"]))
    assert "added" in added
    server = await start_server(tls_port=0, tls_cert=str(certs["cert"]), tls_key=str(certs["key"]), **FAST)
    client = await _open_tls(server, certs["cert"], "alice", (certs["client"], certs["client_key"]))
    anonymous = await _open_tls(server, certs["cert"], "anon")
    try:
        client.send("CAP LS 302")
        client.send("CAP REQ :sasl")
        client.send("NICK alice")
        client.send("USER u 0 * :Alice")
        await client.expect("CAP", None, "ACK")  # type: ignore[arg-type]
        client.send("AUTHENTICATE EXTERNAL")
        await client.expect("AUTHENTICATE", "+")
        client.send("AUTHENTICATE +")
        assert (await client.expect("900")).params[2] == "alice"
        await client.expect("903")
        client.send("CAP END")
        await client.expect("001")
        # Without a certificate EXTERNAL is refused.
        anonymous.send("CAP REQ :sasl")
        anonymous.send("AUTHENTICATE EXTERNAL")
        await anonymous.expect("904")
    finally:
        await client.close()
        await anonymous.close()


async def _whois(asker: IRCClient, nick: str) -> list[str]:
    """The numerics of ``asker``'s WHOIS of ``nick``."""
    asker.send(f"WHOIS {nick}")
    return [m.command for m in await asker.collect_until("318")]


async def test_whois_says_who_is_on_a_secure_connection_to_everyone(
    start_server: StartServer, connect: Connect, certs: dict[str, Path]
) -> None:
    server = await start_server(tls_port=0, tls_cert=str(certs["cert"]), tls_key=str(certs["key"]), **FAST)
    secure = await _open_tls(server, certs["cert"], "secure")
    try:
        await secure.register("secure")
        plain = await connect("plain", target=server)
        plain.send("WHOIS secure")
        got = await plain.collect_until("318")
        (line,) = [m for m in got if m.command == "671"]
        assert line.params == ("plain", "secure", "is using a secure connection")
        assert [m.command for m in got].index("671") < [m.command for m in got].index("317")
        assert "671" in await _whois(secure, "secure")
        assert "671" not in await _whois(secure, "plain")
        assert "671" not in await _whois(plain, "plain")
    finally:
        await secure.close()


async def test_a_user_is_secure_only_while_every_device_is(
    start_server: StartServer, connect: Connect, certs: dict[str, Path]
) -> None:
    server = await start_server(tls_port=0, tls_cert=str(certs["cert"]), tls_key=str(certs["key"]), **FAST)
    laptop = await _open_tls(server, certs["cert"], "laptop")
    try:
        await laptop.register("alice")
        await register_account(laptop, "alice-password")
        bob = await connect("bob", target=server)
        assert "671" in await _whois(bob, "alice")
        phone = await connect(register=False, target=server)  # the same account, in plain text
        assert (await login_and_register(phone, "alice", "alice", "alice-password")).command == "903"
        await phone.expect("001")
        assert "671" not in await _whois(bob, "alice")
        phone.send("QUIT")
        await phone.expect_closed()  # the server closes it once the device is gone
        assert "671" in await _whois(bob, "alice")
    finally:
        await laptop.close()
