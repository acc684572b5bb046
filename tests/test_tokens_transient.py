"""Transient identity-provider failures are ``RetryableError`` and leave the connection's state
alone: 5xx, 429, a reset connection, and msal's own throttling after them."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.errors import RetryableError
from emulator import RunningEmulator
from emulator.identity.testing import control
from tests.tokens_support import (
    connection,
    seed_tenant,
    token_manager,
    token_requests,
    write_connections,
)

THROTTLED = {"error": "temporarily_unavailable", "error_codes": [90055],
             "error_description": "AADSTS90055: too many requests"}


@pytest.mark.parametrize("fault", [
    {"kind": "status", "status": 503},
    {"kind": "status", "status": 429, "retry_after_s": 2, "body": THROTTLED},
    {"kind": "reset", "count": 4},  # requests resends a reset POST once
], ids=["503", "429", "reset"])
async def test_transient_token_failure_is_retryable_and_keeps_state(
    emulator: RunningEmulator, tmp_path: Path, fault: dict[str, object]
) -> None:
    await seed_tenant(emulator)
    write_connections(tmp_path, {"crm": connection(emulator)})
    await control(emulator, "faults", {"path": "*/oauth2/v2.0/token", "count": 2, **fault})
    async with token_manager(emulator, tmp_path) as manager:
        tokens = manager.tokens("crm")
        with pytest.raises(RetryableError) as first:
            await tokens.access_token()
        with pytest.raises(RetryableError):
            await tokens.access_token()  # msal throttles a 5xx/429; a reset is retried
        status = tokens.status
        stored = await manager.store.get_connection_state("crm")

    assert status is None and stored is None
    assert "crm" in first.value.message
    assert all(r["status"] != 200 for r in await token_requests(emulator))
