"""``hubbub account``: create, change, delete and list accounts; certificates; operator hashes.

Works on the data directory directly (stop the server, or let it be: SQLite allows it, and the
server reads accounts from the file at each login). Passwords are read from a prompt, or from
standard input with ``--password-stdin``; they are never accepted on the command line, where
other users of the machine could see them.
"""

from __future__ import annotations

import argparse
import getpass
import sys
import time
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Sub-commands of ``hubbub account``."""
    parser.add_argument("--data-dir", dest="data_dir", default="./hubbub-data", help="data directory")
    parser.add_argument(
        "--password-stdin", action="store_true", help="read the password from the first line of stdin"
    )
    parser.add_argument("--casemapping", default="ascii", help="the server's casemapping (ascii, rfc1459)")
    sub = parser.add_subparsers(dest="action", metavar="ACTION")
    sub.required = True
    create = sub.add_parser("create", help="register an account")
    create.add_argument("name")
    create.add_argument("--email", default="")
    passwd = sub.add_parser("passwd", help="set an account's password")
    passwd.add_argument("name")
    delete = sub.add_parser("delete", help="delete an account")
    delete.add_argument("name")
    sub.add_parser("list", help="list the accounts")
    certfp = sub.add_parser("certfp", help="TLS client certificates for SASL EXTERNAL")
    certfp.add_argument("certfp_action", choices=("add", "del", "list"))
    certfp.add_argument("name")
    certfp.add_argument("cert", nargs="?", help="PEM certificate file (add) or fingerprint (del)")
    sub.add_parser("hash-password", help="print an argon2id hash for the opers setting")


def _password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("Password: ")
    if getpass.getpass("Again: ") != first:
        raise SystemExit("hubbub account: the passwords differ")
    return first


def run(args: argparse.Namespace) -> int:
    """Run one account action; 0 on success, 1 when the account or item is not there."""
    from hubbub.protocol import Casemapping, casefold, valid_nick
    from hubbub.server.accounts import hash_password
    from hubbub.server.config import Settings
    from hubbub.server.services import is_service
    from hubbub.store import StoreError
    from hubbub.store.accounts import Account, make_scram, open_accounts

    defaults = Settings()
    if args.action == "hash-password":
        print(
            hash_password(
                _password(args), defaults.password_hash_memory_kib, defaults.password_hash_time_cost
            )
        )
        return 0
    casemapping: Casemapping = "rfc1459" if args.casemapping == "rfc1459" else "ascii"
    key = casefold(args.name, casemapping) if hasattr(args, "name") else ""
    try:
        store = open_accounts(args.data_dir)
    except StoreError as exc:
        print(f"hubbub account: {exc}", file=sys.stderr)
        return 2
    try:
        if args.action == "list":
            for account in store.all():
                created = time.strftime("%Y-%m-%d", time.gmtime(account.created_ms / 1000))
                fps = len(store.certfps(account.key))
                used = (
                    "used " + time.strftime("%Y-%m-%d", time.gmtime(account.used_ms / 1000))
                    if account.used_ms is not None
                    else "never logged in"
                )
                print(f"{account.name}\t{created}\t{account.email or '-'}\t{fps} certificate(s)\t{used}")
            return 0
        if args.action == "create":
            if not valid_nick(args.name, defaults.nicklen) or is_service(args.name):
                print(f"hubbub account: {args.name!r} is not a valid account name", file=sys.stderr)
                return 2
            password = _password(args)
            if len(password) < defaults.password_min_length:
                print("hubbub account: the password is too short", file=sys.stderr)
                return 2
            hashed = hash_password(
                password, defaults.password_hash_memory_kib, defaults.password_hash_time_cost
            )
            now_ms = int(time.time() * 1000)
            # An administrator's account counts as used: it reserves its nick from the start.
            scram = make_scram(password, defaults.scram_iterations)
            account = Account(key, args.name, hashed, args.email, now_ms, used_ms=now_ms, scram=scram)
            if not store.create(account):
                alike = [a.name for a in store.lookalikes(args.name) if a.key != key]
                if store.get(key) is None and alike:
                    print(f"hubbub account: {args.name} looks like {alike[0]}, which exists", file=sys.stderr)
                else:
                    print(f"hubbub account: {args.name} already exists", file=sys.stderr)
                return 1
            print(f"created {args.name}")
            return 0
        if args.action == "passwd":
            password = _password(args)
            hashed = hash_password(
                password, defaults.password_hash_memory_kib, defaults.password_hash_time_cost
            )
            scram = make_scram(password, defaults.scram_iterations)
            changed = store.set_password(key, hashed, scram)
            return _report(changed, f"password of {args.name} changed", args.name)
        if args.action == "delete":
            return _report(store.delete(key), f"deleted {args.name}", args.name)
        return _certfp(store, key, args)
    finally:
        store.close()


def _report(ok: bool, done: str, name: str) -> int:
    if ok:
        print(done)
        return 0
    print(f"hubbub account: no account {name}", file=sys.stderr)
    return 1


def _certfp(store: object, key: str, args: argparse.Namespace) -> int:
    from hubbub.server.tls import pem_fingerprint
    from hubbub.store.accounts import AccountStore

    assert isinstance(store, AccountStore)
    if store.get(key) is None:
        print(f"hubbub account: no account {args.name}", file=sys.stderr)
        return 1
    if args.certfp_action == "list":
        for fp in store.certfps(key):
            print(fp)
        return 0
    if not args.cert:
        print("hubbub account: name the certificate file (add) or fingerprint (del)", file=sys.stderr)
        return 2
    if args.certfp_action == "del":
        return _report(store.remove_certfp(key, args.cert), f"removed {args.cert}", args.name)
    pem = Path(args.cert).read_text()
    fingerprint = pem_fingerprint(pem)
    if not store.add_certfp(key, fingerprint, pem):
        print(f"hubbub account: {fingerprint} is already registered", file=sys.stderr)
        return 1
    print(f"added {fingerprint} to {args.name} (the TLS listener trusts it after REHASH or restart)")
    return 0
