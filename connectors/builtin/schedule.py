"""``schedule``: a trigger that fires on a cron expression or a fixed interval.

It is polled like every other trigger. Its cursor is the last fire time it emitted; each
poll emits at most one event, for the latest fire time that has passed (missed fires while
the daemon was down are coalesced into one). The event key is ``schedule:<fire time ms>``,
so several workers, or a replay, never run one tick twice.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.cron import CronTrigger
from pydantic import Field, field_validator, model_validator

from connectors.base import Event, Params, PollPage, StepContext, TriggerSpec
from connectors.durations import Duration

_DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun")


def cron_trigger(expression: str, timezone: str) -> CronTrigger:
    """A crontab expression with crontab's day numbers (0 or 7 = Sunday, 1 = Monday).

    APScheduler 3 numbers days from Monday = 0, so ``1-5`` would silently mean Tuesday to
    Saturday; numbers in the day-of-week field are turned into names first.
    """
    fields = expression.split()
    if len(fields) != 5:
        raise ValueError(f"Wrong number of fields in {expression!r}: got {len(fields)}, expected 5")
    minute, hour, day, month, day_of_week = fields
    day_of_week = re.sub(r"\d+", lambda m: _day_name(m.group()), day_of_week)
    return CronTrigger(minute=minute, hour=hour, day=day, month=month,
                       day_of_week=day_of_week, timezone=ZoneInfo(timezone))


def _day_name(number: str) -> str:
    if int(number) > 7:
        raise ValueError(f"day of week {number} is out of range 0-7")
    return _DAY_NAMES[int(number)]


class ScheduleParams(Params):
    cron: str | None = Field(
        None, description="Five-field crontab expression.", examples=["0 7 * * 1-5"]
    )
    every: Duration | None = Field(None, description="Fixed interval.", examples=["15m"])
    timezone: str = Field("UTC", description="Time zone of the cron expression.")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @field_validator("cron")
    @classmethod
    def _valid_cron(cls, value: str | None) -> str | None:
        if value is not None:
            cron_trigger(value, "UTC")  # raises ValueError with the reason
        return value

    @model_validator(mode="after")
    def _exactly_one(self) -> ScheduleParams:
        if (self.cron is None) == (self.every is None):
            raise ValueError("give exactly one of cron and every")
        if self.every is not None and self.every < 1:
            raise ValueError("every must be at least 1s")
        return self


def latest_due_fire(params: ScheduleParams, last_fire: datetime, now: datetime) -> datetime | None:
    """The latest fire time in (last_fire, now], or None. Pure, for testing."""
    if params.every is not None:
        step = timedelta(seconds=params.every)
        missed = int((now - last_fire) / step)
        return last_fire + missed * step if missed >= 1 else None
    trigger = cron_trigger(params.cron or "", params.timezone)
    # Search backwards in doubling windows so a long outage does not mean walking every
    # minute since the last fire.
    window = timedelta(minutes=1)
    while True:
        start = max(last_fire, now - window)
        due = _last_fire_in(trigger, start, now)
        if due is not None or start == last_fire:
            return due
        window *= 2


def _last_fire_in(trigger: CronTrigger, start: datetime, end: datetime) -> datetime | None:
    due = None
    fire = trigger.get_next_fire_time(None, start + timedelta(microseconds=1))
    while fire is not None and fire <= end:
        due = fire
        fire = trigger.get_next_fire_time(fire, fire + timedelta(microseconds=1))
    return due


async def poll_schedule(
    params: ScheduleParams, cursor: Mapping[str, Any] | None, ctx: StepContext
) -> AsyncIterator[PollPage]:
    now = datetime.now(UTC)
    if cursor is None:  # first poll: start from now, emit nothing
        yield PollPage(events=[], cursor={"last_fire": now.isoformat()})
        return
    last_fire = datetime.fromisoformat(cursor["last_fire"])
    fire = latest_due_fire(params, last_fire, now)
    if fire is None:
        return
    fire_ms = int(fire.timestamp() * 1000)
    event = Event(key=f"schedule:{fire_ms}", record={"fire_time": fire.isoformat()},
                  kind="scheduled")
    yield PollPage(events=[event], cursor={"last_fire": fire.isoformat()})


CRON_POLL_S = 10.0  # a cron fire starts at most this late (crontab's resolution is a minute)


def cadence_s(params: ScheduleParams) -> float:
    """How often to poll when the recipe does not say: every ``every``, or every 10 s for a
    cron expression (so a tick is never coalesced into the next by slow polling)."""
    return params.every if params.every is not None else CRON_POLL_S


SPEC = TriggerSpec(
    key="schedule", params=ScheduleParams, poll=poll_schedule,
    summary="Start a job on a cron schedule or a fixed interval (polled at that interval "
            "unless poll_interval says otherwise).",
    cadence_s=cadence_s,
)
