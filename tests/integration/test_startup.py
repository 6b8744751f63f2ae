"""Starting ``hubbub serve``: one clear line for every failure, one server per data directory, and a
database deleted under a running server is noticed and not remade empty."""

from __future__ import annotations

import signal
import socket
import sqlite3
from pathlib import Path

import pytest

from hubbub.server.tls import generate_self_signed
from hubbub.store import DATABASE_NAME, open_store
from hubbub.store.datadir import MARKER_NAME
from tests.support.serverproc import ServerProcess

from .accounts_helpers import OPER_PASSWORD, OPERS
from .conftest import Connect, StartServer
from .ircclient import IRCClient
from .test_cli import hubbub


async def refused_start(*args: str) -> str:
    """Run ``hubbub serve ARGS`` on 127.0.0.1, expect it to refuse to start, return its one line."""
    code, out, err = await hubbub("serve", "--host", "127.0.0.1", *args)
    assert "Traceback" not in err, err
    lines = err.splitlines()
    assert code == 1, err
    assert len(lines) == 1, err
    assert lines[0].startswith("hubbub serve: "), err
    assert out == ""
    return lines[0]


def free_port_holder() -> socket.socket:
    """A socket listening on a free loopback port, as another program would."""
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    return holder


# one line and exit status 1 for every failure -----------------------------------------------------


async def test_a_data_dir_that_is_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "data").write_text("not a directory")
    line = await refused_start("--port", "0", "--data-dir", str(tmp_path / "data"))
    assert "is not a directory" in line and "--data-dir" in line


async def test_a_data_dir_that_cannot_be_created_is_refused(tmp_path: Path) -> None:
    # Tests run as root, who may write anywhere; a path under a regular file cannot be made by anyone.
    (tmp_path / "file").write_text("x")
    line = await refused_start("--port", "0", "--data-dir", str(tmp_path / "file" / "data"))
    assert "cannot create data directory" in line and "Not a directory" in line


async def test_garbage_in_place_of_the_database_is_refused_and_kept(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / DATABASE_NAME).write_bytes(b"\x00garbage\xff" * 500)
    line = await refused_start("--port", "0", "--data-dir", str(data))
    assert "is not a SQLite database" in line
    assert (data / DATABASE_NAME).read_bytes() == b"\x00garbage\xff" * 500


async def test_a_directory_in_place_of_the_database_is_refused(tmp_path: Path) -> None:
    (tmp_path / "data" / DATABASE_NAME).mkdir(parents=True)
    line = await refused_start("--port", "0", "--data-dir", str(tmp_path / "data"))
    assert "is not a database file" in line


async def test_a_schema_newer_than_this_hubbub_is_refused(tmp_path: Path) -> None:
    data = tmp_path / "data"
    open_store(data).close()
    db = sqlite3.connect(data / DATABASE_NAME)
    with db:
        db.execute("UPDATE schema_version SET version = 99")
    db.close()
    line = await refused_start("--port", "0", "--data-dir", str(data))
    assert "schema version 99 is newer than this hubbub" in line


async def test_a_port_in_use_is_refused_before_any_data_directory_is_made(tmp_path: Path) -> None:
    holder = free_port_holder()
    try:
        port = holder.getsockname()[1]
        line = await refused_start("--port", str(port), "--data-dir", str(tmp_path / "data"))
    finally:
        holder.close()
    assert line == (
        f"hubbub serve: cannot listen on 127.0.0.1:{port}: address already in use; "
        "stop what uses it, or choose another port"
    )
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        ("[server\nport = 1\n", "configuration error: config: "),
        ("[server]\nprot = 1\n", "configuration error: server.prot: unknown setting"),
        ('[server]\nport = "many"\n', "configuration error: port: bad value"),
        ("[limits]\nnicklen = -3\n", "configuration error: nicklen: must be greater than 0"),
    ],
)
async def test_a_bad_configuration_file_is_refused_naming_the_key(
    tmp_path: Path, toml: str, expected: str
) -> None:
    config = tmp_path / "hubbub.toml"
    config.write_text(toml)
    line = await refused_start("--config", str(config), "--data-dir", str(tmp_path / "data"))
    assert line.startswith("hubbub serve: " + expected)
    assert not (tmp_path / "data").exists()


async def test_tls_files_that_are_not_a_certificate_and_its_key_are_refused(tmp_path: Path) -> None:
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    line = await refused_start(
        "--port", "0", "--tls-port", "0", "--tls-cert", str(junk), "--tls-key", str(junk),
        "--data-dir", str(tmp_path / "data"),
    )  # fmt: skip
    assert f"cannot use TLS certificate {junk}" in line and "PEM" in line
    generate_self_signed(tmp_path / "a.pem", tmp_path / "a.key")
    generate_self_signed(tmp_path / "b.pem", tmp_path / "b.key")
    line = await refused_start(
        "--port", "0", "--tls-port", "0", "--tls-cert", str(tmp_path / "a.pem"),
        "--tls-key", str(tmp_path / "b.key"), "--data-dir", str(tmp_path / "data"),
    )  # fmt: skip
    assert "key values mismatch" in line
    line = await refused_start(
        "--port", "0", "--tls-port", "0", "--tls-cert", str(tmp_path / "missing.pem"),
        "--tls-key", str(tmp_path / "b.key"), "--data-dir", str(tmp_path / "data"),
    )  # fmt: skip
    assert "configuration error: tls_cert: no such file" in line
    assert not (tmp_path / "data").exists()


