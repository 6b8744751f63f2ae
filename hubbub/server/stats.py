"""What the server counts as it runs, for ``/metrics`` (hubbub.server.metrics reads it when scraped).

Plain integer fields bumped where the thing happens: once per published message, per fan-out, per
flush, per commit; never per line of output. The expensive part, turning them into the Prometheus
text format, happens only when somebody asks.
"""

from __future__ import annotations

__all__ = ["COMMIT_BUCKETS", "Stats"]

COMMIT_BUCKETS: tuple[float, ...] = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
)
"""Upper bounds (seconds) of the store commit latency histogram's buckets (the last is +Inf)."""


class Stats:
    """The server's running counters; one per server."""

    __slots__ = (
        "bytes_out",
        "commit_buckets",
        "commit_count",
        "commit_seconds",
        "deliveries",
        "flood_delays",
        "loop_lag",
        "messages",
        "sendq_drops",
    )

    def __init__(self) -> None:
        self.messages = 0  # messages and notices accepted from clients (published, not events)
        self.deliveries = 0  # messages and events queued to a recipient, each recipient counted
        self.bytes_out = 0  # bytes handed to the sockets
        self.sendq_drops = 0  # connections dropped for a full sendq
        self.flood_delays = 0  # lines held back by flood control
        # Store commits (one per group of loop turns): how many, their total time, and how many
        # took at most each of COMMIT_BUCKETS (cumulative counts are made when scraped).
        self.commit_count = 0
        self.commit_seconds = 0.0
        self.commit_buckets = [0] * (len(COMMIT_BUCKETS) + 1)
        self.loop_lag = 0.0  # seconds the loop's last lag probe ran late

    def commit_took(self, seconds: float) -> None:
        """Note one store commit's latency, from its submission to its outcome on the loop."""
        self.commit_count += 1
        self.commit_seconds += seconds
        i = 0
        for bound in COMMIT_BUCKETS:
            if seconds <= bound:
                break
            i += 1
        self.commit_buckets[i] += 1
