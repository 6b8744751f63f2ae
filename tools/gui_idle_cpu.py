"""How much CPU an idle `hubbub gui` uses: ``python tools/gui_idle_cpu.py [SECONDS]``.

Starts Xvfb and a server (as ``make screenshots`` does), then ``hubbub gui`` joined to a quiet
channel. Once another client sees it join, reads the window process's user and system time
(all its threads: Tk and the network) from ``/proc/PID/stat`` before and after SECONDS (30 by
default) of nothing happening, and prints the CPU time used and its share of one core.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import hubbub.client as hc
from hubbub.gui.screenshots import start_server, start_xvfb


def cpu_seconds(pid: int) -> float:
    """User plus system time of process ``pid`` so far (fields 14 and 15 of /proc/PID/stat)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()  # the name may hold spaces: skip past it
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def measure(port: int, env: dict[str, str], seconds: float) -> tuple[float, float]:
    """Start the window, wait until it joined, and return (CPU seconds, wall seconds) idle."""
    watcher = hc.Client("127.0.0.1", port, hc.ClientConfig(nick="watcher", channels=("#idle",)))
    await watcher.connect(timeout=5)
    await watcher.wait_for(hc.Joined, timeout=5, channel="#idle", is_self=True)
    cmd = [sys.executable, "-m", "hubbub", "gui", "--host", "127.0.0.1", "--port", str(port)]
    cmd += ["--nick", "idler", "--join", "#idle", "--config-dir", env["HUBBUB_IDLE_CONFIG"]]
    gui = subprocess.Popen(cmd, env=env)
    try:
        await watcher.wait_for(hc.Joined, timeout=15, channel="#idle", nick="idler")
        await asyncio.sleep(2)  # let the window finish drawing the join and the history
        before, start = cpu_seconds(gui.pid), time.monotonic()
        await asyncio.sleep(seconds)
        return cpu_seconds(gui.pid) - before, time.monotonic() - start
    finally:
        gui.terminate()
        gui.wait(10)
        await watcher.close()


def main(argv: list[str]) -> int:
    """Measure and print."""
    seconds = float(argv[0]) if argv else 30.0
    xvfb, display = start_xvfb()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            env = {**os.environ, "DISPLAY": display, "HUBBUB_IDLE_CONFIG": str(Path(tmp) / "config")}
            server, port = start_server(Path(tmp) / "data")
            try:
                used, wall = asyncio.run(measure(port, env, seconds))
            finally:
                server.terminate()
                server.wait(10)
    finally:
        xvfb.terminate()
        xvfb.wait(5)
    print(f"idle hubbub gui: {used:.2f} s of CPU in {wall:.1f} s ({100 * used / wall:.2f} % of one core)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
