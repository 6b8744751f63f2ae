"""The markdown table (rows = metrics, columns = servers and hubbub/peer ratios) and the JSON file."""

from __future__ import annotations

import json
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

RESULTS_DIR = Path(__file__).parent / "results"

Getter = Callable[[dict[str, Any]], Any]


def _get(*path: str) -> Getter:
    def get(d: dict[str, Any]) -> Any:
        cur: Any = d
        for key in path:
            if not isinstance(cur, dict) or key not in cur:
                return None
            cur = cur[key]
        return cur

    return get


def _errors(*path: str) -> Getter:
    """Total count of the error dict under ``path``."""

    def get(d: dict[str, Any]) -> Any:
        errs = _get(*path, "errors")(d)
        return sum(errs.values()) if isinstance(errs, dict) else None

    return get


def _ready(*path: str) -> Getter:
    def get(d: dict[str, Any]) -> Any:
        ready, clients = _get(*path, "ready")(d), _get(*path, "clients")(d)
        return None if ready is None else f"{_whole(ready)} / {_whole(clients)}"

    return get


def _whole(value: Any) -> Any:
    """A count that a median of trials made a float (12.0) as the integer it is."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _phase_rows(scenario: str, phase: str, label: str) -> list[tuple[str, str, Getter]]:
    return [
        (scenario, f"{label}: deliveries/s", _get(phase, "deliveries_per_s")),
        (scenario, f"{label}: latency p50 (ms)", _get(phase, "p50_ms")),
        (scenario, f"{label}: latency p99 (ms)", _get(phase, "p99_ms")),
        (scenario, f"{label}: latency max (ms)", _get(phase, "max_ms")),
        (scenario, f"{label}: load generator read delay p99 (ms)", _get(phase, "read_late_p99_ms")),
        (scenario, f"{label}: lost", _get(phase, "lost")),
        (scenario, f"{label}: duplicated", _get(phase, "duplicated")),
        (scenario, f"{label}: out of order", _get(phase, "reordered")),
        (scenario, f"{label}: receivers unverified", _get(phase, "unverified")),
        (scenario, f"{label}: server CPU µs/delivery", _get(phase, "cpu_us_per_delivery")),
        (scenario, f"{label}: server CPU (cores)", _get(phase, "cpu_share")),
        (scenario, f"{label}: load generator CPU (cores)", _get(phase, "generator_cores")),
        (scenario, f"{label}: errors", _errors(phase)),
    ]


# (scenario, metric label, getter on that scenario's result dict)
ROWS: list[tuple[str, str, Getter]] = [
    ("idle", "idle: clients registered and joined", _ready()),
    ("idle", "idle: server RSS per connection (KiB)", _get("rss_per_conn_kib")),
    ("idle", "idle: errors", _errors()),
    ("message", "per message: members joined", _ready("setup")),
    ("message", "per message: setup errors", _errors("setup")),
    ("message", "per message: window per sender", _get("max", "window")),
    ("message", "per message: messages/s", _get("max", "messages_per_s")),
    ("message", "per message: server CPU µs/message", _get("max", "cpu_us_per_message")),
    *_phase_rows("message", "max", "per message"),
    ("fanout", "fan-out: members joined", _ready("setup")),
    ("fanout", "fan-out: setup errors", _errors("setup")),
    ("fanout", "fan-out max rate: window per sender", _get("max", "window")),
    *_phase_rows("fanout", "max", "fan-out max rate"),
    *_phase_rows("fanout", "fixed", "fan-out fixed rate"),
    ("wsfanout", "WebSocket fan-out: members joined", _ready("setup")),
    ("wsfanout", "WebSocket fan-out: setup errors", _errors("setup")),
    ("wsfanout", "WebSocket fan-out max rate: window per sender", _get("max", "window")),
    *_phase_rows("wsfanout", "max", "WebSocket fan-out max rate"),
    *_phase_rows("wsfanout", "fixed", "WebSocket fan-out fixed rate"),
    ("many", "many channels: clients joined", _ready("setup")),
    ("many", "many channels: setup errors", _errors("setup")),
    ("many", "many channels: deliveries/s", _get("chat", "deliveries_per_s")),
    ("many", "many channels: latency p50 (ms)", _get("chat", "p50_ms")),
    ("many", "many channels: latency p99 (ms)", _get("chat", "p99_ms")),
    ("many", "many channels: latency max (ms)", _get("chat", "max_ms")),
    ("many", "many channels: lost", _get("chat", "lost")),
    ("many", "many channels: server CPU µs/delivery", _get("chat", "cpu_us_per_delivery")),
    ("many", "many channels: errors", _errors("chat")),
    ("storm", "storm: registrations/s", _get("registrations_per_s")),
    ("storm", "storm: server CPU µs/registration", _get("cpu_us_per_registration")),
    ("storm", "storm: errors", _errors()),
    ("history", "history: messages stored", _get("figures", "messages")),
    ("history", "history: commit rate (msg/s)", _get("figures", "commit_rate_msgs_per_s")),
    ("history", "history: LATEST 100 median (ms)", _get("figures", "latest100_median_ms")),
    ("history", "history: LATEST 100 p99 (ms)", _get("figures", "latest100_p99_ms")),
    ("history", "history: BEFORE 100 median (ms)", _get("figures", "before100_median_ms")),
    ("history", "history: commit CPU µs/message", _get("figures", "commit_cpu_us_per_msg")),
    ("history", "history: LATEST 100 CPU (ms)", _get("figures", "latest100_cpu_ms")),
    ("history", "history: BEFORE 100 CPU (ms)", _get("figures", "before100_cpu_ms")),
    ("commit", "history end to end: members joined", _ready("setup")),
    ("commit", "history end to end: messages/s sent", _get("max", "messages_per_s")),
    ("commit", "history end to end: messages committed", _get("max", "stored")),
    ("commit", "history end to end: messages committed/s", _get("max", "stored_per_s")),
    ("commit", "history end to end: server CPU µs/message", _get("max", "cpu_us_per_message")),
    ("commit", "history end to end: latency p99 (ms)", _get("max", "p99_ms")),
    ("commit", "history end to end: lost", _get("max", "lost")),
    ("commit", "history end to end: server CPU (cores)", _get("max", "cpu_share")),
    ("commit", "history end to end: load generator CPU (cores)", _get("max", "generator_cores")),
    ("commit", "history end to end: errors", _errors("max")),
    ("chathistory", "chathistory: clients joined", _ready("setup")),
    ("chathistory", "chathistory: messages in the channel", _get("prefill", "stored")),
    *(
        row
        for kind, label in (("latest", "LATEST 100"), ("before", "BEFORE 100 (random msgid)"))
        for row in (
            ("chathistory", f"chathistory {label}: requests/s", _get(kind, "requests_per_s")),
            ("chathistory", f"chathistory {label}: server CPU ms/request", _get(kind, "cpu_ms_per_request")),
            ("chathistory", f"chathistory {label}: latency p50 (ms)", _get(kind, "p50_ms")),
            ("chathistory", f"chathistory {label}: latency p99 (ms)", _get(kind, "p99_ms")),
            ("chathistory", f"chathistory {label}: server CPU (cores)", _get(kind, "cpu_share")),
            (
                "chathistory",
                f"chathistory {label}: load generator CPU (cores)",
                _get(kind, "generator_cores"),
            ),
            ("chathistory", f"chathistory {label}: errors", _errors(kind)),
        )
    ),
]


def fmt(value: Any) -> str:
    """A table cell: integers as they are, other numbers to three significant figures or so."""
    if value is None:
        return "—"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if isinstance(value, int) or (float(value).is_integer() and abs(value) >= 100):
        return f"{int(value):,}"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def ratio(a: Any, b: Any) -> str:
    """hubbub/peer for two numbers; a dash when either is missing or the peer's is zero."""
    if not isinstance(a, int | float) or not isinstance(b, int | float) or isinstance(a, bool):
        return "—"
    if b == 0:
        return "=" if a == 0 else "—"
    return f"{a / b:.2f}"


