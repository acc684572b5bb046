"""The demo generator writes realistic changes that a Dataverse client can read back."""

from __future__ import annotations

from emulator import RunningEmulator
from emulator.generator import DemoGenerator


async def test_ticks_create_update_win_and_delete(emulator: RunningEmulator) -> None:
    generator = DemoGenerator(emulator.state)
    for _ in range(10):
        generator.tick()
    async with emulator.client_session() as http:
        base = f"{emulator.base_url}/_emulator/dataverse/tables"
        async with http.get(f"{base}/contact/rows") as resp:
            contacts = (await resp.json())["rows"]
        async with http.get(f"{base}/opportunity/rows") as resp:
            opportunities = (await resp.json())["rows"]
        async with http.get(f"{base}/account/rows") as resp:
            accounts = (await resp.json())["rows"]
    assert len(contacts) == 10
    assert any(c["jobtitle"] for c in contacts)  # some were edited after creation
    assert sum(1 for o in opportunities if o["statecode"] == 1) == 3  # won on ticks 3, 6, 9
    assert len(accounts) == 4  # five created; one deleted at tick 10 (tick 5 had only two)
