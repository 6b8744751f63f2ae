"""The window's model without Tk: buffers, unread and mention counts, slash commands, profiles."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hubbub.gui import events as ev
from hubbub.gui import profiles
from hubbub.gui.buffers import SERVER, ChatState
from hubbub.gui.replies import describe, is_error
from hubbub.gui.slash import interpret
from hubbub.gui.theme import DARK, LIGHT, NICK_PALETTE, NICK_PALETTES, nick_colour, nick_index

T0 = datetime(2024, 6, 3, 12, 0, tzinfo=UTC)


def chat(target: str, nick: str, text: str, minute: int = 0, **kw: object) -> ev.ChatLine:
    return ev.ChatLine(target, nick, text, T0 + timedelta(minutes=minute), **kw)  # type: ignore[arg-type]


def joined_state() -> ChatState:
    state = ChatState("alice", max_lines=50)
    state.apply(ev.Registered("alice"))
    for channel in ("#a", "#b"):
        state.apply(ev.Joined(channel, "alice", True, T0))
    state.switch("#a")
    return state


def test_unread_counts_only_other_buffers_and_clear_on_switch() -> None:
    state = joined_state()
    state.apply(chat("#a", "bob", "seen here"))
    state.apply(chat("#b", "bob", "one"))
    state.apply(chat("#b", "bob", "two"))
    a, b = state.buffer("#a"), state.buffer("#b")
    assert a is not None and b is not None
    assert (a.unread, b.unread, b.mentions) == (0, 2, 0)
    state.switch("#b")
    assert (b.unread, b.mentions) == (0, 0)
    assert a.read_marker is a.lines[-1]
    state.apply(chat("#b", "bob", "three"))
    state.switch("#b")  # shown again while shown: no "new messages" line in the middle of it
    assert b.read_marker is None


def test_mentions_match_the_nick_as_a_word_only() -> None:
    state = joined_state()
    state.apply(chat("#b", "bob", "alice: ping"))
    state.apply(chat("#b", "bob", "hey @Alice"))
    state.apply(chat("#b", "bob", "malice aforethought"))
    state.apply(chat("#b", "alice", "alice talking about herself", own=True))
    b = state.buffer("#b")
    assert b is not None
    assert (b.unread, b.mentions) == (3, 2)
    assert [ln.mention for ln in b.lines if ln.kind == "message"] == [True, True, False, False]


def test_private_messages_open_a_buffer_and_count_as_mentions() -> None:
    state = joined_state()
    state.apply(chat("carol", "carol", "psst"))
    q = state.buffer("CAROL")
    assert q is not None and q.kind == "query"
    assert (q.unread, q.mentions) == (1, 1)


def test_buffers_keep_a_bounded_number_of_lines() -> None:
    state = joined_state()
    for i in range(500):
        state.apply(chat("#b", "bob", f"line {i}", msgid=f"id{i}"))
    b = state.buffer("#b")
    assert b is not None
    assert len(b.lines) == 50
    assert b.lines[-1].text == "line 499"


def test_history_merges_in_time_order_without_duplicates() -> None:
    state = joined_state()
    state.apply(chat("#a", "bob", "live", 10, msgid="m10"))
    older = (chat("#a", "bob", "old1", 1, msgid="m1"), chat("#a", "bob", "live", 10, msgid="m10"))
    state.apply(ev.HistoryLoaded("#a", older, older=True, exhausted=True))
    a = state.buffer("#a")
    assert a is not None
    texts = [ln.text for ln in a.lines if ln.kind == "message"]
    assert texts == ["old1", "live"]
    assert a.history_exhausted
    assert "#a" in state.take_changes().rebuilt


def test_join_part_quit_nick_notices_and_members() -> None:
    state = joined_state()
    state.apply(ev.MembersChanged("#a", (ev.Member("alice", "@"), ev.Member("bob"))))
    state.apply(ev.Joined("#a", "carol", False, T0))
    state.apply(ev.NickChanged("bob", "robert", False, T0))
    state.apply(ev.AwayChanged("carol", True))
    a = state.buffer("#a")
    assert a is not None
    assert [(m.prefix, m.nick, m.away) for m in a.sorted_members()] == [
        ("@", "alice", False),
        ("", "carol", True),
        ("", "robert", False),
    ]
    state.apply(ev.Quit("carol", "bye", T0))
    state.apply(ev.Parted("#a", "robert", "", False, T0))
    texts = [ln.text for ln in a.lines if ln.kind == "event"]
    assert texts[1:] == [
        "carol joined #a",
        "bob is now known as robert",
        "carol quit (bye)",
        "robert left #a",
    ]
    assert [m.nick for m in a.sorted_members()] == ["alice"]


def test_kick_of_ourselves_is_a_problem_to_show() -> None:
    state = joined_state()
    state.apply(ev.Kicked("#a", "alice", "op", "spam", True, T0))
    changes = state.take_changes()
    assert [p.kind for p in changes.problems] == ["kicked"]
    a = state.buffer("#a")
    assert a is not None and not a.joined


def test_a_channel_asked_for_is_shown_when_joined_unless_the_user_moved() -> None:
    state = ChatState("alice")
    state.expect_join(("#a", "#b"))
    state.apply(ev.Joined("#a", "alice", True, T0))
    assert state.current == "#a" and state.take_changes().switched
    state.apply(ev.Joined("#b", "alice", True, T0))  # the first one joined is shown, not the last
    assert state.current == "#a"
    state.expect_join(("#c",))
    state.switch(SERVER)  # the user looked elsewhere meanwhile: leave them there
    state.apply(ev.Joined("#c", "alice", True, T0))
    assert state.current == SERVER
    state.apply(ev.Joined("#d", "alice", True, T0))  # joined without asking (a forced join)
    assert state.current == SERVER


def test_server_replies_read_as_sentences_and_machine_ones_are_hidden() -> None:
    assert describe("001", ("Welcome to the hubbub IRC Network alice!~a@h",)) == (
        "Welcome to the hubbub IRC Network alice!~a@h"
    )
    assert describe("004", ("hubbub.local", "hubbub-0.1.0", "Bio", "beIiklmnostv", "beIklov")) is None
    assert describe("005", ("CHANTYPES=#&", "NICKLEN=32", "are supported by this server")) is None
    assert describe("265", ("1", "1", "Current local users 1, max 1")) == "Current local users 1, max 1"
    assert describe("266", ("Current global users 1, max 1",)) == "Current global users 1, max 1"
    assert describe("252", ("0", "operator(s) online")) == "0 operator(s) online"
    assert describe("375", ("- hubbub.local Message of the day - ",)) == "hubbub.local Message of the day"
    assert describe("372", ("- Be kind; have fun.",)) == "Be kind; have fun."
    assert describe("372", ("-",)) == ""
    assert describe("376", ("End of /MOTD command.",)) is None
    assert describe("311", ("bob", "~bob", "127.0.0.1", "*", "Bob B")) == "bob is ~bob@127.0.0.1 (Bob B)"
    assert describe("317", ("bob", "75", "0", "seconds idle, signon time")).startswith(
        "bob has been idle 1 min 15 s, online since "
    )
    assert describe("318", ("bob", "End of /WHOIS list")) is None
    # Errors stay, as "what: why".
    assert describe("421", ("FOO", "Unknown command")) == "FOO: Unknown command"
    assert describe("401", ("nobody", "No such nick/channel")) == "nobody: No such nick/channel"
    assert describe(
        "FAIL", ("CHATHISTORY", "INVALID_TARGET", "LATEST", "#x", "Messages could not be retrieved")
    ) == ("CHATHISTORY LATEST #x: Messages could not be retrieved")
    assert describe("FAIL", ("CHATHISTORY", "UNKNOWN_COMMAND", "FOO", "Unknown command")) == (
        "CHATHISTORY FOO: Unknown command"
    )
    assert describe("FAIL", ("*", "ACCOUNT_REQUIRED", "Log in first")) == "Log in first"
    assert is_error("FAIL") and is_error("433") and is_error("502")
    assert not is_error("422") and not is_error("WARN") and not is_error("372")


def test_plain_text_and_pasted_lines_become_messages() -> None:
    assert interpret("hello", "#a").requests == [ev.SendText("#a", ("hello",))]
    assert interpret("one\ntwo\n\nthree", "#a").requests == [ev.SendText("#a", ("one", "two", "three"))]
    assert interpret("//slash", "#a").requests == [ev.SendText("#a", ("/slash",))]
    assert interpret("hello", "").error


def test_slash_commands_become_requests() -> None:
    assert interpret("/join #x,y k1", "").requests == [ev.JoinChannels(("#x", "#y"), ("k1",))]
    assert interpret("/part", "#a").requests == [ev.PartChannel("#a", "")]
    assert interpret("/part #b gone home", "#a").requests == [ev.PartChannel("#b", "gone home")]
    assert interpret("/msg bob hi there", "#a").requests == [ev.SendText("bob", ("hi there",))]
    q = interpret("/query bob", "#a")
    assert (q.requests, q.open_query) == ([], "bob")
    assert interpret("/me waves", "#a").requests == [ev.SendText("#a", ("waves",), action=True)]
    assert interpret("/nick bob2", "#a").requests == [ev.ChangeNick("bob2")]
    assert interpret("/topic new topic", "#a").requests == [ev.SetTopic("#a", "new topic")]
    assert interpret("/topic", "#a").requests == [ev.SetTopic("#a", None)]
    assert interpret("/away lunch", "#a").requests == [ev.SetAway("lunch")]
    assert interpret("/back", "#a").requests == [ev.SetAway("")]
    assert interpret("/kick bob be nice", "#a").requests == [ev.KickMember("#a", "bob", "be nice")]
    assert interpret("/mode +o bob", "#a").requests == [ev.SetMode(("#a", "+o", "bob"))]
    assert interpret("/whois bob", "#a").requests == [ev.Whois("bob", origin="#a")]
    assert interpret("/quit bye", "#a").quit
    assert "/join" in interpret("/help", "#a").notice
    unknown = interpret("/invite bob", "#a")
    assert unknown.requests == [ev.SendRaw("INVITE bob", origin="#a")] and unknown.notice
    assert interpret("/kick", "#a").error and interpret("/msg bob", "#a").error


def test_profiles_round_trip_and_survive_a_damaged_file(tmp_path: Path) -> None:
    settings = profiles.Settings(theme="dark", font_size=13)
    settings.remember(profiles.Profile("work", "chat.example", 6697, True, "alice", "", ["#a"]))
    profiles.save(tmp_path, settings)
    loaded = profiles.load(tmp_path)
    assert loaded == settings
    assert (tmp_path / profiles.FILE_NAME).stat().st_mode & 0o077 == 0
    (tmp_path / profiles.FILE_NAME).write_text("{not json")
    assert profiles.load(tmp_path) == profiles.Settings()
    (tmp_path / profiles.FILE_NAME).write_text(json.dumps({"profiles": [{"port": "x", "host": "h"}]}))
    assert profiles.load(tmp_path).profiles == [profiles.Profile(host="h")]


def test_config_dir_follows_xdg(monkeypatch: object, tmp_path: Path) -> None:
    import pytest

    assert isinstance(monkeypatch, pytest.MonkeyPatch)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert profiles.config_dir() == tmp_path / "hubbub"
    assert profiles.config_dir("/elsewhere") == Path("/elsewhere")


def _luminance(colour: str) -> float:
    def channel(c: int) -> float:
        s = c / 255
        return s / 12.92 if s <= 0.03928 else ((s + 0.055) / 1.055) ** 2.4

    r, g, b = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def _contrast(a: str, b: str) -> float:
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def test_nick_colours_are_stable_and_readable_in_both_themes() -> None:
    assert nick_colour("alice") == nick_colour("Alice") == nick_colour("alice_")
    assert nick_colour("Nick[away]") == nick_colour("nick{away}")  # rfc1459 casefolding
    assert len({nick_colour(f"user{i}") for i in range(100)}) == len(NICK_PALETTE)
    for theme in (LIGHT, DARK):
        palette = NICK_PALETTES[theme.name]
        assert len(set(palette)) == len(palette) >= 16
        for colour in palette:
            assert _contrast(colour, theme.bg) >= 4.5, (theme.name, colour)
            assert _contrast(colour, theme.mention_bg) >= 3.0, (theme.name, colour)


def test_typical_nicks_get_distinct_colours() -> None:
    for nicks in (
        ("alice", "bob", "carol", "dave", "eve"),
        ("alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi"),
        ("gui", "bob", "carol", "dave", "mallory"),
    ):
        assert len({nick_index(n) for n in nicks}) == len(nicks), nicks


def test_nick_colours_are_the_same_in_another_process() -> None:
    # Python's hash() is salted per process; the colour must not be.
    nicks = ["alice", "bob", "Zoë", "li", "测试"]
    code = "import sys; from hubbub.gui.theme import nick_index; print([nick_index(n) for n in sys.argv[1:]])"
    for seed in ("1", "2"):
        out = subprocess.run(
            [sys.executable, "-c", code, *nicks],
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout
        assert out.strip() == str([nick_index(n) for n in nicks])


def test_a_renamed_channel_keeps_its_buffer_lines_and_unread_marks() -> None:
    """draft/channel-rename: a client "SHOULD update any internal state that refers to the old
    channel name to the new name" -- the buffer, its lines and counts move; a line says so."""
    state = joined_state()
    state.apply(chat("#b", "bob", "alice: one"))
    state.apply(chat("#b", "bob", "two"))
    b = state.buffer("#b")
    assert b is not None and (b.unread, b.mentions) == (2, 1)
    state.take_changes()
    state.apply(ev.ChannelRenamed("#b", "#bee", "tidy", "bob", T0))
    assert state.buffer("#b") is None and state.buffer("#BEE") is b and b.name == "#bee"
    assert (b.unread, b.mentions) == (2, 1)
    assert [ln.text for ln in b.lines][-3:] == ["alice: one", "two", "#b is now #bee (tidy)"]
    assert [buf.name for buf in state.ordered()] == ["", "#a", "#bee"]
    assert state.take_changes().buffer_list
    # The buffer being read follows its channel and is drawn again.
    state.apply(ev.ChannelRenamed("#a", "#ay", "", "bob", T0))
    assert state.current == "#ay" and state.take_changes().switched
    # Onto a name we have a buffer for already, or from one we do not have: nothing changes.
    state.apply(ev.ChannelRenamed("#ay", "#bee", "", "bob", T0))
    state.apply(ev.ChannelRenamed("#gone", "#new", "", "bob", T0))
    assert [buf.name for buf in state.ordered()] == ["", "#ay", "#bee"]
    assert interpret("/rename #c moving house", "#a").requests == [
        ev.RenameChannel("#a", "#c", "moving house")
    ]
    assert interpret("/rename #c", "").error and interpret("/rename c", "#a").error


