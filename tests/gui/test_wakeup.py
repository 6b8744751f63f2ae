"""The window's event queue: a put wakes the reader through a pipe, and nothing is ever lost."""

from __future__ import annotations

import os
import select
import threading

from hubbub.gui._wakeup import WakeQueue


def readable(q: WakeQueue[int], timeout: float = 0.0) -> bool:
    return bool(select.select([q.read_fd], [], [], timeout)[0])


def test_a_put_makes_the_pipe_readable_and_draining_quiets_it() -> None:
    q: WakeQueue[int] = WakeQueue()
    try:
        assert not readable(q)
        q.put(1)
        assert readable(q)
        q.drain_wakeups()
        assert not readable(q)
        assert q.get_nowait() == 1
    finally:
        q.close()


def test_a_flood_of_puts_writes_one_byte_until_drained_and_loses_no_item() -> None:
    q: WakeQueue[int] = WakeQueue()
    try:
        threads = [
            threading.Thread(target=lambda b=b: [q.put(b * 10_000 + i) for i in range(10_000)])
            for b in range(4)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
        assert os.read(q.read_fd, 4096) == b"\0"  # one wakeup for the whole flood: the pipe never fills
        assert q.qsize() == 40_000
    finally:
        q.close()


def test_a_put_after_a_drain_wakes_again_and_after_close_only_queues() -> None:
    q: WakeQueue[str] = WakeQueue()
    q.put("a")
    q.drain_wakeups()
    q.put("b")
    assert readable(q)
    q.close()
    q.close()  # twice is harmless
    q.put("c")  # the network thread may still deliver one last event: no error, no stray write
    assert [q.get_nowait() for _ in range(3)] == ["a", "b", "c"]
