"""The schedule trigger emits one event per due fire time, keyed so a tick never runs twice."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from connectors.base import StepContext
from connectors.builtin.schedule import ScheduleParams, latest_due_fire, poll_schedule
from connectors.catalog import default_registry
from runner.recipes import load_recipe

T0 = datetime(2026, 3, 2, 6, 58, 30, tzinfo=UTC)  # a Monday


def test_interval_coalesces_missed_fires_into_the_latest() -> None:
    params = ScheduleParams.model_validate({"every": "15m"})
    assert latest_due_fire(params, T0, T0 + timedelta(minutes=14)) is None
    assert latest_due_fire(params, T0, T0 + timedelta(minutes=47)) == T0 + timedelta(minutes=45)


def test_cron_finds_latest_fire_after_a_long_outage() -> None:
    params = ScheduleParams(cron="0 7 * * 1-5")
    now = datetime(2026, 9, 5, 12, 0, tzinfo=UTC)  # a Saturday, half a year later
    assert latest_due_fire(params, T0, now) == datetime(2026, 9, 4, 7, 0, tzinfo=UTC)


def test_cron_respects_time_zone() -> None:
    params = ScheduleParams(cron="0 7 * * *", timezone="Europe/Berlin")
    due = latest_due_fire(params, T0, T0 + timedelta(hours=1))
    assert due == datetime(2026, 3, 2, 6, 0, tzinfo=UTC) or due is None
    assert latest_due_fire(params, T0, T0 + timedelta(days=1)) == datetime(
        2026, 3, 3, 6, 0, tzinfo=UTC
    )


@given(st.integers(min_value=1, max_value=5000), st.integers(min_value=0, max_value=10**6))
def test_interval_fire_never_in_future_nor_before_cursor(every_s: int, elapsed_s: int) -> None:
    params = ScheduleParams(every=every_s)
    now = T0 + timedelta(seconds=elapsed_s)
    fire = latest_due_fire(params, T0, now)
    if fire is not None:
        assert T0 < fire <= now
        assert now - fire < timedelta(seconds=every_s)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, "exactly one of cron and every"),
        ({"cron": "0 7 * *", "every": "1m"}, "Wrong number of fields"),
        ({"cron": "61 * * * *"}, "61"),
        ({"every": "soon"}, "not a duration"),
        ({"every": "5m", "timezone": "Mars/Olympus"}, "unknown time zone"),
    ],
)
def test_bad_params_are_explained(data: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        ScheduleParams.model_validate(data)


async def test_poll_starts_from_now_then_emits_deterministic_key() -> None:
    params = ScheduleParams(every=1)
    ctx = StepContext(recipe="r")
    first = [page async for page in poll_schedule(params, None, ctx)]
    assert first[0].events == []
    old = {"last_fire": (datetime.now(UTC) - timedelta(seconds=5.5)).isoformat()}
    pages = [page async for page in poll_schedule(params, old, ctx)]
    (event,) = pages[0].events
    fire = datetime.fromisoformat(pages[0].cursor["last_fire"])
    assert event.key == f"schedule:{int(fire.timestamp() * 1000)}"


def test_crontab_day_numbers_mean_what_crontab_says() -> None:
    params = ScheduleParams(cron="0 7 * * 0")  # Sundays
    due = latest_due_fire(params, T0, T0 + timedelta(days=7))
    assert due == datetime(2026, 3, 8, 7, 0, tzinfo=UTC)
    assert due.weekday() == 6


def _loaded(tmp_path: Path, trigger: str) -> tuple[Any, list[str]]:
    file = tmp_path / "tick.yaml"
    file.write_text(f"name: tick\ntrigger: {trigger}\nactions:\n  - type: log\n"
                    "    message: tick\n")
    recipe, problems = load_recipe(file, default_registry(), {})
    return recipe, [str(p) for p in problems]


def test_a_schedule_is_polled_as_often_as_it_fires(tmp_path: Path) -> None:
    every, _ = _loaded(tmp_path, "{type: schedule, every: 2s}")
    cron, _ = _loaded(tmp_path, "{type: schedule, cron: '* * * * *'}")
    given, problems = _loaded(tmp_path, "{type: schedule, every: 2s, poll_interval: 30s}")
    assert every.trigger.poll_interval_s == 2.0 and cron.trigger.poll_interval_s == 10.0
    assert given.trigger.poll_interval_s == 30.0
    assert problems == [f"{tmp_path / 'tick.yaml'}:2:53: warning: trigger.poll_interval: polled "
                        "every 30s, so schedule fires at most that often, not every 2s; "
                        "remove poll_interval"]
