"""Items 8, 12 and 13 of issue 17, and item 0 of issue 15: webhook requests that used to
crash a handler, replay, probe names, ride a browser cross-site, or leave a secret in a
stored job."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from runner import cli
from tests.hostile.support import HostileDaemon, assert_healthy, hostile_daemon
from tests.hostile.webhooks import (
    HOOK_SECRET,
    body_signature,
    hook_recipe,
    slack_headers,
    standard_headers,
    stripe_headers,
)


async def post(running: HostileDaemon, path: str, body: bytes | str = b"{}",
               **headers: str) -> tuple[int, Any, dict[str, str]]:
    data = body.encode() if isinstance(body, str) else body
    headers.setdefault("Content-Type", "application/json")
    async with aiohttp.ClientSession() as http, \
            http.post(running.base_url + path, data=data, headers=headers) as resp:
        text = await resp.text()
        assert resp.content_type == "application/json", text
        return resp.status, json.loads(text), dict(resp.headers)


async def jobs(running: HostileDaemon, recipe: str) -> int:
    assert running.daemon.engine is not None
    counts = await running.daemon.engine.store.count_jobs_by_status(recipe)
    return sum(counts.values())


async def test_deeply_nested_json_is_a_400_not_a_traceback(tmp_path: Path) -> None:
    async with hostile_daemon(tmp_path, {"open": hook_recipe("open", auth="none")}) as running:
        deep = "[" * 100_000 + "]" * 100_000
        status, body, _ = await post(running, "/hooks/open", deep)
        assert status == 400 and "nests" in body["error"]
        status, body, _ = await post(running, "/hooks/open", "[" * 40 + "]" * 40)
        assert status == 400 and body["error"] == "JSON nests deeper than 32 levels"
        assert await jobs(running, "open") == 0
        await assert_healthy(running)


async def test_non_ascii_signature_header_is_refused_before_any_traceback(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOOK_SECRET", HOOK_SECRET)
    recipe = hook_recipe("signed", auth="hmac_sha256", secret_env="HOOK_SECRET",
                         header="X-Signature")
    async with hostile_daemon(tmp_path, {"signed": recipe}) as running:
        for value in ("sha256=ünïcödé", "ü" * 200, "\u20ac"):
            raw = value.encode().decode("latin-1")  # what aiohttp hands the handler
            status, body, _ = await post(running, "/hooks/signed", **{"X-Signature": raw})
            assert status == 401, body
        assert not running.events("listener.error")
        await assert_healthy(running)


async def test_unknown_webhook_and_wrong_credential_get_the_same_answer(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOOK_SECRET", HOOK_SECRET)
    recipe = hook_recipe("known", auth="token", secret_env="HOOK_SECRET")
    async with hostile_daemon(tmp_path, {"known": recipe}) as running:
        wrong = await post(running, "/hooks/known", **{"X-Webhook-Token": "guess"})
        unknown = await post(running, "/hooks/unknown", **{"X-Webhook-Token": "guess"})
        schedule = await post(running, "/hooks/tick")  # a recipe, but not a webhook one
        assert wrong[:2] == unknown[:2] == schedule[:2]
        assert wrong[0] == 401


@pytest.mark.parametrize("scheme", ["standard", "stripe", "slack"])
async def test_signed_webhook_replays_make_one_job_and_stale_ones_none(
        scheme: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOOK_SECRET", HOOK_SECRET)
    sign = {"standard": standard_headers, "stripe": stripe_headers, "slack": slack_headers}[
        scheme]
    recipe = hook_recipe("signed", auth="hmac_sha256", secret_env="HOOK_SECRET",
                         signature=scheme, replay_window="5m")
    async with hostile_daemon(tmp_path, {"signed": recipe}) as running:
        body = b'{"order": 42}'
        headers = sign(body)
        answers = [(await post(running, "/hooks/signed", body, **headers))[:2]
                   for _ in range(3)]
        assert [status for status, _ in answers] == [202, 200, 200]
        assert answers[1][1]["duplicate"] is True
        stale = sign(b'{"order": 43}', at_s=time.time() - 600)
        status, _refused, _ = await post(running, "/hooks/signed", b'{"order": 43}', **stale)
        forged = {**sign(body), "Content-Type": "application/json"}
        forged_body = b'{"order": 44}'  # the same signature on another body
        assert (await post(running, "/hooks/signed", forged_body, **forged))[0] == 401
        assert status == 401
        assert await jobs(running, "signed") == 1
        rejected = [e["reason"] for e in running.events("webhook.rejected")]
        assert any("replay window" in reason for reason in rejected)


async def test_body_signature_replays_are_deduplicated_by_the_signed_body(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOOK_SECRET", HOOK_SECRET)
    recipe = hook_recipe("gh", auth="hmac_sha256", secret_env="HOOK_SECRET",
                         header="X-Hub-Signature-256")
    async with hostile_daemon(tmp_path, {"gh": recipe}) as running:
        body = b'{"action": "opened"}'
        for key in ("a", "b", "c"):  # an attacker changing the unsigned key gains nothing
            await post(running, "/hooks/gh", body, **{
                "X-Hub-Signature-256": body_signature(body), "Idempotency-Key": key})
        assert await jobs(running, "gh") == 1


async def test_cross_site_simple_post_does_not_reach_an_auth_none_webhook(
        tmp_path: Path) -> None:
    recipes = {"open": hook_recipe("open", auth="none"),
               "forms": hook_recipe("forms", auth="none", allow_browsers="true")}
    async with hostile_daemon(tmp_path, recipes) as running:
        browser_form = {"Content-Type": "application/x-www-form-urlencoded",
                        "Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}
        status, body, headers = await post(running, "/hooks/open", "a=1", **browser_form)
        assert status == 403 and "allow_browsers" in body["error"]
        assert "Access-Control-Allow-Origin" not in headers
        text_plain = await post(running, "/hooks/open", '{"a": 1}', **{
            "Content-Type": "text/plain"})
        assert text_plain[0] == 403
        assert (await post(running, "/hooks/open", '{"a": 1}'))[0] == 202  # a server's JSON
        assert (await post(running, "/hooks/forms", "a=1", **browser_form))[0] == 202
        assert await jobs(running, "open") == 1


async def test_webhook_secret_in_a_custom_header_or_query_is_never_stored(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("HOOK_TOKEN", HOOK_SECRET)
    recipes = {"dv": hook_recipe("dv", auth="token", secret_env="HOOK_TOKEN",
                                 header="x-dv-key"),
               "dvkey": hook_recipe("dvkey", auth="token", secret_env="HOOK_TOKEN",
                                    query="code")}
    async with hostile_daemon(tmp_path, recipes) as running:
        status, first, _ = await post(running, "/hooks/dv", '{"echo": "s3cret-token-value"}',
                                      **{"x-dv-key": HOOK_SECRET})
        assert status == 202
        status, second, _ = await post(running, f"/hooks/dvkey?code={HOOK_SECRET}&x=1")
        assert status == 202
        await running.reloaded(0)
        pages = []
        async with aiohttp.ClientSession() as http:
            for job in (first["job"], second["job"]):
                async with http.get(f"{running.base_url}/jobs/{job}") as resp:
                    pages.append(await resp.text())
        assert running.daemon.engine is not None
        stored = [await running.daemon.engine.store.get_job(j) for j in
                  (first["job"], second["job"])]
    for detail in stored:
        assert detail is not None and HOOK_SECRET not in json.dumps(detail.job.payload)
    assert stored[0].job.payload["record"]["headers"]["x-dv-key"] == "***"  # type: ignore[union-attr]
    assert stored[1].job.payload["record"]["query"] == {"code": "***", "x": "1"}  # type: ignore[union-attr]
    assert all(HOOK_SECRET not in page for page in pages)
    monkeypatch.delenv("HOOK_TOKEN")  # the operator's shell has no secrets
    code = await asyncio.to_thread(cli.main, ["jobs", "show", first["job"], "--state",
                     f"sqlite:///{tmp_path / 'state.db'}",
                     "--json"])
    shown = capsys.readouterr().out
    assert code == 0 and first["job"] in shown and HOOK_SECRET not in shown
    assert HOOK_SECRET not in json.dumps(running.logs)
