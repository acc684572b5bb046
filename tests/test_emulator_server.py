"""The emulator serves HTTPS with a CA it made, and its clock only moves forward."""

from __future__ import annotations

import ssl

import aiohttp
import pytest

from emulator import RunningEmulator


async def test_https_verified_with_generated_ca(emulator: RunningEmulator) -> None:
    url = f"{emulator.base_url}/_emulator/health"
    async with emulator.client_session() as http, http.get(url) as resp:
        assert resp.status == 200
        assert (await resp.json())["base_url"] == emulator.base_url
    assert emulator.base_url.startswith("https://localhost:")


async def test_client_without_the_ca_is_refused(emulator: RunningEmulator) -> None:
    strict = ssl.create_default_context()  # system trust store only
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=strict)) as http:
        with pytest.raises(aiohttp.ClientConnectorCertificateError):
            await http.get(f"{emulator.base_url}/_emulator/health")


async def test_clock_advances_and_rejects_going_back(emulator: RunningEmulator) -> None:
    async with emulator.client_session() as http:
        url = f"{emulator.base_url}/_emulator/clock/advance"
        async with http.post(url, json={"seconds": 86400}) as resp:
            assert resp.status == 200
            assert (await resp.json())["offset_s"] == 86400
        async with http.post(url, json={"seconds": -5}) as resp:
            assert resp.status == 400
