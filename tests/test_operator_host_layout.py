"""The README's operator commands, run as an operator would on a systemd host: the daemon's
state and its connections live in separate folders (``/var/lib/recipe-runner``,
``/etc/recipe-runner``), the secrets are only in the daemon's environment, and the operator's
shell is somewhere else with just the exports the README gives. Every command works (the
backfill is handed to the daemon); without the exports each says where it looked."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shlex
import signal
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from emulator import RunningEmulator
from tests.ops_support import GHOST, contacts_recipe, seed_contacts
from tests.tokens_support import CLIENT_SECRET, connection, seed_tenant

README = Path(__file__).resolve().parents[1] / "README.md"
JOB_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
DAY_S = 86_400


def readme_section(title: str) -> str:
    text = README.read_text(encoding="utf-8")
    return text.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]


def readme_operator_commands() -> list[list[str]]:
    """Every ``$ recipe-runner …`` line of "Operating it", without its comment."""
    lines = re.findall(r"^\$ recipe-runner (.+)$", readme_section("Operating it"), re.M)
    return [shlex.split(line.split("  #", 1)[0]) for line in lines]


def readme_exports() -> dict[str, str]:
    return dict(re.findall(r"^export (RECIPE_RUNNER_[A-Z_]+)=(\S+)$",
                           readme_section("Operating it"), re.M))


def host(tmp_path: Path) -> dict[str, Path]:
    """Where the unit keeps things, under ``tmp_path`` (``/etc``, ``/var/lib``, a home)."""
    paths = {"etc": tmp_path / "etc" / "recipe-runner", "state": tmp_path / "var" / "lib"
             / "recipe-runner", "home": tmp_path / "home" / "ops"}
    for path in paths.values():
        path.mkdir(parents=True)
    return paths


def operator_env(paths: dict[str, Path], exports: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECIPE_RUNNER_")}
    env.pop("CRM_CLIENT_SECRET", None)
    for name, value in exports.items():  # the README's paths, mapped under tmp_path
        value = value.replace("/etc/recipe-runner", str(paths["etc"]))
        env[name] = value.replace("/var/lib/recipe-runner", str(paths["state"]))
    return env


async def command(argv: list[str], env: dict[str, str], cwd: Path) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "runner.cli", *argv, env=env, cwd=cwd,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), 90)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def start_daemon(paths: dict[str, Path]) -> asyncio.subprocess.Process:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECIPE_RUNNER_")}
    env.update(RECIPE_RUNNER_RECIPES=str(paths["etc"] / "recipes"),
               RECIPE_RUNNER_CONNECTIONS=str(paths["etc"] / "connections.yaml"),
               RECIPE_RUNNER_STATE=f"sqlite:///{paths['state'] / 'recipe-runner.db'}",
               RECIPE_RUNNER_LOG_FORMAT="json", RECIPE_RUNNER_LISTEN="off",
               RECIPE_RUNNER_WORKER_ID="host", CRM_CLIENT_SECRET=CLIENT_SECRET)
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "runner.cli", "run", env=env, cwd=paths["state"],
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)


async def until_jobs(env: dict[str, str], cwd: Path, done: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        code, out, _ = await command(["jobs", "list", "--json"], env, cwd)
        jobs = json.loads(out) if code == 0 else []
        if sum(j["status"] in ("succeeded", "failed") for j in jobs) >= done:
            return list(jobs)
        await asyncio.sleep(0.5)
    raise AssertionError("the daemon did not finish the jobs")


def with_real_values(argv: list[str], job_id: str, since: str, until: str) -> list[str]:
    values = {"2026-11-01": since, "2026-11-15": until}
    return [JOB_ID.sub(job_id, values.get(arg, arg)) for arg in argv]


async def test_the_readme_operator_commands_work_on_a_systemd_like_host(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    paths = host(tmp_path)
    await seed_tenant(emulator)
    conn = {**connection(emulator), "client_secret": "${env:CRM_CLIENT_SECRET}"}
    (paths["etc"] / "connections.yaml").write_text(yaml.safe_dump({"connections": {"crm": conn}}))
    (paths["etc"] / "recipes").mkdir()
    recipe = contacts_recipe("new-contact", "crm")
    (paths["etc"] / "recipes" / "new-contact.yaml").write_text(yaml.safe_dump(recipe))
    await seed_contacts(emulator, ["Lovelace", GHOST])
    commands = readme_operator_commands()
    exports = readme_exports()
    assert set(exports) == {"RECIPE_RUNNER_STATE", "RECIPE_RUNNER_RECIPES",
                            "RECIPE_RUNNER_CONNECTIONS"}
    bare = operator_env(paths, {})
    env = operator_env(paths, exports)

    daemon = await start_daemon(paths)
    try:
        jobs = await until_jobs(env, paths["home"], 2)
        failed = next(j["id"] for j in jobs if j["status"] == "failed")
        unexported = await command(["jobs", "list"], bare, paths["home"])
        since, until = (time.strftime("%Y-%m-%d", time.gmtime(time.time() + d * DAY_S))
                        for d in (-2, 1))
        results = [(argv, await command(with_real_values(argv, failed, since, until), env,
                                        paths["home"])) for argv in commands]
    finally:
        daemon.send_signal(signal.SIGTERM)
        out, err = await asyncio.wait_for(daemon.communicate(), 30)
    assert daemon.returncode == 0, err.decode()[-2000:]

    code, _out, err_text = unexported
    assert code == 1
    assert err_text.startswith(f"error: no state store at {paths['home'] / 'state'}")
    assert "RECIPE_RUNNER_STATE" in err_text

    ran = {" ".join(argv[:2]) for argv, _ in results}
    assert {"recipes list", "recipes disable", "recipes enable", "recipes backfill",
            "jobs list", "jobs show", "jobs retry", "connections list"} <= ran
    for argv, (code, stdout, stderr) in results:
        assert code == 0, f"{argv}: {stderr}"
        assert "CRM_CLIENT_SECRET" not in stdout and CLIENT_SECRET not in stdout + stderr
    outputs = {" ".join(argv): stdout for argv, (_, stdout, _) in results}
    errors = {" ".join(argv): stderr for argv, (_, _, stderr) in results}
    assert "new-contact" in outputs["recipes list"]
    backfill = next(v for k, v in outputs.items() if k.startswith("recipes backfill"))
    assert re.search(r": 2 events, 0 new jobs, 2 duplicates$", backfill.strip()), backfill
    handed = next(v for k, v in errors.items() if k.startswith("recipes backfill"))
    assert "the running daemon does the backfill" in handed, handed
    show = next(v for k, v in outputs.items() if k.startswith("jobs show"))
    assert f"job       {failed}" in show
    retry = next(v for k, v in outputs.items() if JOB_ID.fullmatch(k.split()[-1])
                 and k.startswith("jobs retry"))
    assert retry.strip() == "1 failed job set to pending"
    assert re.search(r"^crm\s+dynamics365\s+client_credentials\s+\S+\s+ok",
                     outputs["connections list"], re.M), outputs["connections list"]
    events = [json.loads(line)["event"] for line in out.decode().splitlines()]
    assert "recipe.backfill_finished" in events, str(events)
