"""Sampling profiles of a server under load with py-spy, and a summary of the hottest functions.

``python -m bench --profile DIR`` records every scenario's server with ``py-spy record --format raw``
(collapsed stacks: ``frame;frame;frame count`` per line). ``summarize`` turns such a file into the
functions with the most samples on top of the stack (self) and anywhere on it (inclusive).
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from .servers import venv_bin


@dataclass(slots=True)
class Recorder:
    """A running ``py-spy record`` attached to one process."""

    process: subprocess.Popen[bytes]
    output: Path

    def stop(self) -> str | None:
        """Stop sampling (SIGINT makes py-spy write its file); return an error, if any."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            _, err = self.process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return "py-spy did not stop"
        return None if self.output.exists() else f"py-spy wrote no profile: {err.decode()[-500:]}"


def py_spy() -> str | None:
    """The py-spy executable, next to this interpreter or on PATH."""
    local = Path(venv_bin("py-spy"))
    return str(local) if local.exists() else shutil.which("py-spy")


def record(pid: int, output: Path, rate: int = 200) -> Recorder | None:
    """Start sampling ``pid`` into ``output`` (raw collapsed stacks); None when py-spy is missing."""
    exe = py_spy()
    if exe is None:
        return None
    output.parent.mkdir(parents=True, exist_ok=True)
    argv = [exe, "record", "--pid", str(pid), "--rate", str(rate), "--format", "raw", "--output", str(output)]
    argv += ["--nonblocking"]  # do not pause the server for each sample
    return Recorder(subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE), output)


def _function(frame: str) -> str:
    # "name (path/to/file.py:123)" -> "name (path/to/file.py)": merge a function's lines.
    head, sep, tail = frame.rpartition(":")
    return head + ")" if sep and tail.rstrip(")").isdigit() else frame


def summarize(path: Path, top: int = 25) -> str:
    """Markdown tables of the functions with the most self and inclusive samples."""
    self_counts: Counter[str] = Counter()
    incl_counts: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = [_function(f) for f in stack.split(";")]
        self_counts[frames[-1]] += n
        for f in set(frames):
            incl_counts[f] += n
    out = [f"{total:,} samples from {path.name}", ""]
    for title, counts in (("self", self_counts), ("inclusive", incl_counts)):
        out += [f"| {title} % | function |", "|---:|---|"]
        for name, n in counts.most_common(top):
            out.append(f"| {100 * n / total:.1f} | `{name}` |")
        out.append("")
    return "\n".join(out)


if __name__ == "__main__":
    for arg in sys.argv[1:]:
        print(summarize(Path(arg)))
