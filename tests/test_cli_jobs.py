"""``recipe-runner jobs list|show|retry`` against a state store filled by the real engine:
what an operator sees (rows, JSON fields, exit codes), secrets masked, and a retried job
resuming at the step that failed."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from runner.cli import main
from runner.engine.engine import Engine
from tests.engine_support import Endpoint, build_engine

SECRET = "hook-token-7f3a9c1e"


@pytest.fixture(autouse=True)
def quiet_engine() -> Iterator[None]:
    """The engine's log lines would mix with the CLI output the tests read."""
    with capture_logs():
        yield


def relay_recipe(endpoint: Endpoint, records: list[dict[str, Any]]) -> str:
    """Post each record, then post again to /second (the step tests make fail), then log."""
    return f"""
name: relay
trigger:
  type: test.list
  records: {json.dumps(records)}
actions:
  - id: post
    type: http.request
    method: POST
    url: {endpoint.url}
    headers: {{Authorization: "Bearer {SECRET}"}}
    json: {{id: "{{{{ trigger.record.id }}}}"}}
  - id: second
    type: http.request
    method: POST
    url: {endpoint.url}2
    json: {{after: "{{{{ steps.post.json.n }}}}"}}
  - type: log
    message: "relayed {{{{ trigger.record.id }}}}"
"""


async def run_relay(tmp_path: Path, endpoint: Endpoint, records: list[dict[str, Any]]) -> Engine:
    """Runs every record through the engine (in order: concurrency 1); the engine stays open."""
    engine = await build_engine(tmp_path, relay_recipe(endpoint, records))
    await engine.burst()
    return engine


def state(tmp_path: Path) -> list[str]:
    return ["--state", f"sqlite:///{tmp_path / 'state.db'}"]


async def cli(*argv: str) -> int:
    """The real CLI in-process; in a thread, as it runs its own event loop like a terminal."""
    return await asyncio.to_thread(main, list(argv))


