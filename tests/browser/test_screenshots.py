"""``make screenshots``' browser half (tools/web_screenshots.py): a real server, real raw IRC
clients and the real browser client in Chromium produce the four documentation PNGs."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from tools import web_screenshots

from .conftest import CHROMIUM

pytestmark = pytest.mark.timeout(120)

ROOT = Path(__file__).resolve().parents[2]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_size(path: Path) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk (the first chunk, right after the signature)."""
    head = path.read_bytes()[:24]
    assert head[:8] == PNG_SIGNATURE, f"{path.name} is not a PNG"
    assert head[12:16] == b"IHDR", f"{path.name} has no IHDR chunk first"
    width, height = struct.unpack(">II", head[16:24])
    return width, height


async def test_makes_four_pngs_of_the_right_sizes(tmp_path: Path) -> None:
    out = tmp_path / "shots"
    saved = await web_screenshots.capture(out, CHROMIUM)
    assert sorted(p.name for p in saved) == sorted(web_screenshots.NAMES)
    assert sorted(p.name for p in out.iterdir()) == sorted(web_screenshots.NAMES)
    expected = {
        "web-desktop-light.png": (1280, 800),
        "web-desktop-dark.png": (1280, 800),
        "web-phone-light.png": (390, 844),
        "web-phone-dark.png": (390, 844),
    }
    for name, size in expected.items():
        path = out / name
        # A blank page of one colour compresses to a few hundred bytes; a conversation does not.
        assert path.stat().st_size > 10_000, f"{name} is nearly empty"
        assert png_size(path) == size, name
    # Light and dark really differ.
    for screen in ("desktop", "phone"):
        light = (out / f"web-{screen}-light.png").read_bytes()
        dark = (out / f"web-{screen}-dark.png").read_bytes()
        assert light != dark, f"the {screen} screenshots are the same in both schemes"


def test_says_so_without_chromium(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-chromium"
    done = subprocess.run(
        [sys.executable, "-m", "tools.web_screenshots", str(tmp_path / "out")],
        cwd=ROOT,
        env={**os.environ, "HUBBUB_CHROMIUM": str(missing)},
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert f"no Chromium at {missing}".encode() in done.stderr
    assert b"Traceback" not in done.stderr
    assert not (tmp_path / "out").exists()
