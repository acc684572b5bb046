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
