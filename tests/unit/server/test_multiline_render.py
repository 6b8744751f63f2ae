"""How a multiline message (caps.MULTILINE_TAG) is written for each view, and how the reply
buffer nests it (IRCv3 multiline, batch)."""

from __future__ import annotations

from hubbub.protocol import Message, parse
from hubbub.server import caps as capmod
from hubbub.server.limits import in_batch, message_command
from hubbub.server.replies import Replies

SOURCE = "alice!u@h"
TAGS = {"msgid": "M1", "time": "2026-01-01T00:00:00.000Z", "account": "alice", "+draft/reply": "r"}


def multiline(concat: str = "3") -> Message:
    return Message(
        "PRIVMSG", ("#c", "hello\n\nhow is \neveryone?"), SOURCE, {**TAGS, capmod.MULTILINE_TAG: concat}
    )


def lines(data: bytes) -> list[Message]:
    return [parse(line) for line in data.splitlines()]


def test_with_the_cap_it_is_one_batch_whose_reference_is_the_msgid() -> None:
    """ "Server sending the same batch": msgid and account on BATCH +, the concat tag kept."""
    got = lines(capmod.render(multiline(), capmod.MULTILINE | capmod.BATCH | capmod.TAGS | capmod.ACCOUNT))
    assert [m.command for m in got] == ["BATCH", "PRIVMSG", "PRIVMSG", "PRIVMSG", "PRIVMSG", "BATCH"]
    assert got[0].params == ("+M1", "draft/multiline", "#c")
    assert got[0].tags["msgid"] == "M1" and got[0].tags["account"] == "alice"
    assert capmod.MULTILINE_TAG not in got[0].tags
    assert [m.params[1] for m in got[1:5]] == ["hello", "", "how is ", "everyone?"]
    assert [capmod.MULTILINE_CONCAT in m.tags for m in got[1:5]] == [False, False, False, True]
    assert all(m.tags["batch"] == "M1" for m in got[1:5])
    assert got[5].params == ("-M1",)


def test_without_the_cap_its_lines_and_the_msgid_on_the_first_only() -> None:
    """Fallback: "MUST NOT send blank lines", "MUST only include a message ID on the first message"."""
    got = lines(capmod.render(multiline(), capmod.BATCH | capmod.TAGS | capmod.TIME))
    assert [m.params[1] for m in got] == ["hello", "how is ", "everyone?"]
    assert got[0].tags["msgid"] == "M1" and got[0].tags["+draft/reply"] == "r"
    assert all("msgid" not in m.tags and "+draft/reply" not in m.tags for m in got[1:])
    assert all(m.tags["time"] == TAGS["time"] for m in got)
    plain = lines(capmod.render(multiline(), 0))
    assert all(not m.tags for m in plain) and len(plain) == 3


def test_nested_in_a_batch_only_its_start_and_end_take_the_outer_tag() -> None:
    """IRCv3 batch: a nested batch's BATCH lines belong to the enclosing batch, its lines to it."""
    out: list[bytes] = []
    replies = Replies(out.append)
    replies.open_batch("outer", b"BATCH +outer chathistory #c\r\n")
    replies.add(capmod.render(multiline(), capmod.MULTILINE | capmod.BATCH))
    replies.add(capmod.render(multiline(), capmod.BATCH))
    got = lines(b"".join(out[1:]))
    assert [m.tags.get("batch") for m in got] == ["outer", *["M1"] * 4, "outer", "outer", "outer", "outer"]


def test_a_line_in_a_client_batch_is_recognised_by_its_tag() -> None:
    assert in_batch(b"@batch=x PRIVMSG #c :hi")
    assert in_batch(b"@label=1;batch=x;draft/multiline-concat PRIVMSG #c :hi")
    assert not in_batch(b"@batchy=x PRIVMSG #c :hi")
    assert not in_batch(b"@+batch=x PRIVMSG #c :hi")
    assert not in_batch(b"PRIVMSG #c :@batch=x")
    assert message_command(b"BATCH +x draft/multiline #c")
