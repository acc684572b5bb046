"""Every broken recipe in tests/corpus/recipes produces exactly its expected problem lines,
and a valid recipe loads into steps that remember their place in the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.catalog import default_registry
from runner.recipes import ActionStep, ForEachStep, StopStep, load_recipe, load_recipes

CORPUS = Path(__file__).parent / "corpus" / "recipes"
CONNECTIONS = {"crm": "dynamics365", "hooks": "http"}
BROKEN = sorted(CORPUS.glob("*.yaml"))


def test_corpus_is_large_enough() -> None:
    assert len(BROKEN) >= 30


@pytest.mark.parametrize("path", BROKEN, ids=[p.stem for p in BROKEN])
def test_broken_recipe_reports_expected_problems(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(CORPUS)
    recipe, problems = load_recipe(Path(path.name), default_registry(), CONNECTIONS)
    assert recipe is None
    expected = path.with_suffix(".expected").read_text().splitlines()
    assert [str(p) for p in problems] == expected


GOOD = """\
name: morning-report
trigger:
  type: schedule
  cron: "0 7 * * 1-5"
concurrency: 2
actions:
  - id: post
    type: http.request
    connection: hooks
    method: POST
    url: /report
    json: {fired: "{{ trigger.record.fire_time }}"}
    timeout_s: "{{ 5 * 2 }}"
    retry: {attempts: 5, delay: 2s, max_delay: 1m}
    on_error:
      - type: log
        level: error
        message: "report failed"
  - type: for_each
    items: "{{ [1, 2] }}"
    as: n
    actions:
      - type: log
        message: "n={{ n }}"
  - type: stop
    if: "{{ steps.post.status != 200 }}"
    outcome: error
"""


def test_valid_recipe_loads_with_paths_and_positions(tmp_path: Path) -> None:
    file = tmp_path / "morning.yaml"
    file.write_text(GOOD)
    recipe, problems = load_recipe(file, default_registry(), CONNECTIONS)
    assert problems == []
    assert recipe is not None and recipe.name == "morning-report"
    post, loop, stop = recipe.steps
    assert isinstance(post, ActionStep) and post.path == "actions[0]"
    assert post.where.endswith("morning.yaml:7:5")
    assert post.retry.attempts == 5 and post.retry.delay_s == 2 and post.retry.max_delay_s == 60
    assert isinstance(post.on_error, tuple) and post.on_error[0].path == "actions[0].on_error[0]"
    assert isinstance(loop, ForEachStep) and loop.item_name == "n"
    assert loop.steps[0].path == "actions[1].actions[0]"
    assert isinstance(stop, StopStep) and stop.condition == "{{ steps.post.status != 200 }}"


def test_directory_keeps_valid_recipes_beside_broken_ones(tmp_path: Path) -> None:
    (tmp_path / "good.yaml").write_text(GOOD)
    (tmp_path / "bad.yaml").write_text("name: bad\ntrigger: {type: nope}\nactions: [{type: log}]\n")
    (tmp_path / "twin.yaml").write_text(GOOD)
    (tmp_path / "notes.txt").write_text("not a recipe")
    loaded = load_recipes([tmp_path], default_registry(), CONNECTIONS)
    assert list(loaded.recipes) == ["morning-report"]
    assert len(loaded.broken_files) == 2
    messages = [p.message for p in loaded.errors]
    assert "unknown trigger type 'nope'" in messages
    assert any("is already used by" in m for m in messages)


def test_no_connector_param_is_shadowed_by_a_step_or_trigger_key() -> None:
    """A param named like an envelope key (``id``, ``if``, ``retry``, ``poll_interval`` …)
    could never be set from a recipe."""
    from runner.recipes.envelope import STEP_KEYS
    from runner.recipes.validate import TRIGGER_KEYS

    registry = default_registry()
    clashes = []
    for key, spec in registry.actions.items():
        names = {f.alias or n for n, f in spec.params.model_fields.items()}
        clashes += [f"{key}.{n}" for n in names & STEP_KEYS]
    for key, trigger in registry.triggers.items():
        names = {f.alias or n for n, f in trigger.params.model_fields.items()}
        clashes += [f"{key}.{n}" for n in names & TRIGGER_KEYS]
    assert clashes == []


def test_a_step_that_is_not_safe_to_run_twice_is_named_by_a_warning(tmp_path: Path) -> None:
    file = tmp_path / "win.yaml"
    file.write_text("""\
name: win
trigger: {type: dynamics365.new_record, connection: crm, table: opportunities}
actions:
  - type: dynamics365.create_record
    connection: crm
    table: tasks
    fields: {subject: won}
  - type: dynamics365.execute_action
    connection: crm
    name: WinOpportunity
    parameters: {Status: 3}
""")
    recipe, problems = load_recipe(file, default_registry(), CONNECTIONS)
    assert recipe is not None
    assert [str(p) for p in problems] == [
        f"{file}:8:11: warning: actions[1].type: dynamics365.execute_action is not safe to run "
        "twice: an action's effect is its own (WinOpportunity, SendEmail …): if the step runs "
        "again after a crash or a lost answer, the action runs again (if a second run would "
        "hurt, read the record's state in a step before it and guard it with if:)"]
