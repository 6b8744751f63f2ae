"""The history figures: run ``python -m hubbub.store.bench`` when that module exists."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from typing import Any

from .servers import REPO_ROOT

_FIGURE = re.compile(r"^\s*([A-Za-z][^:=]*?)\s*[:=]\s*([-+]?\d[\d,]*(?:\.\d+)?)\s*(.*)$")


def available() -> bool:
    """Whether hubbub's store benchmark module is importable."""
    try:
        return importlib.util.find_spec("hubbub.store.bench") is not None
    except ImportError:
        return False


def parse_figures(text: str) -> dict[str, dict[str, Any]]:
    """``name: number unit`` lines of the store benchmark's output, by name."""
    figures: dict[str, dict[str, Any]] = {}
    for line in text.splitlines():
        m = _FIGURE.match(line)
        if m:
            name, number, unit = m.groups()
            figures[name.strip()] = {"value": float(number.replace(",", "")), "unit": unit.strip()}
    return figures


def run(messages: int, timeout: float = 600.0) -> dict[str, Any]:
    """Run the store benchmark with ``--messages``; its figures, its raw output and any error."""
    if not available():
        return {"error": "hubbub.store.bench is not available"}
    argv = [sys.executable, "-m", "hubbub.store.bench", "--messages", str(messages)]
    try:
        proc = subprocess.run(
            argv, capture_output=True, text=True, timeout=timeout, check=False, cwd=REPO_ROOT
        )
    except subprocess.TimeoutExpired:
        return {"error": f"did not finish within {timeout:.0f} s", "command": " ".join(argv[1:])}
    out: dict[str, Any] = {
        "command": "python " + " ".join(argv[1:]),
        "exit_code": proc.returncode,
        "output": proc.stdout[-4000:],
        "figures": parse_figures(proc.stdout),
    }
    if proc.returncode != 0:
        out["error"] = f"exit code {proc.returncode}: {proc.stderr[-1000:]}"
    return out
