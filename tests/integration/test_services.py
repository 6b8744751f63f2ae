"""The test servers themselves: PostgreSQL and Redis start, answer, stop, die and come back.

Fault tests elsewhere rely on these servers keeping their port and data across a stop or a
SIGKILL, so that is checked here, with the real clients hubbub uses (asyncpg, redis-py).
"""

from __future__ import annotations

import asyncpg
import pytest
import redis.asyncio as aioredis

from tests.support.services import PostgresServer, RedisServer


async def _select_one(url: str) -> int:
    connection = await asyncpg.connect(url, timeout=10)
    try:
        return int(await connection.fetchval("SELECT 1"))
    finally:
        await connection.close()


async def test_postgres_answers_on_a_fresh_database(pg_url: str) -> None:
    assert pg_url.startswith("postgresql://")
    assert await _select_one(pg_url) == 1
    connection = await asyncpg.connect(pg_url, timeout=10)
    try:
        tables = await connection.fetchval(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
        )
        fsync = await connection.fetchval("SHOW fsync")
        await connection.execute("CREATE TABLE mine (x int)")
    finally:
        await connection.close()
    assert tables == 0
    assert fsync == "on"


async def test_each_test_gets_its_own_database(postgres: PostgresServer, pg_url: str) -> None:
    other = postgres.new_database()
    try:
        assert other != pg_url
        connection = await asyncpg.connect(other, timeout=10)
        try:
            await connection.execute("CREATE TABLE mine (x int)")
            assert await connection.fetchval("SELECT count(*) FROM mine") == 0
        finally:
            await connection.close()
        # The same table name in the test's own database: nothing is shared.
        connection = await asyncpg.connect(pg_url, timeout=10)
        try:
            await connection.execute("CREATE TABLE mine (x int)")
        finally:
            await connection.close()
    finally:
        postgres.drop_database(other)


async def test_postgres_kill_then_start_keeps_port_and_committed_rows(
    postgres: PostgresServer, pg_url: str
) -> None:
    port = postgres.port
    connection = await asyncpg.connect(pg_url, timeout=10)
    try:
        await connection.execute("CREATE TABLE kept (x int)")
        await connection.execute("INSERT INTO kept VALUES (42)")
    finally:
        await connection.close()

    postgres.kill()
    assert not postgres.running
    with pytest.raises((OSError, asyncpg.PostgresError)):
        await asyncpg.connect(pg_url, timeout=5)

    postgres.start()  # crash recovery replays the WAL
    assert postgres.port == port
    connection = await asyncpg.connect(pg_url, timeout=10)
    try:
        assert await connection.fetchval("SELECT x FROM kept") == 42
    finally:
        await connection.close()


async def test_postgres_stop_then_start(postgres: PostgresServer, pg_url: str) -> None:
    port = postgres.port
    postgres.stop()
    with pytest.raises((OSError, asyncpg.PostgresError)):
        await asyncpg.connect(pg_url, timeout=5)
    postgres.start()
    assert postgres.port == port
    assert await _select_one(pg_url) == 1


async def test_redis_ping_restart_and_kill_keep_the_port(redis_server: RedisServer) -> None:
    port = redis_server.port
    client = aioredis.from_url(redis_server.url)
    try:
        assert await client.ping()
    finally:
        await client.aclose()

    redis_server.restart()
    assert redis_server.port == port
    client = aioredis.from_url(redis_server.url)
    try:
        assert await client.ping()
    finally:
        await client.aclose()

    redis_server.kill()
    client = aioredis.from_url(redis_server.url)
    try:
        with pytest.raises(aioredis.ConnectionError):
            await client.ping()
    finally:
        await client.aclose()
    redis_server.start()
    assert redis_server.port == port
    client = aioredis.from_url(redis_server.url)
    try:
        assert await client.ping()
    finally:
        await client.aclose()