def scenario_failure(result: dict[str, Any]) -> str | None:
    """The reason a scenario did not finish, if it did not."""
    err = result.get("failed")
    return str(err) if err else None


def table(results: dict[str, dict[str, Any]], servers: list[str]) -> str:
    """Markdown table of every metric of the scenarios that ran, one column per server."""
    peers = [s for s in servers if s != "hubbub"] if "hubbub" in servers else []
    header = ["metric", *servers, *(f"hubbub/{p}" for p in peers)]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|"]
    ran = {sc for s in servers for sc in results.get(s, {})}
    for scenario, label, get in ROWS:
        if scenario not in ran:
            continue
        values = [get(results.get(s, {}).get(scenario, {})) for s in servers]
        cells = [fmt(v) for v in values]
        if peers:
            h = values[servers.index("hubbub")]
            cells += [ratio(h, values[servers.index(p)]) for p in peers]
        lines.append("| " + " | ".join([label, *cells]) + " |")
    for s in servers:
        for scenario, result in results.get(s, {}).items():
            reason = scenario_failure(result)
            if reason:
                lines.append(f"\n{s} {scenario}: did not complete: {reason}")
            elif isinstance(result, dict) and result.get("skipped"):
                lines.append(f"\n{s} {scenario}: skipped: {result['skipped']}")
    hist = results.get("hubbub", {}).get("history")
    if hist and "error" in hist:
        lines.append(f"\nhubbub history: {hist['error']}")
    return "\n".join(lines)


