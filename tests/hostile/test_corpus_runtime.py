"""The runtime half of the hostile corpus, run through one daemon on the emulator:

* ``corpus/records.yaml``: record values an attacker controls, put into a Dataverse filter,
  a FetchXML condition and an F&O filter; each query finds exactly the record holding it.
* ``corpus/answers.yaml``: server answers and redirects met by ``http.request`` (a local
  server) and by the Dataverse connector (the emulator's faults), each with its outcome.

After every input ``/healthz`` answers within a second."""

from __future__ import annotations

import asyncio
import gzip
import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from aiohttp import web
from aiohttp.test_utils import TestServer

from emulator import RunningEmulator
from tests.d365_support import fault, insert_rows
from tests.daemon_support import wait_for
from tests.fo_support import customer, fo_api
from tests.hostile.servers import Recorder, recording_server
from tests.hostile.support import HostileDaemon, assert_healthy, hostile_daemon
from tests.tokens_support import connection, seed_tenant, write_connections

CORPUS = Path(__file__).parent / "corpus"
RECORDS: list[dict[str, Any]] = yaml.safe_load((CORPUS / "records.yaml").read_text())
ANSWERS: dict[str, list[dict[str, Any]]] = yaml.safe_load((CORPUS / "answers.yaml").read_text())
API_KEY = "k3y-for-the-answers-server"
FETCH = ('<fetch><entity name="contact"><attribute name="lastname"/><filter><condition '
         'attribute="lastname" operator="eq" value="{{ trigger.record.body.v }}"/></filter>'
         '</entity></fetch>')


def _hook(name: str, steps: list[dict[str, Any]]) -> str:
    return yaml.safe_dump({"name": name, "trigger": {"type": "http.webhook", "auth": "none"},
                           "actions": steps}, sort_keys=False)


def _count_then_log(step: dict[str, Any], count: str) -> list[dict[str, Any]]:
    return [{"id": "q", **step, "retry": {"attempts": 1}},
            {"type": "log", "message": "found {{ steps.q." + count + " }}"}]


RECIPES = {
    "dv": _hook("dv", _count_then_log({
        "type": "dynamics365.search_records", "connection": "crm", "table": "contacts",
        "select": ["lastname"], "filter": "lastname eq {{ trigger.record.body.v }}"}, "count")),
    "fetch": _hook("fetch", _count_then_log({
        "type": "dynamics365.fetchxml_query", "connection": "crm", "table": "contacts",
        "fetch_xml": FETCH}, "count")),
    "fo": _hook("fo", _count_then_log({
        "type": "dynamics_fo.search_records", "connection": "fo", "entity": "CustomersV3",
        "filter": "OrganizationName eq {{ trigger.record.body.v }}"}, "count")),
    "call": _hook("call", [{
        "id": "q", "type": "http.request", "connection": "sink", "url":
        "{{ trigger.record.body.path }}", "timeout_s": 1, "retry": {"attempts": 1}}]),
}


def test_the_runtime_corpus_is_large_enough() -> None:
    assert len(RECORDS) * 3 + len(ANSWERS["http"]) + len(ANSWERS["dataverse"]) >= 60


# -- a hostile service ---------------------------------------------------------------------


async def _answer(request: web.Request) -> web.StreamResponse:
    mode = request.path.strip("/")
    if mode == "malformed-json":
        return web.Response(text="{", content_type="application/json")
    if mode == "deep-json":
        return web.Response(text="[" * 100_000 + "]" * 100_000, content_type="application/json")
    if mode == "not-utf8":
        return web.Response(body=b"\xff\xfe\xfa", content_type="text/plain")
    if mode in ("big", "huge"):
        size = 2 if mode == "big" else 12
        return web.Response(body=b"y" * (size * 1024 * 1024), content_type="text/plain")
    if mode == "gzip-bomb":
        return web.Response(body=gzip.compress(b"\0" * (50 * 1024 * 1024)),
                            headers={"Content-Encoding": "gzip"}, content_type="text/plain")
    if mode == "html-500":
        return web.Response(status=500, text="<html>oops</html>", content_type="text/html")
    if mode == "retry-after-forever":
        return web.Response(status=429, headers={"Retry-After": "999999999"})
    if mode.startswith("redirect-"):
        return _redirect(request, mode)
    if mode == "slow":
        await asyncio.sleep(5)
        return web.Response(text="late")
    if mode in ("reset", "short", "drip"):
        return await _broken(request, mode)
    if mode == "cookie":
        return web.Response(text="ok", headers={"Set-Cookie": "session=abc"})
    return web.json_response({"ok": True, "path": request.path})


def _redirect(request: web.Request, mode: str) -> web.Response:
    away = request.app[AWAY].url + "/landing"
    target = {"redirect-loop": "/redirect-loop", "redirect-file": "file:///etc/passwd",
              "redirect-javascript": "javascript:alert(1)", "redirect-away": away}[mode]
    return web.Response(status=302, headers={"Location": target})


async def _broken(request: web.Request, mode: str) -> web.StreamResponse:
    transport = request.transport
    assert transport is not None
    if mode == "reset":
        transport.abort()
        return web.Response()
    if mode == "short":
        transport.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nonly ten b")
        transport.close()
        return web.Response()
    response = web.StreamResponse()
    await response.prepare(request)
    for _ in range(100):  # a byte every 0.1 s: the step's 1 s timeout ends it
        await response.write(b"x")
        await asyncio.sleep(0.1)
    return response


