"""server-time stamps: the format the IRCv3 spec gives, right across milliseconds and seconds."""

from __future__ import annotations

from datetime import UTC, datetime

from hubbub.server.caps import server_time


def expected(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def test_each_stamp_is_its_own_millisecond_whether_or_not_the_second_changed():
    start = 1_767_225_599_998  # 2025-12-31T23:59:59.998Z: the next stamps cross a second, a day, a year
    for ms in [start, start, start + 1, start + 2, start + 3, start + 1003, start + 2, 86_400_000 * 3]:
        assert server_time(ms / 1000) == expected(ms)


def test_a_stamp_for_now_is_between_the_stamps_before_and_after():
    before = expected(int(datetime.now(UTC).timestamp() * 1000))
    stamp = server_time()
    after = expected(int(datetime.now(UTC).timestamp() * 1000) + 1)
    assert before <= stamp <= after
    assert len(stamp) == len("2026-12-02T14:42:13.000Z")
