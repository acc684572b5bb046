"""``recipe-runner run --dry-run``: the next events' steps rendered from the stored cursor,
with conditions decided and for_each expanded; no action called, nothing written."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from connectors.base import Event
from runner import dry_run
from runner.cli import build_parser, main
from runner.recipes import Recipe, load_recipe
from runner.store import JobStatus, Store
from tests.engine_support import Endpoint, make_registry

TOKEN = "dry-run-secret-4242"


@pytest.fixture(autouse=True)
def quiet_logs() -> Iterator[None]:
    with capture_logs():
        yield


def relay_text(endpoint: Endpoint, records: list[dict[str, Any]]) -> str:
    return f"""
name: relay
trigger:
  type: test.list
  records: {json.dumps(records)}
  page_size: 3
actions:
  - id: post
    type: http.request
    method: POST
    url: {endpoint.url}
    headers: {{Authorization: "Bearer {TOKEN}"}}
    json: {{id: "{{{{ trigger.record.id }}}}", n: "{{{{ trigger.record.n }}}}"}}
  - type: log
    message: "posted {{{{ trigger.record.id }}}} as {{{{ steps.post.json.n }}}}"
    fields: {{id: "{{{{ trigger.record.id }}}}"}}
  - type: for_each
    items: "{{{{ trigger.record.tags }}}}"
    as: tag
    actions:
      - type: log
        if: "{{{{ tag != 'skip' }}}}"
        message: "tag {{{{ tag }}}}"
"""


def write_recipe(directory: Path, text: str, name: str = "relay.yaml") -> Path:
    directory.mkdir(exist_ok=True)
    (directory / name).write_text(text)
    return directory


async def cli_dry_run(tmp_path: Path, recipes: Path, *extra: str) -> int:
    """``recipe-runner run --dry-run`` on the test registry, in a thread (own event loop)."""
    args = build_parser().parse_args(
        ["run", "--dry-run", "--recipes", str(recipes),
         "--state", f"sqlite:///{tmp_path / 'state.db'}", *extra])
    return await asyncio.to_thread(dry_run.main, args, make_registry())


def records(count: int) -> list[dict[str, Any]]:
    return [{"id": f"r{i}", "n": i, "tags": ["a", "skip"]} for i in range(count)]


async def test_dry_run_renders_next_events_from_the_cursor_and_writes_nothing(
    tmp_path: Path, endpoint: Endpoint, capsys: pytest.CaptureFixture[str]
) -> None:
    recipes = write_recipe(tmp_path / "recipes", relay_text(endpoint, records(9)))
    async with await Store.open(f"sqlite:///{tmp_path / 'state.db'}") as store:
        await store.commit_poll("relay", [], {"offset": 2}, 0)  # two events already taken

    assert await cli_dry_run(tmp_path, recipes, "--json", "--limit", "4") == 0
    (preview,) = json.loads(capsys.readouterr().out)
    assert preview["cursor"] == {"offset": 2} and preview["more_waiting"] is True
    assert [e["key"] for e in preview["events"]] == ["r2:1", "r3:1", "r4:1", "r5:1"]
    post = preview["events"][0]["steps"][0]
    assert (post["path"], post["type"], post["outcome"]) == ("actions[0]", "http.request", "run")
    assert post["params"]["json"] == {"id": "r2", "n": 2}  # native types, as a job renders
    assert post["params"]["headers"] == {"Authorization": "***"}

    assert endpoint.received == []
    async with await Store.open(f"sqlite:///{tmp_path / 'state.db'}") as store:
        assert await store.load_cursor("relay") == ({"offset": 2}, 0)
        assert sum((await store.count_jobs_by_status("relay")).values()) == 0
        assert (await store.get_recipe_state("relay")).last_poll_at is None


async def test_values_reading_earlier_steps_stay_unrendered_with_a_note(
    tmp_path: Path, endpoint: Endpoint, capsys: pytest.CaptureFixture[str]
) -> None:
    recipes = write_recipe(tmp_path / "recipes", relay_text(endpoint, records(1)))
    assert await cli_dry_run(tmp_path, recipes, "--json") == 0
    (preview,) = json.loads(capsys.readouterr().out)
    note = preview["events"][0]["steps"][1]
    assert note["outcome"] == "partly unknown"
    assert note["params"] == {"message": "posted {{ trigger.record.id }} as "
                                         "{{ steps.post.json.n }}", "fields": {"id": "r0"}}
    assert note["note"] == "needs steps.post (not known in a dry run): shown unrendered"


async def test_for_each_is_expanded_and_false_conditions_skip(
    tmp_path: Path, endpoint: Endpoint, capsys: pytest.CaptureFixture[str]
) -> None:
    recipes = write_recipe(tmp_path / "recipes", relay_text(endpoint, records(1)))
    assert await cli_dry_run(tmp_path, recipes, "--json") == 0
    (preview,) = json.loads(capsys.readouterr().out)
    steps = [(s["path"], s["outcome"], s["params"]) for s in preview["events"][0]["steps"][2:]]
    assert steps == [
        ("actions[2]", "run", {"count": 2}),
        ("actions[2][0].actions[0]", "run", {"message": "tag a"}),
        ("actions[2][1].actions[0]", "skip", None),
    ]


def load(tmp_path: Path, text: str) -> Recipe:
    file = tmp_path / "recipe.yaml"
    file.write_text(text)
    recipe, problems = load_recipe(file, make_registry(), {})
    assert recipe is not None, [str(p) for p in problems]
    return recipe


STOPPING = """
name: stopper
trigger: {type: test.list, records: []}
actions:
  - type: stop
    if: "{{ trigger.record.n > 1 }}"
    message: "too big: {{ trigger.record.n }}"
  - type: log
    message: "{{ trigger.record.missing }}"
  - type: log
    message: "n={{ trigger.record.n }}"
    level: "{{ 'loud' }}"
