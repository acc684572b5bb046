"""The demo generator writes realistic changes that a Dataverse client and an F&O OData client
can read back."""

from __future__ import annotations

from emulator import RunningEmulator
from emulator.generator import DemoGenerator
from tests.fo_support import fo_api


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


async def test_each_tick_adds_an_fo_customer_in_usmf_stamped_with_the_emulator_clock(
        emulator: RunningEmulator) -> None:
    generator = DemoGenerator(emulator.state)
    for _ in range(3):
        generator.tick()
    emulator.state.clock.advance(60)
    generator.tick()
    async with fo_api(emulator) as api:
        page = await api.get("CustomersV3?$orderby=CustomerAccount&$select=CustomerAccount,"
                             "OrganizationName,CustomerGroupId,CreatedDateTime,dataAreaId")
        other_company = await api.get("CustomersV3?cross-company=true"
                                      "&$filter=dataAreaId ne 'usmf'")
    customers = page.json["value"]
    assert [c["CustomerAccount"] for c in customers] == ["US-D0001", "US-D0002", "US-D0003",
                                                          "US-D0004"]
    assert all(c["OrganizationName"] and c["CustomerGroupId"] for c in customers)
    assert {c["dataAreaId"] for c in customers} == {"usmf"}
    created = [c["CreatedDateTime"] for c in customers]
    assert created[0] <= created[2] < created[3]  # the last one a minute later
    assert other_company.json["value"] == []
