"""The daemon runs the valid recipes beside broken ones, reloads on file changes, keeps the
last good version of a recipe broken by an edit, and stops cleanly."""

from __future__ import annotations

import asyncio
from pathlib import Path

from structlog.contextvars import merge_contextvars
from structlog.testing import capture_logs

from runner.daemon import Daemon
from runner.settings import Settings
from tests.daemon_support import wait_for

TICK = """\
name: tick
trigger:
  type: schedule
  every: 1s
  poll_interval: 0.2s
actions:
  - type: log
    message: "GREETING {{ trigger.record.fire_time }}"
"""


async def test_reload_keeps_last_good_and_applies_fixes(tmp_path: Path) -> None:
    recipes = tmp_path / "recipes"
    recipes.mkdir()
    (recipes / "tick.yaml").write_text(TICK.replace("GREETING", "hello"))
    (recipes / "broken.yaml").write_text("name: broken\ntrigger: {type: nope}\nactions: []\n")
    settings = Settings(recipes=[recipes], state_url=f"sqlite:///{tmp_path / 's.db'}",
                        reload_check_s=0.1, grace_s=2, worker_id="w1", listen="off")
    daemon = Daemon(settings)
    with capture_logs(processors=[merge_contextvars]) as logs:
        task = asyncio.create_task(daemon.run())
        problem = await wait_for(logs, lambda e: e["event"] == "recipe.problem")
        assert problem["problem"].startswith("recipes/broken.yaml") or "broken.yaml:2" in \
            problem["problem"]
        await wait_for(logs, lambda e: e["event"] == "recipe.log"
                       and e["message"].startswith("hello"))

        (recipes / "tick.yaml").write_text("name: tick\ntrigger: {type: schedule}\nactions: 3\n")
        await wait_for(logs, lambda e: e["event"] == "recipe.kept_last_good")

        (recipes / "tick.yaml").write_text(TICK.replace("GREETING", "bonjour"))
        await wait_for(logs, lambda e: e["event"] == "recipe.log"
                       and e["message"].startswith("bonjour"))
        daemon.request_stop()
        assert await asyncio.wait_for(task, 10) == 0
    events = [e["event"] for e in logs]
    assert "daemon.stopped" in events
    assert events.index("recipe.stopped") > events.index("recipe.kept_last_good")
