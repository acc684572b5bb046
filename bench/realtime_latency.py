"""Benchmark: how soon a Dataverse change reaches its recipe's first step. Not a test.

One ``new_or_updated_record`` recipe on contacts whose step logs the record, in three runs
side by side: ``mode: push`` (the emulator posts each change to the daemon's listener),
``mode: poll`` every 1 s, and ``mode: poll`` every 60 s. Each run inserts ``--changes``
contacts one by one (``--gap-ms`` apart) and prints, from each insert's moment to the moment
its job's first step was recorded, the p50 / p99 / max. The emulator runs in its own process
(``bench/_emulator.py``); the daemon is ``recipe-runner run`` with SQLite state.

Goal (issue 13): push p99 ≤ 1 s on this machine.

    .venv/bin/python bench/realtime_latency.py [--changes 200] [--gap-ms 25]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _emulator import emulator_process

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.daemon_support import daemon_env, prepare

RUNS = (("push", "push", "1h"), ("poll every 1 s", "poll", "1s"),
        ("poll every 60 s", "poll", "60s"))


def recipe(mode: str, interval: str) -> dict[str, Any]:
    return {"name": "live", "concurrency": 8,
            "trigger": {"type": "dynamics365.new_or_updated_record", "connection": "crm",
                        "table": "contacts", "select": ["fullname"], "mode": mode,
                        "poll_interval": interval, "lookback": "30s", "safety_lag": "0s"},
            "actions": [{"type": "log", "level": "debug",
                         "message": "{{ trigger.record.fullname }}"}]}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def start(options: list[str], port: int, push: bool) -> asyncio.subprocess.Process:
    env = {**daemon_env(), "RECIPE_RUNNER_LISTEN": f"127.0.0.1:{port}",
           "RECIPE_RUNNER_PUBLIC_URL": f"http://127.0.0.1:{port}"}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "runner.cli", "run", *options, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
    ready = b'"feed.push_registered"' if push else b'"daemon.ready"'
    assert process.stdout is not None
    async with asyncio.timeout(30):
        while ready not in await process.stdout.readline():
            pass
    asyncio.get_running_loop().create_task(process.stdout.read())
    return process


def step_times(db: Path) -> dict[str, float]:
    """Contact id -> when its job's first step was recorded (UNIX seconds)."""
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT j.event_key, min(s.started_at) FROM jobs j JOIN job_steps s "
                            "ON s.job_id = j.id GROUP BY j.id").fetchall()
    return {key.split(":")[0]: started for key, started in rows}


async def one(label: str, mode: str, interval: str, args: argparse.Namespace) -> None:
    async with emulator_process() as emulator:
        with tempfile.TemporaryDirectory() as name:
            folder = Path(name)
            options = await prepare(emulator, folder, {"live": recipe(mode, interval)})
            db = folder / "state" / "recipe-runner.db"
            daemon = await start(options, free_port(), mode == "push")
            await asyncio.sleep(1.5 if mode == "poll" else 0.2)  # the first poll set "now"
            changed: dict[str, float] = {}
            try:
                async with emulator.client_session() as http:
                    for i in range(args.changes):
                        at = time.time()
                        async with http.post(
                                f"{emulator.base_url}/_emulator/dataverse/tables/contact/rows",
                                json={"rows": [{"firstname": f"L{i}", "lastname": label}]}
                        ) as resp:
                            (record,) = (await resp.json())["ids"]
                        changed[record] = at
                        await asyncio.sleep(args.gap_ms / 1000)
                deadline = time.monotonic() + 120
                while len(seen := step_times(db)) < len(changed):
                    if time.monotonic() > deadline:
                        break  # printed as fewer than all changes
                    await asyncio.sleep(0.25)
            finally:
                daemon.terminate()
                await daemon.wait()
    lags = sorted(seen[r] - at for r, at in changed.items() if r in seen)
    p99 = lags[int(0.99 * (len(lags) - 1))]
    print(f"{label:>16}: {len(lags)}/{len(changed)} changes | change → first step "
          f"p50 {statistics.median(lags):6.3f}s  p99 {p99:6.3f}s  max {lags[-1]:6.3f}s",
          flush=True)


async def main(args: argparse.Namespace) -> None:
    print(f"{args.changes} changes, {args.gap_ms} ms apart; load {os.getloadavg()[0]:.2f}",
          flush=True)
    for label, mode, interval in RUNS:
        await one(label, mode, interval, args)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--changes", type=int, default=200)
    parser.add_argument("--gap-ms", type=int, default=25)
    asyncio.run(main(parser.parse_args()))
