"""Entities and enums declared in a seed file's ``fo_entities:``/``fo_enums:`` sections."""

from __future__ import annotations

import pytest
import yaml

from emulator import RunningEmulator
from emulator.seed import apply_seed
from tests.fo_support import fo_api

SEED = """
fo_enums:
  Gender: [Unknown, Male, Female]
fo_entities:
  - name: CustomerGroups
    type_name: CustomerGroup
    table_type: CustCustomerGroupEntity
    key: [CustomerGroupId]
    fields: {CustomerGroupId: string, Description: string, IsTaxed: enum NoYes,
             ClearingPeriod: int, LastChanged: datetime}
    mandatory: [Description]
    change_date_field: LastChanged
  - name: Workers
    company: false
    key: [PersonnelNumber]
    fields: {PersonnelNumber: string, Gender: enum Gender}
fo_rows:
  CustomerGroups:
    - {dataAreaId: usmf, CustomerGroupId: "10", Description: Wholesale, IsTaxed: "Yes"}
    - {dataAreaId: demf, CustomerGroupId: "10", Description: Großhandel}
  Workers:
    - {PersonnelNumber: "000001", Gender: Female}
"""


async def test_seed_entities_are_served_with_their_keys_enums_and_change_dates(
        emulator: RunningEmulator) -> None:
    apply_seed(emulator.state, yaml.safe_load(SEED))
    gender = "Microsoft.Dynamics.DataEntities.Gender"
    async with fo_api(emulator) as api:
        groups = await api.get("CustomerGroups")
        one = await api.get("CustomerGroups(dataAreaId='usmf',CustomerGroupId='10')")
        patched = await api.patch("CustomerGroups(dataAreaId='usmf',CustomerGroupId='10')",
                                  {"ClearingPeriod": 3})
        created = await api.post("CustomerGroups", {"CustomerGroupId": "20"})
        workers = await api.get(f"Workers?$filter=Gender eq {gender}'Female'")
        single_key = await api.get("Workers('000001')")
        metadata = await api.get("$metadata")
    assert [row["Description"] for row in groups.json["value"]] == ["Wholesale"]
    assert one.json["IsTaxed"] == "Yes"
    assert patched.status == 204
    assert created.status == 500
    assert "Field 'Description' must be filled in" in created.inner["message"]
    assert [row["PersonnelNumber"] for row in workers.json["value"]] == ["000001"]
    assert "dataAreaId" not in workers.json["value"][0], "not a company-specific entity"
    assert single_key.status == 200
    assert '<EntityType Name="CustomerGroup"><Key><PropertyRef Name="dataAreaId"/>' in (
        metadata.text)
    assert '<EnumType Name="Gender"><Member Name="Unknown" Value="0"/>' in metadata.text


async def test_seed_entity_problems_are_reported_together(emulator: RunningEmulator) -> None:
    doc = {"fo_entities": [{"name": "Bad", "key": ["Id", "Other"],
                            "fields": {"Id": "string", "Flag": "enum Nope", "When": "string"},
                            "change_date_field": "When"}]}
    with pytest.raises(ValueError) as caught:
        apply_seed(emulator.state, doc)
    message = str(caught.value)
    assert "key field 'Other' is not a field" in message
    assert "unknown enum 'Nope'" in message
    assert "'When' must be a datetime field" in message


ROWID_SEED = """
fo_entities:
  - name: LedgerLines
    key: [RowId]
    fields: {RowId: string, _rowid_: int, oid: int, Amount: real, Modified: datetime}
    change_date_field: Modified
fo_rows:
  LedgerLines:
    - {dataAreaId: usmf, RowId: "B-2", _rowid_: 7, oid: 8, Amount: 2.5}
    - {dataAreaId: usmf, RowId: "A-1", _rowid_: 9, oid: 10, Amount: 1.5}
"""


async def test_fields_named_like_sqlite_row_ids_are_ordinary_fields(
        emulator: RunningEmulator) -> None:
    apply_seed(emulator.state, yaml.safe_load(ROWID_SEED))
    line = "LedgerLines(dataAreaId='usmf',RowId='A-1')"
    async with fo_api(emulator) as api:
        created = await api.post("LedgerLines", {"RowId": "C-3", "_rowid_": 1, "oid": 2})
        patched = await api.patch(line, {"Amount": 4.0})
        one = await api.get(line)
        page = await api.get("LedgerLines?$filter=_rowid_ gt 5&$orderby=RowId desc")
        deleted = await api.delete("LedgerLines(dataAreaId='usmf',RowId='B-2')")
        rows = await api.rows("LedgerLines")
    assert created.status == 201, created.text
    assert patched.status == 204, patched.text
    assert (one.json["RowId"], one.json["_rowid_"], one.json["Amount"]) == ("A-1", 9, 4.0)
    assert [r["RowId"] for r in page.json["value"]] == ["B-2", "A-1"]
    assert deleted.status == 204
    assert [(r["RowId"], r["oid"]) for r in rows] == [("A-1", 10), ("C-3", 2)]