def test_a_redacted_message_keeps_its_place_but_not_its_text() -> None:
    """draft/message-redaction: clients "SHOULD hide or replace the content of the redacted
    message"; the line stays, marked deleted, and the buffer is drawn again."""
    state = joined_state()
    state.apply(chat("#a", "bob", "alice: something regrettable", msgid="m1"))
    state.apply(chat("#a", "bob", "fine", msgid="m2", minute=1))
    state.take_changes()
    state.apply(ev.MessageRedacted("#a", "m1", "oops", "bob"))
    a = state.buffer("#a")
    assert a is not None
    gone, kept = list(a.lines)[-2:]
    assert gone.deleted and gone.text == "" and not gone.mention and gone.msgid == "m1"
    assert not kept.deleted and kept.text == "fine"
    assert "#a" in state.take_changes().rebuilt
    # An unknown msgid or buffer changes nothing.
    state.apply(ev.MessageRedacted("#a", "nope"))
    state.apply(ev.MessageRedacted("#nowhere", "m2"))
    assert not kept.deleted and not state.take_changes().rebuilt


def test_typing_shows_until_done_a_message_or_six_seconds() -> None:
    """typing client tag: receivers "SHOULD" treat "active" as over after 6 seconds without
    another, and a "done" or "paused", or a message from the typist, ends it at once."""
    now = [100.0]
    state = ChatState("alice", max_lines=50, clock=lambda: now[0])
    state.apply(ev.Registered("alice"))
    state.apply(ev.Joined("#a", "alice", True, T0))
    state.take_changes()
    state.apply(ev.Typing("#a", "bob", "active"))
    assert state.typing_text("#a") == "bob is typing…" and "#a" in state.take_changes().typing
    state.apply(ev.Typing("#a", "carol", "active"))
    assert state.typing_text("#A") == "bob and carol are typing…"
    state.apply(chat("#a", "bob", "here it is"))
    assert state.typing_text("#a") == "carol is typing…"
    state.apply(ev.Typing("#a", "carol", "paused"))
    assert state.typing_text("#a") == ""
    state.apply(ev.Typing("#a", "dave", "active"))
    now[0] += 5.9
    assert not state.expire_typing() and state.typing_text("#a") == "dave is typing…"
    state.apply(ev.Typing("#a", "dave", "active"))  # renewed: another 6 s from now
    now[0] += 5.9
    assert not state.expire_typing()
    now[0] += 0.2
    state.take_changes()
    assert state.expire_typing() and state.typing_text("#a") == ""
    assert "#a" in state.take_changes().typing
    state.apply(ev.Typing("#nowhere", "bob", "active"))  # no buffer: nothing to show it in
    assert state.typing == {}
    for n in ("b", "c", "d", "e"):
        state.apply(ev.Typing("#a", n, "active"))
    assert state.typing_text("#a") == "Several people are typing…"


