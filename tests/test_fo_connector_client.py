"""The F&O client's failure handling against the emulator: 429s paused and retried on the
shared throttle, 401 renewed once, write failures never retried, timeouts retried."""

from __future__ import annotations

import time

import pytest

from connectors.errors import AuthError, FatalError, RetryableError
from emulator import RunningEmulator
from tests.d365_support import fault, request_log
from tests.fo_connector_support import fo_client, run_action
from tests.fo_support import customer, fo_api


class AudienceTokens:
    """Tokens for ``audiences[0]`` until a forced renewal, then for the next audience."""

    def __init__(self, emulator: RunningEmulator, *audiences: str) -> None:
        self.emulator = emulator
        self.audiences = list(audiences)
        self.forced = 0

    async def access_token(self, *, force_refresh: bool = False) -> str:
        if force_refresh:
            self.forced += 1
        now = int(self.emulator.state.clock.time())
        audience = self.audiences[min(self.forced, len(self.audiences) - 1)]
        return self.emulator.state.signer.sign({"aud": audience, "iat": now, "exp": now + 600,
                                                "oid": "6b1d7c2e-0000-4000-8000-00000000f0f1"})


async def test_429_pauses_the_connection_for_retry_after_then_succeeds(
        emulator: RunningEmulator) -> None:
    async with fo_api(emulator) as api:
        await api.insert("CustomersV3", [customer("T1")])
    await fault(emulator, path="/data/CustomersV3*", method="GET", count=2, kind="status",
                status=429, retry_after_s=1)
    async with fo_client(emulator) as client:
        started = time.monotonic()
        found = await run_action("search_records", client, {"entity": "CustomersV3"})
        waited_s = time.monotonic() - started
    assert [r["CustomerAccount"] for r in found["records"]] == ["T1"]
    statuses = [r["status"] for r in await request_log(emulator, "/data/CustomersV3*")]
    assert statuses == [429, 429, 200] and waited_s >= 1.9


async def test_429_beyond_the_attempts_is_retryable_with_the_delay(
        emulator: RunningEmulator) -> None:
    await fault(emulator, path="/data/VendorsV2*", kind="status", status=429, retry_after_s=0)
    async with fo_client(emulator) as client:
        with pytest.raises(RetryableError) as raised:
            await run_action("search_records", client, {"entity": "VendorsV2"})
    assert raised.value.status == 429
    assert len(await request_log(emulator, "/data/VendorsV2*")) == 4  # FAST_RETRY's attempts


async def test_a_rejected_token_is_renewed_once_and_the_request_resent(
        emulator: RunningEmulator) -> None:
    tokens = AudienceTokens(emulator, "https://other.example", emulator.base_url)
    async with fo_client(emulator, tokens=tokens) as client:  # type: ignore[arg-type]
        found = await run_action("search_records", client, {"entity": "CustomersV3"})
    assert found["count"] == 0 and tokens.forced == 1


async def test_a_second_401_is_an_auth_error_after_one_renewal(
        emulator: RunningEmulator) -> None:
    tokens = AudienceTokens(emulator, "https://other.example")
    async with fo_client(emulator, tokens=tokens) as client:  # type: ignore[arg-type]
        with pytest.raises(AuthError) as raised:
            await run_action("request", client, {"path": "CustomersV3"})
    assert raised.value.status == 401 and tokens.forced == 1


async def test_a_write_failure_is_sent_once_and_never_retried(emulator: RunningEmulator) -> None:
    async with fo_client(emulator, data_area="usmf") as client:
        with pytest.raises(FatalError, match=r"AxODataWriteException: .*must be filled in"):
            await run_action("create_record", client, {"entity": "CustomersV3",
                                                       "fields": {"CustomerAccount": "X"}})
    posts = await request_log(emulator, "/data/CustomersV3")
    assert [(p["method"], p["status"]) for p in posts] == [("POST", 500)]


async def test_a_503_is_retried(emulator: RunningEmulator) -> None:
    await fault(emulator, path="/data/CustomersV3*", count=1, kind="status", status=503)
    async with fo_client(emulator) as client:
        found = await run_action("search_records", client, {"entity": "CustomersV3"})
    assert found["count"] == 0
    assert [r["status"] for r in await request_log(emulator, "/data/CustomersV3*")] == [503, 200]
