"""The fontconfig file that puts the colour emoji font before monochrome fallbacks."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hubbub.gui import _emoji


def test_the_configuration_appends_the_emoji_font_to_each_interface_family() -> None:
    text = _emoji.fontconfig_text("/etc/fonts/fonts.conf", ("Noto Sans", "A & B"))
    assert '<include ignore_missing="yes">/etc/fonts/fonts.conf</include>' in text
    assert text.count('<edit name="family" mode="append" binding="strong">') == 2
    assert "<string>A &amp; B</string>" in text  # escaped, still well-formed


def test_prefer_colour_emoji_includes_the_users_own_configuration(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FONTCONFIG_FILE", "/home/someone/my-fonts.conf")
    path = _emoji.prefer_colour_emoji(tmp_path / "cache")
    assert path is not None and os.environ["FONTCONFIG_FILE"] == str(path)
    assert '<include ignore_missing="yes">/home/someone/my-fonts.conf</include>' in path.read_text()
    assert _emoji.prefer_colour_emoji(tmp_path / "cache") == path  # again: it does not include itself
    assert "/home/someone/my-fonts.conf" in path.read_text()


def test_an_unwritable_cache_leaves_fontconfig_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FONTCONFIG_FILE", raising=False)
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    assert _emoji.prefer_colour_emoji(blocker / "cache") is None
    assert "FONTCONFIG_FILE" not in os.environ
