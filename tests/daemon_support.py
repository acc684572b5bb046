"""PYTEST_DONT_REWRITE
Running ``recipe-runner`` as a real subprocess against the in-process emulator."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from emulator import RunningEmulator
from tests.tokens_support import connection, seed_tenant, state_url, write_connections


@dataclass
class DaemonRun:
    returncode: int
    stdout: str
    stderr: str

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.stdout.splitlines() if line.startswith("{")]


async def prepare(emulator: RunningEmulator, folder: Path, recipes: dict[str, dict[str, Any]],
                  fo: dict[str, Any] | None = None,
                  crm: dict[str, Any] | None = None) -> list[str]:
    """A tenant, ``connections.yaml`` (``crm``: Dataverse, with ``crm``'s extra fields;
    ``emulator``: HTTP to the emulator, e.g. its webhook sink; with ``fo`` given, ``fo``: F&O
    with those extra fields, e.g. ``{"data_area": "usmf"}``) and recipe files; the CLI
    options."""
    await seed_tenant(emulator)
    sink = {"type": "http", "base_url": emulator.base_url, "ca_bundle": str(emulator.ca_file)}
    connections = {"crm": {**connection(emulator), **(crm or {})}, "emulator": sink}
    if fo is not None:
        connections["fo"] = connection(emulator, type="dynamics_fo", **fo)
    write_connections(folder, connections)
    (folder / "recipes").mkdir(exist_ok=True)
    (folder / "state").mkdir(exist_ok=True)
    for name, recipe in recipes.items():
        (folder / "recipes" / f"{name}.yaml").write_text(yaml.safe_dump(recipe, sort_keys=False))
    return ["--recipes", str(folder / "recipes"), "--connections",
            str(folder / "connections.yaml"), "--state", state_url(folder)]


def daemon_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(PYTHONFAULTHANDLER="1", PYTHONUNBUFFERED="1", RECIPE_RUNNER_LOG_FORMAT="json",
               RECIPE_RUNNER_LISTEN="off", RECIPE_RUNNER_WORKER_ID="e2e-worker")
    return env


async def start_daemon(*args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "runner.cli", "run", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=daemon_env())


async def run_daemon(*args: str, timeout_s: float = 15) -> DaemonRun:
    process = await start_daemon(*args)
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), timeout_s)
    except TimeoutError:
        process.send_signal(signal.SIGABRT)  # faulthandler prints every thread's stack
        stdout, stderr = await process.communicate()
        raise AssertionError(f"the daemon did not finish in {timeout_s}s:\n"
                             f"{stdout.decode()[-3000:]}\n{stderr.decode()[-3000:]}") from None
    assert process.returncode is not None
    return DaemonRun(process.returncode, stdout.decode(), stderr.decode())


# -- waiting on an in-process daemon's captured log lines ----------------------------


async def wait_for(logs: list[dict[str, Any]], check: Callable[[dict[str, Any]], bool],
                   timeout_s: float = 8.0) -> dict[str, Any]:
    """The first captured log line for which ``check`` holds, waiting up to ``timeout_s``."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while asyncio.get_running_loop().time() < deadline:
        for entry in logs:
            if check(entry):
                return entry
        await asyncio.sleep(0.05)
    raise AssertionError(f"no matching log line in {[e['event'] for e in logs]}")


def finished(logs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The ``job.finished`` lines."""
    return [e for e in logs if e["event"] == "job.finished"]


async def until(check: Callable[[], bool], logs: list[dict[str, Any]],
                timeout_s: float = 15.0) -> None:
    """Wait until ``check()`` holds; on timeout, fail showing the last log lines."""
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            seen = [(e["event"], e.get("error") or e.get("reason") or e.get("message"))
                    for e in logs[-30:]]
            raise AssertionError(f"timed out; last log lines: {seen}")
        await asyncio.sleep(0.05)
