"""``/metrics``: Prometheus text a scraper parses, with counts that match what the real
engine did against the emulator (polls, records, jobs by outcome, step durations, tokens,
429s and retries, queue depth and lag, state store latency)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from emulator import RunningEmulator
from tests.d365_support import fault
from tests.daemon_support import wait_for
from tests.ops_support import GHOST, running_daemon, seeded_files


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """``{(sample name, labels): value}`` of a Prometheus text exposition."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def value(found: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str,
          **labels: str) -> float | None:
    return found.get((name, frozenset(labels.items())))


async def test_metrics_count_what_the_engine_did_after_real_jobs(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    recipe, conn = "metrics-contacts", "crm-metrics"
    await seeded_files(emulator, tmp_path, recipe, conn, ["Lovelace", "Hopper", GHOST])
    # The first page of contacts is throttled once: the client waits and retries.
    await fault(emulator, kind="status", status=429, retry_after_s=0, count=1, method="GET",
                path="/api/data/*/contacts*")
    async with running_daemon(tmp_path) as ops:
        await ops.jobs_finished(3)
        status, text, headers = await ops.get("/metrics")

    assert status == 200 and headers["Content-Type"].startswith("text/plain")
    found = samples(text)
    finished = "recipe_runner_jobs_finished_total"
    assert value(found, finished, recipe=recipe, outcome="succeeded") == 2
    assert value(found, finished, recipe=recipe, outcome="failed") == 1
    assert value(found, "recipe_runner_jobs_created_total", recipe=recipe) == 3
    assert (value(found, "recipe_runner_records_seen_total", recipe=recipe) or 0) >= 3
    assert (value(found, "recipe_runner_polls_total", recipe=recipe, outcome="ok") or 0) >= 1
    step_count = "recipe_runner_step_duration_seconds_count"
    assert value(found, step_count, recipe=recipe, action="dynamics365.request") == 3
    assert value(found, step_count, recipe=recipe, action="log") == 3
    assert value(found, "recipe_runner_token_refreshes_total", connection=conn) == 1
    assert value(found, "recipe_runner_throttled_responses_total", connection=conn) == 1
    assert value(found, "recipe_runner_request_retries_total", connection=conn) == 1
    assert value(found, "recipe_runner_queue_depth", recipe=recipe) == 0
    assert value(found, "recipe_runner_queue_lag_seconds", recipe=recipe) == 0
    assert value(found, "recipe_runner_poll_lag_seconds", recipe=recipe) == 0  # polled on time
    assert (value(found, "recipe_runner_state_store_seconds_count", statement="insert")
            or 0) >= 3
    assert ("recipe_runner_event_loop_lag_seconds", frozenset()) in found


async def test_queue_depth_and_lag_show_jobs_waiting_behind_a_slow_one(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    recipe, conn = "metrics-backlog", "crm-backlog"
    await seeded_files(emulator, tmp_path, recipe, conn, ["Lovelace", "Hopper", "Turing"])
    # The first read-back hangs a while; with concurrency 1 the other two jobs wait.
    await fault(emulator, kind="delay", delay_s=1.5, count=1, method="GET",
                path="/api/data/*/contacts(*")
    async with running_daemon(tmp_path) as ops:
        await wait_for(ops.logs, lambda e: e["event"] == "poll.finished")
        depths = []  # scraped until the worker has claimed the first job (it then hangs)
        while not depths or (depths[-1] == 3 and len(depths) < 50):
            _, text, _ = await ops.get("/metrics")
            depths.append(value(samples(text), "recipe_runner_queue_depth", recipe=recipe))
            await asyncio.sleep(0.02)
        await ops.jobs_finished(3)
        _, after, _ = await ops.get("/metrics")

    waiting = samples(text)
    assert depths[-1] == 2, depths  # two wait behind the slow one
    assert (value(waiting, "recipe_runner_queue_lag_seconds", recipe=recipe) or 0) > 0
    assert value(samples(after), "recipe_runner_queue_depth", recipe=recipe) == 0
