"""Item 10 of issue 17: no template can take the daemon's memory or its event loop. A
template past a bound fails its step with a message naming it; ``/healthz`` answers within
a second while it renders; the next job runs."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from runner.templates import TemplateRenderError, render_params, render_value
from tests.daemon_support import wait_for
from tests.hostile.support import HostileDaemon, health_latency_s, hostile_daemon

NESTED_LOOPS = ("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}"
                "{% endfor %}")


def recipe(message: str, condition: str | None = None) -> str:
    step = f"  - type: log\n    message: {message!r}\n"
    if condition:
        step += f"    if: {condition!r}\n"
    return ("name: tpl\ntrigger: {type: http.webhook, auth: none}\nactions:\n" + step)


async def run_job(running: HostileDaemon) -> dict[str, Any]:
    async with aiohttp.ClientSession() as http, http.post(
            running.base_url + "/hooks/tpl", json={"n": 1}) as resp:
        job = (await resp.json())["job"]
    return await wait_for(running.logs, lambda e: e["event"] == "job.finished"
                          and e.get("job") == job)


@pytest.mark.parametrize(("message", "error"), [
    ("{{ ('x' * 3000000000) | length }}", "a repeated value would be 3,000,000,000 long"),
    ("{{ 2 ** 999999999 }}", "a power of over 100,000 bits is not allowed"),
    ("{{ 'x' | center(3000000000) }}", "a width of 3,000,000,000 is over the limit"),
    ("{{ '%0999999999d' | format(1) }}", "a format width of a million or more"),
    ("{% set ns = namespace(s='xx') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}"
     "{% endfor %}{{ ns.s }}", "a joined value would be 1,048,576 long"),
    ("{% for i in range(3000) %}{{ 'y' * 999 }}{% endfor %}", "the output is over the 1,000,000"),
    ("{{ range(10**9) | list }}", "range() of 1,000,000,000 items"),
])
async def test_a_template_past_a_bound_fails_its_step_not_the_daemon(
        message: str, error: str, tmp_path: Path) -> None:
    async with hostile_daemon(tmp_path, {"tpl": recipe(message)}) as running:
        finished = await run_job(running)
        latency_s = await health_latency_s(running.base_url)
    assert finished["outcome"] == "failed" and error in finished["error"], finished
    assert latency_s < 1.0


async def test_a_long_render_runs_off_the_loop_and_is_cut_at_its_deadline(
        tmp_path: Path) -> None:
    async with hostile_daemon(tmp_path, {"tpl": recipe(NESTED_LOOPS)}) as running:
        async with aiohttp.ClientSession() as http, http.post(
                running.base_url + "/hooks/tpl", json={}) as resp:
            job = (await resp.json())["job"]
        await asyncio.sleep(0.3)  # the render is running now
        during = [await health_latency_s(running.base_url) for _ in range(5)]
        finished = await wait_for(running.logs, lambda e: e["event"] == "job.finished"
                                  and e.get("job") == job)
    assert max(during) < 1.0, during
    assert finished["outcome"] == "failed"
    assert "the template took longer than 2s" in finished["error"]


async def test_a_condition_renders_on_the_loop_with_a_short_deadline(tmp_path: Path) -> None:
    # One expression (as if: takes) that runs far longer than its deadline.
    condition = " and ".join(["(range(100000)|map('string')|map('length')|sum) > 0"] * 40)
    async with hostile_daemon(tmp_path, {"tpl": recipe("hi", condition)}) as running:
        finished = await run_job(running)
        latency_s = await health_latency_s(running.base_url)
    assert finished["outcome"] == "failed"
    assert "the template took longer than 0.5s" in finished["error"]
    assert latency_s < 1.0


async def test_an_empty_loop_over_data_is_interrupted_in_its_thread() -> None:
    # No call, attribute or range step inside: only the thread interruption ends it.
    context = {"trigger": {"record": {"s": "x" * 200_000}}}
    source = ("{% set s = trigger.record.s %}{% for a in s %}{% for b in s %}{% endfor %}"
              "{% endfor %}")
    with pytest.raises(TemplateRenderError, match="took longer than 2s"):
        await asyncio.wait_for(render_params({"message": source}, context, "t"), 10)
    for _ in range(50):  # the thread stops, it does not burn a core forever
        if not any(t.name == "template-render" for t in threading.enumerate()):
            break
        await asyncio.sleep(0.02)
    assert not any(t.name == "template-render" for t in threading.enumerate())


def test_ordinary_templates_are_unchanged() -> None:
    context = {"trigger": {"record": {"n": 3, "name": "Ada"}}}
    assert render_value("{{ trigger.record.n * 2 }}", context) == 6
    assert render_value("{{ 'ab' ~ trigger.record.name }} {{ [1, 2] | join(',') }}",
                        context) == "abAda 1,2"
    assert render_value("{{ '%05d' | format(trigger.record.n) }}", context) == "00003"
