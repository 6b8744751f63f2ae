"""CHATHISTORY pages written straight from the stored rows are the bytes the general way makes."""

from __future__ import annotations

import itertools
import types

import pytest

from hubbub.server import caps as capmod
from hubbub.server import playback
from hubbub.store import StoredMessage
from hubbub.store.sqlite import encode_row

T0 = 1_700_000_000_123

ROWS = [
    StoredMessage("01abc", T0, "#chat", "PRIVMSG", "alice!a@host", ("#Chat", "hello there")),
    StoredMessage("01abd", T0 + 1, "#chat", "NOTICE", "bob!b@host", ("#Chat", "hi"), "bob"),
    StoredMessage("01abe", T0 + 1001, "#chat", "PRIVMSG", "alice!a@host", ("#Chat", ":-)"), "alice"),
    StoredMessage("01abf", T0 + 2000, "#chat", "PRIVMSG", "alice!a@host", ("#Chat", "")),
    StoredMessage("01ac0", T0 + 2001, "#chat", "JOIN", "carol!c@host", ("#Chat",), "carol"),
    StoredMessage("01ac1", T0 + 2002, "#chat", "QUIT", "carol!c@host", ()),
    StoredMessage("id;with space", T0 + 3000, "#chat", "PRIVMSG", "d!d@h", ("#Chat", "odd msgid")),
    StoredMessage("01ac5", T0 + 3000, "#chat", "PRIVMSG", "e!e@h", ("#Chat", "x y"), "under_score-dash"),
    StoredMessage("back\\slash", T0 + 3000, "#chat", "PRIVMSG", "e!e@h", ("#Chat", "x"), "sp ace;semi"),
    StoredMessage("01ac7", T0 + 3000, "#chat", "PRIVMSG", "e!e@h", ("#Chat", "\x01ACTION waves\x01")),
    StoredMessage("01ac8", T0 + 999_999, "#chat", "PRIVMSG", "e!e@h", ("#Chat", "ünïcødé 👍 text")),
    StoredMessage("01ac6", T0 + 3000, "#chat", "MODE", "op!o@h", ("#Chat", "+o", "dave")),
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


def general(row: StoredMessage, view: int, batch: str | None) -> bytes:
    line = capmod.render(playback.to_message(row), view)
    return capmod.tag_batch(line, batch) if batch is not None else line


@pytest.mark.parametrize("view", VIEWS)
@pytest.mark.parametrize("batch", [None, "b7"])
def test_every_row_is_written_as_render_writes_it_for_every_view(view: int, batch: str | None) -> None:
    rows = [encode_row(m) for m in ROWS]
    page = playback.page(rows, view, batch, events=True)
    shown = [m for m in ROWS if m.command != "TAGMSG" or view & capmod.TAGS]
    assert page.encode() == b"".join(general(m, view, batch) for m in shown)


def test_a_page_shows_events_only_with_event_playback_and_nothing_before_since() -> None:
    rows = [encode_row(m) for m in ROWS]
    view = capmod.TAGS | capmod.TIME
    page = playback.page(rows, view, None, since=T0 + 1)
    shown = [m for m in ROWS if m.command in ("PRIVMSG", "NOTICE", "TAGMSG") and m.time_ms >= T0 + 1]
    assert page.encode() == b"".join(general(m, view, None) for m in shown)
    assert playback.page([], view, "b1") == ""


@pytest.mark.parametrize(
    ("source", "params"),
    [
        ("a!b@c", ("#Chat", "injected\r\nQUIT")),
        ("a!b@c", ("#Chat", "line\nfeed")),
        ("a!b@c", ("#Chat", "nul\0")),
        ("a b!c@d", ("#Chat", "space in the source")),
        ("a!b@c", ("#Ch at", "space in the middle")),
        ("a!b@c", ("", "empty middle")),
    ],
)
def test_a_row_no_line_can_carry_is_refused_as_render_refuses_it(
    source: str, params: tuple[str, ...]
) -> None:
    bad = StoredMessage("x1", T0, "#chat", "PRIVMSG", source, params)
    view = capmod.TAGS | capmod.TIME
    with pytest.raises(Exception) as expected:
        general(bad, view, None)
    with pytest.raises(type(expected.value)):
        playback.page([encode_row(bad)], view, "b1")
