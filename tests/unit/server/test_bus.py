"""The bus's own Redis connection: commands pipelined, replies in order, against a real Redis."""

from __future__ import annotations

import asyncio

import pytest

from hubbub.server.bus import BusConnection, BusError, Reply, _owned, _parse
from tests.support.services import RedisServer


def test_replies_are_parsed_whole_or_not_at_all() -> None:
    data = b"*2\r\n$5\r\nhello\r\n*2\r\n:7\r\n$-1\r\n+OK\r\n"
    value, at = _parse(data, 0)
    assert _owned(value, data) == [b"hello", [7, None]]
    assert _parse(data, at) == (b"OK", len(data))
    for cut in range(1, len(data) - 5):
        try:
            _parse(data[:cut], 0)
        except Exception as exc:  # only "not all of it yet"
            assert type(exc).__name__ == "_Incomplete", (cut, exc)
        else:
            pytest.fail(f"a reply cut at {cut} bytes was taken as whole")
    error, _ = _parse(b"-ERR wrong\r\n", 0)
    assert isinstance(error, Reply) and "wrong" in str(error)


async def test_xadd_and_a_blocking_xread_in_order(redis_server: RedisServer) -> None:
    writer = await BusConnection.open(redis_server.url)
    reader = await BusConnection.open(redis_server.url)
    try:
        waiting = reader.send("XREAD", "COUNT", 100, "BLOCK", 5000, "STREAMS", "s", "0-0")
        # a reply of several megabytes arrives in many pieces: parsed whole, once
        ids = await asyncio.gather(
            *(
                writer.send("XADD", "s", "*", "n", str(i), "blob", b"\x00\xff\r\n" * (i * 4096))
                for i in range(50)
            )
        )
        assert len(set(ids)) == 50
        got = await asyncio.wait_for(waiting, 5)
        entries = [entry for _stream, batch in got for entry in batch]
        rest = await reader.send("XREAD", "COUNT", 100, "STREAMS", "s", entries[-1][0])
        entries += [entry for _stream, batch in rest or () for entry in batch]
        assert [dict(zip(f[::2], f[1::2], strict=True))[b"n"] for _id, f in entries] == [
            str(i).encode() for i in range(50)
        ]
        assert (
            dict(zip(entries[3][1][::2], entries[3][1][1::2], strict=True))[b"blob"]
            == b"\x00\xff\r\n" * 3 * 4096
        )
        with pytest.raises(Reply):
            await writer.send("XADD", "s", "not-an-id", "n", "1")
        assert await writer.send("PING") == b"PONG"  # an error reply leaves the connection usable
    finally:
        writer.close()
        reader.close()


async def test_a_lost_redis_fails_what_waits_and_what_is_sent_after(redis_server: RedisServer) -> None:
    conn = await BusConnection.open(redis_server.url)
    waiting = conn.send("BLPOP", "nothing", 10)
    redis_server.kill()
    with pytest.raises(BusError):
        await asyncio.wait_for(waiting, 10)
    with pytest.raises(BusError):
        await conn.send("PING")
    with pytest.raises(BusError):
        await BusConnection.open(redis_server.url, timeout=2)