def write_json(payload: dict[str, Any], directory: Path = RESULTS_DIR) -> Path:
    """Write the run to ``<directory>/<timestamp>.json`` and return its path."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / (time.strftime("%Y%m%d-%H%M%S") + ".json")
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    return path


# Correctness counts add up over trials (one loss in any trial must show); "ready" counts take the
# worst trial; every other number is the median.
_TOTALS = {"lost", "duplicated", "reordered", "unverified"}


def merge_trials(trials: list[dict[str, Any]]) -> dict[str, Any]:
    """One result from several trials of a scenario: medians, totals of problems, all trials kept."""
    if len(trials) == 1:
        return trials[0]
    merged: dict[str, Any] = _merge(list(trials))
    merged["trials"] = trials
    failed = [t["failed"] for t in trials if t.get("failed")]
    if failed:
        merged["failed"] = "; ".join(failed)
    return merged


def _merge(values: list[Any], key: str = "") -> Any:
    present = [v for v in values if v is not None]
    if not present:
        return None
    first = present[0]
    if isinstance(first, dict):
        if key == "errors" or key.endswith("_errors"):
            out: dict[str, int] = {}
            for d in present:
                for reason, n in d.items():
                    out[reason] = out.get(reason, 0) + n
            return out
        keys = [k for k in first if k not in ("trials", "failed")]
        return {k: _merge([v.get(k) if isinstance(v, dict) else None for v in present], k) for k in keys}
    numbers = [v for v in present if isinstance(v, int | float) and not isinstance(v, bool)]
    if len(numbers) != len(present):
        return first
    if key in _TOTALS:
        return sum(numbers)
    if key == "ready":
        return min(numbers)
    return statistics.median(numbers)


# (label, getter on a fan-out result, how the last column compares the cluster with the single
# node: "ratio" cluster/single, "diff" cluster - single, "" nothing)
CLUSTER_ROWS: list[tuple[str, Getter, str]] = [
    ("members joined", _ready("setup"), ""),
    ("members and senders per node", lambda d: _per_node(d), ""),
    ("nodes knew every member after (s)", _get("setup", "settle_s"), ""),
    ("max rate: window per sender", _get("max", "window"), ""),
    ("max rate: deliveries/s", _get("max", "deliveries_per_s"), "ratio"),
    ("max rate: server CPU µs/delivery (hubbub processes)", _get("max", "cpu_us_per_delivery"), "ratio"),
    ("max rate: Redis CPU µs/delivery", _get("max", "redis_cpu_us_per_delivery"), ""),
    ("max rate: hubbub + Redis CPU µs/delivery", lambda d: _with_redis(d, "max"), "ratio"),
    ("max rate: server CPU (cores, hubbub processes)", _get("max", "cpu_share"), "ratio"),
    ("max rate: Redis CPU (cores)", _get("max", "redis_cpu_share"), ""),
    ("max rate: Redis commands per message", _get("max", "bus_calls_per_message"), ""),
    ("max rate: latency p50 (ms)", _get("max", "p50_ms"), "ratio"),
    ("max rate: latency p99 (ms)", _get("max", "p99_ms"), "ratio"),
    ("max rate: load generator CPU (cores)", _get("max", "generator_cores"), ""),
    ("fixed rate: offered deliveries/s", _get("fixed", "offered_deliveries_per_s"), ""),
    ("fixed rate: deliveries/s", _get("fixed", "deliveries_per_s"), "ratio"),
    ("fixed rate: server CPU µs/delivery (hubbub processes)", _get("fixed", "cpu_us_per_delivery"), "ratio"),
    ("fixed rate: Redis CPU µs/delivery", _get("fixed", "redis_cpu_us_per_delivery"), ""),
    ("fixed rate: hubbub + Redis CPU µs/delivery", lambda d: _with_redis(d, "fixed"), "ratio"),
    ("fixed rate: server CPU (cores, hubbub processes)", _get("fixed", "cpu_share"), "ratio"),
    ("fixed rate: Redis CPU (cores)", _get("fixed", "redis_cpu_share"), ""),
    ("fixed rate: Redis commands per message", _get("fixed", "bus_calls_per_message"), ""),
    ("fixed rate: latency p50 (ms)", _get("fixed", "p50_ms"), "diff"),
    ("fixed rate: latency p99 (ms)", _get("fixed", "p99_ms"), "diff"),
    ("fixed rate: latency max (ms)", _get("fixed", "max_ms"), "diff"),
    ("fixed rate: cross-node deliveries (share of checked)", _get("fixed", "cross_share"), ""),
    ("fixed rate: cross-node latency p50 (ms)", _get("fixed", "cross_p50_ms"), ""),
    ("fixed rate: cross-node latency p99 (ms)", _get("fixed", "cross_p99_ms"), ""),
    ("fixed rate: load generator read delay p99 (ms)", _get("fixed", "read_late_p99_ms"), ""),
    ("fixed rate: load generator CPU (cores)", _get("fixed", "generator_cores"), ""),
    ("lost (both phases)", lambda d: _both(d, "lost"), ""),
    ("duplicated (both phases)", lambda d: _both(d, "duplicated"), ""),
    ("out of order (both phases)", lambda d: _both(d, "reordered"), ""),
    ("errors (setup and both phases)", lambda d: _total_errors(d), ""),
]


def _per_node(d: dict[str, Any]) -> str | None:
    members, senders, nodes = d.get("members"), d.get("senders"), d.get("nodes")
    if not isinstance(members, int) or not isinstance(senders, int) or not nodes:
        return None
    nodes = int(nodes)
    m = [len(range(i, members, nodes)) for i in range(nodes)]
    k = [len(range(i, senders, nodes)) for i in range(nodes)]
    return " · ".join(f"{a} ({b})" for a, b in zip(m, k, strict=True))


def _with_redis(d: dict[str, Any], phase: str) -> Any:
    own = _get(phase, "cpu_us_per_delivery")(d)
    if own is None:
        return None
    return own + (_get(phase, "redis_cpu_us_per_delivery")(d) or 0.0)


def _both(d: dict[str, Any], key: str) -> Any:
    values = [_get(phase, key)(d) for phase in ("max", "fixed")]
    present = [v for v in values if isinstance(v, int | float)]
    return sum(present) if present else None


def _total_errors(d: dict[str, Any]) -> Any:
    values = [_errors(*path)(d) for path in (("setup",), ("max",), ("fixed",))]
    present = [v for v in values if v is not None]
    return sum(present) if present else None


def _diff(a: Any, b: Any) -> str:
    if not isinstance(a, int | float) or not isinstance(b, int | float):
        return "—"
    return ("+" if a >= b else "") + fmt(a - b)


def cluster_table(results: dict[str, dict[str, Any]], single: str, cluster: str, nodes: int) -> str:
    """The fan-out on one node and on a cluster side by side, with the issue's targets judged."""
    one = results.get(single, {}).get("fanout", {})
    many = results.get(cluster, {}).get("fanout", {})
    header = ["metric", f"{single} (1 node)", f"{cluster} ({nodes} nodes)", "cluster/single"]
    lines = ["| " + " | ".join(header) + " |", "|---|---:|---:|---:|"]
    for label, get, compare in CLUSTER_ROWS:
        a, b = get(one), get(many)
        last = ratio(b, a) if compare == "ratio" else _diff(b, a) if compare == "diff" else ""
        lines.append(f"| {label} | {fmt(a)} | {fmt(b)} | {last} |")
    lines.append("")
    lines.append(
        "In the last column: cluster/single, or cluster - single (ms) for the fixed rate's latencies."
    )
    lines += ["", *cluster_verdicts(one, many)]
    for name, result in ((single, one), (cluster, many)):
        reason = scenario_failure(result) if result else "no result"
        if reason:
            lines.append(f"\n{name} fanout: did not complete: {reason}")
    trials = cluster_trials(one, many)
    if trials:
        lines += ["", trials]
    return "\n".join(lines)


