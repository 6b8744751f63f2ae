"""The tutorial door's text splitting: pieces fit the budget and lose nothing but split spaces."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from hubbub.server.tutorial import split_text


def test_short_text_is_one_piece() -> None:
    assert split_text("hello there", 100) == ["hello there"]


def test_text_is_split_at_a_space_near_the_limit() -> None:
    assert split_text("aaaa bbbb cccc", 10) == ["aaaa bbbb", "cccc"]


def test_a_word_longer_than_the_budget_is_cut() -> None:
    assert split_text("x" * 25, 10) == ["x" * 10, "x" * 10, "x" * 5]


def test_no_piece_ends_inside_a_character() -> None:
    pieces = split_text("é" * 10, 5)
    assert pieces == ["éé", "éé", "éé", "éé", "éé"]


@given(st.text(st.characters(blacklist_categories=("Cs",)), max_size=600), st.integers(8, 300))
def test_pieces_fit_and_join_back(text: str, budget: int) -> None:
    pieces = split_text(text, budget)
    assert all(0 < len(piece.encode()) <= budget for piece in pieces)
    joined = "".join(pieces)
    # Only the spaces a piece was split at are gone.
    assert joined.replace(" ", "") == text.replace(" ", "")
    assert len(text) - len(joined) <= max(len(pieces) - 1, 0)
