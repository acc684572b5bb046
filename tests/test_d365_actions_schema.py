"""get_schema against the emulator's EntityDefinitions."""

from __future__ import annotations

from emulator import RunningEmulator
from tests.d365_actions_support import run
from tests.d365_support import d365_client, request_log


async def test_get_schema_lists_tables_and_describes_columns_option_sets_and_keys(
        emulator: RunningEmulator) -> None:
    async with d365_client(emulator) as client:
        tables = await run(client, "get_schema")
        contact = await run(client, "get_schema", table="contacts")
        again = await run(client, "get_schema", table="contact")
    names = {t["entity_set"] for t in tables["tables"]}
    assert {"accounts", "contacts", "opportunities", "incidents"} <= names
    table = contact["table"]
    assert again == contact
    assert table["primary_id"] == "contactid" and table["logical_name"] == "contact"
    columns = {c["name"]: c for c in table["columns"]}
    assert columns["lastname"]["type"] == "String" and columns["lastname"]["max_length"] == 50
    assert {"value": 2, "label": "Female"} in columns["gendercode"]["options"]
    assert columns["parentcustomerid"]["targets"] == {
        "account": "parentcustomerid_account", "contact": "parentcustomerid_contact"}
    assert table["keys"] == [{"name": "emailaddress1_key", "columns": ["emailaddress1"]}]
    definitions = await request_log(emulator, "/api/data/v9.2/EntityDefinitions*")
    # The list, then once (the second call is cached): the lookup, the definition and the
    # four choice casts that carry option sets (Picklist, State, Status, MultiSelectPicklist).
    assert len(definitions) == 7
