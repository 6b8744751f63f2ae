"""The ``hubbub`` command line: the version, and usage errors shown by the subcommand that has them."""

from __future__ import annotations

import asyncio
import sys

from hubbub import __version__


async def hubbub(*args: str) -> tuple[int, str, str]:
    """Run ``python -m hubbub ARGS`` to the end; return its exit code, stdout and stderr."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "hubbub",
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_version_prints_the_version() -> None:
    assert await hubbub("--version") == (0, f"hubbub {__version__}\n", "")


async def test_an_unknown_log_level_is_refused_with_the_serve_usage() -> None:
    code, _, err = await hubbub("serve", "--log-level", "LOUD")
    assert code == 2
    assert err.startswith("usage: hubbub serve ")
    assert "argument --log-level: invalid choice: 'LOUD'" in err


async def test_a_mistyped_serve_flag_shows_the_serve_usage() -> None:
    code, _, err = await hubbub("serve", "--prot", "1")
    assert code == 2
    assert err.startswith("usage: hubbub serve ")
    assert err.splitlines()[-1] == "hubbub serve: error: unrecognized arguments: --prot 1"
