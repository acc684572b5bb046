"""AADSTS70000 from an authority that rotates refresh tokens strictly: two daemons with
copies of one state folder, against the emulator's Entra ID; the second is told what happened."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from connectors.errors import AuthError
from emulator import RunningEmulator
from emulator.identity.testing import set_token_settings
from runner.store import ConnectionStatus
from runner.tokens import classify_result
from tests.tokens_support import signed_in, token_manager, token_requests


async def test_a_copy_of_the_state_redeeming_a_rotated_refresh_token_is_told_why(
        emulator: RunningEmulator, tmp_path: Path) -> None:
    first, copy = tmp_path / "first", tmp_path / "copy"
    first.mkdir()
    await signed_in(emulator, first)
    shutil.copytree(first, copy)  # e.g. a state folder restored from a backup elsewhere
    await set_token_settings(emulator, refresh_token_strict_rotation=True)
    async with token_manager(emulator, first) as one:
        assert await one.tokens("crm").access_token(force_refresh=True)
    with capture_logs() as logs:
        async with token_manager(emulator, copy) as two:
            with pytest.raises(AuthError) as caught:
                await two.tokens("crm").access_token(force_refresh=True)
            status = two.tokens("crm").status
    invalid = [e for e in logs if e["event"] == "connection.invalid"]
    assert caught.value.code == "AADSTS70000" and status is ConnectionStatus.INVALID
    assert "already used" in caught.value.message
    assert "accepts only the newest" in caught.value.message
    assert caught.value.message.endswith("fix: run `recipe-runner connections login crm`")
    assert [e["code"] for e in invalid] == ["AADSTS70000"]
    assert "another copy of this connection's tokens" in invalid[0]["meaning"]
    assert [r["status"] for r in await token_requests(emulator)][-2:] == [200, 400]


def test_the_description_is_never_echoed() -> None:
    result = {"error": "invalid_grant", "error_codes": [70000],
              "error_description": "AADSTS70000: grant of ada@contoso.com was redeemed"}
    message = classify_result("crm", "authorization_code", result).message
    assert "ada@contoso.com" not in message and "already used" in message
