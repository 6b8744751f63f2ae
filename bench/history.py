"""The history figures: run ``python -m hubbub.store.bench`` when that module exists."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from typing import Any

from .servers import REPO_ROOT


def available() -> bool:
    """Whether hubbub's store benchmark module is importable."""
    try:
        return importlib.util.find_spec("hubbub.store.bench") is not None
    except ImportError:
        return False


def run(messages: int, timeout: float = 600.0) -> dict[str, Any]:
    """Run the store benchmark with ``--messages --json``; its figures and any error."""
    if not available():
        return {"error": "hubbub.store.bench is not available"}
    argv = [sys.executable, "-m", "hubbub.store.bench", "--messages", str(messages), "--json"]
    try:
        proc = subprocess.run(
            argv, capture_output=True, text=True, timeout=timeout, check=False, cwd=REPO_ROOT
        )
    except subprocess.TimeoutExpired:
        return {"error": f"did not finish within {timeout:.0f} s", "command": " ".join(argv[1:])}
    out: dict[str, Any] = {
        "command": "python " + " ".join(argv[1:]),
        "exit_code": proc.returncode,
    }
    if proc.returncode != 0:
        out["error"] = f"exit code {proc.returncode}: {proc.stderr[-1000:]}"
        return out
    try:
        out["figures"] = json.loads(proc.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        out["error"] = f"unreadable output: {proc.stdout[-1000:]}"
    return out