def test_reactions_toggle_per_nick_and_stay_bounded() -> None:
    from hubbub.gui.reactions import MAX_PER_MESSAGE, counts, shown

    state = joined_state()
    state.apply(chat("#a", "bob", "ship it", msgid="m1"))
    buf = state.buffer("#a")
    assert buf is not None
    state.apply(ev.ReactionChanged("#a", "m1", "bob", "👍"))
    state.apply(ev.ReactionChanged("#a", "m1", "BOB", "👍"))  # the same nick, another case: once
    state.apply(ev.ReactionChanged("#a", "m1", "alice", "👍", own=True))
    state.apply(ev.ReactionChanged("#a", "m1", "carol", "🎉"))
    assert counts(buf, "m1", "alice") == [("👍", 2, True), ("🎉", 1, False)]
    state.apply(ev.ReactionChanged("#a", "m1", "alice", "👍", removed=True))
    state.apply(ev.ReactionChanged("#a", "m1", "dave", "🙃", removed=True))  # nothing to take back
    assert counts(buf, "m1", "alice") == [("👍", 1, False), ("🎉", 1, False)]
    # A flood of distinct reactions: the first MAX_PER_MESSAGE are kept, the rest ignored.
    for i in range(MAX_PER_MESSAGE * 2):
        state.apply(ev.ReactionChanged("#a", "m1", "mallory", f"r{i}"))
    assert len(counts(buf, "m1", "alice")) == MAX_PER_MESSAGE
    # Reactions to messages not loaded are kept for when they come, but never more than max_lines.
    for i in range(buf.max_lines * 2):
        state.apply(ev.ReactionChanged("#a", f"old{i}", "bob", "👍"))
    assert len(buf.reactions) == buf.max_lines
    assert shown("a\nb\tc") == "a b c" and len(shown("x" * 100)) == 24


