"""What ``/search`` typed in a buffer asks for (the window's part is in test_search.py)."""

from __future__ import annotations

from hubbub.gui.events import SearchMessages
from hubbub.gui.slash import interpret


def test_search_looks_in_the_current_buffer() -> None:
    assert interpret("/search deploy failed", "#dev").requests == [SearchMessages("deploy failed", "#dev")]
    assert interpret("/search hello", "bob").requests == [SearchMessages("hello", "bob")]


def test_search_all_and_the_server_buffer_look_everywhere() -> None:
    assert interpret("/search -all deploy", "#dev").requests == [SearchMessages("deploy", "")]
    assert interpret("/SEARCH -ALL  two words ", "#dev").requests == [SearchMessages("two words", "")]
    assert interpret("/search deploy", "").requests == [SearchMessages("deploy", "")]


def test_search_without_words_is_a_usage_error() -> None:
    for text in ("/search", "/search   ", "/search -all", "/search -all  "):
        result = interpret(text, "#dev")
        assert result.error and not result.requests and "usage: /search" in result.notice