"""


def test_a_stop_step_ends_the_preview_and_errors_name_the_place(tmp_path: Path) -> None:
    recipe = load(tmp_path, STOPPING)
    big = dry_run.preview_steps(recipe, Event("x", {"n": 5}), make_registry())
    assert [(s.path, s.outcome, s.params) for s in big.steps] == [
        ("actions[0]", "stop", {"outcome": "success", "message": "too big: 5"})]

    small = dry_run.preview_steps(recipe, Event("y", {"n": 1}), make_registry())
    skipped, missing, invalid = small.steps
    assert skipped.outcome == "skip"
    assert missing.outcome == "error" and missing.note is not None
    assert "recipe.yaml:8:5: actions[1].params.message" in missing.note
    assert "has no attribute 'missing'" in missing.note
    assert invalid.outcome == "error"
    assert invalid.note is not None and invalid.note.startswith("params after rendering: level")


async def test_disabled_recipes_are_not_polled(
    tmp_path: Path, endpoint: Endpoint, capsys: pytest.CaptureFixture[str]
) -> None:
    recipes = write_recipe(tmp_path / "recipes", relay_text(endpoint, records(3)))
    off = relay_text(endpoint, records(3)).replace("name: relay", "name: paused\nenabled: false")
    write_recipe(recipes, off, "paused.yaml")
    async with await Store.open(f"sqlite:///{tmp_path / 'state.db'}") as store:
        await store.set_recipe_enabled("relay", False)
    assert await cli_dry_run(tmp_path, recipes) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == ["recipe paused (test.list): disabled in its file",
                   "recipe relay (test.list): disabled by operator",
                   "dry run: no action was called, nothing was written"]


async def test_human_output_shows_each_event_and_step(
    tmp_path: Path, endpoint: Endpoint, capsys: pytest.CaptureFixture[str]
) -> None:
    recipes = write_recipe(tmp_path / "recipes", relay_text(endpoint, records(1)))
    assert await cli_dry_run(tmp_path, recipes) == 0
    out = capsys.readouterr().out
    assert "recipe relay (test.list), cursor null: 1 event\n" in out
    assert '  event r0:1 (upsert): {"id": "r0", "n": 0, "tags": ["a", "skip"]}' in out
    assert "    actions[0] http.request: run" in out
    assert "    actions[1] log: partly unknown" in out
    assert TOKEN not in out
    assert not (tmp_path / "state.db").exists()  # a missing store is not created


async def test_cli_previews_a_due_schedule_without_moving_its_cursor(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = """
name: nightly
trigger: {type: schedule, every: 1h}
actions:
  - type: log
    message: "fired at {{ trigger.record.fire_time }}"
"""
    recipes = write_recipe(tmp_path / "recipes", text, "nightly.yaml")
    url = f"sqlite:///{tmp_path / 'state.db'}"
    cursor = {"last_fire": "2020-01-01T00:00:00+00:00"}
    async with await Store.open(url) as store:
        await store.commit_poll("nightly", [], cursor, 0)
    argv = ["run", "--dry-run", "--json", "--recipes", str(recipes), "--state", url]
    assert await asyncio.to_thread(main, argv) == 0
    (preview,) = json.loads(capsys.readouterr().out)
    (event,) = preview["events"]
    assert event["kind"] == "scheduled"
    assert event["steps"][0]["params"]["message"] == f"fired at {event['record']['fire_time']}"
    async with await Store.open(url) as store:
        assert await store.load_cursor("nightly") == (cursor, 0)
        assert (await store.count_jobs_by_status("nightly"))[JobStatus.PENDING] == 0
