"""The store benchmark runs end to end and reports every figure (no timing is asserted)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def bench(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hubbub.store.bench", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=60,
    )


def test_bench_reports_commit_rate_and_query_latency(tmp_path: Path) -> None:
    done = bench(
        "--messages", "3000", "--targets", "3", "--queries", "20", "--data-dir", str(tmp_path / "b"), "--json"
    )
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout)
    assert figures["messages"] == 3000 and figures["batch"] == 100 and figures["targets"] == 3
    for name in ("commit_rate_msgs_per_s", "latest100_median_ms", "latest100_p99_ms", "before100_median_ms"):
        assert figures[name] > 0
    assert figures["latest100_p99_ms"] >= figures["latest100_median_ms"]
    assert (tmp_path / "b" / "hubbub.sqlite3").is_file()


def test_bench_refuses_a_directory_that_already_holds_a_store(tmp_path: Path) -> None:
    (tmp_path / "hubbub.sqlite3").write_bytes(b"")
    done = bench("--messages", "10", "--data-dir", str(tmp_path))
    assert done.returncode == 2
    assert "already holds a store" in done.stderr


def test_bench_measures_a_postgresql_store(pg_url: str) -> None:
    done = bench("--messages", "2000", "--targets", "2", "--queries", "20", "--store", pg_url, "--json")
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout)
    for name in ("commit_rate_msgs_per_s", "latest100_median_ms", "before100_median_ms", "latest1_median_ms"):
        assert figures[name] > 0
