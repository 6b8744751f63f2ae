"""A real irssi (the terminal IRC client) in a pseudo-terminal, for end-to-end tests.

irssi gets its own ``--home`` holding a configuration that connects to the server, sets the nick,
autojoins channels and logs every channel to a file (``autolog``); the test types lines into the
pseudo-terminal as a user would and reads what irssi received from those log files. Every wait
polls with a deadline; the process is killed (its whole session) when the test ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import pty
import re
import shutil
import signal
import struct
import termios
import time
from pathlib import Path

DEADLINE = 15.0
POLL = 0.05  # seconds between looks at a log file while waiting on it

CONFIG = """\
servers = (
  {{ address = "{host}"; chatnet = "hubbub"; port = "{port}"; use_tls = "no"; autoconnect = "yes"; }}
);
chatnets = {{ hubbub = {{ type = "IRC"; nick = "{nick}"; }}; }};
channels = (
{channels}
);
settings = {{
  core = {{
    nick = "{nick}"; user_name = "{nick}"; real_name = "irssi user {nick}";
    settings_autosave = "no";
  }};
  # irssi paces its own commands (2.2 s apart by default): a few quick ones reach a fresh server
  # at once, so the autojoin does not wait seconds.
  "irc/core" = {{ cmd_queue_speed = "100msec"; }};
  "fe-common/core" = {{
    autolog = "yes"; autolog_path = "{logs}/$tag/$0.log"; autolog_level = "all -crap -clientcrap";
  }};
}};
"""


def available() -> bool:
    """Whether irssi is installed (Debian package ``irssi``)."""
    return shutil.which("irssi") is not None


class Irssi:
    """One irssi user: ``start()``, ``type(line)``, wait on ``logged(pattern)``, ``quit()``, ``kill()``."""

    def __init__(
        self, home: Path, host: str, port: int, nick: str, channels: tuple[str, ...] = ("#general",)
    ):
        self.home = home
        self.host = host
        self.port = port
        self.nick = nick
        self.channels = channels
        self.logs = home / "logs"
        self.proc: asyncio.subprocess.Process | None = None
        self._master: int | None = None
        self.screen = bytearray()  # the last of what irssi drew, for a failing test's report

    async def start(self) -> Irssi:
        """Write the configuration and run irssi in a new pseudo-terminal of 40 x 120."""
        self.logs.mkdir(parents=True, exist_ok=True)
        joins = ",\n".join(
            f'  {{ name = "{c}"; chatnet = "hubbub"; autojoin = "yes"; }}' for c in self.channels
        )
        (self.home / "config").write_text(
            CONFIG.format(host=self.host, port=self.port, nick=self.nick, channels=joins, logs=self.logs)
        )
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
        try:
            self.proc = await asyncio.create_subprocess_exec(
                "irssi",
                "--home",
                str(self.home),
                stdin=slave,
                stdout=slave,
                stderr=slave,
                start_new_session=True,  # the terminal is its controlling one; killpg ends it all
                env={**os.environ, "TERM": "xterm", "HOME": str(self.home)},
            )
        except BaseException:
            os.close(master)
            raise
        finally:
            os.close(slave)
        self._master = master
        os.set_blocking(master, False)
        # irssi blocks once the terminal's buffer is full: read (and mostly forget) what it draws.
        asyncio.get_running_loop().add_reader(master, self._drain)
        return self

    def _drain(self) -> None:
        assert self._master is not None
        try:
            data = os.read(self._master, 65536)
        except BlockingIOError:
            return
        except OSError:  # EIO: irssi is gone and the terminal hung up
            data = b""
        if not data:
            asyncio.get_running_loop().remove_reader(self._master)
            return
        self.screen += data
        del self.screen[:-8192]

    def type(self, line: str) -> None:
        """Type ``line`` and Enter, as a user at the terminal would."""
        assert self._master is not None
        os.write(self._master, line.encode() + b"\r")

    def log(self, channel: str = "#general") -> str:
        """What irssi has logged for ``channel`` (on this server) so far."""
        path = self.logs / "hubbub" / f"{channel.lower()}.log"
        try:
            return path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    async def logged(self, pattern: str, channel: str = "#general", timeout: float = DEADLINE) -> str:
        """Wait until a line of the channel's log matches the regular expression; return the line."""
        wanted = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            for line in self.log(channel).splitlines():
                if wanted.search(line):
                    return line
            if self.proc is not None and self.proc.returncode is not None:
                raise AssertionError(f"irssi exited ({self.proc.returncode}) before logging {pattern!r}")
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"irssi did not log {pattern!r} in {channel} within {timeout} s; the log:\n"
                    f"{self.log(channel)}\nthe screen's last bytes: {bytes(self.screen[-1500:])!r}"
                )
            await asyncio.sleep(POLL)

    async def quit(self, reason: str = "bye", timeout: float = DEADLINE) -> int:
        """``/quit`` and wait for irssi to exit; its exit status."""
        assert self.proc is not None
        self.type(f"/quit {reason}")
        return await asyncio.wait_for(self.proc.wait(), timeout)

    async def kill(self) -> None:
        """Make sure irssi and its terminal are gone (for teardown, even after a failure)."""
        if self.proc is not None and self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.proc.wait(), DEADLINE)
        if self._master is not None:
            asyncio.get_running_loop().remove_reader(self._master)
            os.close(self._master)
            self._master = None
