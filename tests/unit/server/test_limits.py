"""Connection counting and the log of refused connections (limits.py)."""

from __future__ import annotations

from hubbub.server.limits import ConnectionCounter, RefusalLog


def test_a_burst_of_refusals_is_one_line_then_one_summary_per_interval() -> None:
    refusals = RefusalLog(interval=10.0)
    assert refusals.note("Server full", "192.0.2.1", 100.0) == "a connection from 192.0.2.1: Server full"
    for i in range(40):
        assert refusals.note("Too many connections from your address", "192.0.2.9", 100.0 + i * 0.2) is None
    assert refusals.note("Server full", "192.0.2.7", 107.0) is None
    summary = refusals.note("Server full", "192.0.2.7", 111.0)
    assert summary == (
        "42 connections in the last 11 s (40 Too many connections from your address, 2 Server full);"
        " the most (40) from 192.0.2.9"
    )
    # Quiet again: the next one is logged at once, alone.
    assert refusals.note("Server full", "192.0.2.1", 130.0) == "a connection from 192.0.2.1: Server full"


def test_a_refusal_log_tells_apart_a_bounded_number_of_addresses() -> None:
    refusals = RefusalLog(interval=10.0)
    refusals.note("Server full", "2001:db8::1", 0.0)
    for i in range(5000):
        refusals.note("Server full", f"2001:db8::{i:x}", 1.0)
    assert len(refusals._addresses) <= 1000
    assert refusals.note("Server full", "2001:db8::1", 20.0) is not None


def test_the_total_limit_says_the_server_is_full_and_releases_count_down() -> None:
    counter = ConnectionCounter(max_total=2, max_per_ip=1, exempt_loopback=True)
    assert counter.admit("127.0.0.1") is None
    assert counter.admit("192.0.2.1") is None
    assert counter.admit("192.0.2.2") == "Server full"
    counter.release("192.0.2.1")
    assert counter.admit("192.0.2.1") is None
    assert counter.admit("192.0.2.1") == "Server full"
    counter.release("127.0.0.1")
    assert counter.admit("192.0.2.1") == "Too many connections from your address"
    assert counter.admit("127.0.0.1") is None  # loopback is exempt from the address limit only
    assert (counter.total, dict(counter.per_ip)) == (2, {"192.0.2.1": 1, "127.0.0.1": 1})


def test_connections_from_one_address_share_one_string_once_there_are_several():
    counter = ConnectionCounter(max_total=10, max_per_ip=10, exempt_loopback=False)
    first = "".join(["192.0.2.", "7"])  # built at run time: a string of its own, as a peername's is
    assert counter.admit(first) is None
    assert counter.address(first) is first  # alone: kept as it came
    second, third = "".join(["192.0.2.", "7"]), "".join(["192.0.2.", "7"])
    assert counter.admit(second) is None and counter.admit(third) is None
    assert counter.address(second) is second
    assert counter.address(third) is second
    for ip in (first, second, third):
        counter.release(ip)
    assert counter.per_ip == {} and counter._addresses == {}
