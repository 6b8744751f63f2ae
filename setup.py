"""The optional compiled build: the hot server modules compiled to C extensions with mypyc.

Everything else about the package is declared in pyproject.toml. By default this adds nothing and
the package is pure Python. With ``HUBBUB_COMPILE=1`` in the environment, a regular (not an
editable) build compiles the modules listed under ``[tool.hubbub.compile]`` in pyproject.toml;
the Python sources are installed beside the extensions, so any module left out, and the package as
a whole when compiling fails, runs as Python.

Compiling never makes an install fail. When mypyc is missing or rejects the code, or there is no C
compiler, the build prints a warning (``pip install -v`` shows it) and installs pure Python.
Editable installs are never compiled: an extension module built into the source tree is imported
in place of the ``.py`` beside it, so later edits to that file would silently not run.
"""

from __future__ import annotations

import os
import sys
import tomllib
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path

from setuptools import setup
from setuptools.command.build_ext import build_ext

HERE = Path(__file__).resolve().parent
COMPILE_ENV = "HUBBUB_COMPILE"
# setuptools runs setup.py with the command it was asked for; these build a package in place.
EDITABLE_COMMANDS = {"editable_wheel", "develop"}
METADATA_COMMANDS = {"egg_info", "dist_info", "sdist"}


def warn(text: str) -> None:
    """A warning in the build's output: what was not compiled and why."""
    print(f"\nWARNING: hubbub: {text}; installing pure Python.\n", file=sys.stderr, flush=True)


def compile_requested() -> bool:
    """Whether ``HUBBUB_COMPILE`` asks for the compiled build."""
    return os.environ.get(COMPILE_ENV, "").strip().lower() in {"1", "true", "yes"}


def compiled_modules() -> list[str]:
    """The source paths to compile, from ``[tool.hubbub.compile]`` in pyproject.toml."""
    with open(HERE / "pyproject.toml", "rb") as f:
        config = tomllib.load(f)
    return list(config["tool"]["hubbub"]["compile"]["modules"])


class OptionalBuildExt(build_ext):
    """build_ext that falls back to the pure-Python package when the C compiler fails."""

    def run(self) -> None:
        self._remove_stale()
        try:
            super().run()
        except Exception as exc:  # no compiler, a compile or link error: all the same to us
            warn(f"compiling with mypyc failed ({type(exc).__name__}: {str(exc)[:300]})")
            self._remove_outputs()

    def _remove_stale(self) -> None:
        # setuptools reuses its build directory: an extension module that an earlier build made,
        # of a module no longer listed, would otherwise go into the wheel and shadow the .py.
        current = {os.path.abspath(path) for path in self.get_outputs()}
        for path in Path(self.build_lib).rglob("*"):
            if path.name.endswith(tuple(EXTENSION_SUFFIXES)) and str(path.absolute()) not in current:
                path.unlink()

    def _remove_outputs(self) -> None:
        # A partial build (a shim without its shared library) must not shadow the .py files.
        for path in self.get_outputs():
            if os.path.exists(path):
                os.remove(path)
        self.extensions = []


def extensions(argv: list[str]) -> list[object]:
    """The mypyc extension modules to build, or none (the pure-Python package)."""
    if not compile_requested() or METADATA_COMMANDS.intersection(argv):
        return []
    if EDITABLE_COMMANDS.intersection(argv):
        warn(f"{COMPILE_ENV} is ignored for an editable install (compiled modules would shadow edits)")
        return []
    try:
        from mypyc.build import mypycify
    except ImportError as exc:
        warn(f"{COMPILE_ENV} is set but mypyc cannot be imported ({exc})")
        return []
    try:
        build_dir = os.path.join("build", "mypyc")
        # The build may run before the package's dependencies are installed (pip builds the wheel
        # first): their types are then unknown, which changes nothing in the compiled modules but
        # would fail mypy's check of the modules they are used in, none of them compiled.
        options = ["--ignore-missing-imports", "--follow-imports=silent"]
        # One shared library for all of them (mypyc's default): calls between them stay native.
        return list(mypycify([*options, *compiled_modules()], target_dir=build_dir))
    except (Exception, SystemExit) as exc:  # mypyc reports type or compile errors by exiting
        warn(f"mypyc could not compile the modules ({type(exc).__name__}: {exc})")
        return []


ext_modules = extensions(sys.argv[1:])
setup(ext_modules=ext_modules, cmdclass={"build_ext": OptionalBuildExt} if ext_modules else {})