CPU_TARGET = 2.0  # cluster CPU per delivery at most twice a single node's (issue 17)
P99_TARGET_MS = 50.0  # p99 latency at 50,000 deliveries/s


def cluster_verdicts(one: dict[str, Any], many: dict[str, Any]) -> list[str]:
    """Issue 17's targets, each with the figure it is judged on."""
    out = []
    for phase, name in (("max", "max rate"), ("fixed", "fixed rate")):
        a, b = _get(phase, "cpu_us_per_delivery")(one), _get(phase, "cpu_us_per_delivery")(many)
        if isinstance(a, int | float) and isinstance(b, int | float) and a > 0:
            x = b / a
            with_redis = _with_redis(many, phase) / a
            met = "met" if x <= CPU_TARGET else "NOT met"
            out.append(
                f"- Target: cluster CPU per delivery at most {CPU_TARGET:g}x a single node's ({name}): "
                f"{x:.2f}x, {met} ({with_redis:.2f}x counting Redis)."
            )
    p99 = _get("fixed", "p99_ms")(many)
    offered = _get("fixed", "offered_deliveries_per_s")(many)
    got = _get("fixed", "deliveries_per_s")(many)
    if isinstance(p99, int | float) and isinstance(offered, int | float) and isinstance(got, int | float):
        kept = got >= 0.95 * offered
        met = "met" if p99 < P99_TARGET_MS and kept else "NOT met"
        rate = "" if kept else f"; the cluster delivered only {got:,.0f} of the {offered:,.0f}/s offered"
        out.append(
            f"- Target: p99 under {P99_TARGET_MS:g} ms at {offered:,.0f} deliveries/s offered: "
            f"{p99:.2f} ms, {met}{rate}."
        )
    out.append(
        "- The nodes, Redis and the load generator share this machine's cores "
        f"({os.cpu_count()}): what one takes the others lack."
    )
    return out


