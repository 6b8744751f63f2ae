"""The window's model for sending and reconnecting, without Tk: progress, rejoins, errors, settings."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from hubbub.gui import events as ev
from hubbub.gui import profiles, replies
from hubbub.gui.buffers import ChatState

T = datetime(2026, 1, 1, tzinfo=UTC)


def test_send_progress_is_kept_until_everything_is_sent() -> None:
    state = ChatState("me")
    state.apply(ev.SendProgress("#a", 5, 40))
    assert state.sending == ("#a", 5, 40) and state.take_changes().status
    state.apply(ev.SendProgress("#a", 40, 40))
    assert state.sending is None and state.take_changes().status


def test_a_rejoin_forgets_the_topic_members_and_typing_the_server_no_longer_has() -> None:
    state = ChatState("me")
    state.apply(ev.Joined("#a", "me", True, T))
    state.apply(ev.TopicChanged("#a", "old topic"))
    state.apply(ev.MembersChanged("#a", (ev.Member("me"), ev.Member("gone"))))
    state.apply(ev.Typing("#a", "gone", "active"))
    state.apply(ev.ConnectionChanged("reconnecting", "connection lost"))
    state.take_changes()
    state.apply(ev.Joined("#a", "me", True, T))  # no RPL_TOPIC follows: the topic was cleared
    buf = state.buffer("#a")
    assert buf is not None and buf.joined
    assert buf.topic == "" and buf.members == {} and not state.typing_text("#a")
    changes = state.take_changes()
    assert "#a" in changes.topic and "#a" in changes.members


def test_standard_replies_read_as_words_without_protocol_tokens() -> None:
    text = replies.describe(
        "FAIL", ("CHATHISTORY", "INVALID_PARAMS", "AFTER", "msgid=abc", "Unknown message reference")
    )
    assert text == "CHATHISTORY AFTER: Unknown message reference"
    text = replies.describe(
        "FAIL", ("CHATHISTORY", "INVALID_TARGET", "LATEST", "#x", "Messages could not be retrieved")
    )
    assert text == "CHATHISTORY LATEST #x: Messages could not be retrieved"


def test_sending_settings_are_read_and_bad_values_ignored(tmp_path: Path) -> None:
    (tmp_path / profiles.FILE_NAME).write_text(
        json.dumps({"send_burst": 3, "send_rate": 1, "multiline": False, "connect_timeout": 2.5})
    )
    s = profiles.load(tmp_path)
    assert (s.send_burst, s.send_rate, s.multiline, s.connect_timeout) == (3, 1.0, False, 2.5)
    (tmp_path / profiles.FILE_NAME).write_text(
        json.dumps({"send_burst": 0, "send_rate": "fast", "multiline": "no", "connect_timeout": True})
    )
    s = profiles.load(tmp_path)
    assert (s.send_burst, s.send_rate, s.multiline, s.connect_timeout) == (5, 2.0, True, 10.0)
