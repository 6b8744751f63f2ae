"""Parsing and formatting single messages: spec examples and tricky lines."""

from __future__ import annotations

import pytest

from hubbub.protocol import Message, ProtocolError, format_message, parse, parse_loosely


@pytest.mark.parametrize(
    ("line", "source", "command", "params"),
    [
        # Modern IRC, "Parameters" examples.
        (":irc.example.com CAP * LIST :", "irc.example.com", "CAP", ("*", "LIST", "")),
        ("CAP * LS :multi-prefix sasl", None, "CAP", ("*", "LS", "multi-prefix sasl")),
        ("CAP REQ :sasl message-tags foo", None, "CAP", ("REQ", "sasl message-tags foo")),
        (":dan!d@localhost PRIVMSG #chan :Hey!", "dan!d@localhost", "PRIVMSG", ("#chan", "Hey!")),
        (":dan!d@localhost PRIVMSG #chan Hey!", "dan!d@localhost", "PRIVMSG", ("#chan", "Hey!")),
        (":dan!d@localhost PRIVMSG #chan ::-)", "dan!d@localhost", "PRIVMSG", ("#chan", ":-)")),
        # Several spaces between parts and parameters (Modern IRC: "one or more ASCII SPACE").
        ("PRIVMSG   #chan    :hello  world ", None, "PRIVMSG", ("#chan", "hello  world ")),
        (":src    NOTICE  a   b", "src", "NOTICE", ("a", "b")),
        # Trailing spaces after the last middle parameter make no empty parameter.
        ("PING a  ", None, "PING", ("a",)),
        # A middle parameter may hold a colon after its first character.
        ("MODE #c +b a:b", None, "MODE", ("#c", "+b", "a:b")),
        # An empty trailing parameter is still a parameter.
        ("PRIVMSG #c :", None, "PRIVMSG", ("#c", "")),
        ("PRIVMSG #c ::", None, "PRIVMSG", ("#c", ":")),
        # Commands are case-insensitive and read upper-case; numerics stay as they are.
        ("privmsg #a b", None, "PRIVMSG", ("#a", "b")),
        (":srv 001 nick :Welcome home", "srv", "001", ("nick", "Welcome home")),
        # No parameters at all.
        ("QUIT", None, "QUIT", ()),
    ],
)
def test_lines_parse_into_source_command_and_params(
    line: str, source: str | None, command: str, params: tuple[str, ...]
) -> None:
    for form in (line, line + "\r\n", (line + "\r\n").encode(), (line + "\n").encode()):
        message = parse(form)
        assert (message.source, message.command, message.params) == (source, command, params)
        assert dict(message.tags) == {}


def test_more_than_fifteen_parameters_are_all_kept() -> None:
    # Modern IRC: clients MUST parse incoming messages with any number of parameters.
    words = [f"p{i}" for i in range(20)]
    assert parse("CMD " + " ".join(words)).params == tuple(words)


@pytest.mark.parametrize(
    ("line", "tags"),
    [
        # message-tags, "Examples".
        (
            "@aaa=bbb;ccc;example.com/ddd=eee :nick!ident@host.com PRIVMSG me :Hello",
            {"aaa": "bbb", "ccc": "", "example.com/ddd": "eee"},
        ),
        ("@example-tag=example-value PRIVMSG #channel :Message", {"example-tag": "example-value"}),
        ("@+example-client-tag=example-value TAGMSG @#channel", {"+example-client-tag": "example-value"}),
        (
            "@+example.com/foo=bar :irc.example.com NOTICE #channel :A vendor-prefixed message",
            {"+example.com/foo": "bar"},
        ),
        (
            "@+example=raw+:=,escaped\\:\\s\\\\ :irc.example.com NOTICE #channel :Message",
            {"+example": "raw+:=,escaped; \\"},
        ),
        # An empty value is the same as no value.
        ("@a;b= PING", {"a": "", "b": ""}),
        # Duplicate keys: the final occurrence wins.
        ("@a=1;b=2;a=3 PING", {"a": "3", "b": "2"}),
        # A value may hold '='.
        ("@k=a=b PING", {"k": "a=b"}),
        # Keys are opaque: unusual ones are kept rather than rejecting the message.
        ("@weird_key!=1;/x=2 PING", {"weird_key!": "1", "/x": "2"}),
        # Empty items and an empty key name nothing and are skipped.
        ("@;a=1;;=orphan PING", {"a": "1"}),
        # An empty tag section is tolerated.
        ("@ PING", {}),
        # Several spaces after the tags.
        ("@a=1   :src   PING", {"a": "1"}),
    ],
)
def test_tag_sections_parse_per_message_tags(line: str, tags: dict[str, str]) -> None:
    message = parse(line)
    assert dict(message.tags) == tags


