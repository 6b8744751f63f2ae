"""The reply buffer alone: which lines carry the label and which batch tag, without a server."""

from __future__ import annotations

from hubbub.protocol import format_body, parse
from hubbub.server.replies import MAX_BODY, Replies, fit_params

ACK = b":srv ACK\r\n"


def run(label: str | None, build) -> list[bytes]:
    out: list[bytes] = []
    replies = Replies(out.append, label)
    build(replies)
    replies.finish(ACK, "L", b":srv BATCH +L labeled-response\r\n", b":srv BATCH -L\r\n")
    return out


def batches(lines: list[bytes]) -> list[str | None]:
    return [parse(line).tags.get("batch") for line in lines]


def test_a_labelled_command_without_replies_is_acknowledged():
    assert run("x", lambda r: None) == [b"@label=x :srv ACK\r\n"]


def test_a_single_reply_carries_the_label_and_no_batch():
    assert run("x", lambda r: r.add(b":srv 001 n :hi\r\n")) == [b"@label=x :srv 001 n :hi\r\n"]


def test_several_replies_are_wrapped_once_and_each_carries_one_batch_tag():
    def build(r: Replies) -> None:
        r.add(b":srv 352 n a\r\n")
        r.add(b"@time=t :srv 315 n :end\r\n")

    out = run("x", build)
    assert out[0] == b"@label=x :srv BATCH +L labeled-response\r\n"
    assert out[1:3] == [b"@batch=L :srv 352 n a\r\n", b"@batch=L;time=t :srv 315 n :end\r\n"]
    assert out[3] == b":srv BATCH -L\r\n"


def test_a_nested_batch_keeps_its_own_tag_inside_the_labelled_one():
    def build(r: Replies) -> None:
        r.add(b":srv NOTICE n :first\r\n")
        r.open_batch("h", b":srv BATCH +h chathistory #c\r\n")
        r.add(b":a PRIVMSG #c :one\r\n")
        r.close_batch("h", b":srv BATCH -h\r\n")

    out = run("x", build)
    assert batches(out) == [None, "L", "L", "h", "L", None]
    assert [line.count(b"batch=") for line in out] == [0, 1, 1, 1, 1, 0]


def test_a_response_that_is_one_batch_takes_the_label_on_its_start():
    def build(r: Replies) -> None:
        r.open_batch("h", b":srv BATCH +h chathistory #c\r\n")
        r.add(b":a PRIVMSG #c :one\r\n")
        r.add(b":a PRIVMSG #c :two\r\n")
        r.close_batch("h", b":srv BATCH -h\r\n")

    out = run("x", build)
    assert out[0] == b"@label=x :srv BATCH +h chathistory #c\r\n"
    assert batches(out) == [None, "h", "h", None]


def test_without_a_label_lines_go_out_at_once_and_nested_ones_are_tagged():
    out: list[bytes] = []
    r = Replies(out.append)
    r.add(b":srv 1\r\n")
    r.open_batch("h", b":srv BATCH +h chathistory #c\r\n")
    assert len(out) == 2
    r.add(b":a PRIVMSG #c :one\r\n")
    r.close_batch("h", b":srv BATCH -h\r\n")
    assert batches(out) == [None, None, "h", None]
    assert r.open is False


def test_fit_params_cuts_the_longest_parameter_to_the_line_limit():
    params = ("alice", "é" * 300, "No such nick/channel")
    fitted = fit_params("401", params, "hubbub.local")
    assert fitted[0] == "alice" and fitted[2] == "No such nick/channel"
    assert params[1].startswith(fitted[1])
    assert len(format_body("401", fitted, "hubbub.local").encode()) <= MAX_BODY
    # The cut falls between characters: two bytes each, so an even number of bytes.
    assert len(fitted[1].encode()) % 2 == 0


def test_fit_params_leaves_a_line_that_fits_alone_and_keeps_middles_non_empty():
    short = ("alice", "#c", "text")
    assert fit_params("403", short, "hubbub.local") is short
    fitted = fit_params("FAIL", ("CMD", "CODE", "x" * 400, "y" * 400), "s")
    assert all(fitted[:3]) and len(fitted[2]) >= 1


def test_a_streamed_labelled_response_goes_out_as_it_comes_in_its_own_batch():
    out: list[bytes] = []
    replies = Replies(out.append, "x")
    replies.add(b":srv 352 n a\r\n")
    assert out == []  # held while it may still be one line or none
    replies.stream("S", b":srv BATCH +S labeled-response\r\n", b":srv BATCH -S\r\n")
    assert out == [b"@label=x :srv BATCH +S labeled-response\r\n", b"@batch=S :srv 352 n a\r\n"]
    replies.add(b":srv 352 n b\r\n")
    replies.open_batch("h", b":srv BATCH +h chathistory #c\r\n")
    replies.add(b":a PRIVMSG #c :one\r\n")
    replies.close_batch("h", b":srv BATCH -h\r\n")
    assert len(out) == 6  # every line sent as soon as it was added
    replies.finish(ACK, "L", b":srv BATCH +L labeled-response\r\n", b":srv BATCH -L\r\n")
    assert batches(out) == [None, "S", "S", "S", "h", "S", None]
    assert out[-1] == b":srv BATCH -S\r\n"
    assert sum(b"label=" in line for line in out) == 1
