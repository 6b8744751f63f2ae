"""Real PostgreSQL and Redis servers for tests (the classes live in ``bench.services``).

The benchmark starts the same servers (a Redis for ``python -m bench --cluster``), so both import
one implementation; the fixtures in tests/conftest.py use these names.
"""

from __future__ import annotations

from bench.services import (
    DEADLINE,
    POLL,
    UNPRIVILEGED_USER,
    PostgresServer,
    RedisServer,
    ServiceMissing,
    postgres_bin_dir,
)

__all__ = [
    "DEADLINE",
    "POLL",
    "UNPRIVILEGED_USER",
    "PostgresServer",
    "RedisServer",
    "ServiceMissing",
    "postgres_bin_dir",
]
