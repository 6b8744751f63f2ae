"""``GET /metrics``: the server's counters and state in the Prometheus text format.

Made with prometheus-client when scraped, from what the server keeps anyway (its
:class:`~hubbub.server.stats.Stats`, its connections, its world, its store's progress): nothing is
registered globally and nothing runs between scrapes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from itertools import accumulate
from typing import TYPE_CHECKING, Protocol

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    InfoMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from hubbub import __version__

from .stats import COMMIT_BUCKETS

if TYPE_CHECKING:
    from collections.abc import Iterable

    from .cluster import Cluster
    from .connection import Connection
    from .delivery import Delivery
    from .doors import Door
    from .session import Session
    from .stats import Stats
    from .world import World


class MetricsHost(Protocol):
    """What the metrics read of the server (:class:`hubbub.server.app.Server`)."""

    name: str
    stats: Stats
    world: World[Session]
    delivery: Delivery
    doors: list[Door]
    cluster: Cluster | None

    @property
    def connections(self) -> Iterable[Connection]:
        """The open connections."""


__all__ = ["CONTENT_TYPE", "Metrics", "MetricsHost"]

CONTENT_TYPE = CONTENT_TYPE_LATEST
"""The Content-Type of what :meth:`Metrics.render` makes."""


class Metrics(Collector):
    """The metrics of one server, in a registry of their own."""

    def __init__(self, server: MetricsHost) -> None:
        self.server = server
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self)

    def render(self) -> bytes:
        """The metrics now, as the body of a ``/metrics`` response."""
        return generate_latest(self.registry)

    def collect(self) -> Iterator[Metric]:
        """Every metric, read from the server as it is now."""
        server = self.server
        stats = server.stats
        world = server.world
        delivery = server.delivery
        cluster = server.cluster
        yield InfoMetricFamily(
            "hubbub",
            "The server's version, name and (in a cluster) node.",
            {"version": __version__, "server": server.name, "node": cluster.node if cluster else ""},
        )
        if cluster is not None:
            yield GaugeMetricFamily(
                "hubbub_cluster_nodes",
                "Nodes of the network alive, this one included.",
                value=len(cluster.nodes) + 1,
            )
            handed = len(cluster.handover.handed)
            yield GaugeMetricFamily(
                "hubbub_cluster_local_users",
                "Users connected to this node (not counting devices whose sessions live elsewhere).",
                value=len(cluster.local) - handed,
            )
            yield GaugeMetricFamily(
                "hubbub_cluster_handed_devices",
                "Connections to this node that are devices of an account whose user is on another node.",
                value=handed,
            )
            yield GaugeMetricFamily(
                "hubbub_cluster_bus_queue",
                "Batches waiting to be sent on the bus.",
                value=len(cluster.waiting_to_send),
            )
            yield GaugeMetricFamily(
                "hubbub_cluster_order_waits",
                "Commits and batches waiting for an earlier message of their conversation.",
                value=sum(len(q) for q in cluster.waiting_for_order.values()),
            )

        doors = Counter(conn.door for conn in server.connections)
        for listener in server.doors:
            doors.setdefault(listener.name, 0)
        connections = GaugeMetricFamily(
            "hubbub_connections", "Open client connections, by door.", labels=["door"]
        )
        for name, count in sorted(doors.items()):
            connections.add_metric([name], count)
        yield connections
        yield GaugeMetricFamily("hubbub_users", "Registered users (nicks in use).", value=len(world.users))
        yield GaugeMetricFamily(
            "hubbub_unregistered_connections", "Connections not registered yet.", value=world.unregistered
        )
        yield GaugeMetricFamily("hubbub_channels", "Channels that exist now.", value=len(world.channels))

        yield CounterMetricFamily(
            "hubbub_messages", "Messages and notices accepted from clients.", value=stats.messages
        )
        yield CounterMetricFamily(
            "hubbub_deliveries", "Messages and events queued to a recipient.", value=stats.deliveries
        )
        yield CounterMetricFamily(
            "hubbub_sent_bytes", "Bytes written to client sockets.", value=stats.bytes_out
        )
        yield CounterMetricFamily(
            "hubbub_sendq_drops",
            "Connections dropped because their send queue was full.",
            value=stats.sendq_drops,
        )
        yield CounterMetricFamily(
            "hubbub_flood_delays", "Lines held back by flood control.", value=stats.flood_delays
        )

        cumulative = list(accumulate(stats.commit_buckets))
        buckets = [(_bound(b), n) for b, n in zip(COMMIT_BUCKETS, cumulative, strict=False)]
        buckets.append(("+Inf", cumulative[-1]))
        yield HistogramMetricFamily(
            "hubbub_store_commit_seconds",
            "Time from a group of messages going to the store writer to its commit returning.",
            buckets=buckets,
            sum_value=stats.commit_seconds,
        )
        yield CounterMetricFamily(
            "hubbub_store_failures",
            "Store commits that failed (their messages were not delivered).",
            value=delivery.failures,
        )
        waiting = delivery.in_flight_messages + (delivery.epoch.messages if delivery.epoch is not None else 0)
        yield GaugeMetricFamily(
            "hubbub_store_pending_messages", "Messages waiting for their commit.", value=waiting
        )
        yield GaugeMetricFamily(
            "hubbub_event_loop_lag_seconds",
            "How late the event loop ran its last once-a-second probe.",
            value=stats.loop_lag,
        )


def _bound(seconds: float) -> str:
    return repr(float(seconds))
