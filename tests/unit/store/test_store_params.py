"""The ``params`` column's encoding: parameters as on an IRC line, exact for every list."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from hubbub.protocol import format_body
from hubbub.store.params import decode_params, encode_params, params_from_json


def test_relayed_parameters_are_kept_as_an_irc_line_writes_them() -> None:
    for params in [("#chat", "hello there"), ("#chat", "hi"), ("#chat", ""), ("#chat", ":)"), ("x",), ()]:
        text = encode_params(params)
        assert format_body("PRIVMSG", params) == ("PRIVMSG " + text if params else "PRIVMSG")
        assert decode_params(text) == params


def test_a_multiline_text_keeps_its_line_feeds() -> None:
    params = ("#chat", "first\nsecond line\n\nfourth")
    assert encode_params(params).startswith("\0")  # no line could carry it as it is
    assert decode_params(encode_params(params)) == params


def test_lists_no_line_could_carry_are_kept_exactly_as_json() -> None:
    for params in [
        ("a b", "c"),
        ("", "x"),
        (":a", "b"),
        ("#c", "nul\0here"),
        ("nul\0mid", "x"),
        ("\0",),
        ("#c", "cr\rlf\n"),
        ("cr\r", "x"),
        ("lf\n", "x"),
    ]:
        text = encode_params(params)
        assert text.startswith("\0")
        assert decode_params(text) == params


def test_a_json_array_from_before_version_12_converts() -> None:
    assert params_from_json('["#chat","hello there"]') == "#chat :hello there"
    assert params_from_json("[]") == ""


@given(st.lists(st.text(), max_size=6))
def test_every_list_of_strings_comes_back_as_it_went_in(params: list[str]) -> None:
    assert decode_params(encode_params(params)) == tuple(params)
