"""/metrics: the Prometheus text of a real server's counters, read back with prometheus-client's parser."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from prometheus_client.parser import text_string_to_metric_families

from hubbub import __version__
from hubbub.server.app import Server
from hubbub.server.metrics import Metrics
from tests.support.clock import FakeClock
from tests.support.memory import MemoryClient, settle


def scrape(server: Server) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a scrape, by name and labels."""
    text = Metrics(server).render().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def test_the_counters_follow_what_the_server_does(
    server: Server, client: Callable[..., MemoryClient]
) -> None:
    alice, bob, carol = client(server, "alice"), client(server, "bob"), client(server, "carol")
    for c in (alice, bob, carol):
        await c.register(c.nick)
    lurker = client(server, "lurker")  # connected, never registered
    assert lurker.session is not None
    for c in (alice, bob, carol):
        c.send("JOIN #room")
    await carol.expect(lambda m: m.command == "366")
    before = scrape(server)
    assert before[("hubbub_connections", (("door", "plain"),))] == 4
    assert before[("hubbub_users", ())] == 3
    assert before[("hubbub_unregistered_connections", ())] == 1
    assert before[("hubbub_channels", ())] == 1

    for i in range(5):
        alice.send(f"PRIVMSG #room :hello {i}")
    await bob.expect(lambda m: m.command == "PRIVMSG" and m.params[-1] == "hello 4")
    await settle(server)
    after = scrape(server)
    assert after[("hubbub_messages_total", ())] - before[("hubbub_messages_total", ())] == 5
    # each of the five went to bob and carol (alice has no echo-message)
    assert after[("hubbub_deliveries_total", ())] - before[("hubbub_deliveries_total", ())] == 10
    assert after[("hubbub_sent_bytes_total", ())] > before[("hubbub_sent_bytes_total", ())]
    commits = after[("hubbub_store_commit_seconds_count", ())]
    assert commits >= 1
    assert after[("hubbub_store_commit_seconds_bucket", (("le", "+Inf"),))] == commits
    assert after[("hubbub_store_failures_total", ())] == 0
    assert after[("hubbub_store_pending_messages", ())] == 0
    assert after[("hubbub_event_loop_lag_seconds", ())] == 0.0  # the fake clock runs timers on time
    assert after[("hubbub_info", (("node", ""), ("server", server.name), ("version", __version__)))] == 1


async def test_sendq_drops_and_flood_delays_are_counted(
    start_server: Callable[..., Awaitable[Server]], clock: FakeClock, client: Callable[..., MemoryClient]
) -> None:
    server = await start_server(flood_control=True, sendq=4096)
    talker, stuck = client(server, "talker"), client(server, "stuck")
    await talker.register("talker")
    await stuck.register("stuck")
    talker.send("JOIN #room")
    stuck.send("JOIN #room")
    await stuck.expect(lambda m: m.command == "366")
    stuck.transport.buffered = 1 << 20  # a peer that reads nothing: its socket buffer stays full
    for i in range(30):  # past the burst: the rest waits for the flood bucket
        talker.send(f"PRIVMSG #room :line {i}")
    metrics = scrape(server)
    assert metrics[("hubbub_flood_delays_total", ())] >= 1
    clock.advance(60)  # the held lines go out, and the one who does not read is dropped
    await stuck.expect_closed()
    assert scrape(server)[("hubbub_sendq_drops_total", ())] == 1
