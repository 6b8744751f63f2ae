"""Settings and notifications without a window: storage, summaries, the system theme, /mute."""

from __future__ import annotations

import json
import stat
import sys
import time
from pathlib import Path

import pytest

from hubbub.gui import appearance, notify, profiles
from hubbub.gui._settings import nick_problem
from hubbub.gui.slash import interpret
from tests.support.clock import FakeClock

# --- storage ---------------------------------------------------------------------------------------


def test_new_settings_survive_a_save_and_load_and_the_old_keys_stay(tmp_path: Path) -> None:
    settings = profiles.Settings(theme="system", font_size=14, max_lines=500, last_profile="work")
    settings.profiles.append(profiles.Profile(name="work", host="irc.example", nick="al", channels=["#a"]))
    settings.default_nick = "carol"
    settings.notifications = False
    settings.join_parts = "hide"
    settings.time_format = "12h"
    settings.muted = ["#quiet", "bob"]
    profiles.save(tmp_path, settings)
    path = tmp_path / profiles.FILE_NAME
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    saved = json.loads(path.read_text())
    for key in ("profiles", "last_profile", "theme", "font_size", "max_lines"):
        assert key in saved  # a file read by an older version still has what it knows
    assert profiles.load(tmp_path) == settings
    assert profiles.load(tmp_path).strftime() == "%I:%M %p"


def test_damaged_or_foreign_values_fall_back_to_the_defaults(tmp_path: Path) -> None:
    (tmp_path / profiles.FILE_NAME).write_text(
        json.dumps(
            {
                "theme": "neon",
                "join_parts": 3,
                "time_format": "%H",
                "notifications": "yes",
                "muted": ["#ok", 5, "", None],
                "font_size": True,
                "notify_quiet_seconds": -1,
                "default_nick": ["x"],
            }
        )
    )
    loaded = profiles.load(tmp_path)
    default = profiles.Settings()
    assert (loaded.theme, loaded.join_parts, loaded.time_format) == ("light", "collapse", "24h")
    assert loaded.notifications is True and loaded.muted == ["#ok"]
    assert loaded.font_size == default.font_size
    assert loaded.notify_quiet_seconds == default.notify_quiet_seconds and loaded.default_nick == ""


def test_a_nickname_setting_is_checked() -> None:
    assert nick_problem("") == ""  # empty: the login name
    assert nick_problem("carol_2") == ""
    assert nick_problem("[away]") == ""
    assert "no spaces" in nick_problem("two words")
    assert "starts with a letter" in nick_problem("2fast")
    assert "at most" in nick_problem("x" * 31)


# --- /mute and /settings -----------------------------------------------------------------------------


def test_mute_and_unmute_name_the_current_buffer_or_another() -> None:
    assert interpret("/mute", "#chat").mute == ("#chat", True)
    assert interpret("/unmute", "#chat").mute == ("#chat", False)
    assert interpret("/mute bob", "#chat").mute == ("bob", True)
    assert interpret("/MUTE #other", "").mute == ("#other", True)
    for bad in (interpret("/mute", ""), interpret("/mute a b", "#chat")):
        assert bad.error and bad.mute is None and "usage" in bad.notice
    assert interpret("/settings", "").open_settings
    assert not interpret("/mute", "#chat").requests  # nothing goes to the server


# --- what a notification says ------------------------------------------------------------------------


def test_one_alert_is_shown_as_it_is_with_markup_escaped_and_formatting_stripped() -> None:
    mention = notify.Alert(
        "#test", "bob", "\x02alice\x02: see <b>this</b> & \x0304red\x03 <a href='x'>", False
    )
    assert notify.describe([mention]) == (
        "bob in #test",
        "alice: see &lt;b&gt;this&lt;/b&gt; &amp; red &lt;a href='x'&gt;",
    )
    direct = notify.Alert("bob", "bob", "line one\nline two\x07", True)
    assert notify.describe([direct]) == ("bob (direct message)", "line one line two")
    _, body = notify.describe([notify.Alert("#t", "bob", "x" * 1000, False)])
    assert len(body) == notify.BODY_LIMIT and body.endswith("…")


