"""Start-up checks whose failures the operator must be able to act on.

Each failure is a :class:`StartupError` whose message is one line saying what is wrong and what
to do; ``hubbub serve`` prints it and exits with status 1.
"""

from __future__ import annotations

import errno
import os
import re
import ssl

from . import tls as tlsmod
from .config import Settings
from .doors import Door

__all__ = ["StartupError", "bind", "tls_context"]


class StartupError(Exception):
    """The server cannot start; the message says why and what to do."""


async def bind(door: Door) -> None:
    """Bind ``door`` without accepting yet, or raise StartupError."""
    try:
        await door.open(start_serving=False)
    except OSError as exc:
        where = f"{door.host}:{door.port}"
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        if exc.errno == errno.EADDRINUSE:
            hint = "stop what uses it, or choose another port"
        elif exc.errno == errno.EACCES:
            hint = "ports below 1024 need privileges; choose another port"
        else:
            hint = "check the host and port"
        raise StartupError(f"cannot listen on {where}: {reason.lower()}; {hint}") from exc


def tls_context(settings: Settings) -> ssl.SSLContext:
    """The TLS listener's context from the configured files, or raise StartupError.

    The certificates stored on accounts are trusted later, once the store is open.
    """
    try:
        return tlsmod.server_context(settings.tls_cert, settings.tls_key, settings.tls_client_ca)
    except ssl.SSLError as exc:
        reason = re.sub(r" \(_ssl\.c:\d+\)", "", str(exc.strerror or exc))
        raise StartupError(
            f"cannot use TLS certificate {settings.tls_cert} with key {settings.tls_key}"
            f"{' and client CA ' + settings.tls_client_ca if settings.tls_client_ca else ''}: {reason}; "
            "they must be PEM files and the key must match the certificate (hubbub gen-cert makes a pair)"
        ) from exc
    except OSError as exc:
        raise StartupError(f"cannot read TLS files: {exc.strerror}: {exc.filename}") from exc
