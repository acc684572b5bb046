"""Items 1-4 of issue 17: a connection's credentials stay with its origin, and no encoding
of a secret (or a file behind a reference) reaches the job history, the status page or a
log line."""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from structlog.testing import capture_logs

from runner import cli
from runner.daemon import Daemon
from runner.settings import Settings
from tests.daemon_support import wait_for
from tests.hostile.servers import recording_server
from tests.hostile.support import HostileDaemon, assert_healthy, hostile_daemon

API_KEY = "k3y-Never-Leaves-Home"
PASSWORD = "s3cret-Basic-Passw0rd"
RELAY = """\
name: relay
trigger: {type: http.webhook, auth: none}
actions:
  - id: call
    type: http.request
    connection: sink
    method: POST
    url: "{{ trigger.record.body.url }}"
    headers: {X-Trace: "trace-{{ trigger.record.body.n }}"}
    json: {n: "{{ trigger.record.body.n }}"}
"""


def sink(base_url: str, auth: str = "header", **extra: Any) -> str:
    fields = {"type": "http", "base_url": base_url, "auth": auth, **extra}
    if auth == "header":
        fields.update(header_name="X-Api-Key", header_value="${env:SINK_KEY}")
    if auth == "basic":
        fields.update(username="sinkuser", password="${env:SINK_PASSWORD}")
    return json.dumps({"connections": {"sink": fields}})


async def deliver(running: HostileDaemon, body: dict[str, Any]) -> dict[str, Any]:
    """POST ``body`` to the relay recipe; the finished job's ``job.finished`` line."""
    async with aiohttp.ClientSession() as http, http.post(
            running.base_url + "/hooks/relay", json=body) as resp:
        assert resp.status == 202, await resp.text()
        job = (await resp.json())["job"]
    return await wait_for(running.logs, lambda e: e["event"] == "job.finished"
                          and e.get("job") == job)


@pytest.fixture(autouse=True)
def secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SINK_KEY", API_KEY)
    monkeypatch.setenv("SINK_PASSWORD", PASSWORD)


async def test_credentials_are_not_sent_to_an_origin_a_record_names(tmp_path: Path) -> None:
    async with recording_server() as home, recording_server() as evil, hostile_daemon(
            tmp_path, {"relay": RELAY}, connections=sink(home.url)) as running:
        stolen = await deliver(running, {"url": f"{evil.url}/collect", "n": 1})
        ok = await deliver(running, {"url": "/orders", "n": 2})
        await assert_healthy(running)
    assert evil.received == []
    assert stolen["outcome"] == "failed"
    assert f"{evil.url} is not this connection's origin ({home.url})" in stolen["error"]
    assert ok["outcome"] == "succeeded"
    assert home.received[0]["headers"]["X-Api-Key"] == API_KEY


async def test_allowed_hosts_widen_where_credentials_go(tmp_path: Path) -> None:
    async with recording_server() as home, recording_server("localhost") as other, \
            hostile_daemon(tmp_path, {"relay": RELAY},
                           connections=sink(home.url, allowed_hosts=["localhost"])) as running:
        done = await deliver(running, {"url": f"{other.url}/x", "n": 1})
    assert done["outcome"] == "succeeded"
    assert other.received[0]["headers"]["X-Api-Key"] == API_KEY


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
async def test_a_cross_origin_redirect_drops_credentials_and_custom_headers(
        status: int, tmp_path: Path) -> None:
    async with recording_server() as home, recording_server() as evil, hostile_daemon(
            tmp_path, {"relay": RELAY}, connections=sink(home.url)) as running:
        target = f"{evil.url}/landing"
        done = await deliver(running, {"url": f"/go?status={status}&redirect={target}", "n": 7})
    assert done["outcome"] == "succeeded"
    assert home.received[0]["headers"]["X-Api-Key"] == API_KEY
    assert home.received[0]["headers"]["X-Trace"] == "trace-7"
    [landed] = evil.received
    assert "X-Api-Key" not in landed["headers"] and "X-Trace" not in landed["headers"]
    assert "Authorization" not in landed["headers"]
    assert landed["method"] == ("POST" if status in (307, 308) else "GET")