def test_the_server_read_marker_decides_unread_and_the_new_messages_line() -> None:
    state = joined_state()  # showing #a
    for minute, text in enumerate(("one", "two", "three"), start=1):
        state.apply(chat("#b", "bob", text, minute, msgid=text))
    state.apply(chat("#b", "alice", "mine", 4, own=True))
    buf = state.buffer("#b")
    assert buf is not None and buf.unread == 3
    state.apply(ev.ReadMarkerChanged("#b", T0 + timedelta(minutes=2)))
    assert (buf.unread, buf.read_marker.text if buf.read_marker else None) == (1, "two")
    state.apply(ev.ReadMarkerChanged("#b", T0 + timedelta(minutes=1)))  # older: the marker stays
    assert buf.unread == 1
    state.apply(ev.ReadMarkerChanged("#b", None))  # "*" after a later JOIN: nothing changes
    assert buf.unread == 1
    # History loaded on join is counted from the marker too (it is no news otherwise).
    state.apply(
        ev.HistoryLoaded("#b", (chat("#b", "bob", "zero", 0, msgid="zero"),), older=True, exhausted=True)
    )
    state.take_changes()
    assert buf.unread == 1
    state.apply(ev.ReadMarkerChanged("#b", T0 + timedelta(minutes=9)))
    assert buf.unread == 0
    # Without a marker from the server the window keeps its own counts.
    state.apply(chat("#c", "bob", "hi", 1))
    assert state.buffer("#c").unread == 1  # type: ignore[union-attr]
