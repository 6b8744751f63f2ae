"""Epochs on their own: a real store writer thread and a real SQLite file, no server.

What the trust design rests on: epochs commit in the order they were recorded, turns that come
while a commit is out join the next epoch, a failed commit is reported for its epoch alone, and
``after_commit`` waits for everything recorded before it.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from hubbub.server.delivery import Delivery, Epoch, MsgidFactory
from hubbub.server.writer import StoreWriter
from hubbub.store import StoredMessage, open_store


def message(n: int, target: str = "#c", msgid: str | None = None) -> StoredMessage:
    return StoredMessage(
        msgid or f"m{n}", 1_700_000_000_000 + n, target, "PRIVMSG", "a!u@h", (target, f"line {n}")
    )


class Recorder:
    """The delivery's on_committed: which epochs came back, in order, and how."""

    def __init__(self) -> None:
        self.done: list[tuple[int, BaseException | None]] = []
        self.changed = asyncio.Event()

    def __call__(self, epoch: Epoch, error: BaseException | None) -> None:
        self.done.append((epoch.seq, error))
        self.changed.set()

    async def until(self, count: int) -> None:
        async with asyncio.timeout(10):
            while len(self.done) < count:
                self.changed.clear()
                await self.changed.wait()


async def started(tmp_path: Path) -> tuple[Delivery, Recorder, StoreWriter, Path]:
    store = open_store(tmp_path)  # makes the database, as the server does before its writer
    path = store.path
    store.close()
    recorder = Recorder()
    delivery = Delivery(recorder)
    writer = StoreWriter(path, asyncio.get_running_loop())
    writer.start()
    delivery.writer = writer
    return delivery, recorder, writer, path


def stored(path: Path, target: str = "#c") -> list[str]:
    with open_store(path.parent) as store:
        return [m.msgid for m in store.latest(target, 100)]


async def test_turns_that_come_while_a_commit_is_out_join_the_next_epoch(tmp_path: Path) -> None:
    delivery, recorder, writer, path = await started(tmp_path)
    try:
        first = delivery.record(message(1))
        assert delivery.submit() is first  # nothing out: it goes at once
        second = delivery.record(message(2))
        assert delivery.submit() is None  # one is out: this turn waits ...
        assert delivery.record(message(3)) is second  # ... and the next turn joins it
        assert delivery.pending and delivery.backlogged is False
        await recorder.until(1)
        assert recorder.done == [(first.seq, None)]
        assert delivery.submit() is second  # the first returned: the gathered epoch goes
        await recorder.until(2)
        assert recorder.done == [(first.seq, None), (second.seq, None)]
        assert not delivery.pending
        assert stored(path) == ["m1", "m2", "m3"]
    finally:
        writer.stop()


async def test_a_failed_commit_is_reported_for_its_epoch_alone_and_the_next_one_goes_on(
    tmp_path: Path,
) -> None:
    delivery, recorder, writer, path = await started(tmp_path)
    try:
        delivery.record(message(1))
        delivery.submit()
        await recorder.until(1)
        broken = delivery.record(message(2, msgid="m1"))  # the same msgid twice in #c: refused
        delivery.submit()
        await recorder.until(2)
        assert recorder.done[1][0] == broken.seq and recorder.done[1][1] is not None
        assert delivery.failures == 1
        delivery.record(message(3))
        delivery.submit()
        await recorder.until(3)
        assert recorder.done[2][1] is None
        assert stored(path) == ["m1", "m3"]  # nothing of the failed epoch was kept
    finally:
        writer.stop()


async def test_after_commit_waits_for_everything_recorded_before_it(tmp_path: Path) -> None:
    delivery, recorder, writer, path = await started(tmp_path)
    try:
        assert delivery.after_commit(lambda: None) is False  # nothing waits: go ahead now
        woken: list[list[str]] = []
        delivery.record(message(1))
        delivery.submit()
        delivery.record(message(2))  # gathered behind the one that is out
        assert delivery.after_commit(lambda: woken.append(stored(path)))
        await recorder.until(1)
        assert woken == []  # the first commit alone is not enough
        delivery.submit()
        await recorder.until(2)
        assert woken == [["m1", "m2"]]
    finally:
        writer.stop()


async def test_a_job_runs_in_turn_with_the_messages_and_returns_its_result(tmp_path: Path) -> None:
    delivery, _recorder, writer, _path = await started(tmp_path)
    try:
        delivery.record(message(1))
        counted = delivery.run(lambda store: len(store.latest("#c", 10)))
        delivery.submit()
        assert await asyncio.wait_for(counted, 10) == 1  # the job saw the message before it
    finally:
        writer.stop()


def test_msgids_are_unique_and_ordered_by_time_within_and_across_milliseconds():
    new = MsgidFactory()
    ids = [new(1_700_000_000_000) for _ in range(5)] + [new(1_700_000_000_001) for _ in range(5)]
    assert len(set(ids)) == 10 and all(len(i) == 20 for i in ids)
    assert ids[4][:9] < ids[5][:9]  # a later millisecond sorts after
    assert {i[9:13] for i in ids} == {ids[0][9:13]}  # one node part for the process
