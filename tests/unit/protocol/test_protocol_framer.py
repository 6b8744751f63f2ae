"""LineFramer: splitting a byte stream into lines with a length limit."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hubbub.protocol import MAX_LINE, LineFramer, ProtocolError, split_lines


def test_a_line_split_across_reads_comes_out_whole() -> None:
    framer = LineFramer()
    assert framer.receive_data(b"PRIVMSG #c") == []
    assert framer.pending == len(b"PRIVMSG #c")
    assert framer.receive_data(b" :hello") == []
    assert framer.receive_data(b"\r\nPING") == [b"PRIVMSG #c :hello"]
    assert framer.pending == 4
    assert framer.receive_data(b" x\n") == [b"PING x"]
    assert framer.pending == 0


def test_crlf_and_bare_lf_both_end_lines() -> None:
    framer = LineFramer()
    assert framer.receive_data(b"A\r\nB\nC\r\n") == [b"A", b"B", b"C"]


def test_cr_split_from_lf_across_reads_is_not_left_in_the_line() -> None:
    framer = LineFramer()
    assert framer.receive_data(b"NICK a\r") == []
    assert framer.receive_data(b"\nUSER") == [b"NICK a"]


def test_empty_lines_are_skipped() -> None:
    framer = LineFramer()
    assert framer.receive_data(b"\r\n\n\r\nPING\r\n\r\n") == [b"PING"]
    assert framer.pending == 0


def test_a_line_of_exactly_max_length_is_accepted_however_it_arrives() -> None:
    line = b"x" * 10
    assert LineFramer(max_length=10).receive_data(line + b"\r\n") == [line]
    framer = LineFramer(max_length=10)
    assert framer.receive_data(line) == []
    assert framer.receive_data(b"\r") == []  # the CR may wait for its LF
    assert framer.receive_data(b"\n") == [line]


@pytest.mark.parametrize(
    "reads",
    [
        [b"x" * 11 + b"\r\n"],  # whole line in one read
        [b"x" * 11],  # no end seen yet: refused as soon as it is too long
        [b"x" * 10, b"y"],
        [b"x" * 10 + b"\r", b"y"],  # a CR not followed by LF is part of the line
        [b"ok\r\n" + b"x" * 11 + b"\r\n"],
        [b"ok\r\n" + b"x" * 11],
    ],
)
def test_an_over_long_line_is_fatal_417_and_never_returned_cut(reads: list[bytes]) -> None:
    framer = LineFramer(max_length=10)
    returned: list[bytes] = []
    with pytest.raises(ProtocolError) as info:
        for data in reads:
            returned += framer.receive_data(data)
    assert info.value.numeric == "417"
    assert info.value.fatal
    assert all(len(line) <= 10 for line in returned)
    assert framer.pending == 0


def test_default_limit_is_the_longest_legal_line_without_its_crlf() -> None:
    framer = LineFramer()
    line = b"@" + b"t" * (MAX_LINE - 5) + b" P"
    assert len(line) == MAX_LINE - 2
    assert framer.receive_data(line + b"\r\n") == [line]
    with pytest.raises(ProtocolError):
        LineFramer().receive_data(line + b"X\r\n")


_LINE = st.binary(max_size=14).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b""))


@settings(deadline=None, max_examples=300)
@given(
    lines=st.lists(st.tuples(_LINE, st.sampled_from([b"\r\n", b"\n"])), max_size=12),
    cuts=st.lists(st.integers(min_value=0, max_value=200), max_size=12),
)
def test_any_split_of_a_stream_yields_the_same_lines(
    lines: list[tuple[bytes, bytes]], cuts: list[int]
) -> None:
    max_length = 10
    stream = b"".join(line + end for line, end in lines)
    bounds = sorted({c for c in cuts if c <= len(stream)} | {0, len(stream)})
    chunks = [stream[a:b] for a, b in itertools.pairwise(bounds)]
    expected = [line for line, _ in lines if line]
    too_long = any(len(line) > max_length for line, _ in lines)
    framer = LineFramer(max_length=max_length)
    got: list[bytes] = []
    try:
        for chunk in chunks:
            got += framer.receive_data(chunk)
    except ProtocolError as error:
        assert too_long, "only an over-long line may fail"
        assert error.fatal and error.numeric == "417"
        # Lines before the over-long one may be returned; nothing cut ever is.
        assert got == expected[: len(got)]
        assert all(len(line) <= max_length for line in got)
        return
    assert not too_long, "an over-long line must not pass"
    assert got == expected
    assert framer.pending == 0


def test_split_lines_keeps_the_unfinished_line_for_its_caller_as_the_framer_does():
    pending = b""
    got: list[bytes] = []
    for chunk in (b"NICK a", b"lice\r\nUSER u 0 * :A", b"\r", b"\n\r\nPING x\n"):
        lines, pending = split_lines(pending, chunk)
        got += lines
    assert got == [b"NICK alice", b"USER u 0 * :A", b"PING x"]
    assert pending == b""
    with pytest.raises(ProtocolError) as caught:
        split_lines(b"x" * 500, b"y" * 20, max_length=510)
    assert caught.value.numeric == "417"
