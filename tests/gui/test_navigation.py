"""Getting around, without Tk: switcher matches, next unread, closing, parted channels, muting,
ban masks, the channel list's filter and order, and what /close, /list and /whois mean."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from hubbub.gui import events as ev
from hubbub.gui import profiles
from hubbub.gui.buffers import SERVER, ChatState
from hubbub.gui.navigation import (
    ban_mask,
    filter_channels,
    next_unread,
    nick_matches,
    sort_channels,
    switcher_matches,
)
from hubbub.gui.slash import interpret

T0 = datetime(2024, 6, 3, 12, 0, tzinfo=UTC)


def state_with(*channels: str) -> ChatState:
    state = ChatState("alice", max_lines=50)
    state.apply(ev.Registered("alice", elist="MNU"))
    for channel in channels:
        state.apply(ev.Joined(channel, "alice", True, T0))
    return state


def say(state: ChatState, target: str, text: str, nick: str = "bob") -> None:
    state.apply(ev.ChatLine(target, nick, text, T0))


def names(buffers: list) -> list[str]:  # type: ignore[type-arg]
    return [b.name for b in buffers]


def test_the_switcher_matches_substrings_and_letters_in_order_unread_first() -> None:
    state = state_with("#general", "#gentoo", "#random", "#design")
    state.switch("#random")
    say(state, "#gentoo", "news")
    assert names(switcher_matches(state.ordered(), "gen", state.current)) == ["#gentoo", "#general"]
    # Letters in order ("fuzzy"), any case; the server buffer is found as "server".
    assert names(switcher_matches(state.ordered(), "DSG", state.current)) == ["#design"]
    assert names(switcher_matches(state.ordered(), "serv", state.current)) == [SERVER]
    # An exact name beats an unread one; mentions beat plain unread.
    assert names(switcher_matches(state.ordered(), "#general", state.current))[0] == "#general"
    say(state, "#design", "alice: look")
    assert names(switcher_matches(state.ordered(), "", state.current))[:2] == ["#design", "#gentoo"]
    # Nothing typed: where you are is not offered; nothing matching: nothing offered.
    assert "#random" not in names(switcher_matches(state.ordered(), "", state.current))
    assert switcher_matches(state.ordered(), "zzz", state.current) == []
    # Hostile input: long or odd text matches nothing and raises nothing.
    assert switcher_matches(state.ordered(), "\x00" * 5000 + "[]\\", state.current) == []


def test_the_switcher_offers_members_without_a_conversation_after_the_buffers() -> None:
    state = state_with("#a")
    state.apply(ev.MembersChanged("#a", (ev.Member("alice"), ev.Member("bobby"), ev.Member("Robert"))))
    state.apply(ev.ChatLine("bobby", "bobby", "hi", T0))  # a conversation with bobby exists
    assert nick_matches(state.ordered(), "ob") == ["Robert"]
    assert names(switcher_matches(state.ordered(), "ob", state.current)) == ["bobby"]
    assert nick_matches(state.ordered(), "") == []
    assert nick_matches(state.ordered(), "rbt") == []  # letters in order: too loose for nicks


def test_next_unread_goes_to_mentions_first_then_unread_round_the_list() -> None:
    state = state_with("#a", "#b", "#c")
    state.switch("#b")
    assert next_unread(state.ordered(), state.current) is None
    say(state, "#a", "plain")
    say(state, "#c", "plain too")
    state.apply(ev.ChatLine("carol", "carol", "a private word", T0))
    target = next_unread(state.ordered(), state.current)
    assert target is not None and target.name == "carol"  # a private message is a mention
    state.switch("carol")
    target = next_unread(state.ordered(), state.current)
    assert target is not None and target.name == "#a"  # round the list from "carol"
    state.switch("#a")
    target = next_unread(state.ordered(), state.current)
    assert target is not None and target.name == "#c"


def test_a_parted_or_kicked_channel_stays_listed_as_left_until_joined_again() -> None:
    state = state_with("#a", "#b")
    state.switch("#a")
    state.apply(ev.Parted("#a", "alice", "", True, T0))
    a = state.buffer("#a")
    assert a is not None and a.parted and not a.joined
    assert "You left #a" in [ln.text for ln in a.lines]
    assert state.parted_hint("#a") == "You left #a. /join #a to rejoin, Ctrl+W or /close to close it."
    state.apply(ev.Joined("#a", "alice", True, T0))
    assert not a.parted and state.parted_hint("#a") == ""
    state.apply(ev.Kicked("#b", "alice", "op", "bye", True, T0))
    b = state.buffer("#b")
    assert b is not None and b.parted and state.parted_hint("#b").startswith("You left #b")
    # A lost connection is no parting: the channels come back by themselves.
    state.apply(ev.ConnectionChanged("reconnecting", "gone"))
    assert not a.parted and state.parted_hint("#a") == ""
    # A member list trailing the PART of a closed channel does not bring it back.
    state.close("#b")
    state.apply(ev.MembersChanged("#b", (ev.Member("bob"),)))
    assert state.buffer("#b") is None


def test_muted_buffers_count_no_unread_and_ring_no_bell_but_mentions_count() -> None:
    state = state_with("#a", "#noisy")
    state.switch("#a")
    state.set_muted("#noisy", True)
    state.take_changes()
    say(state, "#noisy", "chatter")
    noisy = state.buffer("#noisy")
    assert noisy is not None and noisy.unread == 0
    say(state, "#noisy", "alice: you there?")
    assert (noisy.unread, noisy.mentions) == (1, 1)
    assert not state.take_changes().new_mention
    state.mark_read("#noisy")
    assert (noisy.unread, noisy.mentions) == (0, 0) and noisy.read_marker is noisy.lines[-1]
    # Muting is remembered by name: a buffer made later is muted too.
    state.set_muted("#later", True)
    say(state, "#later", "x")
    later = state.buffer("#later")
    assert later is not None and later.muted and later.unread == 0


def test_muted_names_are_saved_and_a_damaged_list_is_ignored(tmp_path: Path) -> None:
    settings = profiles.Settings(muted=["#noisy"])
    profiles.save(tmp_path, settings)
    assert profiles.load(tmp_path).muted == ["#noisy"]
    (tmp_path / profiles.FILE_NAME).write_text(json.dumps({"muted": ["#ok", 3, None]}))
    assert profiles.load(tmp_path).muted == ["#ok"]
    (tmp_path / profiles.FILE_NAME).write_text(json.dumps({"muted": "#not-a-list"}))
    assert profiles.load(tmp_path).muted == []


def test_a_ban_mask_is_made_from_the_members_host() -> None:
    assert ban_mask(ev.Member("bob", host="10.0.0.7")) == "*!*@10.0.0.7"
    assert ban_mask(ev.Member("bob")) == "bob!*@*"


def test_the_channel_list_filters_by_name_or_topic_and_sorts_by_members() -> None:
    entries = [
        ev.ChannelEntry("#python", 40, "Snakes"),
        ev.ChannelEntry("#rust", 40, "crabs and Python bindings"),
        ev.ChannelEntry("#go", 7, ""),
        ev.ChannelEntry("#a", 1, ""),
    ]
    assert [e.name for e in filter_channels(entries, "PYTHON")] == ["#python", "#rust"]
    assert [e.name for e in filter_channels(entries, "", min_users=7)] == ["#python", "#rust", "#go"]
    by_members = sort_channels(entries, "members", descending=True)
    assert [e.name for e in by_members] == ["#python", "#rust", "#go", "#a"]  # ties by name
    assert [e.name for e in sort_channels(entries, "name", descending=False)] == [
        "#a",
        "#go",
        "#python",
        "#rust",
    ]


def test_close_list_and_whois_from_the_input_line() -> None:
    assert interpret("/close", "#a").close
    # In a server buffer the window decides (another server open: leave this one; else it stays).
    assert interpret("/close", "").close
    assert interpret("/list", "#a").browse == ""
    assert interpret("/list py", "#a").browse == "py"
    assert interpret("/whois bob", "#a").requests == [ev.Whois("bob", origin="#a")]
    raw = interpret("/motd", "#a").requests
    assert raw == [ev.SendRaw("MOTD", origin="#a")]


def test_the_channel_list_answer_reaches_the_window_as_a_change() -> None:
    state = state_with()
    listed = ev.ChannelListed((ev.ChannelEntry("#a", 3, "t"),))
    state.apply(listed)
    assert state.take_changes().channel_list is listed
    assert state.elist == "MNU"


def test_a_list_answer_with_odd_lines_gives_what_can_be_read() -> None:
    from hubbub.gui._bridge import Bridge
    from hubbub.protocol import parse

    lines = [
        parse(":srv 321 alice Channel :Users  Name"),
        parse(":srv 322 alice #ok 12 :a topic"),
        parse(":srv 322 alice #nocount many :a count that is no number"),
        parse(":srv 322 alice #notopic 3"),
        parse(":srv 322 alice"),  # too short: skipped
        parse(":srv 323 alice :End of /LIST"),
    ]
    listed = Bridge._channel_list(lines)
    assert listed.entries == (
        ev.ChannelEntry("#ok", 12, "a topic"),
        ev.ChannelEntry("#nocount", 0, "a count that is no number"),
        ev.ChannelEntry("#notopic", 3, ""),
    )
    assert listed.error == ""
    refused = Bridge._channel_list([parse(":srv 481 alice :Permission Denied")])
    assert refused.entries == () and refused.error == "Permission Denied"
