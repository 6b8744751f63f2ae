"""``hubbub gen-cert``: write a self-signed TLS certificate and key for development."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of ``hubbub gen-cert``."""
    parser.add_argument("--cert", required=True, help="PEM certificate file to write")
    parser.add_argument("--key", required=True, help="PEM private key file to write (mode 0600)")
    parser.add_argument(
        "--host", action="append", dest="hosts", help="host name or address it is for (repeatable; localhost)"
    )
    parser.add_argument("--days", type=int, default=365, help="validity in days (default 365)")


def run(args: argparse.Namespace) -> int:
    """Write the files and print the certificate's SHA-256 fingerprint."""
    from hubbub.server.tls import generate_self_signed

    hosts = args.hosts or ["localhost", "127.0.0.1"]
    fingerprint = generate_self_signed(args.cert, args.key, hosts, args.days)
    print(f"wrote {args.cert} and {args.key}; SHA-256 fingerprint {fingerprint}")
    return 0
