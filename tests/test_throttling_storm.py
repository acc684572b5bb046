"""A 30-second 429 storm through the whole daemon: ``recipe-runner run`` (a subprocess) relays
50 Dataverse contacts into tasks and webhook posts while the emulator answers every Web API
request ``429 Retry-After: 1``. Every job waits and succeeds, none fails, nothing is done twice,
and the connection's shared throttle keeps the daemon from hammering the service."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import signal
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from emulator import RunningEmulator
from tests.d365_support import control, fault, insert_rows, iso
from tests.daemon_support import prepare, start_daemon

SINK = "/_emulator/webhooks/storm"
STORM_S = 30.0
RETRY_AFTER_S = 1
CONCURRENCY = 4
CALLERS = CONCURRENCY + 1  # the recipe's job slots and its poller share one connection
RECORDS = 50


def storm_recipe() -> dict[str, Any]:
    return {
        "name": "storm-relay",
        "concurrency": CONCURRENCY,
        "trigger": {"type": "dynamics365.new_or_updated_record", "connection": "crm",
                    "table": "contacts", "select": ["contactid", "fullname"],
                    "since": "beginning", "poll_interval": "1s"},
        "actions": [
            {"id": "task", "type": "dynamics365.create_record", "connection": "crm",
             "table": "tasks",
             "fields": {"subject": "Call {{ trigger.record.fullname }}",
                        "regardingobjectid": {"table": "contacts",
                                              "id": "{{ trigger.record.contactid }}"}}},
            {"type": "http.request", "connection": "emulator", "method": "POST", "url": SINK,
             "json": {"contact": "{{ trigger.record.contactid }}",
                      "task": "{{ steps.task.id }}"}},
        ],
    }


async def received(emulator: RunningEmulator) -> list[dict[str, Any]]:
    return list((await control(emulator, "GET", SINK))["received"])


async def remove_fault(emulator: RunningEmulator, rule_id: int) -> None:
    async with emulator.client_session() as http, http.delete(
        f"{emulator.base_url}/_emulator/faults/{rule_id}"
    ) as resp:
        assert resp.status == 204, await resp.text()


async def wait_for_posts(emulator: RunningEmulator, count: int, timeout_s: float) -> None:
    """Until the sink holds ``count`` posts or ``timeout_s`` passed (the asserts say which)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if len(await received(emulator)) >= count:
            return
        await asyncio.sleep(0.05)


async def storm_requests(emulator: RunningEmulator) -> list[float]:
    """Start times (s) of the Web API requests the storm answered with 429, in order."""
    found = await control(emulator, "GET", "/_emulator/requests?path=/api/data/*&limit=10000")
    return sorted(datetime.fromisoformat(r["time"]).timestamp() for r in found["requests"]
                  if r["fault"] == "status")


def bursts(times: list[float], width_s: float = 0.5) -> list[list[float]]:
    """Requests grouped into bursts: each starts at the first request after the last burst
    and takes everything within ``width_s`` of it."""
    groups: list[list[float]] = []
    for at in times:
        if groups and at - groups[-1][0] < width_s:
            groups[-1].append(at)
        else:
            groups.append([at])
    return groups


async def test_thirty_second_429_storm_defers_jobs_and_every_job_succeeds_once(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    args = await prepare(emulator, tmp_path, {"storm": storm_recipe()})
    an_hour_ago = time.time() - 3600
    async with emulator.client_session() as http:
        contacts = await insert_rows(http, emulator, "contact", [
            {"firstname": f"S{i}", "lastname": "Storm", "modifiedon": iso(an_hour_ago + i)}
            for i in range(RECORDS)])
    # Slow task creation a little, so most jobs are still waiting when the storm begins.
    await control(emulator, "POST", "/_emulator/latency",
                  {"ms": 200, "path": "/api/data/*/tasks", "method": "POST"})
    daemon = await start_daemon(*args)
    output = asyncio.create_task(daemon.communicate())
    try:
        await wait_for_posts(emulator, 1, timeout_s=20)
        rule = await fault(emulator, path="/api/data/*", kind="status", status=429,
                           retry_after_s=RETRY_AFTER_S)
        waiting_at_start = RECORDS - len(await received(emulator))
        await asyncio.sleep(STORM_S)
        await remove_fault(emulator, rule["id"])
        await wait_for_posts(emulator, RECORDS, timeout_s=30)
    finally:
        with contextlib.suppress(ProcessLookupError):
            daemon.send_signal(signal.SIGTERM)
        stdout, stderr = await asyncio.wait_for(output, 30)
    assert daemon.returncode == 0, stderr.decode()[-3000:]
    assert waiting_at_start >= RECORDS // 2  # the storm hit jobs that had not run yet

    events = [json.loads(line) for line in stdout.decode().splitlines() if line.startswith("{")]
    finished = [e for e in events if e["event"] == "job.finished"]
    assert [e for e in finished if e["outcome"] != "succeeded"] == []
    assert len(finished) == RECORDS

    posts = await received(emulator)
    assert sorted(p["contact"] for p in posts) == sorted(contacts)  # each exactly once
    tasks = await control(emulator, "GET", "/_emulator/dataverse/tables/task/rows")
    assert sorted(t["activityid"] for t in tasks["rows"]) == sorted(p["task"] for p in posts)

    # The shared throttle: after a 429 every caller on the connection waits out Retry-After
    # and one probe goes first, so the storm sees one request per Retry-After. The first
    # burst may also hold requests other callers sent before the first 429 came back (on a
    # loaded machine that round trip is slow): nobody had seen a 429 yet.
    storm = await storm_requests(emulator)
    first, *later = bursts(storm)
    assert len(first) <= CALLERS
    assert [len(group) for group in later] == [1] * len(later)
    groups = [first, *later]
    gaps = [b[0] - a[-1] for a, b in itertools.pairwise(groups)]
    assert min(gaps) >= 0.8 * RETRY_AFTER_S
    assert len(storm) <= CALLERS * (STORM_S / RETRY_AFTER_S + 1)
