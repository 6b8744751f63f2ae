"""pack: lists of names split into lines within a byte budget."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from hubbub.protocol import pack


def test_pack_fills_each_line_up_to_the_budget():
    assert pack(["aa", "bb", "cc", "dd"], 6) == ["aa bb", "cc dd"]
    assert pack(["aa", "bb"], 100, ",") == ["aa,bb"]
    assert pack([], 10) == []


def test_an_item_longer_than_the_budget_is_kept_whole_on_its_own_line():
    assert pack(["x", "toolongforthebudget", "y"], 5) == ["x", "toolongforthebudget", "y"]


def test_the_budget_counts_utf8_bytes():
    assert pack(["éé", "éé"], 9) == ["éé", "éé"]  # 4 bytes each plus a space: 9 is not enough for both
    assert pack(["éé", "éé"], 10) == ["éé éé"]


@given(st.lists(st.text(alphabet="abcé漢", min_size=1, max_size=12), max_size=60), st.integers(12, 80))
def test_packing_loses_nothing_and_keeps_the_order(items, budget):
    lines = pack(items, budget)
    assert " ".join(lines).split(" ") == items if items else lines == []
    for line in lines:
        assert len(line.encode()) <= budget or " " not in line