async def cli_json(capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
    assert await cli(*argv, "--json") == 0
    return json.loads(capsys.readouterr().out)


async def test_jobs_list_shows_newest_first_with_status_and_error(
    tmp_path: Path, endpoint: Endpoint, capsys: pytest.CaptureFixture[str]
) -> None:
    endpoint.statuses = [200, 400]  # the first job's second step is refused
    engine = await run_relay(tmp_path, endpoint, [{"id": "a"}, {"id": "b"}, {"id": "c"}])
    await engine.stop(5)
    await engine.store.close()

    assert await cli("jobs", "list", *state(tmp_path)) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["ID", "RECIPE", "STATUS", "ATTEMPTS", "CREATED", "FINISHED",
                                "ERROR"]
    assert [line.split()[2] for line in lines[1:]] == ["succeeded", "succeeded", "failed"]
    assert "actions[1]: http.request failed" in lines[3]

    rows = await cli_json(capsys, "jobs", "list", *state(tmp_path))
    assert [r["event_key"] for r in rows] == ["c:1", "b:1", "a:1"]
    assert rows[2]["status"] == "failed" and rows[2]["attempts"] == 1
    assert rows[2]["created_at"].endswith("Z") and rows[0]["error"] is None


async def test_jobs_list_filters_by_status_recipe_and_limit(
    tmp_path: Path, endpoint: Endpoint, capsys: pytest.CaptureFixture[str]
) -> None:
    endpoint.statuses = [200, 400]
    engine = await run_relay(tmp_path, endpoint, [{"id": "a"}, {"id": "b"}, {"id": "c"}])
    await engine.stop(5)
    await engine.store.close()

    failed = await cli_json(capsys, "jobs", "list", "--status", "failed", *state(tmp_path))
    assert [r["event_key"] for r in failed] == ["a:1"]
    newest = await cli_json(capsys, "jobs", "list", "--limit", "1", *state(tmp_path))
    assert [r["event_key"] for r in newest] == ["c:1"]
    assert await cli("jobs", "list", "--recipe", "other", *state(tmp_path)) == 0
    assert capsys.readouterr().out.strip() == "no jobs"


async def test_jobs_show_lists_payload_and_every_step_with_secrets_masked(
    tmp_path: Path, endpoint: Endpoint, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The record itself carries a connection's secret: only the connections file knows it.
    engine = await run_relay(tmp_path, endpoint, [{"id": "a", "note": f"token {SECRET}"}])
    await engine.stop(5)
    await engine.store.close()
    connections = tmp_path / "connections.yaml"
    connections.write_text("connections:\n  hooks:\n    type: http\n"
                           "    base_url: https://hooks.example.com\n    auth: bearer\n"
                           "    token: ${env:HOOK_TOKEN}\n")
    monkeypatch.setenv("HOOK_TOKEN", SECRET)
    (row,) = await cli_json(capsys, "jobs", "list", *state(tmp_path))

    job = await cli_json(capsys, "jobs", "show", row["id"], "--connections", str(connections),
                   *state(tmp_path))
    assert SECRET not in json.dumps(job)
    assert job["payload"]["record"] == {"id": "a", "note": "token ***"}
    assert [(s["path"], s["status"]) for s in job["steps"]] == [
        ("actions[0]", "succeeded"), ("actions[1]", "succeeded"), ("actions[2]", "succeeded")]
    post = job["steps"][0]
    assert post["input"]["headers"] == {"Authorization": "***"}
    assert post["input"]["json"] == {"id": "a"} and post["output"]["status"] == 200
    assert post["attempts"] == 1 and post["finished_at"].endswith("Z")

    assert await cli("jobs", "show", row["id"], "--connections", str(connections),
                 *state(tmp_path)) == 0
    text = capsys.readouterr().out
    assert f"job       {row['id']}" in text and "status    succeeded" in text
    assert "actions[1]: succeeded (attempts 1" in text and '"after": 1' in text
    assert SECRET not in text


async def test_unknown_job_id_is_a_one_line_error_with_exit_1(
    tmp_path: Path, endpoint: Endpoint, capsys: pytest.CaptureFixture[str]
) -> None:
    engine = await run_relay(tmp_path, endpoint, [{"id": "a"}])
    await engine.stop(5)
    await engine.store.close()
    assert await cli("jobs", "show", "nope", *state(tmp_path)) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.splitlines() == [
        "error: no job with id 'nope' (see `recipe-runner jobs list`)"]


async def test_retried_job_resumes_at_the_failed_step(
    tmp_path: Path, endpoint: Endpoint, capsys: pytest.CaptureFixture[str]
) -> None:
    endpoint.statuses = [200, 400]
    engine = await run_relay(tmp_path, endpoint, [{"id": "a"}])
    (row,) = await cli_json(capsys, "jobs", "list", *state(tmp_path))
    assert row["status"] == "failed"

    assert await cli("jobs", "retry", row["id"], *state(tmp_path)) == 0
    assert capsys.readouterr().out.strip() == "1 failed job set to pending"
    (pending,) = await cli_json(capsys, "jobs", "list", *state(tmp_path))
    assert pending["status"] == "pending"
    await engine.recipes["relay"].worker.run_until_idle()
    await engine.stop(5)
    await engine.store.close()

    assert [r["path"] for r in endpoint.received] == ["/hook", "/hook2", "/hook2"]
    job = await cli_json(capsys, "jobs", "show", row["id"], *state(tmp_path))
    assert job["status"] == "succeeded" and job["attempts"] == 2
    assert [s["status"] for s in job["steps"]] == ["succeeded"] * 3


async def test_retry_failed_counts_only_failed_jobs_of_the_recipe(
    tmp_path: Path, endpoint: Endpoint, capsys: pytest.CaptureFixture[str]
) -> None:
    endpoint.statuses = [200, 400, 200, 200, 200, 400]  # a and c fail, b succeeds
    engine = await run_relay(tmp_path, endpoint, [{"id": "a"}, {"id": "b"}, {"id": "c"}])
    await engine.stop(5)
    await engine.store.close()

    assert await cli_json(capsys, "jobs", "retry", "--failed", "--recipe", "other",
                    *state(tmp_path)) == {"retried": 0}
    assert await cli_json(capsys, "jobs", "retry", "--failed", "--recipe", "relay",
                    *state(tmp_path)) == {"retried": 2}
    statuses = [r["status"] for r in await cli_json(capsys, "jobs", "list", *state(tmp_path))]
    assert statuses == ["pending", "succeeded", "pending"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["jobs", "retry"], "error: give either a job ID or --failed"),
        (["jobs", "retry", "x", "--failed"], "error: give either a job ID or --failed"),
        (["jobs", "retry", "--recipe", "relay", "x"], "error: --recipe goes with --failed"),
        (["jobs", "list", "--limit", "0"], "error: --limit must be at least 1"),
    ],
)
def test_misused_options_are_one_line_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    assert main([*argv, *state(tmp_path)]) == 1
    assert capsys.readouterr().err.splitlines() == [message]


async def test_retrying_a_job_that_did_not_fail_is_refused(
    tmp_path: Path, endpoint: Endpoint, capsys: pytest.CaptureFixture[str]
) -> None:
    engine = await run_relay(tmp_path, endpoint, [{"id": "a"}])
    await engine.stop(5)
    await engine.store.close()
    (row,) = await cli_json(capsys, "jobs", "list", *state(tmp_path))
    assert await cli("jobs", "retry", row["id"], *state(tmp_path)) == 1
    assert capsys.readouterr().err.strip() == (
        f"error: job {row['id']} is succeeded; only failed jobs are retried")


def test_a_missing_store_is_an_error_that_says_where_it_looked_and_creates_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for command in (["list"], ["show", "x"], ["retry", "--failed"]):
        assert main(["jobs", *command, *state(tmp_path)]) == 1
        captured = capsys.readouterr()
        assert captured.out == ""
        assert captured.err.startswith(f"error: no state store at {tmp_path / 'state.db'} "
                                       f"(--state sqlite:///{tmp_path / 'state.db'}, run in ")
        assert "RECIPE_RUNNER_STATE" in captured.err
    assert not (tmp_path / "state.db").exists()


async def test_console_script_prints_json_for_scripts(
    tmp_path: Path, endpoint: Endpoint
) -> None:
    engine = await run_relay(tmp_path, endpoint, [{"id": "a"}, {"id": "b"}])
    await engine.stop(5)
    await engine.store.close()
    script = Path(sys.executable).parent / "recipe-runner"
    process = await asyncio.create_subprocess_exec(
        str(script), "jobs", "list", "--json", *state(tmp_path),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 0, stderr.decode()
    assert [r["status"] for r in json.loads(stdout)] == ["succeeded", "succeeded"]
