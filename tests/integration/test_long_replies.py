"""Long replies (WHO, WHOX, LIST, NAMES, WHOWAS) are sent as fast as the asker reads them.

A reply longer than a quarter of the sendq is sent in pieces, the next one once the client has
taken the last (its socket's buffer below its low-water mark), with the client's later commands
waiting so that replies keep their order. The asker gets every line and is never dropped with
``SendQ exceeded`` for asking. The server here has a tiny sendq (1 KiB, so at most 8 KiB in one
loop turn) and a hundred users with long names: every reply below is several times that.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from hubbub.protocol import Message
from hubbub.server.app import Server
from hubbub.server.tls import generate_self_signed

from .conftest import Connect, StartServer
from .ircclient import IRCClient

USERS = 100
SENDQ = 1024
REALNAME = "r" * 150
TOPIC = "t" * 300


@dataclass
class Crowd:
    server: Server
    users: list[IRCClient]


@pytest.fixture
async def crowd(start_server: StartServer, connect: Connect, tmp_path: Path) -> Crowd:
    """A server with a tiny sendq and USERS users, each in #big and in a channel of its own."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    generate_self_signed(cert, key)
    server = await start_server(sendq=SENDQ, tls_port=0, tls_cert=str(cert), tls_key=str(key))
    users = []
    for i in range(USERS):
        user = await connect(target=server)
        await user.register(f"user_with_a_long_nick_{i:03}", real=REALNAME)
        user.send("JOIN #big")
        user.send(f"JOIN #room{i:03}")
        user.send(f"TOPIC #room{i:03} :{TOPIC}")
        users.append(user)
    for user in users:
        await user.expect("TOPIC")
        user.buffer.clear()
    return Crowd(server, users)


def numerics(lines: list[Message], code: str) -> list[Message]:
    return [m for m in lines if m.command == code]


async def test_who_list_and_names_of_everyone_arrive_whole_and_in_order(
    crowd: Crowd, connect: Connect
) -> None:
    asker = await connect("asker", target=crowd.server, caps=("userhost-in-names",))
    await asker.join("#big")
    # Each reply is followed by a PING sent at once: its PONG must come after the reply's end.
    asker.send("WHO *")
    asker.send("PING :after-who")
    got = await asker.collect_until("PONG", "hubbub.local", "after-who")
    assert len(numerics(got, "352")) == USERS + 1
    assert [m.command for m in got[-2:]] == ["315", "PONG"]
    asker.send("WHO #big %tnuhr,42")
    asker.send("PING :after-whox")
    got = await asker.collect_until("PONG", "hubbub.local", "after-whox")
    whox = numerics(got, "354")
    assert len(whox) == USERS + 1 and all(m.params[1] == "42" for m in whox)
    assert sum(m.params[-1] == REALNAME for m in whox) == USERS
    assert [m.command for m in got[-2:]] == ["315", "PONG"]
    asker.send("LIST")
    asker.send("PING :after-list")
    got = await asker.collect_until("PONG", "hubbub.local", "after-list")
    listed = {m.params[1] for m in numerics(got, "322")}
    assert listed == {"#big", *(f"#room{i:03}" for i in range(USERS))}
    assert [m.command for m in got[-2:]] == ["323", "PONG"]
    asker.send("NAMES")
    asker.send("PING :after-names")
    got = await asker.collect_until("PONG", "hubbub.local", "after-names")
    names = [name for m in numerics(got, "353") for name in m.params[-1].split()]
    assert len(names) == 2 * USERS + 1  # everyone in #big, and each alone in a room
    assert [m.command for m in got[-2:]] == ["366", "PONG"] and got[-2].params[1] == "*"
    assert not [m for m in got if m.command == "ERROR"]
    await asker.sync()


async def test_a_labelled_long_reply_is_one_labelled_batch_sent_as_it_goes(
    crowd: Crowd, connect: Connect
) -> None:
    asker = await connect("asker", target=crowd.server, caps=("batch", "labeled-response"))
    asker.send("@label=who1 WHO #big")
    asker.send("@label=ping1 PING :after")
    got = await asker.collect_until("PONG", "hubbub.local", "after")
    start, *body, end, pong = got
    assert start.command == "BATCH" and start.params[1] == "labeled-response"
    assert start.tags["label"] == "who1"
    ref = start.params[0][1:]
    assert [m.command for m in body] == ["352"] * USERS + ["315"]
    assert all(m.tags.get("batch") == ref for m in body)
    assert end.command == "BATCH" and end.params == (f"-{ref}",)
    assert pong.tags["label"] == "ping1"


@pytest.mark.parametrize("tls", [False, True], ids=["plain", "tls"])
async def test_a_client_that_stops_reading_is_waited_for_not_dropped(
    crowd: Crowd, tmp_path: Path, tls: bool
) -> None:
    # A small receive buffer, so that the kernel cannot take it all for the client.
    server = crowd.server
    assert server.tls_port is not None
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(
        sock, (server.host, server.tls_port if tls else server.port)
    )
    context = ssl.create_default_context(cafile=str(tmp_path / "cert.pem")) if tls else None
    reader, writer = await asyncio.open_connection(
        sock=sock,
        limit=8192,  # reads no more than 16 KiB ahead
        ssl=context,
        server_hostname="localhost" if tls else None,
    )
    asker = IRCClient(reader, writer, "asker")
    await asker.register("asker")
    conn = next(c for c in crowd.server.connections if c.session is not None and c.session.nick == "asker")
    # The server's side of the socket small too, as over a slow link (loopback takes megabytes).
    assert conn.transport is not None
    conn.transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    rounds = 40  # far more than the socket buffers hold
    for _ in range(rounds):
        asker.send("WHO *")
    asker.send("PING :end")
    await asker.drain()
    deadline = time.monotonic() + 10
    while not conn.write_paused:  # the server holds on: its side of the socket is full
        assert time.monotonic() < deadline, "the asker's socket never filled up"
        await asyncio.sleep(0.01)
    assert not conn.closed
    got = await asker.collect_until("PONG", "hubbub.local", "end", timeout=30)
    ends = [i for i, m in enumerate(got) if m.command == "315"]
    assert len(ends) == rounds
    assert len(numerics(got, "352")) == rounds * (USERS + 1)
    assert not [m for m in got if m.command == "ERROR"]
    await asker.close()


async def test_whowas_of_everyone_who_left_is_sent_whole(crowd: Crowd, connect: Connect) -> None:
    for user in crowd.users:
        user.send("QUIT :bye")
    for user in crowd.users:
        await user.expect_closed()
    asker = await connect("asker", target=crowd.server)
    asker.send("WHOWAS user_with_a_long_nick_*")
    asker.send("PING :after")
    got = await asker.collect_until("PONG", "hubbub.local", "after")
    assert len(numerics(got, "314")) == USERS
    assert [m.command for m in got[-2:]] == ["369", "PONG"]
