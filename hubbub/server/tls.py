"""TLS for the second listener: the server context, client-certificate fingerprints, and
self-signed certificates for development (``hubbub gen-cert``).

Python's ``ssl`` module cannot ask for a client certificate without verifying it, so the
listener trusts exactly the client certificates stored on accounts (``hubbub account certfp
add``) plus any CA named by ``tls_client_ca``; a client without a certificate connects as usual.
"""

from __future__ import annotations

import datetime
import hashlib
import ssl
from collections.abc import Iterable
from pathlib import Path


def server_context(
    cert: str, key: str, client_ca: str = "", client_certs: Iterable[str] = ()
) -> ssl.SSLContext:
    """A TLS 1.2+ server context with ``cert``/``key``, asking clients for a certificate."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(cert, key)
    trusted = False
    if client_ca:
        ctx.load_verify_locations(cafile=client_ca)
        trusted = True
    for pem in client_certs:
        ctx.load_verify_locations(cadata=pem)
        trusted = True
    # With nothing to trust, asking for a certificate would only make clients that send one fail.
    ctx.verify_mode = ssl.CERT_OPTIONAL if trusted else ssl.CERT_NONE
    return ctx


def trust_clients(context: ssl.SSLContext, pems: Iterable[str], client_ca: str = "") -> None:
    """Trust the client certificates ``pems`` (PEM texts) and the CA file ``client_ca``.

    Once anything is trusted, clients are asked for a certificate (SASL EXTERNAL), never made
    to show one.
    """
    pems = list(pems)
    for pem in pems:
        context.load_verify_locations(cadata=pem)
    if client_ca:
        context.load_verify_locations(cafile=client_ca)
    if context.verify_mode == ssl.CERT_NONE and (client_ca or pems):
        context.verify_mode = ssl.CERT_OPTIONAL


def certificate_fingerprint(ssl_object: ssl.SSLObject | ssl.SSLSocket) -> str | None:
    """The SHA-256 fingerprint (lower-case hex) of the peer's certificate, if it sent one."""
    der = ssl_object.getpeercert(binary_form=True)
    return hashlib.sha256(der).hexdigest() if der else None


def pem_fingerprint(pem: str) -> str:
    """The SHA-256 fingerprint of a PEM certificate."""
    return hashlib.sha256(ssl.PEM_cert_to_DER_cert(pem)).hexdigest()


def generate_self_signed(
    cert_path: str | Path, key_path: str | Path, hostnames: Iterable[str] = ("localhost",), days: int = 365
) -> str:
    """Write a self-signed certificate and its key (mode 0600); return the fingerprint."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    names = list(hostnames) or ["localhost"]
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    now = datetime.datetime.now(datetime.UTC)
    alt: list[x509.GeneralName] = []
    for name in names:
        try:
            import ipaddress

            alt.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            alt.append(x509.DNSName(name))
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName(alt), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_bytes = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    key_file = Path(key_path)
    key_file.touch(mode=0o600, exist_ok=True)
    key_file.chmod(0o600)
    key_file.write_bytes(key_bytes)
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    Path(cert_path).write_bytes(cert_pem)
    return pem_fingerprint(cert_pem.decode())
