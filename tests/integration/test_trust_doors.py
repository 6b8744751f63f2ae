"""Nothing anybody saw is lost, through the web and tutorial doors as through TCP.

A WebSocket sender and a tutorial client talk in the tutorial door's channel beside a TCP sender;
the server is killed (``kill -9``) at a random moment, three times. Whatever any of them received,
in its own framing, is in the history afterwards, once, and in the order it arrived.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import re
import signal
from collections.abc import Awaitable, Callable
from pathlib import Path

from hubbub.store import open_store
from tests.support.serverproc import ServerProcess

from .ircclient import IRCClient
from .wsclient import WSClient

CHANNEL = "#general"  # the tutorial door's channel by default
LINES_PER_SENDER = 3000


def _stored(data: Path) -> list[str]:
    store = open_store(data)
    try:
        return [r.params[-1] for r in store.latest(CHANNEL, 100_000)]
    finally:
        store.close()


async def _doors(server: ServerProcess) -> tuple[str, int]:
    """The web URL and the tutorial port the server printed."""
    web = await server.wait_for_stderr(b"hubbub web on ")
    url = re.search(rb"http://(\S+?)/", web)
    tutorial = await server.wait_for_stderr(b"tutorial door listening on")
    port = re.search(rb"listening on \S+:(\d+)", tutorial)
    assert url is not None and port is not None
    return f"ws://{url.group(1).decode()}/", int(port.group(1))


async def _until(pred: Callable[[], bool], what: str, timeout: float = 30) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not pred():
        assert asyncio.get_running_loop().time() < deadline, f"timed out: {what}"
        await asyncio.sleep(0.01)  # polling with a deadline


def _text_after(marker: bytes, line: bytes) -> str | None:
    return line.split(marker, 1)[1].rstrip(b"\r\n").decode() if marker in line else None


async def _read(seen: list[str], next_line: Callable[[], Awaitable[bytes | None]], text: Callable) -> None:
    """Collect the channel messages of one client until its connection ends (or goes quiet)."""
    with contextlib.suppress(ConnectionError, OSError, TimeoutError):
        while line := await next_line():
            said = text(line)
            if said is not None:
                seen.append(said)


async def _send(stop: asyncio.Event, write: Callable[[str], None], drain: Callable, who: str) -> None:
    """Send numbered lines as fast as the socket takes them, until told to stop."""
    with contextlib.suppress(ConnectionError, OSError):
        for n in range(LINES_PER_SENDER):
            if stop.is_set():
                return
            write(f"{who} {n}")
            if n % 10 == 9:
                await drain()
                await asyncio.sleep(0)  # let the readers run (no waiting on time)


async def _storm(server: ServerProcess, run: int, goal: int, received: dict[str, list[str]]) -> None:
    """One run: three doors talking until ``goal`` lines have arrived, then kill -9."""
    url, tutorial_port = await _doors(server)
    marker = f" PRIVMSG {CHANNEL} :".encode()
    ws = await WSClient.open(url, subprotocols=["text.ircv3.net"], name=f"web{run}")
    ws.send("CAP REQ :echo-message")
    ws.send("CAP END")
    await ws.register(f"web{run}")
    await ws.join(CHANNEL)
    tcp = await IRCClient.open(server.host, server.port, f"tcp{run}")
    await tcp.register(f"tcp{run}", caps=("echo-message",))
    await tcp.join(CHANNEL)
    t_reader, t_writer = await asyncio.open_connection(server.host, tutorial_port)
    t_writer.write(f"tut{run}\n".encode())
    while (
        await asyncio.wait_for(t_reader.readline(), 10)
    ) != f"SERVER~tut{run} joined the chat app\n".encode():
        pass

    def tutorial_text(line: bytes) -> str | None:
        name, _, text = line.decode().rstrip("\n").partition("~")
        return None if name == "SERVER" else text

    stop = asyncio.Event()
    readers = [
        asyncio.create_task(
            _read(
                received.setdefault(f"web/{run}", []), lambda: ws.recv(20), lambda m: _text_after(marker, m)
            )
        ),
        asyncio.create_task(
            _read(
                received.setdefault(f"tcp/{run}", []),
                lambda: asyncio.wait_for(tcp.reader.readline(), 20),
                lambda line: _text_after(marker, line),
            )
        ),
        asyncio.create_task(
            _read(
                received.setdefault(f"tut/{run}", []),
                lambda: asyncio.wait_for(t_reader.readline(), 20),
                tutorial_text,
            )
        ),
    ]
    workers = [
        asyncio.create_task(
            _send(stop, lambda t: ws.send(f"PRIVMSG {CHANNEL} :{t}"), ws.writer.drain, f"w{run}")
        ),
        asyncio.create_task(_send(stop, lambda t: tcp.send(f"PRIVMSG {CHANNEL} :{t}"), tcp.drain, f"t{run}")),
        asyncio.create_task(
            _send(stop, lambda t: t_writer.write(f"{t}\n".encode()), t_writer.drain, f"u{run}")
        ),
    ]
    mine = [received[f"{door}/{run}"] for door in ("web", "tcp", "tut")]
    await _until(lambda: sum(map(len, mine)) >= goal, "the storm stalled")
    server.signal(signal.SIGKILL)
    stop.set()
    await server.wait(10)
    await asyncio.wait_for(asyncio.gather(*readers, return_exceptions=True), 30)
    for w in workers:
        w.cancel()
    await asyncio.gather(*workers, return_exceptions=True)
    await ws.close()
    await tcp.close()
    t_writer.close()


async def test_a_crash_storm_through_every_door_loses_nothing_anybody_received(tmp_path, processes):
    data = tmp_path / "data"
    received: dict[str, list[str]] = {}
    rng = random.Random(os.getpid())
    for run in range(3):
        server = await ServerProcess(
            data, "--no-flood-control", "--web-port", "0", "--tutorial-port", "0"
        ).start()
        processes.append(server)
        await _storm(server, run, rng.randrange(300, 3000), received)

    history = _stored(data)
    assert len(history) == len(set(history)), "duplicates in history"
    position = {text: i for i, text in enumerate(history)}
    for name, texts in received.items():
        missing = [t for t in texts if t not in position]
        assert not missing, f"{name} received {len(missing)} lines that are not in history: {missing[:3]}"
        order = [position[t] for t in texts]
        assert order == sorted(order), f"{name} received lines in another order than history"
    for name, texts in received.items():
        assert texts, f"{name} got nothing"
    for run in range(3):
        for sender in ("w", "t", "u"):
            assert any(t.startswith(f"{sender}{run} ") for t in history), f"nothing of {sender}{run} stored"
