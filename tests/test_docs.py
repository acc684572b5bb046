"""``docs/reference.md`` is generated from the connectors' schemas and kept in step."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.catalog import default_registry
from runner.cli import main
from runner.connections.models import CONNECTION_MODELS
from runner.docs import REGENERATE, reference_markdown

PROJECT_ROOT = Path(__file__).resolve().parent.parent
COMMITTED = PROJECT_ROOT / "docs" / "reference.md"


def test_committed_reference_matches_the_schemas() -> None:
    fresh = reference_markdown(default_registry())
    committed = COMMITTED.read_text(encoding="utf-8") if COMMITTED.exists() else ""
    assert committed == fresh, (
        f"docs/reference.md is stale: a trigger, action or connection model changed. "
        f"Regenerate it from the project root with `{REGENERATE}` "
        f"(or `.venv/bin/python -m runner.cli docs`) and commit the result.")


def test_reference_documents_every_trigger_action_and_connection_type() -> None:
    text = reference_markdown(default_registry())
    registry = default_registry()
    for key in (*registry.triggers, *registry.actions):
        assert f"### `{key}`" in text
    for kind in CONNECTION_MODELS:
        assert f"### `{kind}` connection" in text
    schedule = text.split("### `schedule`", 1)[1].split("###", 1)[0]
    assert '| `cron` | string | optional | Five-field crontab expression. | `"0 7 * * 1-5"` |' \
        in schedule
    assert "duration (`30s`, `5m`, `1h` or seconds)" in schedule


def test_generation_is_deterministic() -> None:
    assert reference_markdown(default_registry()) == reference_markdown(default_registry())


def test_docs_check_fails_on_a_stale_file_and_says_how_to_regenerate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "reference.md"
    target.write_text("# old\n")
    assert main(["docs", "--check", "--output", str(target)]) == 1
    assert REGENERATE in capsys.readouterr().err
    assert main(["docs", "--output", str(target)]) == 0
    assert main(["docs", "--check", "--output", str(target)]) == 0
    assert target.read_text() == reference_markdown(default_registry())


# -- the recipe author's part: every example is a recipe that validates --------------------

CONNECTIONS_FILE = """\
connections:
  crm: {type: dynamics365, auth: client_credentials, environment: contoso.crm.dynamics.com,
        tenant_id: 00000000-0000-4000-8000-000000000001,
        client_id: 11111111-1111-4111-8111-111111111111,
        client_secret: "${env:DOCS_TEST_UNSET_SECRET}"}
  fo: {type: dynamics_fo, auth: client_credentials, environment: contoso.operations.dynamics.com,
       tenant_id: 00000000-0000-4000-8000-000000000001,
       client_id: 11111111-1111-4111-8111-111111111111,
       client_secret: "${env:DOCS_TEST_UNSET_SECRET}"}
  hooks: {type: http, base_url: "https://hooks.example.com"}
"""


def yaml_blocks(section: str) -> list[str]:
    return [block.split("```", 1)[0] for block in section.split("```yaml\n")[1:]]


def sections(text: str) -> dict[str, str]:
    """``### heading`` → the text up to the next heading of any level."""
    found = {}
    for part in text.split("\n### ")[1:]:
        heading, _, body = part.partition("\n")
        found[heading] = body.split("\n## ", 1)[0]
    return found


def test_every_trigger_and_action_has_events_or_returns_and_an_example() -> None:
    registry = default_registry()
    by_heading = sections(COMMITTED.read_text(encoding="utf-8"))
    for key in registry.triggers:
        assert "**Events**: `trigger.kind` is" in by_heading[f"`{key}`"], key
        assert len(yaml_blocks(by_heading[f"`{key}`"])) == 1, key
    for key in registry.actions:
        assert "**Returns** (`steps.<id>`):" in by_heading[f"`{key}`"], key
        assert len(yaml_blocks(by_heading[f"`{key}`"])) == 1, key
    reference = COMMITTED.read_text(encoding="utf-8")
    for needle in ("`trigger.record`", "`trigger.kind`", "`trigger.key`", "`steps.<id>`",
                   "`vars`", "`job.id`", "### `for_each`", "### `stop`", "| `max_pending` |",
                   "| `variables` |", "## Cookbook"):
        assert needle in reference, needle


def test_each_generated_example_and_cookbook_recipe_validates(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DOCS_TEST_UNSET_SECRET", raising=False)
    (tmp_path / "connections.yaml").write_text(CONNECTIONS_FILE)
    recipes = tmp_path / "recipes"
    recipes.mkdir()
    text = COMMITTED.read_text(encoding="utf-8")
    blocks = [block for body in sections(text).values() for block in yaml_blocks(body)]
    registry = default_registry()
    assert len(blocks) >= len(registry.triggers) + len(registry.actions) + 5
    for index, block in enumerate(blocks):
        (recipes / f"r{index:02d}.yaml").write_text(block)
    code = main(["validate", str(recipes), "--connections", str(tmp_path / "connections.yaml")])
    err = capsys.readouterr().err
    assert code == 0, err
    assert err.splitlines()[-1] == f"{len(blocks)} recipe(s) valid, 0 with problems"
    problems = [line for line in err.splitlines()[:-1] if "DOCS_TEST_UNSET_SECRET" not in line
                and "is not safe to run twice" not in line]
    # Only the secrets this test leaves unset are mentioned, and the actions whose effect a
    # second run repeats (execute_action), as validate names every such step.
    assert problems == []
