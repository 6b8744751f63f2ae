"""``python -m bench``: run the scenarios against each server, print the table, write the JSON."""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import secrets
import shlex
import sys
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import history, profile, report
from .cluster import RunningCluster, start_cluster
from .scenarios import SCENARIOS, ScenarioError, Sizes
from .servers import (
    CLUSTER,
    RunningServer,
    ServerSpec,
    builtin_specs,
    hubbub_build,
    raise_nofile_limit,
    start_server,
)

ALL_SCENARIOS = ["idle", "message", "fanout", "wsfanout", "many", "storm", "history", "commit", "chathistory"]
# ``--cluster``'s sizes unless flags say otherwise: members and senders a multiple of the three
# nodes, and the fixed phase offered at the 50,000 deliveries per second.
CLUSTER_SIZES = {"fanout_members": 99, "fanout_senders": 6, "fanout_deliveries": 50_000.0}


def build_parser() -> argparse.ArgumentParser:
    """Command-line options; every size has a flag that overrides the short or full default."""
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument("--full", action="store_true", help="the issue's sizes (10,000 connections and more)")
    p.add_argument(
        "--scenarios", default=None, help="comma-separated subset (default: all; fanout with --cluster)"
    )
    p.add_argument(
        "--servers",
        default=None,
        help="comma-separated subset of known servers (default: hubbub,miniircd; with --cluster "
        f"hubbub,{CLUSTER})",
    )
    p.add_argument(
        "--cluster",
        action="store_true",
        help=f"the fan-out on one node and on a cluster ({CLUSTER}: nodes on a Redis the bench "
        "starts, members and senders spread evenly over them), side by side",
    )
    p.add_argument("--cluster-nodes", type=int, default=None, help="nodes of the cluster (default 3)")
    p.add_argument(
        "--cluster-store",
        default="",
        metavar="URL",
        help="passed to every node of the cluster, and to the single hubbub it is compared with, as "
        "--store URL (unset: each its own SQLite data directory)",
    )
    p.add_argument(
        "--peer",
        action="append",
        default=[],
        metavar="NAME=COMMAND",
        help="another server; COMMAND contains {port} (a free port chosen by the bench)",
    )
    p.add_argument(
        "--trials",
        type=int,
        default=1,
        help="run each scenario this many times per server, servers alternating; report medians",
    )
    p.add_argument("--workers", type=int, default=max(2, os.cpu_count() or 2), help="load processes")
    p.add_argument("--output-dir", type=Path, default=report.RESULTS_DIR, help="where the JSON goes")
    p.add_argument("--no-json", action="store_true", help="print the table only")
    p.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="record each server with py-spy into DIR/<server>-<scenario>.txt (collapsed stacks)",
    )
    for f in dataclasses.fields(Sizes):
        p.add_argument("--" + f.name.replace("_", "-"), type=type(f.default), default=None)
    return p


def sizes_from(args: argparse.Namespace) -> Sizes:
    """Short or full sizes, with any size flags applied on top."""
    sizes = Sizes.full() if args.full else Sizes.short()
    if args.cluster:
        for name, value in CLUSTER_SIZES.items():
            setattr(sizes, name, value)
    for f in dataclasses.fields(Sizes):
        value = getattr(args, f.name)
        if value is not None:
            setattr(sizes, f.name, value)
    return sizes


def specs_from(args: argparse.Namespace) -> list[ServerSpec]:
    """Known servers named by --servers, then every --peer."""
    known = builtin_specs()
    if args.cluster_nodes is not None:
        if args.cluster_nodes < 1:
            raise SystemExit("--cluster-nodes wants at least 1")
        known[CLUSTER] = dataclasses.replace(known[CLUSTER], nodes=args.cluster_nodes)
    servers = args.servers or ("hubbub," + CLUSTER if args.cluster else "hubbub,miniircd")
    specs: list[ServerSpec] = []
    for name in filter(None, (s.strip() for s in servers.split(","))):
        if name not in known:
            raise SystemExit(f"unknown server {name!r}; known: {', '.join(known)} (or use --peer)")
        reason = known[name].missing()
        if reason:
            raise SystemExit(reason)
        spec = known[name]
        if name == "hubbub" and args.cluster_store:
            # The same store on both sides of the comparison (the cluster's nodes get it in
            # bench.cluster.node_spec).
            spec = dataclasses.replace(
                spec, command=f"{spec.command} --store {shlex.quote(args.cluster_store)}"
            )
        specs.append(spec)
    for peer in args.peer:
        name, sep, command = peer.partition("=")
        if not sep or "{port}" not in command:
            raise SystemExit(f"--peer wants NAME=COMMAND with {{port}} in COMMAND, got {peer!r}")
        specs.append(ServerSpec(name.strip(), command))
    return specs


