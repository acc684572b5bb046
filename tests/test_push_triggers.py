"""Real-time Dataverse triggers on the emulator: a recipe in ``mode: push`` registers its
table's webhook, every change the emulator posts becomes its job before the daemon answers,
a redelivery makes no second job, and in ``mode: hybrid`` deliveries the emulator drops are
brought by the slow poll — each change exactly once, across kills."""

from __future__ import annotations

import asyncio
import signal
import socket
import sys
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from structlog.contextvars import merge_contextvars
from structlog.testing import capture_logs

from emulator import RunningEmulator
from emulator.tls import TlsFiles, ensure_tls_files
from runner import cli_recipes
from runner.cli import build_parser
from runner.daemon import Daemon
from runner.settings import Settings
from runner.store import Store
from tests.d365_support import control, d365_client, insert_rows
from tests.daemon_support import daemon_env, prepare, wait_for
from tests.tokens_support import state_url

DELIVERIES = "/_emulator/webhooks/deliveries"


def watcher(mode: str, **trigger: Any) -> dict[str, Any]:
    return {"name": "live", "concurrency": 4,
            "trigger": {"type": "dynamics365.new_or_updated_record", "connection": "crm",
                        "table": "contacts", "select": ["fullname", "emailaddress1"],
                        "mode": mode, **trigger},
            "actions": [{"type": "log", "message": "{{ trigger.record.fullname }}"}]}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@asynccontextmanager
async def live_daemon(folder: Path, port: int, *, tls: TlsFiles | None = None
                      ) -> AsyncIterator[list[dict[str, Any]]]:
    """The daemon in this process, listening on ``port``, public at that address (over
    https with ``tls``' certificate)."""
    public = f"https://localhost:{port}" if tls else f"http://127.0.0.1:{port}"
    settings = Settings(recipes=[folder / "recipes"], connections=folder / "connections.yaml",
                        state_url=state_url(folder), listen=f"127.0.0.1:{port}",
                        public_url=public, worker_id="live", grace_s=2,
                        tls_cert=str(tls.server_cert) if tls else None,
                        tls_key=str(tls.server_key) if tls else None)
    daemon = Daemon(settings)
    with capture_logs(processors=[merge_contextvars]) as logs:
        task = asyncio.create_task(daemon.run())
        try:
            await wait_for(logs, lambda e: e["event"] in ("feed.push_registered",
                                                          "daemon.cannot_start"), 15)
            yield logs
        finally:
            daemon.request_stop()
            await asyncio.wait_for(task, 15)


async def job_keys(folder: Path) -> Counter[str]:
    async with await Store.open(state_url(folder)) as store:
        return Counter(job.event_key for job in await store.list_jobs("live", limit=10_000))


async def until_jobs(folder: Path, count: int, timeout_s: float = 20) -> Counter[str]:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while len(keys := await job_keys(folder)) < count:
        assert asyncio.get_running_loop().time() < deadline, f"{len(keys)} of {count} jobs"
        await asyncio.sleep(0.1)
    return keys


async def test_push_registers_receives_changes_and_a_redelivery_makes_no_second_job(
        emulator: RunningEmulator, tmp_path: Path) -> None:
    await prepare(emulator, tmp_path, {"live": watcher("push", poll_interval="1h")})
    async with live_daemon(tmp_path, free_port()) as logs:
        async with d365_client(emulator) as client:
            endpoints = await client.get_json("serviceendpoints", {"$select": "name,url"})
            steps = await client.get_json("sdkmessageprocessingsteps",
                                          {"$select": "name,filteringattributes"})
        async with emulator.client_session() as http:
            ids = await insert_rows(http, emulator, "contact", [
                {"firstname": f"P{i}", "lastname": "Push"} for i in range(3)])
        keys = await until_jobs(tmp_path, 3)
        await control(emulator, "POST", DELIVERIES, {"action": "duplicate", "count": 1})
        async with emulator.client_session() as http:
            (again,) = await insert_rows(http, emulator, "contact", [
                {"firstname": "Dup", "lastname": "Push"}])
        await until_jobs(tmp_path, 4)
        delivered = await control(emulator, "GET", f"{DELIVERIES}?wait_s=5")
        async with d365_client(emulator) as client:
            await client.request("PATCH", f"contacts({ids[0]})",
                                 json_body={"lastname": "Changed"}, headers={"If-Match": "*"})
        updated = await until_jobs(tmp_path, 5)
    (endpoint,) = endpoints["value"]
    assert endpoint["name"].startswith("recipe-runner feed:dynamics365.new_or_updated_record")
    assert endpoint["url"].startswith("http://127.0.0.1:") and "/dataverse/" in endpoint["url"]
    assert sorted(s["name"].rsplit(": ", 1)[1] for s in steps["value"]) == ["Create", "Update"]
    assert {k.split(":")[0] for k in keys} == set(ids)
    assert sum(1 for d in delivered["deliveries"] if d.get("record_id") == again) == 2
    assert list(updated.values()) == [1] * 5  # the duplicate made no second job
    assert len({k for k in updated if k.startswith(ids[0])}) == 2  # created, then updated
    names = [e["message"] for e in logs if e["event"] == "recipe.log"]
    assert "Dup Push" in names and "P0 Changed" in names


