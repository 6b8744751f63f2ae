"""``python -m bench`` end to end against miniircd at tiny sizes: real processes and sockets."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench.servers import ServerSpec, builtin_specs, hubbub_build
from tests.support.build import expect_compiled

REPO = Path(__file__).resolve().parents[2]

TINY = [
    "--servers=miniircd",
    "--scenarios=idle,message,fanout,many,storm",
    "--workers=2",
    "--idle-clients=40",
    "--message-members=6",
    "--message-senders=3",
    "--message-seconds=0.5",
    "--fanout-members=20",
    "--fanout-senders=2",
    "--fanout-seconds=1",
    "--fanout-rate=50",
    "--many-clients=40",
    "--many-rate=5",
    "--many-seconds=1",
    "--storm-clients=40",
    "--setup-timeout=20",
]


def _bench(*args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    """``python -m bench`` in the checkout; it must exit 0."""
    proc = subprocess.run(
        [sys.executable, "-m", "bench", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return proc


@pytest.mark.timeout(120)
def test_bench_runs_against_miniircd_and_reports_every_row_without_losses(tmp_path: Path) -> None:
    proc = _bench(*TINY, f"--output-dir={tmp_path}", timeout=110)
    table = proc.stdout
    for row in (
        "| metric | miniircd |",
        "| idle: clients registered and joined | 40 / 40 |",
        "| idle: server RSS per connection (KiB) |",
        "| per message: members joined | 6 / 6 |",
        "| per message: server CPU µs/message |",
        "| per message: lost | 0 |",
        "| fan-out: members joined | 20 / 20 |",
        "| fan-out max rate: deliveries/s |",
        "| fan-out max rate: lost | 0 |",
        "| fan-out max rate: duplicated | 0 |",
        "| fan-out max rate: out of order | 0 |",
        "| fan-out max rate: receivers unverified | 0 |",
        "| fan-out max rate: server CPU µs/delivery |",
        "| fan-out fixed rate: lost | 0 |",
        "| many channels: clients joined | 40 / 40 |",
        "| many channels: lost | 0 |",
        "| storm: registrations/s |",
        "| storm: errors | 0 |",
    ):
        assert row in table, f"missing {row!r} in:\n{table}\n{proc.stderr}"
    assert "did not complete" not in table, table

    (result_file,) = tmp_path.glob("*.json")
    results = json.loads(result_file.read_text())["results"]["miniircd"]
    fan = results["fanout"]
    for phase in (results["message"]["max"], fan["max"], fan["fixed"], results["many"]["chat"]):
        assert phase["deliveries"] > 0
        assert phase["deliveries"] == phase["expected"]
        assert phase["lost"] == phase["duplicated"] == phase["reordered"] == phase["unverified"] == 0
        assert phase["errors"] == {}
        assert phase["p50_ms"] is not None and phase["p50_ms"] <= phase["p99_ms"] <= phase["max_ms"]
    # Some receivers checked every line and the rest matched one of them byte for byte.
    fanout_max = results["fanout"]["max"]
    assert fanout_max["checked"] > 0 and fanout_max["matched"] > 0
    assert fanout_max["checked"] + fanout_max["matched"] == 20
    # Every sender's messages reached the 19 other members.
    fixed = results["fanout"]["fixed"]
    assert fixed["expected"] == fixed["messages"] * 19
    assert results["storm"]["registered"] == 40


@pytest.mark.timeout(60)
def test_the_nodelay_variant_of_miniircd_serves_the_fanout() -> None:
    proc = _bench(
        "--servers=miniircd-nodelay",
        "--scenarios=fanout",
        "--fanout-members=20",
        "--fanout-senders=2",
        "--fanout-seconds=1",
        "--setup-timeout=20",
        "--no-json",
        timeout=55,
    )
    assert "| fan-out: members joined | 20 / 20 |" in proc.stdout, proc.stdout + proc.stderr
    assert "| fan-out max rate: lost | 0 |" in proc.stdout
    assert "did not complete" not in proc.stdout


@pytest.mark.timeout(60)
@pytest.mark.parametrize("server", ["ngircd", "inspircd"])
def test_the_c_peers_start_from_a_generated_config_and_serve_the_per_message_scenario(
    server: str, tmp_path: Path
) -> None:
    """ngIRCd and InspIRCd from Debian run as known servers: configured into the scratch
    directory, listening where the bench says, not throttling senders at max rate."""
    proc = _bench(
        f"--servers={server}",
        "--scenarios=message",
        "--workers=2",
        "--message-members=6",
        "--message-senders=3",
        "--message-seconds=0.5",
        "--setup-timeout=20",
        f"--output-dir={tmp_path}",
        timeout=55,
    )
    assert f"| metric | {server} |" in proc.stdout, proc.stdout + proc.stderr
    assert "| per message: members joined | 6 / 6 |" in proc.stdout, proc.stdout + proc.stderr
    assert "did not complete" not in proc.stdout, proc.stdout
    (result_file,) = tmp_path.glob("*.json")
    result = json.loads(result_file.read_text())["results"][server]["message"]
    phase = result["max"]
    assert phase["errors"] == {}, phase["errors"]
    assert phase["lost"] == phase["duplicated"] == phase["reordered"] == phase["unverified"] == 0
    # Every sender's messages reached the 5 other members; thousands of them, so not throttled.
    assert phase["deliveries"] == phase["expected"] == phase["messages"] * 5
    assert phase["messages"] > 1000
    assert phase["cpu_us_per_message"] > 0
    assert "server_notes" not in result  # it stopped on SIGTERM


def test_a_missing_server_binary_is_a_one_line_error_naming_what_to_install() -> None:
    spec = ServerSpec("ngircd", "/nonexistent/sbin/ngircd --nodaemon", install="apt-get install ngircd")
    assert spec.missing() == (
        "ngircd: /nonexistent/sbin/ngircd not found; install it with `apt-get install ngircd`"
    )
    assert builtin_specs()["ngircd"].missing() is None  # installed here (.ci/run installs it)


@pytest.mark.timeout(120)
def test_the_history_scenarios_measure_hubbub_and_show_dashes_for_a_peer_without_history(
    tmp_path: Path,
) -> None:
    """commit counts what hubbub stored; chathistory fills a channel and asks LATEST and BEFORE
    pages; miniircd keeps no history and offers no chathistory, so its figures are dashes."""
    proc = _bench(
        "--servers=hubbub,miniircd",
        "--scenarios=commit,chathistory",
        "--workers=2",
        "--commit-members=6",
        "--commit-senders=3",
        "--commit-seconds=0.5",
        "--chathistory-clients=3",
        "--chathistory-messages=1200",
        "--chathistory-seconds=0.5",
        "--setup-timeout=20",
        f"--output-dir={tmp_path}",
        timeout=110,
    )
    table = proc.stdout
    assert "did not complete" not in table, table + proc.stderr
    assert "| history end to end: members joined | 6 / 6 | 6 / 6 |" in table, table
    assert "| history end to end: lost | 0 | 0 | = |" in table, table
    assert "| chathistory: messages in the channel | 1,200 | — | — |" in table, table
    assert "miniircd chathistory: skipped: the server does not offer draft/chathistory" in table
    (result_file,) = tmp_path.glob("*.json")
    results = json.loads(result_file.read_text())["results"]
    commit = results["hubbub"]["commit"]["max"]
    # Every message a member received was stored first: the store holds all that were sent.
    assert commit["stored"] == commit["messages"] > 0
    assert commit["stored_per_s"] > 0
    assert "stored" not in results["miniircd"]["commit"]["max"]
    history = results["hubbub"]["chathistory"]
    assert history["prefill"] == {"messages": 1200, "seconds": history["prefill"]["seconds"], "stored": 1200}
    for kind in ("latest", "before"):
        phase = history[kind]
        assert phase["requests"] > 0 and phase["errors"] == {}
        # Each answer is a batch of 100 lines and its two BATCH lines.
        assert phase["lines"] == phase["requests"] * 102
        assert phase["cpu_ms_per_request"] > 0


@pytest.mark.timeout(60)
def test_the_bench_says_which_build_of_hubbub_each_server_ran(tmp_path: Path) -> None:
    """The built-in hubbub and a hubbub given with --peer are each asked what they import: the
    compiled build when the run tests it (make test-compiled), else the Python source."""
    peer = f"{sys.executable} -m hubbub serve --host 127.0.0.1 --port {{port}} --data-dir {{data_dir}}"
    proc = _bench(
        "--servers=hubbub",
        f"--peer=other={peer} --no-flood-control",
        "--scenarios=message",
        "--workers=2",
        "--message-members=4",
        "--message-senders=2",
        "--message-seconds=0.3",
        "--setup-timeout=20",
        f"--output-dir={tmp_path}",
        timeout=55,
    )
    build = "compiled" if expect_compiled() else "pure"
    assert f"hubbub builds: hubbub={build}, other={build}." in proc.stdout, proc.stdout + proc.stderr
    (result_file,) = tmp_path.glob("*.json")
    assert json.loads(result_file.read_text())["hubbub_builds"] == {"hubbub": build, "other": build}


def test_only_hubbub_commands_are_asked_for_their_build() -> None:
    assert hubbub_build(builtin_specs()["ngircd"].command) is None
    assert hubbub_build(builtin_specs()["miniircd"].command) is None
    assert hubbub_build(f"{sys.executable} -m bench.nodelay --ports {{port}}") is None
    assert hubbub_build("/nonexistent/bin/hubbub serve --port {port}") is None


@pytest.mark.timeout(60)
def test_the_in_memory_benchmark_measures_every_message_to_every_member() -> None:
    """bench.session drives a real Server with in-memory transports: each round ends when every
    member, the senders included (echo-message), was written the round's last line, and a
    member short of any round's bytes fails the run."""
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.session",
            "--members=5",
            "--senders=2",
            "--rounds=4",
            "--batch=3",
            "--json",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=55,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["messages"] == 4 * 2 * 3
    assert result["cpu_us_per_message"] > 0
    assert result["cpu_us_per_message[store writer]"] >= 0
    assert result["compiled"] is expect_compiled()


