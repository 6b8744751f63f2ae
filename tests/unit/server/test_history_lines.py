"""CHATHISTORY pages written straight from the rows are the bytes the general way makes."""

from __future__ import annotations

import itertools
import types

import pytest

from hubbub.server import caps as capmod
from hubbub.server.history import History
from hubbub.store import StoredMessage

T0 = 1_700_000_000_123

ROWS = [
    StoredMessage("01abc", T0, "#chat", "PRIVMSG", "alice!a@host", ("#Chat", "hello there")),
    StoredMessage("01abd", T0 + 1, "#chat", "NOTICE", "bob!b@host", ("#Chat", "hi"), "bob"),
    StoredMessage("01abe", T0 + 1001, "#chat", "PRIVMSG", "alice!a@host", ("#Chat", ":-)"), "alice"),
    StoredMessage("01abf", T0 + 2000, "#chat", "PRIVMSG", "alice!a@host", ("#Chat", "")),
    StoredMessage("01ac0", T0 + 2001, "#chat", "JOIN", "carol!c@host", ("#Chat",), "carol"),
    StoredMessage("01ac1", T0 + 2002, "#chat", "QUIT", "carol!c@host", ()),
    StoredMessage("id;with space", T0 + 3000, "#chat", "PRIVMSG", "d!d@h", ("#Chat", "odd msgid")),
    StoredMessage("01ac2", T0 + 3001, "#chat", "KICK", "op!o@h", ("#Chat", "dave", "bye now")),
    StoredMessage(
        "01ac3",
        T0 + 3002,
        "#chat",
        "TAGMSG",
        "alice!a@host",
        ("#Chat",),
        "alice",
        types.MappingProxyType({"+draft/react": "👍", "+draft/reply": "01abc"}),
    ),
    StoredMessage(
        "01ac4",
        T0 + 3003,
        "#chat",
        "PRIVMSG",
        "alice!a@host",
        ("#Chat", "one\ntwo"),
        None,
        types.MappingProxyType({capmod.MULTILINE_TAG: ""}),
    ),
]

VIEWS = sorted(
    {
        sum(bits)
        for n in range(7)
        for bits in itertools.combinations(
            (capmod.TAGS, capmod.TIME, capmod.ACCOUNT, capmod.BATCH, capmod.LABEL, capmod.MULTILINE), n
        )
    }
)


def general(history: History, row: StoredMessage, view: int, batch: str | None) -> bytes:
    line = capmod.render(history.to_message(row), view)
    return capmod.tag_batch(line, batch) if batch is not None else line


@pytest.mark.parametrize("view", VIEWS)
@pytest.mark.parametrize("batch", [None, "b7"])
def test_every_row_is_written_as_render_writes_it_for_every_view(view: int, batch: str | None) -> None:
    history = History.__new__(History)  # lines() reads nothing of the server
    assert history.lines(ROWS, view, batch) == [general(history, row, view, batch) for row in ROWS]


def test_a_row_no_line_can_carry_is_refused_as_render_refuses_it() -> None:
    history = History.__new__(History)
    bad = StoredMessage("x", T0, "#chat", "PRIVMSG", "a!b@c", ("#Chat", "injected\r\nQUIT"))
    with pytest.raises(Exception) as expected:
        general(history, bad, capmod.TAGS, None)
    with pytest.raises(type(expected.value)):
        history.lines([bad], capmod.TAGS, None)
