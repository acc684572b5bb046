"""``recipe-runner run`` as a subprocess against the emulator: every Dataverse record
becomes exactly one job whose steps reach their targets; a second run adds nothing."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from emulator import RunningEmulator
from tests.d365_support import insert_rows, iso
from tests.daemon_support import prepare, run_daemon
from tests.tokens_support import CLIENT_SECRET

SINK = "/_emulator/webhooks/contacts"


def relay_recipe() -> dict[str, Any]:
    return {
        "name": "contact-relay",
        "concurrency": 4,
        "trigger": {"type": "dynamics365.new_or_updated_record", "connection": "crm",
                    "table": "contacts", "select": ["contactid", "fullname", "modifiedon"],
                    "since": "beginning", "page_size": 40},
        "actions": [
            {"id": "post", "type": "http.request", "connection": "emulator", "method": "POST",
             "url": SINK,
             "json": {"id": "{{ trigger.record.contactid }}",
                      "name": "{{ trigger.record.fullname }}"}},
            {"type": "log", "message": "relayed {{ trigger.record.fullname }}"},
        ],
    }


async def received(emulator: RunningEmulator) -> list[dict[str, Any]]:
    async with emulator.client_session() as http, http.get(emulator.base_url + SINK) as resp:
        return list((await resp.json())["received"])


async def test_each_record_becomes_one_job_and_a_rerun_adds_none(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    args = await prepare(emulator, tmp_path, {"relay": relay_recipe()})
    an_hour_ago = time.time() - 3600
    rows = [{"firstname": f"P{i}", "lastname": "O'Neil", "modifiedon": iso(an_hour_ago + i // 7)}
            for i in range(120)]  # seven rows share each second, across page boundaries
    async with emulator.client_session() as http:
        ids = await insert_rows(http, emulator, "contact", rows)

    first = await run_daemon(*args, "--burst")
    assert first.returncode == 0, first.stderr
    posts = await received(emulator)
    assert sorted(p["id"] for p in posts) == sorted(ids)
    assert {p["name"] for p in posts} == {f"P{i} O'Neil" for i in range(120)}
    finished = [e for e in first.events() if e["event"] == "job.finished"]
    assert len(finished) == 120 and {e["outcome"] for e in finished} == {"succeeded"}
    assert CLIENT_SECRET not in first.stdout + first.stderr

    second = await run_daemon(*args, "--burst")
    assert second.returncode == 0, second.stderr
    assert len(await received(emulator)) == 120
    assert not [e for e in second.events() if e["event"] == "job.finished"]


async def test_dry_run_renders_dataverse_steps_without_writing(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    args = await prepare(emulator, tmp_path, {"relay": relay_recipe()})
    async with emulator.client_session() as http:
        row = {"firstname": "Dry", "lastname": "Run", "modifiedon": iso(time.time() - 600)}
        await insert_rows(http, emulator, "contact", [row])
    run = await run_daemon(*args, "--dry-run", "--json")
    assert run.returncode == 0, run.stderr
    (preview,) = json.loads(run.stdout)  # logs went to stderr
    (event,) = preview["events"]
    post = event["steps"][0]
    assert post["outcome"] == "run" and post["params"]["json"]["name"] == "Dry Run"
    assert await received(emulator) == []  # nothing was sent
