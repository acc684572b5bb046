"""The shipped operations kit: Prometheus alert rules checked and unit-tested by promtool
(Debian's prometheus package), and the Grafana dashboard's queries checked as PromQL. Every
metric either names must be one the daemon exports."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import yaml

from emulator import RunningEmulator
from runner.ops.metrics import Metrics
from tests.ops_support import running_daemon, seeded_files
from tests.test_ops_metrics import samples, value
from tests.tools_support import tool

ROOT = Path(__file__).resolve().parents[1]
RULES = ROOT / "deploy" / "prometheus" / "alerts.yml"
RULES_TEST = ROOT / "deploy" / "prometheus" / "alerts_test.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "recipe-runner.json"
METRIC = re.compile(r"\brecipe_runner_[a-z_]+")


def promtool(*argv: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    binary = tool("promtool", "prometheus")
    return subprocess.run([binary, *argv], capture_output=True, text=True, timeout=120,
                          check=False, cwd=cwd)


def exported_names() -> set[str]:
    """Every series name the daemon's metrics can produce."""
    names: set[str] = set()
    for family in Metrics().registry.collect():
        if family.type == "counter":
            names.add(f"{family.name}_total")
        elif family.type == "histogram":
            names |= {f"{family.name}_{s}" for s in ("bucket", "sum", "count")}
        else:
            names.add(family.name)
    return names


def dashboard_queries() -> list[str]:
    panels = json.loads(DASHBOARD.read_text())["panels"]
    return [target["expr"] for panel in panels for target in panel["targets"]]


def alert_exprs() -> list[str]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule["expr"] for group in groups for rule in group["rules"]]


def test_alert_rules_pass_promtool_check() -> None:
    checked = promtool("check", "rules", str(RULES))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 8 rules found" in checked.stdout


def test_alert_rules_unit_tests_pass() -> None:
    tested = promtool("test", "rules", RULES_TEST.name, cwd=RULES_TEST.parent)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    alerts = {r["alert"] for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]}
    tested_alerts = set(re.findall(r"alertname: (\w+)", RULES_TEST.read_text()))
    assert alerts == tested_alerts  # every alert has a test that fires it (or not)


def test_dashboard_queries_are_valid_promql(tmp_path: Path) -> None:
    queries = dashboard_queries()
    rules = {"groups": [{"name": "dashboard", "rules": [
        {"record": f"dashboard:panel_{i}", "expr": q} for i, q in enumerate(queries)]}]}
    (tmp_path / "dashboard_rules.yml").write_text(yaml.safe_dump(rules))

    checked = promtool("check", "rules", str(tmp_path / "dashboard_rules.yml"))

    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert len(queries) >= 15


def test_every_metric_named_is_one_the_daemon_exports() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] == "recipe-runner" and dashboard["panels"]
    exported = exported_names()
    named = {m for text in (*dashboard_queries(), *alert_exprs()) for m in METRIC.findall(text)}
    assert named, "no metric named"
    assert named <= exported, f"not exported: {sorted(named - exported)}"
    for wanted in ("recipe_runner_connection_ok", "recipe_runner_poll_interval_seconds",
                   "recipe_runner_live_replicas", "recipe_runner_throttled_responses_total"):
        assert wanted in named


async def test_the_alerts_new_series_come_from_a_running_daemon(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    recipe, conn = "alerts-contacts", "crm-alerts"
    await seeded_files(emulator, tmp_path, recipe, conn, ["Lovelace"])
    async with running_daemon(tmp_path) as ops:
        await ops.jobs_finished(1)
        _, text, _ = await ops.get("/metrics")
        interval_s = ops.daemon.engine.recipes[recipe].recipe.trigger.poll_interval_s

    found = samples(text)
    assert value(found, "recipe_runner_connection_ok", connection=conn) == 1
    assert value(found, "recipe_runner_poll_interval_seconds", recipe=recipe) == interval_s
