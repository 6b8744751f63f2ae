"""``hubbub account``: create, passwd, delete and list through a real subprocess."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from hubbub.server.accounts import verify_password
from hubbub.store.accounts import open_accounts


def _account(data: Path, *args: str, password: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hubbub", "account", "--data-dir", str(data), "--password-stdin", *args],
        capture_output=True,
        text=True,
        timeout=30,
        input=password + "\n",
    )


def test_create_passwd_list_and_delete(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert (
        _account(data, "create", "Alice", "--email", "a@example.org", password="first-password").returncode
        == 0
    )
    assert _account(data, "create", "alice", password="other-password").returncode == 1  # taken, any case
    assert _account(data, "create", "bad nick", password="other-password").returncode == 2
    assert _account(data, "create", "bob", password="short").returncode == 2
    listed = _account(data, "list")
    assert listed.stdout.startswith("Alice\t") and "a@example.org" in listed.stdout
    assert listed.stdout.rstrip("\n").split("\t")[-1].startswith("used ")
    assert _account(data, "passwd", "alice", password="second-password").returncode == 0
    store = open_accounts(data)
    try:
        account = store.get("alice")
        assert account is not None
        assert verify_password(account.password_hash, "second-password")
        assert not verify_password(account.password_hash, "first-password")
        # An administrator's account counts as used: it reserves its nick however long it waits.
        assert account.used_ms == account.created_ms
    finally:
        store.close()
    assert _account(data, "delete", "alice").returncode == 0
    assert _account(data, "delete", "alice").returncode == 1
    assert _account(data, "list").stdout == ""


def test_hash_password_prints_an_argon2id_hash(tmp_path: Path) -> None:
    done = _account(tmp_path, "hash-password", password="oper-secret")
    assert done.returncode == 0
    hashed = done.stdout.strip()
    assert hashed.startswith("$argon2id$") and verify_password(hashed, "oper-secret")


def test_create_refuses_look_alikes_of_accounts_and_services(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert _account(data, "create", "alice", password="first-password").returncode == 0
    lookalike = _account(data, "create", "\u0430lice", password="other-password")  # a Cyrillic a
    assert lookalike.returncode == 1
    assert "looks like alice" in lookalike.stderr
    assert _account(data, "create", "N\u0456ckServ", password="other-password").returncode == 2
    assert _account(data, "create", "bob\u202e", password="other-password").returncode == 2
    assert _account(data, "list").stdout.splitlines()[0].startswith("alice\t")
    assert len(_account(data, "list").stdout.splitlines()) == 1