# one server per data directory --------------------------------------------------------------------


async def test_a_second_server_on_a_data_directory_is_refused_while_the_first_keeps_serving(
    tmp_path: Path, processes: list[ServerProcess]
) -> None:
    data = tmp_path / "data"
    first = await ServerProcess(data).start()
    processes.append(first)
    assert first.proc is not None
    line = await refused_start("--port", "0", "--data-dir", str(data))
    assert line == (
        f"hubbub serve: data directory {data} is in use by another hubbub server "
        f"(pid {first.proc.pid}); stop it first, or give this one another --data-dir"
    )
    alice = await IRCClient.open(first.host, first.port, "alice")
    bob = await IRCClient.open(first.host, first.port, "bob")
    for client in (alice, bob):
        await client.register(client.name)
        await client.join("#still")
    alice.send("PRIVMSG #still :the first server carries on")
    got = await bob.expect("PRIVMSG")
    assert got.params == ("#still", "the first server carries on")
    await alice.close()
    await bob.close()


async def test_offline_tools_work_alongside_a_running_server(
    tmp_path: Path, processes: list[ServerProcess]
) -> None:
    data = tmp_path / "data"
    server = await ServerProcess(data).start()
    processes.append(server)
    erin = await IRCClient.open(server.host, server.port, "erin")
    await erin.register("erin", caps=("echo-message",))
    await erin.join("#tools")
    erin.send("PRIVMSG #tools :kept until deleted")
    await erin.expect("PRIVMSG")
    code, out, _ = await hubbub("history", "targets", "--data-dir", str(data))
    assert code == 0 and out.startswith("#tools\t1\t")
    assert await hubbub("history", "delete", "--data-dir", str(data), "--target", "#tools") == (
        0,
        "",
        "deleted 1 messages of #tools\n",
    )
    code, _, err = await hubbub("account", "--data-dir", str(data), "list")
    assert code == 0, err
    erin.send("PRIVMSG #tools :the server carries on")
    assert (await erin.expect("PRIVMSG")).params[1] == "the server carries on"
    await erin.close()


async def test_after_kill_9_a_new_server_starts_on_the_same_data_directory(
    tmp_path: Path, processes: list[ServerProcess]
) -> None:
    data = tmp_path / "data"
    first = await ServerProcess(data).start()
    processes.append(first)
    first.signal(signal.SIGKILL)
    assert await first.wait() == -signal.SIGKILL
    again = await ServerProcess(data).start()
    processes.append(again)
    client = await IRCClient.open(again.host, again.port, "carol")
    await client.register("carol")
    await client.close()


# a database that vanishes -------------------------------------------------------------------------


@pytest.mark.allow_error_log(r"has been deleted")
async def test_a_database_deleted_under_a_running_server_is_logged_and_not_remade_empty(
    tmp_path: Path, processes: list[ServerProcess]
) -> None:
    data = tmp_path / "data"
    server = await ServerProcess(data).start()
    processes.append(server)
    (data / DATABASE_NAME).unlink()
    line = await server.wait_for_stderr(b"has been deleted")
    assert b" ERROR " in line and str(data / DATABASE_NAME).encode() in line
    client = await IRCClient.open(server.host, server.port, "dave")  # it keeps running
    await client.register("dave")
    await client.close()
    server.signal(signal.SIGTERM)
    assert await server.wait() == 0
    assert sum(b"has been deleted" in line for line in server.stderr) == 1
    line = await refused_start("--port", "0", "--data-dir", str(data))
    assert f"database {data / DATABASE_NAME} is missing" in line
    assert f"delete {MARKER_NAME} to start with an empty one" in line
    assert not (data / DATABASE_NAME).exists()
    (data / MARKER_NAME).unlink()  # starting afresh on purpose
    fresh = await ServerProcess(data).start()
    processes.append(fresh)


@pytest.mark.allow_error_log(r"has been replaced by another file")
async def test_operators_are_told_once_when_the_database_is_replaced(
    start_server: StartServer, connect: Connect
) -> None:
    server = await start_server(**OPERS)
    oper = await connect("root", target=server)
    oper.send(f"OPER admin {OPER_PASSWORD}")
    await oper.expect("381")
    watch = server.watch
    assert watch is not None
    path = Path(server.settings.data_dir) / DATABASE_NAME
    assert watch.check() is None
    copy = path.with_name("copy")
    copy.write_bytes(path.read_bytes())
    copy.replace(path)
    problem = watch.check()
    assert problem is not None and "has been replaced by another file" in problem
    notice = await oper.expect("NOTICE")
    assert notice.params[1] == f"*** {problem}"
    assert watch.check() is None  # told once per change