def run_scenario(
    spec: ServerSpec,
    scenario: str,
    sizes: Sizes,
    workers: int,
    profile_dir: Path | None = None,
    store: str = "",
) -> dict[str, Any]:
    """Start a fresh server, run one scenario on it, stop it; failures become a ``failed`` entry.

    A cluster's spec (``nodes``) starts a Redis and its nodes (each given ``--store store`` when
    set); its processes are profiled one file per node.
    """
    server: RunningServer | RunningCluster
    if store:
        # The store outlives the trial: a channel of its own keeps this trial from starting on the
        # history of the last.
        sizes = dataclasses.replace(sizes, fanout_channel=f"#fan{secrets.token_hex(3)}")
    try:
        server = start_cluster(spec, store) if spec.nodes else start_server(spec)
    except (OSError, RuntimeError, TimeoutError) as exc:
        return {"failed": f"server did not start: {exc}"}
    result: dict[str, Any]
    recorders: dict[str, profile.Recorder | None] = {}
    if profile_dir is not None:
        for label, pid in server.pids().items():
            name = f"{spec.name}-{scenario}-{label}.txt" if label else f"{spec.name}-{scenario}.txt"
            recorders[label] = profile.record(pid, profile_dir / name)
    try:
        result = SCENARIOS[scenario](server, sizes, workers)
    except ScenarioError as exc:
        result = {"failed": str(exc)}
    except Exception as exc:
        traceback.print_exc()
        result = {"failed": f"{type(exc).__name__}: {exc}"}
    profiles = {
        label: (recorder.stop() or str(recorder.output))
        if recorder is not None
        else "py-spy is not installed"
        for label, recorder in recorders.items()
    }
    if profiles:
        result["profile"] = profiles[""] if list(profiles) == [""] else profiles
    if not server.alive():
        tail = server.stderr_tail()
        last = tail.strip().splitlines()[-1] if tail.strip() else "no output"
        result["server_exit"] = f"server exited during the scenario (code {server.exit_code()}): {last}"
        result["server_stderr"] = tail
        result.setdefault("failed", result["server_exit"])
    code = server.stop()
    result["stop_exit_code"] = code
    if server.notes:
        result["server_notes"] = server.notes
    return result


def main(argv: Sequence[str] | None = None) -> int:
    """Run the chosen scenarios against each chosen server."""
    args = build_parser().parse_args(argv)
    sizes = sizes_from(args)
    specs = specs_from(args)
    default_scenarios = "fanout" if args.cluster else ",".join(ALL_SCENARIOS)
    scenarios = [s.strip() for s in (args.scenarios or default_scenarios).split(",") if s.strip()]
    unknown = set(scenarios) - set(ALL_SCENARIOS)
    if unknown:
        raise SystemExit(f"unknown scenarios: {', '.join(sorted(unknown))}")
    if args.cluster and scenarios != ["fanout"]:
        raise SystemExit("--cluster measures the fan-out only (--scenarios fanout)")
    # Which build each hubbub server runs (an optional compiled build, setup.py), asked of its
    # own interpreter: a pure and a compiled hubbub can be compared side by side with --peer.
    builds = {spec.name: b for spec in specs if (b := hubbub_build(spec.command, spec.env)) is not None}
    for name, build in builds.items():
        print(f"[bench] {name}: {build} build of hubbub", file=sys.stderr, flush=True)
    nofile = raise_nofile_limit()
    load_at_start = os.getloadavg()  # other work on the machine skews every figure
    started = time.time()
    results: dict[str, dict[str, Any]] = {spec.name: {} for spec in specs}
    for scenario in scenarios:
        if scenario == "history":  # the store's own figures: hubbub only, once
            if "hubbub" in results:
                print(f"[bench] history on hubbub ({sizes.history_messages:,} messages)", file=sys.stderr)
                results["hubbub"]["history"] = history.run(sizes.history_messages)
            continue
        runs: dict[str, list[dict[str, Any]]] = {spec.name: [] for spec in specs}
        for trial in range(max(1, args.trials)):
            # Alternate the order so that neither server always runs on a machine the other warmed.
            for spec in specs if trial % 2 == 0 else specs[::-1]:
                label = f" (trial {trial + 1} of {args.trials})" if args.trials > 1 else ""
                print(f"[bench] {scenario} on {spec.name}{label}", file=sys.stderr, flush=True)
                t0 = time.monotonic()
                runs[spec.name].append(
                    run_scenario(spec, scenario, sizes, args.workers, args.profile, args.cluster_store)
                )
                print(f"[bench]   done in {time.monotonic() - t0:.1f} s", file=sys.stderr, flush=True)
        for name, trials in runs.items():
            if trials:
                results[name][scenario] = report.merge_trials(trials)
    names = [spec.name for spec in specs]
    clustered = next((spec for spec in specs if spec.nodes), None)
    if args.cluster and clustered is not None and "hubbub" in results:
        text = report.cluster_table(results, "hubbub", clustered.name, clustered.nodes)
    else:
        text = report.table(results, names)
    if args.trials > 1:
        text += (
            f"\n\nEach figure is the median of {args.trials} trials per server (servers alternating);"
            " lost, duplicated, out of order, unverified and errors are totals over the trials."
        )
    if builds:
        text += "\n\nhubbub builds: " + ", ".join(f"{name}={build}" for name, build in builds.items()) + "."
    print(text)
    if not args.no_json:
        payload = {
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
            "seconds": round(time.time() - started, 1),
            "argv": list(sys.argv if argv is None else argv),
            "machine": {
                "cpus": os.cpu_count(),
                "python": platform.python_version(),
                "platform": platform.platform(),
                "nofile": nofile,
                "loadavg_at_start": load_at_start,
            },
            "workers": args.workers,
            "trials": args.trials,
            "sizes": dataclasses.asdict(sizes),
            "servers": {spec.name: spec.command for spec in specs},
            "cluster": {"nodes": clustered.nodes, "store": args.cluster_store or None}
            if clustered is not None
            else None,
            "hubbub_builds": builds,
            "results": results,
            "table": text,
        }
        path = report.write_json(payload, args.output_dir)
        print(f"\nJSON: {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
