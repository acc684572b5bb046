"""``recipe-runner demo`` (what ``make demo`` runs) starts the emulator, generates traffic and
runs the sample recipes until it stops cleanly, the F&O one included (new ``usmf`` customers
become Dataverse accounts); the recipes in recipes/ all validate."""

from __future__ import annotations

import asyncio
import json
import re
import sys
from pathlib import Path

from connectors.catalog import default_registry
from runner.recipes import load_recipes
from tests.daemon_support import daemon_env

ROOT = Path(__file__).resolve().parents[1]
GUID = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
# The log step of recipes/fo-customer-to-account.yaml, for a customer the generator made.
FO_ACCOUNT_LOG = re.compile(rf"F&O customer usmf/US-D\d{{4}} -> account {GUID} \(created\)")


def test_sample_recipes_are_valid() -> None:
    connections = {"crm": "dynamics365", "hooks": "http", "fo": "dynamics_fo"}
    loaded = load_recipes([ROOT / "recipes"], default_registry(), connections)
    assert [str(p) for p in loaded.problems] == []
    assert len(loaded.recipes) >= 4


async def test_demo_runs_sample_recipes_and_stops_cleanly(tmp_path: Path) -> None:
    env = {**daemon_env(), "XDG_STATE_HOME": str(tmp_path)}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "runner.cli", "demo", "--seconds", "9", "--port", "0",
        cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    stdout, stderr = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, stderr.decode()[-2000:]
    events = [json.loads(line) for line in stdout.decode().splitlines() if line.startswith("{")]
    done = {(e["recipe"], e["outcome"]) for e in events if e["event"] == "job.finished"}
    assert ("contact-followup", "succeeded") in done
    assert ("opportunity-won", "succeeded") in done
    assert ("fo-customer-to-account", "succeeded") in done
    assert any(e["event"] == "token.refreshed" and e.get("connection") == "fo" for e in events)
    fo_logs = [e["message"] for e in events
               if e["event"] == "recipe.log" and e["recipe"] == "fo-customer-to-account"]
    assert fo_logs and all(FO_ACCOUNT_LOG.fullmatch(m) for m in fo_logs), fo_logs
    assert not [e for e in events if e["event"] == "job.finished" and e["outcome"] == "failed"]
    assert events[-1]["event"] == "daemon.stopped"