def cluster_trials(one: dict[str, Any], many: dict[str, Any]) -> str:
    """One line per trial: the figures the targets are judged on, for both servers."""
    a_trials, b_trials = one.get("trials") or [one], many.get("trials") or [many]
    if not one and not many:
        return ""
    head = (
        "| trial | max deliveries/s 1 node | cluster | max CPU µs/delivery 1 node | cluster | Redis"
        " | fixed deliveries/s 1 node | cluster | fixed p50 ms 1 node | cluster"
        " | fixed p99 ms 1 node | cluster |"
    )
    lines = [head, "|---" + "|---:" * 11 + "|"]
    for i in range(max(len(a_trials), len(b_trials))):
        a = a_trials[i] if i < len(a_trials) else {}
        b = b_trials[i] if i < len(b_trials) else {}
        cells = [
            _get("max", "deliveries_per_s")(a),
            _get("max", "deliveries_per_s")(b),
            _get("max", "cpu_us_per_delivery")(a),
            _get("max", "cpu_us_per_delivery")(b),
            _get("max", "redis_cpu_us_per_delivery")(b),
            _get("fixed", "deliveries_per_s")(a),
            _get("fixed", "deliveries_per_s")(b),
            _get("fixed", "p50_ms")(a),
            _get("fixed", "p50_ms")(b),
            _get("fixed", "p99_ms")(a),
            _get("fixed", "p99_ms")(b),
        ]
        lines.append(f"| {i + 1} | " + " | ".join(fmt(c) for c in cells) + " |")
    return "Per trial:\n\n" + "\n".join(lines)
