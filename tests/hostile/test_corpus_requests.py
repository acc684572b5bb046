"""The request half of the hostile corpus: ``corpus/requests.yaml``, sent in order to one
running daemon, each answered as expected (a JSON answer unless the HTTP parser itself
refused it), storing a job only where expected, with ``/healthz`` answering within a second
after every request."""

from __future__ import annotations

import hashlib
import hmac
import io
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from tests.hostile.support import HostileDaemon, assert_healthy, hostile_daemon
from tests.hostile.webhooks import HOOK_SECRET, hook_recipe, standard_headers

CASES: list[dict[str, Any]] = yaml.safe_load(
    (Path(__file__).parent / "corpus" / "requests.yaml").read_text())
RECIPES = {
    "open": hook_recipe("open", auth="none"),
    "signed": hook_recipe("signed", auth="hmac_sha256", secret_env="HOOK_SECRET",
                          header="X-Signature"),
    "token": hook_recipe("token", auth="token", secret_env="HOOK_SECRET"),
    "standard": hook_recipe("standard", auth="hmac_sha256", secret_env="HOOK_SECRET",
                            signature="standard"),
    "dvkey": hook_recipe("dvkey", auth="token", secret_env="HOOK_SECRET", query="code"),
    "tick": "name: tick\ntrigger: {type: schedule, every: 1h}\nactions: [{type: log, "
            "message: x}]\n",
}


def test_the_request_corpus_is_large_enough() -> None:
    assert len(CASES) >= 30
    assert len({case["name"] for case in CASES}) == len(CASES)


def body_of(case: dict[str, Any]) -> bytes:
    if "body_json_depth" in case:
        depth = case["body_json_depth"]
        return ("[" * depth + "]" * depth).encode()
    if "body_bytes" in case:
        return b'"' + b"x" * case["body_bytes"] + b'"'
    if "body_hex" in case:
        return bytes.fromhex(case["body_hex"])
    return str(case.get("body", "{}")).encode()


def headers_of(case: dict[str, Any], body: bytes) -> dict[str, str]:
    headers = {"Content-Type": "application/json"}
    for name, value in (case.get("headers") or {}).items():
        headers[name] = "x" * 100_000 if value == "BIG100K" else \
            str(value).encode().decode("latin-1")  # bytes on the wire, as a client sends them
    at_s = time.time() - case.get("stale_s", 0)
    if case.get("sign") == "standard":
        headers.update(standard_headers(body, HOOK_SECRET, msg_id=f"id-{len(body)}", at_s=at_s))
    elif case.get("sign") == "body":
        signed = b"other body" if case.get("tamper") else body
        headers["X-Signature"] = "sha256=" + hmac.new(HOOK_SECRET.encode(), signed,
                                                      hashlib.sha256).hexdigest()
    return headers


async def send(running: HostileDaemon, case: dict[str, Any]) -> tuple[int, str]:
    body = body_of(case)
    path = case.get("path") or f"/hooks/{case['hook']}"
    if case.get("query"):
        path += "?" + case["query"]
    method = case.get("method", "POST")
    async with aiohttp.ClientSession() as http, http.request(
            method, running.base_url + path, data=io.BytesIO(body) if method == "POST" else None,
            headers=headers_of(case, body), skip_auto_headers=["Content-Type"]) as resp:
        await resp.read()
        return resp.status, resp.content_type


async def jobs(running: HostileDaemon) -> int:
    assert running.daemon.engine is not None
    total = 0
    for name in RECIPES:
        total += sum((await running.daemon.engine.store.count_jobs_by_status(name)).values())
    return total


async def test_every_hostile_request_gets_its_expected_answer(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOOK_SECRET", HOOK_SECRET)
    async with hostile_daemon(tmp_path, RECIPES) as running:
        seen = []
        for case in CASES:
            before = await jobs(running)
            status, content_type = await send(running, case)
            stored = await jobs(running) - before
            seen.append((case["name"], status, stored == 1))
            assert (status, stored == 1) == (case["status"], case["job"]), case["name"]
            if not case.get("raw"):
                assert content_type == "application/json", case["name"]
            await assert_healthy(running)
        assert not running.events("listener.error")
        assert HOOK_SECRET not in str(running.logs)
