"""The timestamp cursor as pure logic: dict in, dict out, Hypothesis properties."""

from __future__ import annotations

import itertools
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.dynamics365.cursor import CursorState, shift, step

BASE = "2024-05-01T10:00:00"
LOOKBACK_S = 30.0


def at(offset_s: int) -> str:
    return shift(BASE, offset_s)


def new_cursor() -> dict[str, Any]:
    return CursorState.starting("beginning", None).to_dict()


def test_first_page_delivers_everything_and_moves_to_its_last_timestamp() -> None:
    cursor, fresh = step(new_cursor(), [(at(1), "a:1"), (at(1), "b:2"), (at(3), "c:3")],
                         post=at(10), final=False, lookback_s=LOOKBACK_S)
    assert fresh == [0, 1, 2] and cursor["watermark"] == at(3)


def test_rereading_a_page_delivers_nothing() -> None:
    page = [(at(1), "a:1"), (at(1), "b:2")]
    cursor, _ = step(new_cursor(), page, post=at(10), final=True, lookback_s=LOOKBACK_S)
    again, fresh = step(cursor, page, post=at(11), final=True, lookback_s=LOOKBACK_S)
    assert fresh == [] and again["watermark"] == at(11)


def test_future_rows_do_not_drag_the_watermark_past_the_signpost() -> None:
    cursor, fresh = step(new_cursor(), [(at(1), "a:1"), (at(500), "skewed:2")],
                         post=at(10), final=False, lookback_s=LOOKBACK_S)
    assert fresh == [0, 1] and cursor["watermark"] == at(10)
    assert "skewed:2" in cursor["seen"][at(500)]  # kept until the watermark passes it


def test_seen_set_is_pruned_below_the_lookback_window() -> None:
    cursor, _ = step(new_cursor(), [(at(1), "a:1")], post=at(10), final=True,
                     lookback_s=LOOKBACK_S)
    cursor, _ = step(cursor, [], post=at(100), final=True, lookback_s=LOOKBACK_S)
    assert cursor["seen"] == {} and cursor["watermark"] == at(100)


def test_floor_is_never_read_below() -> None:
    state = CursorState.starting("2024-05-01", at(0))
    assert state.lower_bound(LOOKBACK_S) == at(0)
    state.watermark = at(100)
    assert state.lower_bound(LOOKBACK_S) == at(70)


versions = st.lists(st.tuples(st.integers(0, 90), st.integers(0, 3)), max_size=40)


@settings(max_examples=300, deadline=None)
@given(versions=versions, cuts=st.lists(st.integers(0, 40), max_size=6),
       advances=st.lists(st.integers(0, 80), min_size=4, max_size=4))
def test_no_event_lost_or_repeated_under_any_split_into_pages(
        versions: list[tuple[int, int]], cuts: list[int], advances: list[int]) -> None:
    # A version appears just before poll ``p`` stamped anywhere from ``lookback`` before the
    # previous poll's signpost (a late commit) to far in the future (skew). Each poll
    # re-reads from the cursor's lower bound, in service order, cut into arbitrary pages.
    posts = [sum(advances[:i + 1]) for i in range(len(advances))]
    visible: list[tuple[str, str]] = []
    cursor = new_cursor()
    delivered: list[str] = []
    for poll, post in enumerate(posts):
        previous_post = posts[poll - 1] if poll else 0
        visible += [(at(previous_post - int(LOOKBACK_S) + delta), f"v{n}")
                    for n, (delta, appears) in enumerate(versions) if appears == poll]
        visible.sort()
        lower = CursorState.from_dict(cursor).lower_bound(LOOKBACK_S)
        window = [r for r in visible if lower is None or r[0] >= lower]
        bounds = sorted({0, len(window), *[c for c in cuts if c < len(window)]})
        pages = [window[a:b] for a, b in itertools.pairwise(bounds)] or [[]]
        for number, page in enumerate(pages):
            before = cursor["watermark"]
            cursor, fresh = step(cursor, page, post=at(post), final=number == len(pages) - 1,
                                 lookback_s=LOOKBACK_S)
            delivered += [page[i][1] for i in fresh]
            assert before is None or cursor["watermark"] >= before  # never backwards
            assert cursor["watermark"] is None or cursor["watermark"] <= at(post)  # signpost
    assert sorted(delivered) == sorted(identity for _, identity in visible)
    assert len(delivered) == len(set(delivered))
