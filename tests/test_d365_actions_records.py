"""create/update/upsert/delete/get_record against the emulator, over real HTTPS."""

from __future__ import annotations

import pytest

from connectors.errors import FatalError
from emulator import RunningEmulator
from tests.d365_actions_support import run
from tests.d365_support import d365_client, request_log


async def test_create_record_binds_polymorphic_lookup_by_id_and_returns_formatted_values(
        emulator: RunningEmulator) -> None:
    async with d365_client(emulator) as client:
        account = await run(client, "create_record", table="accounts",
                            fields={"name": "Contoso", "industrycode": "Consulting"})
        contact = await run(client, "create_record", table="contacts", return_record=True,
                            fields={"lastname": "Ng", "gendercode": 2,
                                    "parentcustomerid": {"table": "accounts",
                                                         "id": account["id"]}})
    record = contact["record"]
    assert record["contactid"] == contact["id"]
    assert record["_parentcustomerid_value"] == account["id"]
    assert record["_parentcustomerid_value@label"] == "Contoso"
    assert record["_parentcustomerid_value@table"] == "account"
    assert record["gendercode"] == 2 and record["gendercode@label"] == "Female"
    log = await request_log(emulator, "/api/data/v9.2/contacts*")
    assert log[-1]["method"] == "POST"


async def test_lookup_by_alternate_key_with_a_quote_and_option_set_by_label(
        emulator: RunningEmulator) -> None:
    async with d365_client(emulator) as client:
        account = await run(client, "create_record", table="account",
                            fields={"name": "O'Brien & Co", "accountnumber": "O'B-1/2"})
        opportunity = await run(client, "create_record", table="opportunities",
                                return_record=True,
                                select=["customerid", "opportunityratingcode"],
                                fields={"name": "Deal", "opportunityratingcode": "warm",
                                        "customerid": {"table": "accounts",
                                                       "key": {"accountnumber": "O'B-1/2"}}})
    record = opportunity["record"]
    assert record["_customerid_value"] == account["id"]
    assert record["opportunityratingcode"] == 2
    assert record["opportunityratingcode@label"] == "Warm"


async def test_unknown_option_label_is_fatal_and_lists_the_valid_labels(
        emulator: RunningEmulator) -> None:
    async with d365_client(emulator) as client:
        with pytest.raises(FatalError) as caught:
            await run(client, "create_record", table="accounts",
                      fields={"name": "x", "industrycode": "Plumbing"})
        with pytest.raises(FatalError, match="did you mean 'telephone1'"):
            await run(client, "create_record", table="accounts", fields={"telephone": "1"})
    assert "'Consulting' (7)" in caught.value.message and "Plumbing" in caught.value.message


async def test_update_by_id_and_by_alternate_key_with_quotes(emulator: RunningEmulator) -> None:
    async with d365_client(emulator) as client:
        created = await run(client, "create_record", table="accounts",
                            fields={"name": "A", "accountnumber": "it's"})
        by_id = await run(client, "update_record", table="accounts", record_id=created["id"],
                          fields={"telephone1": "+1 555"}, return_record=True)
        by_key = await run(client, "update_record", table="accounts",
                           key={"accountnumber": "it's"}, fields={"name": "B"})
        got = await run(client, "get_record", table="accounts", record_id=created["id"],
                        select=["name", "telephone1"])
    assert by_id["record"]["telephone1"] == "+1 555"
    assert by_key["id"] == created["id"]
    assert got["record"]["name"] == "B" and got["record"]["telephone1"] == "+1 555"


async def test_update_of_a_missing_record_is_fatal_with_code_kept_and_creates_nothing(
        emulator: RunningEmulator) -> None:
    missing = "00000000-0000-4000-8000-0000000000aa"
    async with d365_client(emulator) as client:
        with pytest.raises(FatalError) as caught:
            await run(client, "update_record", table="accounts", record_id=missing,
                      fields={"name": "ghost"})
        with pytest.raises(FatalError):
            await run(client, "get_record", table="accounts", record_id=missing)
    assert caught.value.status == 404 and caught.value.code == "0x80040217"
    assert missing in caught.value.message