def test_several_alerts_become_one_summary() -> None:
    alerts = [notify.Alert("#test", "bob", f"alice {i}", False) for i in range(5)]
    assert notify.describe(alerts) == ("5 new mentions", "#test (5)")
    alerts += [notify.Alert("bob", "bob", "psst", True), notify.Alert("#x", "eve", "<alice>", False)]
    assert notify.describe(alerts) == (
        "6 new mentions and 1 new direct message",
        "#test (5), bob (1), #x (1)",
    )


def fake_program(directory: Path, name: str, record: Path, output: str = "", code: int = 0) -> Path:
    """A real executable called ``name`` that appends its argv (as JSON) to ``record``."""
    directory.mkdir(exist_ok=True)
    path = directory / name
    path.write_text(
        f"#!{sys.executable}\n"
        "import json, sys\n"
        f"with open({str(record)!r}, 'a') as f: f.write(json.dumps(sys.argv[1:]) + '\\n')\n"
        f"sys.stdout.write({output!r})\n"
        f"sys.exit({code})\n"
    )
    path.chmod(0o755)
    return path


def calls(record: Path, count: int, timeout: float = 10.0) -> list[list[str]]:
    """The argvs recorded, once there are ``count`` (the children run on their own)."""
    deadline = time.monotonic() + timeout
    while True:
        found = [json.loads(line) for line in record.read_text().splitlines()] if record.exists() else []
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.02)  # polling a file another process writes; bounded by the deadline


def notifier_on(clock: FakeClock) -> notify.Notifier:
    """A notifier whose quiet periods pass when the test advances ``clock``."""
    return notify.Notifier(clock.call_later, quiet_seconds=5, clock=clock.monotonic)


def test_a_burst_is_one_notification_then_one_summary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    record = tmp_path / "calls"
    fake_program(tmp_path / "bin", "notify-send", record)
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    clock = FakeClock()
    notifier = notifier_on(clock)
    assert notifier.available()
    notifier.alert(notify.Alert("#test", "bob", "alice: first", False))
    for i in range(4):
        clock.advance(0.5)
        notifier.alert(notify.Alert("#test", "bob", f"alice: {i}", False))
    assert notifier.sent == 1 and len(clock.waiting) == 1  # one flush waits for the quiet period
    clock.advance(2.9)
    assert notifier.sent == 1
    clock.advance(0.1)  # the quiet period is over: the rest arrive as one
    assert notifier.sent == 2
    got = calls(record, 2)
    assert sorted(got) == [
        ["--app-name=hubbub", "--", "4 new mentions", "#test (4)"],
        ["--app-name=hubbub", "--", "bob in #test", "alice: first"],
    ]


def test_what_waits_is_dropped_when_the_user_comes_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    record = tmp_path / "calls"
    fake_program(tmp_path / "bin", "notify-send", record)
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    clock = FakeClock()
    notifier = notifier_on(clock)
    notifier.alert(notify.Alert("bob", "bob", "one", True))
    notifier.alert(notify.Alert("bob", "bob", "two", True))
    notifier.discard()
    clock.advance(10)
    assert notifier.sent == 1
    # A message that starts like an option stays a message.
    notifier.alert(notify.Alert("bob", "bob", "--help", True))
    got = calls(record, 2)  # two children: either may write first
    assert ["--app-name=hubbub", "--", "bob (direct message)", "--help"] in got


