"""The package's build backend: setuptools, plus mypy as a build requirement when compiling.

pyproject.toml names this module (``backend-path = ["tools"]``). It is setuptools' own backend
with one change: when ``HUBBUB_COMPILE=1`` asks for the compiled build (setup.py), building a
wheel also requires mypy, whose mypyc does the compiling, so a pure-Python install never downloads
it. Editable builds never compile (setup.py says why) and need nothing more.
"""

from __future__ import annotations

import os
from typing import Any

from setuptools import build_meta as _setuptools
from setuptools.build_meta import (
    build_editable,
    build_sdist,
    build_wheel,
    get_requires_for_build_editable,
    get_requires_for_build_sdist,
    prepare_metadata_for_build_editable,
    prepare_metadata_for_build_wheel,
)

__all__ = [
    "build_editable",
    "build_sdist",
    "build_wheel",
    "get_requires_for_build_editable",
    "get_requires_for_build_sdist",
    "get_requires_for_build_wheel",
    "prepare_metadata_for_build_editable",
    "prepare_metadata_for_build_wheel",
]

# The oldest mypy whose mypyc compiles the listed modules as they are (1.14 rejects delivery.py;
# the suite has run against builds by 2.4).
COMPILE_REQUIRES = ["mypy>=1.15"]


def get_requires_for_build_wheel(config_settings: dict[str, Any] | None = None) -> list[str]:
    """setuptools' requirements, and mypy when ``HUBBUB_COMPILE`` asks for the compiled build."""
    requires = list(_setuptools.get_requires_for_build_wheel(config_settings))
    if os.environ.get("HUBBUB_COMPILE", "").strip().lower() in {"1", "true", "yes"}:
        requires += COMPILE_REQUIRES
    return requires
