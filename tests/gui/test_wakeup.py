"""The window's event queue: a put wakes the reader through a pipe, and nothing is ever lost."""

from __future__ import annotations

import os
import select
import threading
import types

from hubbub.gui import _wakeup
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


def test_a_put_racing_the_drain_does_not_silence_later_puts(monkeypatch) -> None:
    """The network thread may put while the Tk thread drains the pipe. Such a put is made to
    happen inside the drain here (the interleaving a thread switch produces now and then): every
    put after the drain must still wake the reader."""
    q: WakeQueue[int] = WakeQueue()
    q.put(0)
    real_read = os.read
    raced = []

    def read_with_a_put_in_between(fd: int, n: int) -> bytes:
        if not raced:
            raced.append(True)
            q.put(1)  # the other thread's put, between the drain's steps
        return real_read(fd, n)

    fake_os = types.SimpleNamespace(read=read_with_a_put_in_between)
    monkeypatch.setattr(_wakeup, "os", fake_os)
    q.drain_wakeups()
    monkeypatch.undo()
    try:
        assert raced
        taken = []
        while not q.empty():
            taken.append(q.get_nowait())
        assert taken == [0, 1]
        q.put(2)
        assert readable(q, 1.0), "a put after the drain did not wake the reader"
    finally:
        q.close()