def test_tagged_line_keeps_source_command_and_params() -> None:
    message = parse("@time=2024-01-01T00:00:00.000Z;msgid=x :n!u@h PRIVMSG #c :hi there")
    assert message == Message.build(
        "PRIVMSG",
        "#c",
        "hi there",
        source="n!u@h",
        tags={"time": "2024-01-01T00:00:00.000Z", "msgid": "x"},
    )


@pytest.mark.parametrize(
    "line",
    [
        "",
        "   ",
        "\r\n",
        "@",  # tags alone
        "@a=b",  # tags without a command
        "@a=b ",
        "@a=b :src",  # tags and source without a command
        ":src",  # source without a command
        ":src ",
        ": PING",  # empty source
        "PRIVMSG\x00 #c",
        "PRIVMSG #c :a\x00b",  # NUL inside a line
        "PRIVMSG #c :a\rb",  # CR inside a line
        "PRIVMSG #c :a\nb",  # LF inside a line
    ],
)
def test_malformed_lines_raise_protocol_error(line: str) -> None:
    with pytest.raises(ProtocolError):
        parse(line)
    with pytest.raises(ProtocolError):
        parse(line.encode())


@pytest.mark.parametrize(
    ("line", "numeric"),
    [
        ("@a=b", ""),  # an empty message: ignored (Modern IRC), so there is nothing to answer
        (":src", ""),
        ("PRIVMSG #c :a\x00b", "INVALID_CHARACTERS"),
        ("PRIVMSG #c :a\rb", "INVALID_CHARACTERS"),
        ("@label=x\x00 PING t", "INVALID_CHARACTERS"),
        ("\x00", "INVALID_CHARACTERS"),
        ("PRIV\x01MSG #c :a", "421"),  # a command, but not one anybody could type
    ],
)
def test_malformed_lines_name_how_to_answer_them(line: str, numeric: str) -> None:
    with pytest.raises(ProtocolError) as info:
        parse(line.encode())
    assert info.value.numeric == numeric


@pytest.mark.parametrize(
    ("raw", "command", "tags"),
    [
        (b"@label=a1 PRIVMSG #c :a\x00b", "PRIVMSG", {"label": "a1"}),
        (b"@label=a2 PRIVMSG #c :a\rb", "PRIVMSG", {"label": "a2"}),
        (b"@label=a3 PRIVMSG #c :caf\xc3", "PRIVMSG", {"label": "a3"}),
        (b"ping \x00", "PING", {}),
        (b"@label=a\x00b PING t", "PING", {"label": "a\ufffdb"}),
    ],
)
def test_a_refused_line_still_shows_its_command_and_label(raw: bytes, command: str, tags: dict) -> None:
    rough = parse_loosely(raw)
    assert rough is not None
    assert rough.command == command and dict(rough.tags) == tags


@pytest.mark.parametrize("raw", [b"", b"@a=b", b":src", b"\r\n"])
def test_a_line_without_a_command_shows_nothing(raw: bytes) -> None:
    assert parse_loosely(raw) is None


@pytest.mark.parametrize("raw", [b"PRIVMSG #c :\xff\xfe", b"PRIVMSG #c :caf\xc3", b"@k=\xc0\xaf PING"])
def test_invalid_utf8_raises_protocol_error_naming_the_fail_code(raw: bytes) -> None:
    with pytest.raises(ProtocolError) as info:
        parse(raw)
    assert info.value.numeric == "INVALID_UTF8"


def test_utf8_text_is_decoded() -> None:
    assert parse("PRIVMSG #café :héllo 🌍".encode()).params == ("#café", "héllo 🌍")


