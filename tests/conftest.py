"""Fixtures every suite shares: a test fails when something failed behind its back.

An ERROR record from a ``hubbub`` logger, an exception nobody handled in an asyncio task or
callback (asyncio logs those at ERROR), or a traceback or ERROR line in the stderr of a
``hubbub serve`` process the test started fails the test, as porcupine's tests fail when a Tk
callback raised: a crash swallowed as a reply is still a crash. A test that expects such an error
(a full disk, a failure path) declares it with the patterns the error must match::

    @pytest.mark.allow_error_log(r"the history store cannot commit")

Exceptions in threads and in ``__del__`` fail the test through pytest's own warnings, which the
``filterwarnings = ["error"]`` setting in pyproject.toml turns into errors.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import AsyncIterator, Iterator

import pytest

from tests.support import build, serverproc
from tests.support.serverproc import ServerProcess
from tests.support.services import PostgresServer, RedisServer, ServiceMissing

WATCHED_LOGGERS = ("hubbub", "asyncio")


class _ErrorRecords(logging.Handler):
    """Keeps every record at ERROR or above from the watched loggers."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


_errors = _ErrorRecords()


def pytest_configure(config: pytest.Config) -> None:
    for name in WATCHED_LOGGERS:
        logging.getLogger(name).addHandler(_errors)
    # A run meant for the compiled build stops at once when the Python source is what imports.
    if build.expect_compiled() and not all(map(build.is_compiled, build.compiled_module_names())):
        pytest.exit(f"{build.EXPECT_ENV}=1 but {build.describe()}", returncode=4)


def pytest_report_header(config: pytest.Config) -> str:
    return build.describe()


def pytest_unconfigure(config: pytest.Config) -> None:
    for name in WATCHED_LOGGERS:
        logging.getLogger(name).removeHandler(_errors)


def _record_text(record: logging.LogRecord) -> str:
    text = f"{record.levelname} {record.name}: {record.getMessage()}"
    if record.exc_info:
        text += "\n" + logging.Formatter().formatException(record.exc_info)
    return text


def _allowed_patterns(item: pytest.Item) -> list[re.Pattern[str]]:
    patterns = []
    for marker in item.iter_markers("allow_error_log"):
        if not marker.args:
            raise pytest.UsageError(f"{item.nodeid}: allow_error_log needs the patterns it allows")
        patterns += [re.compile(p) for p in marker.args]
    return patterns


@pytest.fixture(autouse=True)
def fail_on_hidden_errors(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail the test on an ERROR log, a crashed task or callback, or a server process traceback."""
    _errors.records.clear()
    serverproc.started.clear()
    yield
    allowed = _allowed_patterns(request.node)
    found = [_record_text(r) for r in _errors.records]
    for process in serverproc.started:
        found += [f"hubbub serve on port {process.port}: {text}" for text in process.problems()]
    _errors.records.clear()
    serverproc.started.clear()
    unexpected = [text for text in found if not any(p.search(text) for p in allowed)]
    if unexpected:
        pytest.fail(
            "errors the test did not declare (@pytest.mark.allow_error_log):\n" + "\n".join(unexpected),
            pytrace=False,
        )


@pytest.fixture
async def processes() -> AsyncIterator[list[ServerProcess]]:
    """Real server processes a test started (it appends them); every one is gone at its end."""
    started: list[ServerProcess] = []
    yield started
    for process in started:
        await process.stop()


def _service_missing(error: ServiceMissing) -> None:
    # Under CI the servers must be there (.ci/run installs them): a skip would hide that the
    # tests needing them never ran.
    if os.environ.get("CI"):
        pytest.fail(f"{error} is required under CI", pytrace=False)
    pytest.skip(str(error))


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A private PostgreSQL server for the session (initdb in a temporary directory, 127.0.0.1)."""
    try:
        server = PostgresServer()
    except ServiceMissing as error:
        _service_missing(error)
    try:
        server.start()
        yield server
    finally:
        server.close()


@pytest.fixture
def pg_url(postgres: PostgresServer) -> Iterator[str]:
    """The URL of a fresh empty database on the session's PostgreSQL, dropped after the test."""
    # A test may have stopped or killed the server (a fault test): bring it back first.
    postgres.start()
    url = postgres.new_database()
    yield url
    postgres.start()
    postgres.drop_database(url)


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    """A private Redis server for one test (no persistence), gone at its end."""
    try:
        server = RedisServer()
    except ServiceMissing as error:
        _service_missing(error)
    try:
        server.start()
        yield server
    finally:
        server.close()
