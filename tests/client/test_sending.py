"""What the client sends, paced to a server's flood control, against hubbub with flood control on.

hubbub holds back a client that sends too fast and drops it only past its recvq; many servers drop
it at once (``Excess Flood``). These tests give the server a small recvq, so that a paste sent
all at once is dropped as elsewhere, and check that the client's own pacing avoids that.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from hubbub.client import (
    KNOWN_CAPS,
    Client,
    ClientConfig,
    ClientError,
    Disconnected,
    Error,
    Event,
    HistoryBatch,
    Joined,
    Message,
    NotSent,
    ReconnectPolicy,
    Sending,
    SendPacing,
)
from tests.support.serverproc import ServerProcess

WAIT = 10.0
NO_MULTILINE = KNOWN_CAPS - {"draft/multiline"}
# Each line is 300 bytes of text; sixty of them are past a recvq of 16 KiB.
PASTE = [f"line {i:02d} " + "x" * 291 for i in range(60)]
MakeClient = Callable[..., Awaitable[Client]]


async def flood_controlled(tmp_path: Path, processes: list[ServerProcess], **env: str) -> ServerProcess:
    """hubbub with its flood control on: the smallest recvq, and the rest as given."""
    server = ServerProcess(tmp_path / "data", env={"HUBBUB_RECVQ": "16384", **env})
    processes.append(server)
    return await server.start()


@pytest.fixture
async def make_client() -> AsyncIterator[MakeClient]:
    """Connected clients in ``#room``; all are closed at the end of the test."""
    clients: list[Client] = []

    async def make(server: ServerProcess, nick: str, pacing: SendPacing, **options: object) -> Client:
        reconnect = options.pop("reconnect", ReconnectPolicy(enabled=False))
        config = ClientConfig(nick=nick, channels=("#room",), **options)  # type: ignore[arg-type]
        client = Client(server.host, server.port, config, pacing=pacing, reconnect=reconnect)  # type: ignore[arg-type]
        clients.append(client)
        await client.connect(timeout=WAIT)
        await client.wait_for(Joined, WAIT, channel="#room", is_self=True)
        return client

    yield make
    for client in clients:
        await client.close()


async def texts_until(client: Client, last: str, timeout: float) -> list[str]:
    """The texts of the messages ``client`` receives, up to one ending with ``last``."""
    texts: list[str] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not texts or not texts[-1].endswith(last):
        event = await client.next_event(max(0.0, deadline - loop.time()))
        if isinstance(event, Message):
            texts.append(event.text)
    return texts


def collect(client: Client, kinds: tuple[type[Event], ...]) -> tuple[list[Event], asyncio.Task[None]]:
    """Events of ``kinds`` as they come, in a list, until the client's stream ends."""
    seen: list[Event] = []

    async def run() -> None:
        async for event in client.events():
            if isinstance(event, kinds):
                seen.append(event)

    return seen, asyncio.create_task(run())


async def test_a_paced_paste_arrives_whole_and_in_order_where_an_unpaced_one_is_dropped(
    tmp_path: Path, processes: list[ServerProcess], make_client: MakeClient
) -> None:
    server = await flood_controlled(tmp_path, processes, HUBBUB_FLOOD_RATE="20")
    reader = await make_client(server, "reader", SendPacing(enabled=False))
    # Sent at once, the paste overflows the recvq while the server holds it back: dropped.
    rude = await make_client(server, "rude", SendPacing(enabled=False), caps=NO_MULTILINE)
    await rude.send_message("#room", "\n".join(PASTE))
    dropped = await rude.wait_for(Disconnected, WAIT)
    assert isinstance(dropped, Disconnected) and "Excess Flood" in dropped.reason
    # Paced like the server (burst 5, then 20 a second here), it all arrives, in order.
    polite = await make_client(server, "polite", SendPacing(burst=5, rate=20.0), caps=NO_MULTILINE)
    progress, watcher = collect(polite, (Sending, Disconnected, Error))
    await polite.send_message("#room", "\n".join(PASTE))
    texts = await texts_until(reader, PASTE[-1], WAIT)
    mine = [t for t in texts if t.startswith("line ")]
    assert mine[-60:] == PASTE
    assert polite.connected and not any(isinstance(e, Disconnected | Error) for e in progress)
    # Progress was reported while the queue waited, counting up to the whole paste.
    counts = [(e.sent, e.total) for e in progress if isinstance(e, Sending)]
    assert counts and counts[-1] == (60, 60)
    assert all(total == 60 for _, total in counts)
    assert [sent for sent, _ in counts] == sorted(sent for sent, _ in counts)
    watcher.cancel()


