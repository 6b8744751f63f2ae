"""What one command answers, in memory: label and batch shapes, and order across off-loop work."""

from __future__ import annotations

import asyncio
import threading

import pytest

from hubbub.server import accounts
from hubbub.server.accounts import hash_password, verify_password
from tests.support.memory import MemoryClient

CAPS = ("labeled-response", "batch", "server-time")


async def test_a_labelled_who_is_one_labeled_response_batch(server, client):
    c: MemoryClient = client(server, "alice")
    await c.register("alice", caps=CAPS)
    c.send("JOIN #c")
    await c.settle()
    c.send("@label=w1 WHO #c")
    got = await c.settle()
    assert [m.command for m in got] == ["BATCH", "352", "315", "BATCH"]
    start, *inner, end = got
    ref = start.params[0][1:]
    assert start.params == ("+" + ref, "labeled-response")
    assert start.tags["label"] == "w1"
    assert [m.tags.get("batch") for m in inner] == [ref, ref]
    assert not any("label" in m.tags for m in [*inner, end])
    assert end.params == ("-" + ref,) and "batch" not in end.tags


async def test_a_labelled_command_with_one_reply_carries_the_label_on_it(server, client):
    c: MemoryClient = client(server, "alice")
    await c.register("alice", caps=CAPS)
    c.send("@label=p1 PING :hello")
    (pong,) = await c.settle()
    assert pong.command == "PONG" and pong.params == ("hubbub.local", "hello")
    assert pong.tags["label"] == "p1" and "batch" not in pong.tags


async def test_a_labelled_command_with_no_output_gets_ack(server, client):
    c: MemoryClient = client(server, "alice")
    await c.register("alice", caps=CAPS)
    c.send("@label=q1 PONG :hubbub.local")
    (ack,) = await c.settle()
    assert ack.command == "ACK" and ack.tags["label"] == "q1"


async def test_without_labeled_response_a_label_is_ignored(server, client):
    c: MemoryClient = client(server, "alice")
    await c.register("alice", caps=("batch",))
    c.send("@label=q1 PONG :hubbub.local")
    c.send("@label=p1 PING :hello")
    (pong,) = await c.settle()
    assert pong.command == "PONG" and "label" not in pong.tags


@pytest.fixture
def oper_server(start_server):
    """A server with operator ``admin`` (password ``secret``, hashed cheaply)."""
    hashed = hash_password("secret", memory_kib=1024, time_cost=1)
    return start_server(opers=(f"admin {hashed}",))


async def test_a_wrong_oper_password_is_answered_before_the_ping_sent_after_it(oper_server, client):
    server = await oper_server
    c: MemoryClient = client(server, "alice")
    await c.register("alice", caps=CAPS)
    c.send("@label=o1 OPER admin wrong")
    c.send("@label=p1 PING :after")
    got = await c.settle()
    assert [(m.command, m.tags.get("label")) for m in got] == [("464", "o1"), ("PONG", "p1")]
    assert "o" not in c.session.umodes
    assert server.outboxes.labelling == 0  # no labelled command is collecting replies any more


async def test_a_labelled_command_finished_off_the_loop_answers_its_label_with_a_batch(oper_server, client):
    server = await oper_server
    c: MemoryClient = client(server, "alice")
    await c.register("alice", caps=CAPS)
    c.send("@label=o2 OPER admin secret")
    got = await c.settle()
    assert [m.command for m in got] == ["BATCH", "MODE", "381", "BATCH"]
    assert got[0].tags["label"] == "o2" and got[0].params[1] == "labeled-response"
    assert {m.tags.get("batch") for m in got[1:3]} == {got[0].params[0][1:]}
    assert server.outboxes.labelling == 0


async def test_input_waits_while_a_password_is_checked_off_the_loop(oper_server, client, monkeypatch):
    server = await oper_server
    c: MemoryClient = client(server, "alice")
    await c.register("alice")
    started, release = threading.Event(), threading.Event()

    def slow_verify(hashed: str, password: str) -> bool:
        started.set()
        release.wait(5)
        return verify_password(hashed, password)

    monkeypatch.setattr(accounts, "verify_password", slow_verify)  # OPER checks through Accounts.verify
    c.send("OPER admin wrong")
    c.send("PING :after")
    c.send("PRIVMSG alice :and this")
    loop = asyncio.get_running_loop()
    assert await loop.run_in_executor(None, started.wait, 5)
    for _ in range(3):
        await asyncio.sleep(0)
    assert c.messages() == []  # the PING and the message wait for the check (Session.run_async)
    release.set()
    got = await c.settle()
    assert [m.command for m in got] == ["464", "PONG", "PRIVMSG"]


async def test_a_right_oper_password_makes_an_operator_before_later_replies(oper_server, client):
    server = await oper_server
    c: MemoryClient = client(server, "alice")
    await c.register("alice")
    c.send("OPER admin secret")
    c.send("PING :after")
    got = await c.settle()
    assert [m.command for m in got] == ["MODE", "381", "PONG"]
    assert "o" in c.session.umodes