AWAY: web.AppKey[Recorder] = web.AppKey("away", Recorder)


@asynccontextmanager
async def hostile_service(away: Recorder) -> AsyncIterator[tuple[str, list[dict[str, str]]]]:
    seen: list[dict[str, str]] = []

    @web.middleware
    async def record(request: web.Request, handler: Any) -> web.StreamResponse:
        seen.append(dict(request.headers))
        return await handler(request)  # type: ignore[no-any-return]

    app = web.Application(middlewares=[record])
    app[AWAY] = away
    app.router.add_route("*", "/{tail:.*}", _answer)
    async with TestServer(app, host="127.0.0.1") as server:
        yield f"http://127.0.0.1:{server.port}", seen


# -- running it ------------------------------------------------------------------------------


async def _deliver(running: HostileDaemon, recipe: str, body: dict[str, Any]) -> dict[str, Any]:
    async with aiohttp.ClientSession() as http, http.post(
            f"{running.base_url}/hooks/{recipe}", json=body) as resp:
        assert resp.status == 202, await resp.text()
        job = (await resp.json())["job"]
    return await wait_for(running.logs, lambda e: e["event"] in ("job.finished", "job.deferred")
                          and e.get("job") == job, 20)


def _found(running: HostileDaemon, job: str) -> str | None:
    lines = [e for e in running.logs if e["event"] == "recipe.log" and e.get("job") == job]
    return lines[0]["message"] if lines else None


async def _seed(emulator: RunningEmulator, folder: Path, sink_url: str) -> None:
    await seed_tenant(emulator)
    values = [r["value"] for r in RECORDS]
    async with emulator.client_session() as http:
        await insert_rows(http, emulator, "contact", [{"lastname": v} for v in [*values, "zz"]])
    async with fo_api(emulator) as api:
        await api.insert("CustomersV3", [customer(f"H{i:02d}", OrganizationName=v)
                                         for i, v in enumerate([*values, "zz"])])
    write_connections(folder, {
        "crm": connection(emulator),
        "fo": connection(emulator, type="dynamics_fo", data_area="usmf"),
        "sink": {"type": "http", "base_url": sink_url, "auth": "header",
                 "header_name": "X-Api-Key", "header_value": "${env:ANSWERS_KEY}"}})


@pytest.fixture
async def running(emulator: RunningEmulator, tmp_path: Path,
                  monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Any]:
    monkeypatch.setenv("ANSWERS_KEY", API_KEY)
    async with recording_server() as away, hostile_service(away) as (url, seen):
        await _seed(emulator, tmp_path, url)
        connections = (tmp_path / "connections.yaml").read_text()
        async with hostile_daemon(tmp_path, RECIPES, connections=connections) as daemon:
            yield daemon, away, seen


async def test_hostile_record_values_find_exactly_their_own_record(running: Any) -> None:
    daemon, _, _ = running
    for record in RECORDS:
        for recipe in ("dv", "fetch", "fo"):
            finished = await _deliver(daemon, recipe, {"v": record["value"]})
            if recipe == "fo" and record.get("fo_refused"):
                assert finished["outcome"] == "failed", record
                assert "F&O reads as a wildcard" in finished["error"]
            else:
                assert finished["outcome"] == "succeeded", (recipe, record, finished)
                assert _found(daemon, finished["job"]) == "found 1", (recipe, record)
            await assert_healthy(daemon)


@pytest.mark.parametrize("case", ANSWERS["http"], ids=[c["name"] for c in ANSWERS["http"]])
async def test_hostile_http_answers_end_as_expected(case: dict[str, Any], running: Any) -> None:
    daemon, away, _seen = running
    finished = await _deliver(daemon, "call", {"path": case["path"]})
    outcome = "deferred" if finished["event"] == "job.deferred" else finished["outcome"]
    assert outcome == case["outcome"], finished
    if "error" in case:
        assert case["error"] in finished["error"], finished
    if case.get("credentials_left_home") is False:
        assert all("X-Api-Key" not in headers for headers in away.received_headers())
    await assert_healthy(daemon)
    assert API_KEY not in json.dumps(daemon.logs)


@pytest.mark.parametrize("case", ANSWERS["dataverse"],
                         ids=[c["name"] for c in ANSWERS["dataverse"]])
async def test_hostile_dataverse_answers_end_as_expected(
        case: dict[str, Any], running: Any, emulator: RunningEmulator) -> None:
    daemon, _, _ = running
    rule = dict(case["fault"])
    if rule.get("body") == "DEEP":
        rule["body"] = "[" * 100_000 + "]" * 100_000
    if rule.get("message") == "HUGE":
        rule["message"] = "m" * 1_000_000
    await fault(emulator, path="/api/data/*/contacts*", method="GET", **rule)
    try:
        finished = await _deliver(daemon, "dv", {"v": "O'Bryan"})
    finally:
        async with emulator.client_session() as http, \
                http.delete(f"{emulator.base_url}/_emulator/faults") as resp:
            assert resp.status < 300
    assert finished["outcome"] == case["outcome"], finished
    if case["outcome"] == "succeeded":
        assert _found(daemon, finished["job"]) == "found 1"
    else:
        assert len(finished["error"]) < 5000 and not re.search("m{5000}", finished["error"])
    await assert_healthy(daemon)
