"""``if:`` is an expression, bare or in ``{{ }}``: a condition that says no means no."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from runner.store import StepStatus
from tests.engine_support import Endpoint, build_engine


def recipe(endpoint: Endpoint, condition: str) -> str:
    records = [{"id": "small", "revenue": 10}, {"id": "big", "revenue": 5_000_000}]
    return f"""
name: guarded
trigger:
  type: test.list
  records: {json.dumps(records)}
actions:
  - type: http.request
    if: {json.dumps(condition)}
    method: POST
    url: {endpoint.url}
    json: {{id: "{{{{ trigger.record.id }}}}"}}
"""


@pytest.mark.parametrize(("condition", "posted"), [
    ("trigger.record.revenue > 1000000", ["big"]),
    ("{{ trigger.record.revenue > 1000000 }}", ["big"]),
    ("1 > 2", []),
    ("false", []),
    ("False", []),
    ("true", ["small", "big"]),
    ("trigger.record.id in ['small']", ["small"]),
])
async def test_a_bare_or_templated_condition_runs_the_step_only_when_true(
        tmp_path: Path, endpoint: Endpoint, condition: str, posted: list[str]) -> None:
    engine = await build_engine(tmp_path, recipe(endpoint, condition))
    await engine.burst()
    await engine.stop(5)
    assert sorted(r["json"]["id"] for r in endpoint.received) == sorted(posted)
    for job in await engine.store.list_jobs(recipe="guarded"):
        detail = await engine.store.get_job(job.id)
        assert detail is not None
        ran = job.payload["record"]["id"] in posted
        assert [s.status for s in detail.steps] == \
            [StepStatus.SUCCEEDED if ran else StepStatus.SKIPPED]
    await engine.store.close()