async def test_same_origin_redirect_keeps_the_credentials(tmp_path: Path) -> None:
    async with recording_server() as home, hostile_daemon(
            tmp_path, {"relay": RELAY}, connections=sink(home.url)) as running:
        done = await deliver(running, {"url": "/go?redirect=/final", "n": 1})
    assert done["outcome"] == "succeeded"
    assert [r["path"] for r in home.received] == ["/go", "/final"]
    assert home.received[1]["headers"]["X-Api-Key"] == API_KEY


async def test_echoed_basic_credential_is_masked_in_error_history_and_page(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    encoded = base64.b64encode(f"sinkuser:{PASSWORD}".encode()).decode()
    async with recording_server() as home, hostile_daemon(
            tmp_path, {"relay": RELAY}, connections=sink(home.url, "basic")) as running:
        failed = await deliver(running, {"url": "/x?echo=1", "n": 1})
        async with aiohttp.ClientSession() as http, \
                http.get(f"{running.base_url}/jobs/{failed['job']}") as resp:
            page = await resp.text()
    assert home.received[0]["headers"]["Authorization"] == f"Basic {encoded}"
    assert failed["outcome"] == "failed" and "answered 400" in failed["error"]
    monkeypatch.delenv("SINK_PASSWORD")  # the operator's shell knows no secret
    code = await asyncio.to_thread(cli.main, ["jobs", "show", failed["job"], "--json",
                                              "--state", f"sqlite:///{tmp_path / 'state.db'}"])
    shown = capsys.readouterr().out
    assert code == 0 and "answered 400" in shown
    for text in (failed["error"], page, shown, json.dumps(running.logs)):
        assert encoded not in text and PASSWORD not in text and encoded[:16] not in text


async def test_echoed_credential_in_a_successful_answer_is_not_stored(tmp_path: Path) -> None:
    async with recording_server() as home, hostile_daemon(
            tmp_path, {"relay": RELAY}, connections=sink(home.url)) as running:
        done = await deliver(running, {"url": "/x?echo=1&status=200", "n": 1})
        assert running.daemon.engine is not None
        detail = await running.daemon.engine.store.get_job(done["job"])
    assert done["outcome"] == "succeeded" and detail is not None
    stored = json.dumps([step.output for step in detail.steps])
    assert "you_sent" in stored and API_KEY not in stored


async def test_a_file_reference_in_a_plain_field_never_shows_the_file(tmp_path: Path) -> None:
    shadow = tmp_path / "shadow"
    shadow.write_text("root:$6$saltsalt$hashhashhash:19000:0:99999:7:::\ndaemon:*:19000::\n")
    connections = json.dumps({"connections": {"crm": {
        "type": "dynamics365", "auth": "client_credentials", "environment": "crm.example",
        "authority_host": "127.0.0.1:9", "tenant_id": f"${{file:{shadow}}}",
        "client_id": "11111111-1111-4111-8111-111111111111", "client_secret": "${env:SINK_KEY}"}}})
    (tmp_path / "connections.yaml").write_text(connections)
    (tmp_path / "recipes").mkdir()
    settings = Settings(recipes=[tmp_path / "recipes"], connections=tmp_path / "connections.yaml",
                        state_url=f"sqlite:///{tmp_path / 's.db'}", listen="off")
    with capture_logs() as logs:
        code = await asyncio.wait_for(Daemon(settings).run(), 20)
    assert code == 2
    text = json.dumps(logs)
    assert "saltsalt" not in text and "root:" not in text
    [problem] = [e["problem"] for e in logs if e["event"] == "config.problem"]
    assert problem.endswith(f"connections.crm.tenant_id: ${{file:{shadow}}} does not hold one "
                            "line of text (line breaks, control characters or more than 8192 "
                            "characters); point it at the right file (dynamics365)")
