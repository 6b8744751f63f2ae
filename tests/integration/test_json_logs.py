"""``log_format = "json"``: every log line of a real server is one JSON object; a bad value is refused."""

from __future__ import annotations

import json
import signal
from pathlib import Path

from tests.support.serverproc import ServerProcess

from .ircclient import IRCClient
from .test_cli import hubbub


async def test_a_server_logging_json_writes_one_object_per_line(
    tmp_path: Path, processes: list[ServerProcess]
) -> None:
    server = ServerProcess(tmp_path / "data", "--log-format", "json")
    processes.append(server)
    await server.start()
    client = await IRCClient.open(server.host, server.port, "alice")
    await client.register("alice")
    await client.close()
    server.signal(signal.SIGTERM)
    assert await server.wait() == 0
    logged = [line for line in server.stderr if not line.startswith(b"hubbub listening on ")]
    assert logged, "the server logged nothing"
    entries = [json.loads(line) for line in logged]  # every line is JSON, or this raises
    for entry in entries:
        assert set(entry) >= {"time", "level", "logger", "message"}
        assert entry["time"].endswith("+00:00")
    assert any(e["message"] == "shutting down" for e in entries)
    assert any(e["logger"] == "hubbub.server.doors" and "listening" in e["message"] for e in entries)


async def test_an_unknown_log_format_is_refused_at_start() -> None:
    code, _, err = await hubbub("serve", "--port", "0", "--log-format", "xml")
    assert code == 2 and "invalid choice: 'xml'" in err
