"""Item 11 of issue 17: a state store that cannot be opened is one ``daemon.cannot_start``
line naming the store and the cause, exit 2 (not a traceback and exit 1, which systemd
restarts forever); a full disk makes ``/readyz`` not ready and webhooks answer 503 with
``Retry-After`` while ``/healthz`` stays 200.

The read-only and full disks are real: small tmpfs mounts (skipped where mounting is not
allowed)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from structlog.testing import capture_logs

from runner.daemon import Daemon
from runner.settings import Settings
from tests.daemon_support import daemon_env
from tests.hostile.support import TICK, assert_healthy, hostile_daemon


def _mount_tmpfs(where: Path, options: str) -> Iterator[Path]:
    where.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)],
                             capture_output=True, text=True, check=False)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


@pytest.fixture
def read_only_folder(tmp_path: Path) -> Iterator[Path]:
    yield from _mount_tmpfs(tmp_path / "ro", "size=1m,ro")


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    yield from _mount_tmpfs(tmp_path / "small", "size=3m")


async def _cannot_start(tmp_path: Path, state_url: str) -> str:
    (tmp_path / "recipes").mkdir(exist_ok=True)
    (tmp_path / "recipes" / "tick.yaml").write_text(TICK)
    settings = Settings(recipes=[tmp_path / "recipes"], state_url=state_url, listen="off")
    with capture_logs() as logs:
        code = await asyncio.wait_for(Daemon(settings).run(), 30)
    assert code == 2
    [line] = [e for e in logs if e["event"] == "daemon.cannot_start"]
    return str(line["reason"])


def test_unreachable_postgresql_is_one_json_line_and_exit_2(tmp_path: Path) -> None:
    (tmp_path / "recipes").mkdir()
    (tmp_path / "recipes" / "tick.yaml").write_text(TICK)
    run = subprocess.run(
        [sys.executable, "-m", "runner.cli", "run", "--recipes", str(tmp_path / "recipes"),
         "--state", "postgresql://app:pw-never-shown@127.0.0.1:1/recipes"],
        capture_output=True, text=True, env=daemon_env(), timeout=60, check=False)
    lines = [json.loads(line) for line in run.stdout.splitlines()]
    assert run.returncode == 2, run.stderr[-2000:]
    assert "Traceback" not in run.stderr + run.stdout
    [line] = [e for e in lines if e["event"] == "daemon.cannot_start"]
    assert line["reason"] == ("cannot open the state store (PostgreSQL database 'recipes' at "
                              "127.0.0.1:1 as 'app'): connection refused (is the server "
                              "running, and on this port?)")
    assert "pw-never-shown" not in run.stdout + run.stderr


async def test_missing_postgresql_role_is_a_start_up_error(tmp_path: Path,
                                                          postgres_url: str) -> None:
    host_part = postgres_url.split("@", 1)[1]
    reason = await _cannot_start(tmp_path, f"postgresql://no_such_role_17@{host_part}")
    assert reason.endswith("as 'no_such_role_17'): role \"no_such_role_17\" does not exist")


async def test_read_only_state_folder_is_a_start_up_error(tmp_path: Path,
                                                         read_only_folder: Path) -> None:
    reason = await _cannot_start(tmp_path, f"sqlite:///{read_only_folder / 'state' / 's.db'}")
    assert reason == (f"cannot open the state store (SQLite file {read_only_folder}/state/s.db):"
                      f" read-only file system: {read_only_folder}/state")


async def test_full_disk_makes_readyz_not_ready_and_webhooks_503(
        tmp_path: Path, small_disk: Path) -> None:
    recipe = ("name: hook\ntrigger: {type: http.webhook, auth: none}\n"
              "actions: [{type: log, message: x}]\n")
    async with hostile_daemon(tmp_path, {"hook": recipe},
                              state_url=f"sqlite:///{small_disk / 's.db'}") as running:
        filler = small_disk / "filler"
        with filler.open("wb") as out:  # fill the disk, keeping a few pages for SQLite
            try:
                while True:
                    out.write(b"\0" * 65536)
                    out.flush()
            except OSError:
                pass
        body = json.dumps({"blob": "y" * 200_000})
        answers = []
        async with aiohttp.ClientSession() as http:
            for _ in range(20):
                async with http.post(running.base_url + "/hooks/hook", data=body,
                                     headers={"Content-Type": "application/json"}) as resp:
                    answers.append((resp.status, resp.headers.get("Retry-After"),
                                    resp.content_type))
                if answers[-1][0] == 503:
                    break
            async with http.get(running.base_url + "/readyz") as resp:
                ready = resp.status, await resp.json()
        await assert_healthy(running)
        filler.unlink()  # space again: the next delivery is taken
        await asyncio.sleep(0)
        async with aiohttp.ClientSession() as http, http.post(
                running.base_url + "/hooks/hook", data='{"after": 1}',
                headers={"Content-Type": "application/json"}) as resp:
            recovered = resp.status
    assert answers[-1] == (503, "30", "application/json"), answers
    assert ready[0] == 503
    assert any("state store cannot write: the disk is full" in p
               for p in ready[1]["problems"]), ready
    assert recovered == 202