@pytest.mark.timeout(120)
def test_the_websocket_fanout_delivers_every_message_over_the_web_door_and_skips_peers_without_one(
    tmp_path: Path,
) -> None:
    """wsfanout: the members connect to hubbub's web door (IRC over WebSocket, text.ircv3.net),
    and every message reaches every other member once and in order, as in the TCP fan-out;
    miniircd has no web door, so it is skipped with the reason."""
    proc = _bench(
        "--servers=hubbub,miniircd",
        "--scenarios=wsfanout",
        "--workers=2",
        "--fanout-members=12",
        "--fanout-senders=2",
        "--fanout-seconds=0.5",
        "--fanout-rate=50",
        "--setup-timeout=20",
        f"--output-dir={tmp_path}",
        timeout=110,
    )
    table = proc.stdout
    assert "did not complete" not in table, table + proc.stderr
    assert "| WebSocket fan-out: members joined | 12 / 12 | — | — |" in table, table + proc.stderr
    assert "| WebSocket fan-out max rate: lost | 0 | — | — |" in table, table
    assert "| WebSocket fan-out max rate: server CPU µs/delivery |" in table, table
    assert "miniircd wsfanout: skipped: the server has no web door (IRC over WebSocket)" in table
    (result_file,) = tmp_path.glob("*.json")
    result = json.loads(result_file.read_text())["results"]["hubbub"]["wsfanout"]
    assert result["setup"]["errors"] == {}
    for phase in (result["max"], result["fixed"]):
        assert phase["deliveries"] > 0
        assert phase["deliveries"] == phase["expected"] == phase["messages"] * 11
        assert phase["lost"] == phase["duplicated"] == phase["reordered"] == phase["unverified"] == 0
        assert phase["errors"] == {}
        assert phase["cpu_us_per_delivery"] > 0
        assert phase["p50_ms"] is not None and phase["p50_ms"] <= phase["p99_ms"] <= phase["max_ms"]
    assert result["max"]["checked"] > 0 and result["max"]["checked"] + result["max"]["matched"] == 12
