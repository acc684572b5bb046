"""Inbound webhooks: checked, stored as a job before 202, deduplicated by Idempotency-Key,
and run by the daemon like any other job."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from pathlib import Path

import aiohttp
import pytest
from structlog.contextvars import merge_contextvars
from structlog.testing import capture_logs

from runner.daemon import Daemon
from runner.settings import Settings
from tests.daemon_support import wait_for

RECIPE = """\
name: inbound
trigger:
  type: http.webhook
  auth: hmac_sha256
  secret_env: TEST_HOOK_SECRET
  header: X-Signature
actions:
  - type: log
    message: "order {{ trigger.record.body.order }} via {{ trigger.record.headers['X-Source'] }}"
"""


def sign(body: bytes, secret: str = "s3cret-hook-key") -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


async def test_signed_post_becomes_a_job_and_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_HOOK_SECRET", "s3cret-hook-key")
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "inbound.yaml").write_text(RECIPE)
    settings = Settings(recipes=[tmp_path / "r"], state_url=f"sqlite:///{tmp_path / 's.db'}",
                        listen="127.0.0.1:0", worker_id="w", grace_s=2)
    daemon = Daemon(settings)
    with capture_logs(processors=[merge_contextvars]) as logs:
        task = asyncio.create_task(daemon.run())
        await wait_for(logs, lambda e: e["event"] == "daemon.listening")
        url = f"http://127.0.0.1:{daemon.listen_port}/hooks/inbound"
        body = json.dumps({"order": 42}).encode()
        headers = {"Content-Type": "application/json", "X-Source": "shop",
                   "Idempotency-Key": "order-42"}
        good, bad = {**headers, "X-Signature": sign(body)}, {**headers, "X-Signature": "sha256=0"}
        async with aiohttp.ClientSession() as http:
            async with http.post(url, data=body, headers=bad) as r:
                assert r.status == 401
                refused = await r.json()
            async with http.post(url, data=body, headers=good) as r:
                assert r.status == 202
                job_id = (await r.json())["job"]
            async with http.post(url, data=body, headers=good) as r:
                assert r.status == 200 and (await r.json())["duplicate"] is True
            async with http.post(url.replace("inbound", "nope"), data=b"{}") as r:
                # An unknown name is refused exactly like a bad signature: names can't be probed.
                assert r.status == 401 and await r.json() == refused
        line = await wait_for(logs, lambda e: e["event"] == "recipe.log")
        assert line["message"] == "order 42 via shop" and line["job"] == job_id
        daemon.request_stop()
        assert await asyncio.wait_for(task, 10) == 0
