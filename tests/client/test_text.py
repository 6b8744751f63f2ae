"""Splitting text at byte limits, CTCP ACTION, and the lines a send produces."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from hubbub.client import ClientConfig, ClientProtocol, format_action, parse_action, split_text
from hubbub.client._outgoing import build_chat_lines, text_budget
from hubbub.protocol import parse

PREFIX = "nick!~user@" + "h" * 63


@given(st.text(), st.integers(min_value=4, max_value=600))
def test_every_piece_fits_and_the_pieces_join_back(text: str, limit: int) -> None:
    text = text.encode("utf-8", "replace").decode("utf-8")  # no lone surrogates: they cannot be sent
    pieces = split_text(text, limit)
    assert "".join(pieces) == text
    assert all(len(p.encode()) <= limit for p in pieces)
    assert all(pieces) or pieces == [""]


def test_split_prefers_spaces_and_keeps_characters_whole() -> None:
    assert split_text("aaaa bbbb cccc", 10) == ["aaaa bbbb ", "cccc"]
    # "é" is two bytes, "🎉" four: a cut never falls inside one.
    assert split_text("é" * 5, 5) == ["éé", "éé", "é"]
    assert split_text("🎉🎉", 6) == ["🎉", "🎉"]


CHAT_TEXT = st.text(
    alphabet=st.characters(exclude_categories=("Cs", "Cc"), include_characters="\n"), max_size=3000
)


@given(CHAT_TEXT)
def test_sent_lines_fit_512_bytes_with_our_prefix(text: str) -> None:
    messages, shown = build_chat_lines("#channel", text, kind="privmsg", prefix=PREFIX)
    for message in messages:
        line = f":{PREFIX} ".encode() + message.to_bytes()
        assert len(line) <= 512
        assert parse(message.to_bytes()) == message
    if not text.strip():
        assert messages == []  # nothing worth sending
        return
    lines = [line for line in text.split("\n") if line]
    assert "".join(shown) == "".join(lines)
    assert [m.params[1] for m in messages] == shown


def test_action_pieces_leave_room_for_the_ctcp_wrapping() -> None:
    messages, shown = build_chat_lines("#c", "ü" * 600, kind="action", prefix=PREFIX)
    assert len(messages) > 1
    for message in messages:
        assert len(f":{PREFIX} ".encode() + message.to_bytes()) <= 512
        assert parse_action(message.params[1]) in shown


def test_multiline_text_goes_as_one_batch_when_offered() -> None:
    text = "first\n" + "x" * 900 + "\nlast"
    messages, shown = build_chat_lines(
        "#c", text, kind="privmsg", prefix=PREFIX, multiline="max-bytes=4096,max-lines=10", batch_ref="r"
    )
    assert messages[0].command == "BATCH" and messages[0].params == ("+r", "draft/multiline", "#c")
    assert messages[-1].params == ("-r",)
    body = messages[1:-1]
    assert all(m.tags["batch"] == "r" for m in body)
    concat = ["draft/multiline-concat" in m.tags for m in body]
    # "first", then the long line in pieces (all but its first continue it), then "last"
    assert len(concat) >= 5 and concat[:2] == [False, False] and concat[-1] is False
    assert all(concat[2:-1])
    assert "".join(("" if c else "\n") + m.params[1] for c, m in zip(concat, body, strict=True))[1:] == text
    assert shown == [text]


def test_multiline_limits_split_into_several_batches() -> None:
    text = "\n".join(f"line {i}" for i in range(5))
    messages, shown = build_chat_lines(
        "#c", text, kind="privmsg", prefix=PREFIX, multiline="max-lines=2", batch_ref="r"
    )
    opens = [m for m in messages if m.command == "BATCH" and m.params[0].startswith("+")]
    assert len(opens) == 3 and "\n".join(shown) == text


def test_without_multiline_each_line_is_a_message_and_blank_lines_are_skipped() -> None:
    proto = ClientProtocol(ClientConfig(nick="me"))
    data = proto.send_message("#c", "one\n\ntwo\r\n")
    assert data == b"PRIVMSG #c one\r\nPRIVMSG #c two\r\n"
    assert proto.send_message("#c", "  \n ") == b""


def test_budget_counts_the_whole_relayed_line() -> None:
    budget = text_budget("n!u@h", "PRIVMSG", "#c")
    assert len(b":n!u@h PRIVMSG #c :") + budget + 2 == 512


def test_action_round_trip() -> None:
    assert parse_action(format_action("waves hello")) == "waves hello"
    assert parse_action("\x01ACTION shrugs") == "shrugs"  # the closing \x01 is optional
