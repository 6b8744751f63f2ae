"""miniircd with TCP_NODELAY on every accepted socket: ``--servers miniircd-nodelay``.

miniircd as published leaves Nagle's algorithm on, hubbub turns it off (as asyncio does). With
Nagle on, a small write while earlier bytes are unacknowledged waits in the kernel and goes out
later in the acknowledgement's softirq, so part of its cost is not charged to the server process
and the line arrives later. This peer isolates that difference. Arguments are miniircd's.
"""

from __future__ import annotations

import socket
import sys

_accept = socket.socket.accept


def _accept_nodelay(self: socket.socket) -> tuple[socket.socket, object]:
    conn, addr = _accept(self)
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return conn, addr


def main() -> None:
    """Patch accept() and hand over to miniircd's own main()."""
    socket.socket.accept = _accept_nodelay  # type: ignore[method-assign]
    import miniircd  # type: ignore[import-untyped]

    sys.argv[0] = "miniircd"
    miniircd.main()


if __name__ == "__main__":
    main()
