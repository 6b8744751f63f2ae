"""``hubbub serve``: run the chat server."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from .config import ConfigError, Settings, load
from .limits import DESCRIPTOR_RESERVE, raise_descriptor_limit

if TYPE_CHECKING:
    from .app import Server

log = logging.getLogger(__name__)

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of ``hubbub serve``; every flag also has a config key and a HUBBUB_ variable."""
    parser.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port to listen on (default 1100; 0 picks one)")
    parser.add_argument("--data-dir", dest="data_dir", help="data directory (default ./hubbub-data)")
    parser.add_argument(
        "--store",
        dest="store_url",
        metavar="URL",
        help="keep history and accounts in PostgreSQL (postgresql://user@host/db) instead of the data dir",
    )
    parser.add_argument("--config", help="TOML configuration file")
    parser.add_argument(
        "--cluster", dest="cluster_url", help="Redis URL of the cluster's bus (several nodes, one network)"
    )
    parser.add_argument("--node-name", dest="node_name", help="this node's name in a cluster")
    parser.add_argument("--password", help="server password clients must send with PASS")
    parser.add_argument("--server-name", dest="server_name", help="this server's name")
    parser.add_argument("--network", help="network name shown to clients")
    parser.add_argument("--motd-file", dest="motd_file", help="file with the message of the day")
    parser.add_argument("--tls-port", dest="tls_port", type=int, help="TLS port (default 6697; 0 picks one)")
    parser.add_argument(
        "--tls-cert", dest="tls_cert", help="PEM certificate chain; turns the TLS listener on"
    )
    parser.add_argument("--tls-key", dest="tls_key", help="PEM private key of the TLS certificate")
    parser.add_argument(
        "--web-port",
        dest="web_port",
        type=int,
        help="open the web door (browser client, WebSocket, /healthz, /metrics) on this port (0 picks one)",
    )
    parser.add_argument("--web-host", dest="web_host", help="address of the web door (default: --host)")
    parser.add_argument(
        "--tutorial-port",
        dest="tutorial_port",
        type=int,
        help="open the tutorial door (name~text protocol) on this port (default off; 0 picks one)",
    )
    parser.add_argument(
        "--no-flood-control",
        dest="flood_control",
        action="store_const",
        const=False,
        help="turn off per-client message rate limits (tests, benchmarks, trusted bots)",
    )
    parser.add_argument(
        "--log-format",
        dest="log_format",
        choices=("text", "json"),
        help="log lines as text (default) or one JSON object each",
    )
    parser.add_argument(
        "--log-level",
        default="INFO",
        type=str.upper,
        choices=LOG_LEVELS,
        help="DEBUG, INFO, WARNING or ERROR (default INFO)",
    )


def run(args: argparse.Namespace) -> int:
    """Start the server; return when it has shut down."""
    logging.basicConfig(
        level=getattr(logging, args.log_level),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    overrides = {
        key: getattr(args, key)
        for key in (
            "host",
            "port",
            "data_dir",
            "store_url",
            "password",
            "server_name",
            "network",
            "motd_file",
            "flood_control",
            "tls_port",
            "tls_cert",
            "tls_key",
            "log_format",
            "web_port",
            "web_host",
            "tutorial_port",
            "cluster_url",
            "node_name",
        )
    }
    try:
        settings = load(config_file=args.config, overrides=overrides)
    except ConfigError as exc:
        return _fail(f"configuration error: {exc}")
    if settings.log_format == "json":
        for handler in logging.getLogger().handlers:
            handler.setFormatter(JSONFormatter())
    from hubbub.store import StoreError

    from .startup import StartupError

    try:
        import uvloop
    except ImportError:
        runner = asyncio.run
    else:
        runner = uvloop.run
    try:
        return runner(
            serve(
                settings,
                loader=lambda: load(config_file=args.config, overrides=overrides),
                config_name=args.config or "",
            )
        )
    except (StartupError, StoreError) as exc:
        return _fail(str(exc))
    except OSError as exc:  # a file named in the settings that cannot be read, and the like
        return _fail(f"{exc.strerror or exc}: {exc.filename}" if exc.filename else str(exc.strerror or exc))


class JSONFormatter(logging.Formatter):
    """One JSON object per log line (``log_format = "json"``), for log collectors."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as ``{"time", "level", "logger", "message"[, "exception"]}``."""
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def _fail(problem: str) -> int:
    """Report a failure to start: one line on stderr, exit status 1."""
    print(f"hubbub serve: {' '.join(problem.splitlines())}", file=sys.stderr)
    return 1


def make_room_for_connections(settings: Settings) -> str | None:
    """Raise the soft limit on open files to what ``max_connections`` needs; if it cannot, what to say.

    Past the limit the process could not accept a client even to tell it the server is full, so
    the server counts itself full before then (``Server._apply_settings``). The warning is for
    after a successful start: a failure to start is one line on stderr and nothing else.
    """
    wanted = settings.max_connections + DESCRIPTOR_RESERVE
    soft, hard = raise_descriptor_limit(wanted)
    if soft is None or soft >= wanted:
        return None
    return (
        f"the descriptor limit (ulimit -n) is {soft}{f' (hard limit {hard})' if hard is not None else ''},"
        f" room for {max(1, soft - DESCRIPTOR_RESERVE)} connections: fewer than max_connections"
        f" ({settings.max_connections}); raise the limit to allow more"
    )


def reload(server: Server) -> None:
    """Read the configuration again on SIGHUP, as REHASH does; nobody is disconnected.

    A configuration that cannot be loaded leaves the running one as it is: the log and the
    operators online are told why.
    """
    try:
        server.rehash()
    except (ConfigError, OSError, ValueError) as exc:
        log.error("SIGHUP: configuration not reloaded, the running one is kept: %s", exc)
        server.notify_opers(f"Configuration not reloaded (SIGHUP): {exc}")
        return
    log.info("SIGHUP: configuration reloaded")
    server.notify_opers("Configuration reloaded (SIGHUP)")


async def serve(
    settings: Settings,
    *,
    ready: asyncio.Future[Server] | None = None,
    loader: Callable[[], Settings] | None = None,
    config_name: str = "",
) -> int:
    """Run a server until SIGTERM or SIGINT; print the ready line; return the exit code.

    ``loader`` reads the settings again for REHASH and SIGHUP.
    """
    from .app import Server  # the command line answers --help without loading the server

    cramped = make_room_for_connections(settings)
    server = Server(settings)
    server.settings_loader = loader
    server.config_name = config_name or server.config_name
    await server.start()
    if cramped is not None:
        log.warning("%s", cramped)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if hasattr(signal, "SIGHUP"):  # as ircds do: reload the configuration, drop nobody
        loop.add_signal_handler(signal.SIGHUP, reload, server)
    print(f"hubbub listening on {server.host}:{server.port}", file=sys.stderr, flush=True)
    if server.web_url is not None:
        print(f"hubbub web on {server.web_url}", file=sys.stderr, flush=True)
    if server.tutorial_port is not None:
        print(f"hubbub tutorial door on {server.host}:{server.tutorial_port}", file=sys.stderr, flush=True)
    if ready is not None:
        ready.set_result(server)
    await stop.wait()
    log.info("shutting down")
    await server.stop()
    return 0
