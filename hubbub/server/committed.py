"""What happens when a commit returns: what waited for it is written, or the failure reported.

DESIGN.md principle 5. A committed epoch's held lines go out in order (a connection that closed
meanwhile still gets what was queued before its ERROR); a failed one delivers none of its
messages, its senders get ``FAIL ... TEMPORARILY_UNAVAILABLE``, and operators and the log hear of
it once, then at most once a minute, until the store works again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from .outbox import Epoch, Link

log = logging.getLogger(__name__)

# Seconds between two operator notices while the store keeps failing.
NOTICE_INTERVAL = 60.0


def release(epoch: Epoch, error: BaseException | None) -> None:
    """Write what waited for ``epoch`` (without its messages if ``error``), then forget it."""
    dropped = epoch.message_parts if error is not None else None
    # Labels whose answer was a dropped line, per connection, in order: the FAILs answer them.
    unanswered: dict[Link, list[str]] = {}
    for conn, parts in epoch.held.items():
        # A connection closed since keeps what was queued before its close (its ERROR waits
        # in a later epoch); one dropped for its sendq gets its ERROR alone.
        if conn.lost:
            continue
        if conn.overflowed:
            if conn not in epoch.closing:
                continue
            parts = parts[-1:]
        if dropped:
            if epoch.labels:
                labels = [epoch.labels[id(p)] for p in parts if id(p) in epoch.labels]
                if labels:
                    unanswered[conn] = labels
            parts = [p for p in parts if id(p) not in dropped]
        conn.send_parts(parts)
    for conn in epoch.closing:
        conn.shut()
    if error is not None:
        for session, command, target in epoch.senders:
            if not session.gone:
                waiting = unanswered.get(session.conn)
                session.fail(
                    command,
                    "TEMPORARILY_UNAVAILABLE",
                    "Message not delivered: the server cannot save it right now; try again later",
                    target,
                    label=waiting.pop(0) if waiting else None,
                )
    epoch.held.clear()
    epoch.closing.clear()
    epoch.message_parts.clear()
    epoch.labels.clear()
    epoch.writes.clear()
    epoch.senders.clear()


class StoreHealth:
    """Whether commits fail, told to the log and to operators (``notify``) as it changes."""

    def __init__(self, notify: Callable[[str], None]) -> None:
        self.notify = notify
        self.failing_since: float | None = None  # when commits began to fail, if they do
        self._notice_at = 0.0

    def committed(self, epoch: Epoch, error: BaseException | None) -> None:
        """Note how an epoch's commit went."""
        if error is not None:
            self._failed(epoch, error)
        elif self.failing_since is not None:
            log.warning(
                "the history store works again after %.0f s; messages are delivered again",
                time.time() - self.failing_since,
            )
            self.failing_since = None
            self.notify("The history store works again; messages are delivered again")

    def _failed(self, epoch: Epoch, error: BaseException) -> None:
        now = time.time()
        first = self.failing_since is None
        if first:
            self.failing_since = now
        log.error(
            "the history store cannot commit (%s): %d message(s) of this turn were not delivered",
            error,
            epoch.messages,
        )
        if first or now - self._notice_at >= NOTICE_INTERVAL:
            self._notice_at = now
            self.notify(
                f"The history store cannot save messages ({error}); they are not delivered "
                "until it can (is the disk full?)"
            )