async def test_upsert_in_all_three_modes(emulator: RunningEmulator) -> None:
    key = {"accountnumber": "UP-1"}
    async with d365_client(emulator) as client:
        first = await run(client, "upsert_record", table="accounts", key=key,
                          fields={"name": "One"})
        second = await run(client, "upsert_record", table="accounts", key=key,
                           fields={"name": "Two"}, return_record=True)
        with pytest.raises(FatalError) as conflict:
            await run(client, "upsert_record", table="accounts", key=key, mode="create_only",
                      fields={"name": "Three"})
        created_only = await run(client, "upsert_record", table="accounts", mode="create_only",
                                 key={"accountnumber": "UP-2"}, fields={"name": "New"})
        with pytest.raises(FatalError) as missing:
            await run(client, "upsert_record", table="accounts", mode="update_only",
                      key={"accountnumber": "UP-3"}, fields={"name": "None"})
        updated_only = await run(client, "upsert_record", table="accounts", mode="update_only",
                                 key=key, fields={"name": "Four"}, return_record=True)
    assert first["created"] is True and second["created"] is False
    assert first["id"] == second["id"] == updated_only["id"]
    assert second["record"]["name"] == "Two" and updated_only["record"]["name"] == "Four"
    assert conflict.value.status == 412 and "conflict" in conflict.value.message
    assert "UP-1" in conflict.value.message
    assert created_only["created"] is True and created_only["id"] != first["id"]
    assert missing.value.status == 404


async def test_delete_record_and_missing_ok(emulator: RunningEmulator) -> None:
    async with d365_client(emulator) as client:
        created = await run(client, "create_record", table="tasks", fields={"subject": "x"})
        deleted = await run(client, "delete_record", table="tasks", record_id=created["id"])
        again = await run(client, "delete_record", table="tasks", record_id=created["id"],
                          missing_ok=True)
        with pytest.raises(FatalError) as caught:
            await run(client, "delete_record", table="tasks", record_id=created["id"])
    assert deleted == {"deleted": True} and again == {"deleted": False}
    assert caught.value.code == "0x80040217"


async def test_get_record_with_select_and_expand(emulator: RunningEmulator) -> None:
    async with d365_client(emulator) as client:
        account = await run(client, "create_record", table="accounts",
                            fields={"name": "Fabrikam", "revenue": 1234.5})
        contact = await run(client, "create_record", table="contacts", fields={
            "firstname": "Ada", "lastname": "L", "parentcustomerid": {
                "table": "accounts", "id": account["id"]}})
        got = await run(client, "get_record", table="contacts", record_id=contact["id"],
                        select=["fullname", "parentcustomerid"],
                        expand="parentcustomerid_account($select=name,revenue)")
    record = got["record"]
    assert got["id"] == contact["id"] and record["fullname"] == "Ada L"
    assert "lastname" not in record
    assert record["parentcustomerid_account"]["name"] == "Fabrikam"
    assert record["parentcustomerid_account"]["revenue"] == 1234.5


def test_record_address_needs_exactly_one_of_id_and_key() -> None:
    from connectors.dynamics365.actions.records import GetRecordParams

    with pytest.raises(ValueError, match="exactly one"):
        GetRecordParams.model_validate({"table": "accounts"})
    with pytest.raises(ValueError, match="not a GUID"):
        GetRecordParams.model_validate({"table": "accounts", "record_id": "1) or (1"})


async def test_choice_columns_take_labels_multi_select_and_status_included(
        emulator: RunningEmulator) -> None:
    async with d365_client(emulator) as client:
        info = await run(client, "get_schema", table="accounts")
        choices = {c["name"]: c for c in info["table"]["columns"] if c.get("options")}
        made = await run(client, "create_record", table="opportunities", return_record=True,
                         select=["statuscode"], fields={"name": "Deal",
                                                        "statuscode": "On Hold"})
    assert made["record"]["statuscode"] == 2 and made["record"]["statuscode@label"] == "On Hold"
    assert {"industrycode", "statecode", "statuscode"} <= set(choices)


async def test_a_multi_select_choice_takes_a_list_of_labels_and_values(
        emulator: RunningEmulator) -> None:
    from emulator.dataverse import apply_seed

    apply_seed(emulator.state, {"tables": [{"logical_name": "new_palette", "attributes": [
        {"name": "new_colors", "type": "multiselect",
         "options": {1: "Red", 2: "Green", 3: "Blue"}}]}]})
    async with d365_client(emulator) as client:
        listed = await run(client, "create_record", table="new_palettes", return_record=True,
                           fields={"new_name": "warm", "new_colors": ["blue", 1]})
        texted = await run(client, "create_record", table="new_palettes", return_record=True,
                           fields={"new_name": "cool", "new_colors": "Green; Blue"})
        with pytest.raises(FatalError, match="no option labelled 'Pink'"):
            await run(client, "create_record", table="new_palettes",
                      fields={"new_name": "x", "new_colors": ["Pink"]})
    assert listed["record"]["new_colors"] == "3,1"
    assert listed["record"]["new_colors@label"] == "Blue; Red"
    assert texted["record"]["new_colors"] == "2,3"
