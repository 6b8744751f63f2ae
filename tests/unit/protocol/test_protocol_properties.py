"""Hypothesis properties of the message codec: round-trips and never-raises."""

from __future__ import annotations

from hypothesis import example, given, settings
from hypothesis import strategies as st

from hubbub.protocol import Message, ProtocolError, format_message, parse, parse_loosely

_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
_KEY_NAME = st.text(alphabet=_LETTERS + "0123456789-", min_size=1, max_size=12)
_LABEL = st.text(alphabet=_LETTERS.lower() + "0123456789-", min_size=1, max_size=8)
_VENDOR = st.lists(_LABEL, min_size=1, max_size=3).map(".".join)

tag_keys = st.builds(
    lambda plus, vendor, name: plus + (vendor + "/" if vendor else "") + name,
    st.sampled_from(["", "+"]),
    st.none() | _VENDOR,
    _KEY_NAME,
)
# Values may hold anything but NUL, the one character without an escape; the separators
# ; space \ CR LF are drawn often on purpose.
tag_values = st.text(
    alphabet=st.characters(codec="utf-8", blacklist_characters="\x00") | st.sampled_from(list("; \\\r\n=:")),
    max_size=24,
)
tags = st.dictionaries(tag_keys, tag_values, max_size=5)

# Lone surrogates are left out: they are not text that can travel as UTF-8.
_NO_SPACE = st.characters(codec="utf-8", blacklist_characters=" \r\n\x00")
sources = st.none() | st.text(alphabet=_NO_SPACE | st.sampled_from(list("!@:.")), min_size=1, max_size=30)
commands = st.text(alphabet=_LETTERS.upper(), min_size=1, max_size=10) | st.from_regex(
    r"\A[0-9]{3}\Z", fullmatch=True
)
middles = st.builds(
    lambda first, rest: first + rest,
    _NO_SPACE.filter(lambda ch: ch != ":"),
    st.text(alphabet=_NO_SPACE | st.just(":"), max_size=15),
)
trailings = st.text(
    alphabet=st.characters(codec="utf-8", blacklist_characters="\r\n\x00") | st.sampled_from([" ", ":"]),
    max_size=40,
)
params = st.builds(
    lambda mids, trailing: (*mids, *([] if trailing is None else [trailing])),
    st.lists(middles, max_size=6),
    st.none() | trailings,
)
messages = st.builds(Message, commands, params, sources, tags)


@settings(deadline=None, max_examples=300)
@given(messages)
@example(Message.build("PRIVMSG", "#c", "", source="n!u@h", tags={"k": "; \\\r\n"}))
@example(Message.build("PRIVMSG", "#c", ":", tags={"+a": "", "b": "\\"}))
@example(Message.build("PRIVMSG", "#c", " lead and trail "))
@example(Message.build("CMD", "a:b", "::"))
def test_parse_reads_back_what_format_message_writes(message: Message) -> None:
    wire = format_message(message)
    assert wire.endswith(b"\r\n")
    assert wire.count(b"\n") == 1 and wire.count(b"\r") == 1
    assert parse(wire) == message
    assert parse(wire.decode()) == message
    # Formatting is stable: the parsed message formats to the same bytes.
    assert format_message(parse(wire)) == wire


@settings(deadline=None, max_examples=300)
@given(messages)
def test_formatting_without_tags_reads_back_without_tags(message: Message) -> None:
    stripped = parse(format_message(message, tags=False))
    assert stripped == Message(message.command, message.params, message.source)


def _parse_or_protocol_error(line: str | bytes) -> None:
    try:
        message = parse(line)
    except ProtocolError:
        if isinstance(line, bytes):
            # What the server answers a refused line with is read from it without an error.
            rough = parse_loosely(line)
            assert rough is None or rough.command
        return
    # Whatever parses has a command and no line-breaking characters anywhere.
    assert message.command
    for part in (
        message.command,
        message.source or "",
        *message.params,
        *message.tags,
        *message.tags.values(),
    ):
        assert "\x00" not in part
    for part in (message.command, *message.params):
        assert "\r" not in part and "\n" not in part


@settings(deadline=None, max_examples=500)
@given(st.binary(max_size=200))
@example(b"@")
@example(b"@ ")
@example(b":")
@example(b"\xff")
@example(b"@a=\\")
def test_parsing_arbitrary_bytes_raises_only_protocol_error(raw: bytes) -> None:
    _parse_or_protocol_error(raw)


# Lines made mostly of the characters that carry meaning reach deeper into the parser than
# uniformly random bytes do.
_IRCISH = st.lists(
    st.sampled_from(
        [
            b"@",
            b":",
            b";",
            b"=",
            b" ",
            b"  ",
            b"\\",
            b"\r",
            b"\n",
            b"\x00",
            b"+",
            b"/",
            b"A",
            b"1",
            b"\xc3\xa9",
            b"\xff",
        ]
    ),
    max_size=40,
).map(b"".join)


@settings(deadline=None, max_examples=500)
@given(_IRCISH)
def test_parsing_irc_like_bytes_raises_only_protocol_error(raw: bytes) -> None:
    _parse_or_protocol_error(raw)


@settings(deadline=None, max_examples=300)
@given(st.text(max_size=200))
def test_parsing_arbitrary_text_raises_only_protocol_error(text: str) -> None:
    _parse_or_protocol_error(text)
