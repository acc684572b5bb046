"""The webhook sink keeps what recipes post, per name, and forgets on request."""

from __future__ import annotations

from emulator import RunningEmulator


async def test_posts_are_kept_per_name_in_order(emulator: RunningEmulator) -> None:
    url = f"{emulator.base_url}/_emulator/webhooks/crm"
    async with emulator.client_session() as http:
        for n in range(3):
            async with http.post(url, json={"n": n}) as resp:
                assert resp.status == 200
        async with http.post(url, data="plain text") as resp:
            assert (await resp.json())["received"] == 4
        async with http.get(url) as resp:
            assert (await resp.json())["received"] == [{"n": 0}, {"n": 1}, {"n": 2}, "plain text"]
        async with http.get(f"{emulator.base_url}/_emulator/webhooks/other") as resp:
            assert (await resp.json())["received"] == []
        async with http.delete(url) as resp:
            assert resp.status == 200
        async with http.get(url) as resp:
            assert (await resp.json())["received"] == []
