"""An event queue that wakes Tk when something is put in it, so an idle window polls nothing.

The network thread puts events in a :class:`WakeQueue`; each put writes a byte to a pipe whose
read end Tk watches (``createfilehandler``), so the Tk thread sleeps in its event loop until
there is work. The same pipe serves :func:`signal.set_wakeup_fd`: a signal wakes Tk, and Python
runs its handler, without a timer ticking to give it the chance.
"""

from __future__ import annotations

import contextlib
import os
import queue
import threading
from typing import TypeVar

T = TypeVar("T")


class WakeQueue(queue.Queue[T]):
    """A :class:`queue.Queue` with a pipe that becomes readable when items are put."""

    def __init__(self) -> None:
        super().__init__()
        self.read_fd, self.write_fd = os.pipe()
        os.set_blocking(self.read_fd, False)
        os.set_blocking(self.write_fd, False)
        self._signalled = threading.Event()  # a byte is in the pipe already: no need for another
        self._lock = threading.Lock()  # no write after close: the descriptor may be reused by then
        self._closed = False

    def put(self, item: T, block: bool = True, timeout: float | None = None) -> None:
        """Queue ``item`` and wake the reader (once until it drains the pipe)."""
        super().put(item, block, timeout)
        if not self._signalled.is_set():
            self._signalled.set()
            with self._lock, contextlib.suppress(BlockingIOError, OSError):  # full: wakes anyway
                if not self._closed:
                    os.write(self.write_fd, b"\0")

    def drain_wakeups(self) -> None:
        """Empty the pipe (before taking items, so a put after this wakes the reader again).

        The pipe is read before the flag is cleared: cleared first, a put in between would set it
        and write a byte that this read then swallows, and every later put would see the flag set
        and write nothing, leaving its item unseen until something else woke the reader.
        """
        with contextlib.suppress(BlockingIOError, OSError):
            while os.read(self.read_fd, 4096):
                pass
        self._signalled.clear()

    def close(self) -> None:
        """Close the pipe; later puts only queue."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        for fd in (self.read_fd, self.write_fd):
            with contextlib.suppress(OSError):
                os.close(fd)
