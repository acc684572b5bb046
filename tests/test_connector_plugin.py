"""A third-party connector, installed as a real package: examples/recipe-runner-sqlite is
built and installed by pip into a folder of its own, and ``recipe-runner`` (a subprocess with
that folder on its path) finds it through the entry-point group, lists it, validates recipes
that use it (offline and online), dry-runs them and runs real jobs."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from connectors.base import ActionSpec, Connector, Params
from connectors.catalog import InstalledConnector, build_registry

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "recipe-runner-sqlite"
RECIPE = {
    "name": "copy-orders",
    "trigger": {"type": "sqlite.new_rows", "connection": "local", "table": "orders",
                "id_column": "id"},
    "actions": [{"type": "sqlite.insert", "connection": "local", "table": "audit",
                 "key_column": "step_key",
                 "values": {"order_id": "{{ trigger.record.id }}",
                            "total": "{{ trigger.record.total }}"}}],
}


@pytest.fixture(scope="module")
def plugin_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example package, built and installed by pip (its dist-info declares the entry
    point), outside the test environment."""
    target = tmp_path_factory.mktemp("plugin-site")
    built = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
         "--no-build-isolation", "--no-index", "--target", str(target), str(EXAMPLE)],
        capture_output=True, text=True, timeout=300, check=False)
    assert built.returncode == 0, built.stderr[-3000:]
    assert list(target.glob("recipe_runner_sqlite-0.1.0.dist-info"))
    return target


@pytest.fixture
def world(tmp_path: Path) -> Iterator[Path]:
    db = tmp_path / "orders.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, total REAL)")
        conn.execute("CREATE TABLE audit (order_id INTEGER, total REAL, step_key TEXT UNIQUE)")
        conn.executemany("INSERT INTO orders (total) VALUES (?)", [(10.5,), (20.0,), (7.25,)])
    (tmp_path / "connections.yaml").write_text(yaml.safe_dump(
        {"connections": {"local": {"type": "sqlite", "path": str(db)}}}))
    (tmp_path / "recipes").mkdir()
    (tmp_path / "recipes" / "copy.yaml").write_text(yaml.safe_dump(RECIPE, sort_keys=False))
    yield tmp_path


def cli(folder: Path, plugin: Path | None, *argv: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECIPE_RUNNER_")}
    env.update(RECIPE_RUNNER_LOG_FORMAT="json", RECIPE_RUNNER_LISTEN="off")
    if plugin is not None:
        env["PYTHONPATH"] = str(plugin)
    return subprocess.run([sys.executable, "-m", "runner.cli", *argv], cwd=folder, env=env,
                          capture_output=True, text=True, timeout=120, check=False)


def options(folder: Path) -> list[str]:
    return ["--connections", str(folder / "connections.yaml"), "--state",
            f"sqlite:///{folder / 'state.db'}"]


def audit_rows(folder: Path) -> list[tuple[int, float]]:
    with sqlite3.connect(folder / "orders.db") as conn:
        return list(conn.execute("SELECT order_id, total FROM audit ORDER BY order_id"))


def test_connectors_list_shows_the_plugin_and_where_it_comes_from(
    plugin_dir: Path, tmp_path: Path
) -> None:
    listed = cli(tmp_path, plugin_dir, "connectors", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    rows = {row["name"]: row for row in json.loads(listed.stdout)["connectors"]}
    sqlite = rows["sqlite"]
    assert sqlite["distribution"] == "recipe-runner-sqlite 0.1.0"
    assert sqlite["location"] == str(plugin_dir / "rr_sqlite")
    assert sqlite["connection_types"] == ["sqlite"]
    assert sqlite["triggers"] == ["sqlite.new_rows"] and sqlite["actions"] == ["sqlite.insert"]
    assert rows["dynamics365"]["distribution"].startswith("recipe-runner ")  # same mechanism
    text = cli(tmp_path, plugin_dir, "connectors", "list").stdout
    assert "sqlite  recipe-runner-sqlite 0.1.0  (rr_sqlite:CONNECTOR)" in text


def test_validate_knows_the_plugin_only_when_installed(plugin_dir: Path, world: Path) -> None:
    recipes = str(world / "recipes")
    without = cli(world, None, "validate", recipes, "--connections",
                  str(world / "connections.yaml"))
    valid = cli(world, plugin_dir, "validate", recipes, "--connections",
                str(world / "connections.yaml"))

    assert without.returncode != 0
    assert "unknown connection type 'sqlite'" in without.stdout + without.stderr
    assert valid.returncode == 0, valid.stdout + valid.stderr


def test_validate_online_runs_the_plugins_check(plugin_dir: Path, world: Path) -> None:
    broken = {**RECIPE, "actions": [{**RECIPE["actions"][0],
                                     "values": {"order_idd": "{{ trigger.record.id }}"}}]}
    (world / "recipes" / "copy.yaml").write_text(yaml.safe_dump(broken, sort_keys=False))

    checked = cli(world, plugin_dir, "validate", str(world / "recipes"), "--online",
                  *options(world))

    assert checked.returncode == 1
    assert "copy.yaml:" in checked.stderr  # problems go to stderr, at the recipe's line
    assert "table audit has no column 'order_idd' (did you mean 'order_id'?)" in checked.stderr


def test_dry_run_then_real_jobs_through_the_plugin(plugin_dir: Path, world: Path) -> None:
    args = ["--recipes", str(world / "recipes"), *options(world)]
    dry = cli(world, plugin_dir, "run", *args, "--dry-run", "--json")
    assert dry.returncode == 0, dry.stderr[-3000:]
    assert "10.5" in dry.stdout and audit_rows(world) == []  # rendered, nothing written

    first = cli(world, plugin_dir, "run", *args, "--burst")
    second = cli(world, plugin_dir, "run", *args, "--burst")

    assert first.returncode == 0, first.stderr[-3000:] + first.stdout[-3000:]
    finished = [json.loads(line) for line in first.stdout.splitlines()
                if '"job.finished"' in line]
    assert [e["outcome"] for e in finished] == ["succeeded"] * 3
    assert second.returncode == 0
    assert audit_rows(world) == [(1, 10.5), (2, 20.0), (3, 7.25)]


def test_a_clashing_or_broken_connector_is_left_out_and_named() -> None:
    async def run(params: Params, ctx: object) -> dict[str, object]:
        return {}

    spec = ActionSpec(key="acme.ping", params=Params, run=run, summary="ping")
    first = InstalledConnector("acme", "acme:C", "acme 1.0", "/x", Connector("acme",
                                                                             actions=(spec,)))
    clash = InstalledConnector("acme2", "acme2:C", "acme2 0.1", "/y",
                               Connector("acme2", actions=(spec, ActionSpec(
                                   key="acme2.other", params=Params, run=run, summary="o"))))
    broken = InstalledConnector("gone", "gone:C", "gone 0.1", "/z", None,
                                "ModuleNotFoundError: No module named 'gone'")

    registry, listed = build_registry([first, clash, broken])

    assert set(registry.actions) == {"acme.ping"}  # nothing of the clashing one, not half
    assert listed[1].error == ("action 'acme.ping' is registered twice (first by acme "
                               "(acme 1.0))")
    assert listed[2].error and not listed[2].loaded