@pytest.mark.parametrize(
    ("message", "wire"),
    [
        (Message.build("PING", "x"), b"PING x\r\n"),
        (Message.build("QUIT"), b"QUIT\r\n"),
        (
            Message.build("PRIVMSG", "#c", "hello world", source="n!u@h"),
            b":n!u@h PRIVMSG #c :hello world\r\n",
        ),
        # The last parameter takes ':' when it is empty, starts with ':' or holds a space.
        (Message.build("PRIVMSG", "#c", ""), b"PRIVMSG #c :\r\n"),
        (Message.build("PRIVMSG", "#c", ":-)"), b"PRIVMSG #c ::-)\r\n"),
        (Message.build("PRIVMSG", "#c", "a:b"), b"PRIVMSG #c a:b\r\n"),
        # An empty source is the same as none.
        (Message.build("PING", "x", source=""), b"PING x\r\n"),
        # Tags: empty values are written as bare keys; values are escaped.
        (
            Message.build("TAGMSG", "#c", tags={"+typing": "active", "a": ""}),
            b"@+typing=active;a TAGMSG #c\r\n",
        ),
        (Message.build("PING", "x", tags={"k": "a; b\\c\r\n"}), b"@k=a\\:\\sb\\\\c\\r\\n PING x\r\n"),
        (Message.build("PING", "é", tags={"k": "é"}), "@k=é PING é\r\n".encode()),
    ],
)
def test_messages_format_to_the_expected_wire_bytes(message: Message, wire: bytes) -> None:
    assert format_message(message) == wire
    assert message.to_bytes() == wire


def test_formatting_without_tags_leaves_them_out() -> None:
    message = Message.build("PRIVMSG", "#c", "hi", source="n", tags={"msgid": "1"})
    assert format_message(message, tags=False) == b":n PRIVMSG #c hi\r\n"
    assert message.to_bytes(tags=False) == b":n PRIVMSG #c hi\r\n"


@pytest.mark.parametrize(
    "message",
    [
        Message.build("PRIVMSG", "#c", "a\r\nQUIT"),  # CRLF injection through a parameter
        Message.build("PRIVMSG", "#c", "a\nb"),
        Message.build("PRIVMSG", "#c", "a\x00b"),
        Message.build("MODE", "two words", "x"),  # middle parameter with a space
        Message.build("MODE", "", "x"),  # empty middle parameter
        Message.build("MODE", ":x", "y"),  # middle parameter starting with ':'
        Message.build(""),  # no command
        Message.build("PRIV MSG"),
        Message.build(":PING"),
        Message.build("@PING"),
        Message.build("PING", source="a b"),
        Message.build("PING", source="a\r\nQUIT"),
        Message.build("PING", tags={"": "v"}),  # tag keys that would break the tag list
        Message.build("PING", tags={"a b": "v"}),
        Message.build("PING", tags={"a;b": "v"}),
        Message.build("PING", tags={"a=b": "v"}),
        Message.build("PING", tags={"k": "a\x00b"}),  # NUL in a value has no escape
        Message.build("PRIVMSG", "#c", "\udcff"),  # lone surrogate: not UTF-8
    ],
)
def test_messages_that_could_not_be_read_back_are_refused(message: Message) -> None:
    with pytest.raises(ProtocolError):
        format_message(message)


def test_message_equality_ignores_tag_order_and_hash_agrees() -> None:
    a = Message.build("PING", "x", tags={"a": "1", "b": "2"})
    b = Message.build("PING", "x", tags={"b": "2", "a": "1"})
    assert a == b
    assert hash(a) == hash(b)
    assert a != Message.build("PING", "x", tags={"a": "1"})
    assert a != Message.build("PING", "y", tags={"a": "1", "b": "2"})
    assert a != Message.build("PING", "x", source="s", tags={"a": "1", "b": "2"})


def test_message_tags_are_read_only_and_copied_from_the_caller() -> None:
    given = {"a": "1"}
    message = Message.build("PING", tags=given)
    given["a"] = "changed"
    assert message.tags["a"] == "1"
    with pytest.raises(TypeError):
        message.tags["a"] = "2"  # type: ignore[index]


def test_param_returns_a_default_past_the_end() -> None:
    message = Message.build("NICK", "alice")
    assert message.param(0) == "alice"
    assert message.param(1) == ""
    assert message.param(1, "none") == "none"


def test_with_tags_replaces_the_tags_only() -> None:
    message = Message.build("PRIVMSG", "#c", "hi", source="n", tags={"a": "1"})
    retagged = message.with_tags({"b": "2"})
    assert dict(retagged.tags) == {"b": "2"}
    assert (retagged.command, retagged.params, retagged.source) == ("PRIVMSG", ("#c", "hi"), "n")


@pytest.mark.parametrize(
    ("line", "command"), [("PRIV-MSG #c", "PRIV-MSG"), ("pÏng x", "PÏNG"), ("NO_SUCH", "NO_SUCH")]
)
def test_odd_command_words_parse_so_the_server_can_answer_421(line, command):
    message = parse(line)
    assert message.command == command
