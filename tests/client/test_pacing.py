"""The client's pacing, without I/O: token buckets shaped like the server's flood control."""

from __future__ import annotations

import pytest

from hubbub.client import SendPacing
from hubbub.client._pacing import Pacer, line_cost, unbatched


def test_messages_and_commands_cost_their_own_bucket_and_batch_lines_are_free() -> None:
    assert line_cost(b"PRIVMSG #c :hi\r\n") == (1.0, 0.0)
    assert line_cost(b"notice bob :hi\r\n") == (1.0, 0.0)
    assert line_cost(b"@+typing=active TAGMSG #c\r\n") == (1.0, 0.0)
    assert line_cost(b"BATCH +ml1 draft/multiline #c\r\n") == (1.0, 0.0)
    assert line_cost(b"@batch=ml1 PRIVMSG #c :inside\r\n") == (0.0, 0.0)
    assert line_cost(b"@batch=ml1;draft/multiline-concat PRIVMSG #c :more\r\n") == (0.0, 0.0)
    assert line_cost(b"JOIN #c\r\n") == (0.0, 1.0)
    assert line_cost(b"@label=x WHOIS bob\r\n") == (0.0, 1.0)
    assert line_cost(b"@odd") == (0.0, 1.0)


def test_a_burst_goes_at_once_then_one_message_per_interval() -> None:
    pacer = Pacer(SendPacing(burst=5, rate=2.0), now=100.0)
    line = b"PRIVMSG #c :x\r\n"
    for _ in range(5):
        assert pacer.delay(line, 100.0) == 0.0
        pacer.spend(line, 100.0)
    # Waiting for a quarter of a token more than needed absorbs the network's jitter.
    assert pacer.delay(line, 100.0) == pytest.approx(0.625)
    assert pacer.delay(line, 100.25) == pytest.approx(0.375)
    assert pacer.delay(line, 100.625) == 0.0
    pacer.spend(line, 100.625)
    assert pacer.delay(line, 100.625) == pytest.approx(0.5)
    # Commands have their own, roomier bucket: a paced paste does not hold a JOIN back.
    assert pacer.delay(b"JOIN #d\r\n", 100.5) == 0.0
    # Idle time refills up to the burst, never past it.
    assert pacer.spare_messages(1000.0) == 5.0


def test_lines_that_could_not_wait_are_counted_below_zero() -> None:
    pacer = Pacer(SendPacing(burst=2, rate=1.0), now=0.0)
    pacer.spend(b"PRIVMSG a :1\r\nPRIVMSG a :2\r\nPRIVMSG a :3\r\nPING x\r\n", 0.0)
    assert pacer.spare_messages(0.0) == -1.0
    assert pacer.delay(b"PRIVMSG a :4\r\n", 0.0) == pytest.approx(2.25)
    pacer.reset(5.0)  # a new connection: the server's buckets start full, and so do ours
    assert pacer.delay(b"PRIVMSG a :4\r\n", 5.0) == 0.0


def test_pacing_off_sends_everything_at_once() -> None:
    pacer = Pacer(SendPacing(enabled=False), now=0.0)
    for _ in range(100):
        assert pacer.delay(b"PRIVMSG #c :x\r\n", 0.0) == 0.0
        pacer.spend(b"PRIVMSG #c :x\r\n", 0.0)
    assert pacer.spare_messages(0.0) == float("inf")


@pytest.mark.parametrize("bad", [{"burst": 0}, {"rate": 0.0}, {"command_burst": 0}, {"command_rate": -1.0}])
def test_pacing_settings_are_checked(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        SendPacing(**bad)  # type: ignore[arg-type]


def test_a_queued_batch_becomes_plain_messages_for_a_server_without_multiline() -> None:
    lines = (
        b"BATCH +ml1x1 draft/multiline #c\r\n",
        b"@batch=ml1x1 PRIVMSG #c :first\r\n",
        b"@batch=ml1x1 PRIVMSG #c :\r\n",
        b"@batch=ml1x1;draft/multiline-concat PRIVMSG #c :continued\r\n",
        b"BATCH -ml1x1\r\n",
    )
    assert unbatched(lines) == [b"PRIVMSG #c first\r\n", b"PRIVMSG #c continued\r\n"]