def test_without_notify_send_the_notification_goes_over_dbus_with_gdbus(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    record = tmp_path / "calls"
    fake_program(tmp_path / "bin", "gdbus", record, output="(uint32 7,)\n")
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    notifier = notifier_on(FakeClock())
    notifier.alert(notify.Alert("#it's", "bob", "a 'quoted' \\ word", False))
    (argv,) = calls(record, 1)
    assert argv[:9] == [
        "call",
        "--session",
        "--dest",
        "org.freedesktop.Notifications",
        "--object-path",
        "/org/freedesktop/Notifications",
        "--method",
        "org.freedesktop.Notifications.Notify",
        "'hubbub'",
    ]
    # app name, replaces id, icon, summary, body, actions, hints, timeout: GVariant text.
    assert argv[9:] == ["0", "''", "'bob in #it\\'s'", "'a \\'quoted\\' \\\\ word'", "[]", "{}", "-1"]


def test_with_neither_program_nothing_is_spawned(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "empty").mkdir()
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    notifier = notifier_on(FakeClock())
    assert not notifier.available()
    notifier.alert(notify.Alert("bob", "bob", "hi", True))
    assert notifier.sent == 0


# --- following the system theme --------------------------------------------------------------------


def desktop(tmp_path: Path, **env: str) -> dict[str, str]:
    """An environment with a private config directory and a fake session bus address."""
    (tmp_path / "bin").mkdir(exist_ok=True)
    base = {
        "PATH": str(tmp_path / "bin"),
        "HOME": str(tmp_path),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "DBUS_SESSION_BUS_ADDRESS": "unix:path=/nonexistent",
    }
    return {**base, **env}


@pytest.mark.parametrize(
    ("reply", "theme"),
    [("(<uint32 1>,)\n", "dark"), ("(<<uint32 2>>,)\n", "light"), ("(<uint32 0>,)\n", "light")],
)
def test_the_appearance_portal_decides_when_it_answers(tmp_path: Path, reply: str, theme: str) -> None:
    record = tmp_path / "calls"
    fake_program(tmp_path / "bin", "gdbus", record, output=reply)
    assert appearance.system_theme(desktop(tmp_path)) == theme
    argv = calls(record, 1)[0]
    assert argv[-3:] == [
        "org.freedesktop.portal.Settings.ReadOne",
        "org.freedesktop.appearance",
        "color-scheme",
    ]


def test_no_portal_preference_falls_back_to_gtk(tmp_path: Path) -> None:
    fake_program(tmp_path / "bin", "gdbus", tmp_path / "calls", output="(<uint32 0>,)\n")
    assert appearance.system_theme(desktop(tmp_path, GTK_THEME="Adwaita:dark")) == "dark"
    assert appearance.system_theme(desktop(tmp_path, GTK_THEME="Adwaita")) == "light"
    ini = tmp_path / "config" / "gtk-3.0" / "settings.ini"
    ini.parent.mkdir(parents=True)
    ini.write_text("[Settings]\ngtk-application-prefer-dark-theme=true\n")
    assert appearance.system_theme(desktop(tmp_path)) == "dark"
    ini.write_text("[Settings]\ngtk-application-prefer-dark-theme=0\n")
    assert appearance.system_theme(desktop(tmp_path)) == "light"


def test_a_failing_or_missing_portal_and_a_damaged_gtk_file_give_light(tmp_path: Path) -> None:
    record = tmp_path / "calls"
    fake_program(tmp_path / "bin", "gdbus", record, code=1)
    ini = tmp_path / "config" / "gtk-4.0" / "settings.ini"
    ini.parent.mkdir(parents=True)
    ini.write_bytes(b"\xff\xfe not ini at all [[[")
    assert appearance.system_theme(desktop(tmp_path)) == "light"
    assert len(calls(record, 2)) == 2  # ReadOne, then the older Read
    # No session bus: the portal is not even asked.
    env = desktop(tmp_path)
    del env["DBUS_SESSION_BUS_ADDRESS"]
    assert appearance.portal_color_scheme(env) is None
    assert len(calls(record, 2)) == 2


def test_a_hung_portal_is_given_up_on_quickly(tmp_path: Path) -> None:
    hang = tmp_path / "bin" / "gdbus"
    hang.parent.mkdir()
    hang.write_text(f"#!{sys.executable}\nimport time\ntime.sleep(30)\n")
    hang.chmod(0o755)
    started = time.monotonic()
    assert appearance.portal_color_scheme(desktop(tmp_path)) is None
    assert time.monotonic() - started < appearance.PORTAL_TIMEOUT + 3


def test_the_theme_setting_resolves_to_a_colour_theme(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in desktop(tmp_path, GTK_THEME="Adwaita:dark").items():
        monkeypatch.setenv(key, value)
    assert appearance.resolve_theme("system") == "dark"
    assert appearance.resolve_theme("light") == "light"
    assert appearance.resolve_theme("neon") == "light"


def test_a_hung_notification_service_never_holds_up_the_caller(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hang = tmp_path / "bin" / "notify-send"
    hang.parent.mkdir()
    hang.write_text(f"#!{sys.executable}\nimport time\ntime.sleep(5)\n")
    hang.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    clock = FakeClock()
    notifier = notifier_on(clock)
    started = time.monotonic()
    for i in range(3):
        notifier.alert(notify.Alert("bob", "bob", f"message {i}", True))
        clock.advance(6)  # past the quiet period: each one is spawned
    assert notifier.sent == 3
    assert time.monotonic() - started < 2.0  # spawned, never waited for
