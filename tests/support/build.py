"""Which build of hubbub the tests import: the compiled modules (setup.py) or the Python source.

``HUBBUB_EXPECT_COMPILED=1`` (set by ``make test-compiled``) says the run is meant for the compiled
build; anything else says the Python source. The conftest stops a run at once when the compiled
build was expected and is not what is imported, and tests/unit/test_build.py checks both ways.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import os
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXPECT_ENV = "HUBBUB_EXPECT_COMPILED"


def expect_compiled() -> bool:
    """Whether this run is meant to test the compiled build."""
    return os.environ.get(EXPECT_ENV, "") == "1"


def compiled_module_names() -> list[str]:
    """The modules the compiled build compiles, as pyproject.toml lists them (``[tool.hubbub.compile]``)."""
    with open(ROOT / "pyproject.toml", "rb") as f:
        paths = tomllib.load(f)["tool"]["hubbub"]["compile"]["modules"]
    return [path.removesuffix(".py").replace("/", ".") for path in paths]


def is_compiled(module_name: str) -> bool:
    """Whether ``module_name`` is imported from an extension module rather than its ``.py``."""
    path = importlib.import_module(module_name).__file__ or ""
    return path.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES))


def describe() -> str:
    """One line: which build is imported, and from where."""
    names = compiled_module_names()
    done = [name for name in names if is_compiled(name)]
    package = Path(importlib.import_module("hubbub").__file__ or "").parent
    kind = "pure Python" if not done else f"compiled ({len(done)} of {len(names)} listed modules)"
    return f"hubbub build: {kind}, from {package}"