async def start_live(options: list[str], port: int) -> asyncio.subprocess.Process:
    """``recipe-runner run`` listening on ``port`` and public there; returns once its feed's
    webhook is registered."""
    env = {**daemon_env(), "RECIPE_RUNNER_LISTEN": f"127.0.0.1:{port}",
           "RECIPE_RUNNER_PUBLIC_URL": f"http://127.0.0.1:{port}"}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "runner.cli", "run", *options, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
    assert process.stdout is not None
    async with asyncio.timeout(20):
        while b'"feed.push_registered"' not in await process.stdout.readline():
            assert process.returncode is None
    asyncio.get_running_loop().create_task(process.stdout.read())  # keep the pipe drained
    return process


async def test_the_listener_serves_https_for_dataverse(
        emulator: RunningEmulator, tmp_path: Path) -> None:
    tls = ensure_tls_files(tmp_path / "listener-tls")  # a CA of its own, not the emulator's
    await control(emulator, "POST", "/_emulator/webhooks/settings",
                  {"ca_file": str(tls.ca_cert)})
    labelled = watcher("push", poll_interval="1h", include_labels=True,
                       select=["fullname", "statuscode"])
    labelled["actions"] = [{"type": "log", "message": "{{ trigger.record['statuscode@label'] }}"}]
    await prepare(emulator, tmp_path, {"live": labelled})
    async with live_daemon(tmp_path, free_port(), tls=tls) as logs:
        async with d365_client(emulator) as client:
            (endpoint,) = (await client.get_json("serviceendpoints", {"$select": "url"}))["value"]
        async with emulator.client_session() as http:
            (made,) = await insert_rows(http, emulator, "contact", [{"lastname": "Secure"}])
        keys = await until_jobs(tmp_path, 1)
        await wait_for(logs, lambda e: e["event"] == "job.finished")
    assert endpoint["url"].startswith("https://localhost:")
    assert [k.split(":")[0] for k in keys] == [made]
    assert [e["message"] for e in logs if e["event"] == "recipe.log"] == ["Active"]


async def test_hybrid_brings_dropped_deliveries_and_survives_kills_exactly_once(
        emulator: RunningEmulator, tmp_path: Path) -> None:
    options = await prepare(emulator, tmp_path, {"live": watcher(
        "hybrid", poll_interval="2s", lookback="60s", safety_lag="0s")})
    await control(emulator, "POST", "/_emulator/webhooks/settings", {"seed": 7})
    await control(emulator, "POST", DELIVERIES, {"action": "drop", "probability": 0.3})
    port, made = free_port(), []
    for round_n in range(3):  # killed twice mid-flow, then left to finish
        daemon = await start_live(options, port)
        async with emulator.client_session() as http:
            made += await insert_rows(http, emulator, "contact", [
                {"firstname": f"H{round_n}-{i}", "lastname": "Hybrid"} for i in range(20)])
        if round_n < 2:
            await asyncio.sleep(0.2 * (round_n + 1))
            daemon.send_signal(signal.SIGKILL)
            await daemon.wait()
    try:
        keys = await until_jobs(tmp_path, len(made), timeout_s=60)
        await asyncio.sleep(4)  # two more polls: nothing further may come
        keys = await job_keys(tmp_path)
    finally:
        daemon.terminate()
        await daemon.wait()
    delivered = await control(emulator, "GET", f"{DELIVERIES}?wait_s=5")
    assert delivered["counts"].get("dropped", 0) >= 5  # the poll had work to do
    assert {k.split(":")[0] for k in keys} == set(made)  # none missed
    assert list(keys.values()) == [1] * len(made)  # none twice


async def test_push_with_changed_columns_registers_filtering_and_fires_for_them_only(
        emulator: RunningEmulator, tmp_path: Path) -> None:
    await prepare(emulator, tmp_path, {"live": watcher(
        "push", poll_interval="1h", changed_columns=["lastname"])})
    async with live_daemon(tmp_path, free_port()):
        async with d365_client(emulator) as client:
            steps = await client.get_json("sdkmessageprocessingsteps",
                                          {"$select": "name,filteringattributes"})
        async with emulator.client_session() as http:
            (made,) = await insert_rows(http, emulator, "contact", [{"lastname": "A"}])
        await until_jobs(tmp_path, 1)
        async with d365_client(emulator) as client:
            for change in ({"emailaddress1": "a@x.test"}, {"lastname": "B"}):
                await client.request("PATCH", f"contacts({made})", json_body=change,
                                     headers={"If-Match": "*"})
        keys = await until_jobs(tmp_path, 2)
        await control(emulator, "GET", f"{DELIVERIES}?wait_s=5")
        keys = await job_keys(tmp_path)
    filtering = {s["name"].rsplit(": ", 1)[1]: s["filteringattributes"] for s in steps["value"]}
    assert filtering == {"Create": None, "Update": "lastname"}
    assert len(keys) == 2  # the create, and the lastname change; not the e-mail change


async def test_recipes_unregister_removes_the_registration_of_a_stopped_daemon(
        emulator: RunningEmulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    options = await prepare(emulator, tmp_path, {"live": watcher("hybrid")})
    async with live_daemon(tmp_path, free_port()):
        pass  # registered, then stopped
    outputs = []
    for _ in range(2):
        args = build_parser().parse_args(["recipes", "unregister", "live", *options])
        assert await asyncio.to_thread(cli_recipes.main, args) == 0
        outputs.append(capsys.readouterr().out.strip())
    async with d365_client(emulator) as client:
        endpoints = await client.get_json("serviceendpoints", {"$select": "name"})
        steps = await client.get_json("sdkmessageprocessingsteps", {"$select": "name"})
    assert outputs[0].startswith("removed the webhook registration 'recipe-runner feed:")
    assert outputs[1].startswith("no webhook registration named") and endpoints["value"] == []
    assert steps["value"] == []