async def test_a_multiline_paste_goes_in_batches_within_max_bytes_and_paced(
    tmp_path: Path, processes: list[ServerProcess], make_client: MakeClient
) -> None:
    """draft/multiline: a paste is one message, split into several batches past the server's
    max-bytes; each batch costs the server's flood control its two BATCH lines."""
    server = await flood_controlled(tmp_path, processes, HUBBUB_MULTILINE_MAX_BYTES="2048")
    reader = await make_client(server, "reader", SendPacing(enabled=False))
    writer = await make_client(server, "writer", SendPacing())
    assert "draft/multiline" in writer.protocol.caps_enabled
    await writer.send_message("#room", "\n".join(PASTE))
    texts = await texts_until(reader, PASTE[-1], 30)
    # 60 lines of 301 bytes (with their line feeds) in batches of at most 2048: 10 batches.
    assert len(texts) == 10
    assert "\n".join(texts).split("\n") == PASTE
    assert writer.connected


async def test_messages_queued_when_the_connection_drops_are_sent_after_the_reconnect(
    tmp_path: Path, processes: list[ServerProcess], make_client: MakeClient
) -> None:
    server = await flood_controlled(tmp_path, processes)
    again = ReconnectPolicy(initial=0.2, maximum=0.5, jitter=0.0)
    # Two at once, then one every five seconds: the restart falls between two messages.
    writer = await make_client(server, "writer", SendPacing(burst=2, rate=0.2), reconnect=again)
    for i in range(5):
        await writer.send_message("#room", f"queued {i}", wait=False)
    await writer.wait_for(Message, WAIT, text="queued 1")  # its echo: the server has it
    assert writer.queued
    await server.terminate()
    await writer.wait_for(Disconnected, WAIT)
    await server.start()
    await writer.wait_for(Joined, 30, channel="#room", is_self=True)
    await writer.flush(30)
    await writer.wait_for(Message, WAIT, text="queued 4")
    reader = await make_client(server, "reader", SendPacing(enabled=False))
    await reader.history_latest("#room", 20)
    batch = await reader.wait_for(HistoryBatch, WAIT, target="#room")
    assert isinstance(batch, HistoryBatch)
    assert [m.text for m in batch.messages] == [f"queued {i}" for i in range(5)]


async def test_messages_still_queued_when_the_client_closes_are_reported_not_sent(
    tmp_path: Path, processes: list[ServerProcess], make_client: MakeClient
) -> None:
    server = await flood_controlled(tmp_path, processes)
    writer = await make_client(server, "writer", SendPacing(burst=1, rate=0.1), caps=NO_MULTILINE)
    await writer.send_message("#room", "goes at once", wait=False)
    await writer.send_message("#room", "second\nthird", wait=False)
    waiting = asyncio.create_task(writer.send_message("#room", "fourth"))
    await writer.wait_for(Message, WAIT, text="goes at once")
    await writer.close()
    with pytest.raises(ClientError, match="not sent"):
        await waiting
    reports = [e async for e in writer.events() if isinstance(e, NotSent)]
    assert reports == [
        NotSent("#room", ("second", "third"), "the client was closed"),
        NotSent("#room", ("fourth",), "the client was closed"),
    ]
    with pytest.raises(ClientError):
        await writer.send_message("#room", "after the end")


async def test_messages_queued_when_reconnecting_gives_up_are_reported_not_sent(
    tmp_path: Path, processes: list[ServerProcess], make_client: MakeClient
) -> None:
    server = await flood_controlled(tmp_path, processes)
    once = ReconnectPolicy(initial=1.0, jitter=0.0, max_attempts=1)
    writer = await make_client(server, "writer", SendPacing(), reconnect=once)
    await server.terminate()
    await writer.wait_for(Disconnected, WAIT, will_reconnect=True)
    # Queued while the client is away: it would go after the reconnect, which fails.
    await writer.send_message("#room", "into the void", wait=False)
    gone = await writer.wait_for(NotSent, WAIT)
    assert isinstance(gone, NotSent) and gone.texts == ("into the void",)
    assert "cannot connect" in gone.reason
