"""The emulator's actions and functions on the wire: aliases, inline literals, binding."""

from __future__ import annotations

from urllib.parse import quote

from emulator import RunningEmulator
from tests.dataverse_client import dataverse_api


async def test_function_parameters_inline_and_as_aliases_with_doubled_quotes(
        emulator: RunningEmulator) -> None:
    async with dataverse_api(emulator) as api:
        account = await api.create("accounts", {"name": "A", "revenue": 5})
        inline = await api.get("RetrieveTotalRecordCount(EntityNames=['account'])")
        aliased = await api.get("CalculateRollupField(Target=@t,FieldName=@f)?@t="
                                + quote(f"{{'@odata.id':'accounts({account})'}}")
                                + "&@f=" + quote("'it''s'"))
        bound_on_set = await api.post("accounts/Microsoft.Dynamics.CRM.new_Escalate", {})
        missing_alias = await api.get("CalculateRollupField(Target=@t)")
    assert inline.status == 200, inline.text
    assert inline.json["EntityRecordCountCollection"]["Values"] == [1]
    assert aliased.status == 400 and "'it's'" in aliased.json["error"]["message"]
    assert bound_on_set.status == 404
    assert missing_alias.status == 400 and "@t" in missing_alias.json["error"]["message"]


async def test_entity_definitions_expand_many_to_one_relationships(
        emulator: RunningEmulator) -> None:
    async with dataverse_api(emulator) as api:
        reply = await api.get("EntityDefinitions(LogicalName='contact')"
                              "?$expand=ManyToOneRelationships")
    navs = {(r["ReferencingAttribute"], r["ReferencedEntity"]):
            r["ReferencingEntityNavigationPropertyName"]
            for r in reply.json["ManyToOneRelationships"]}
    assert navs[("parentcustomerid", "account")] == "parentcustomerid_account"
    assert navs[("parentcustomerid", "contact")] == "parentcustomerid_contact"
    assert navs[("createdby", "systemuser")] == "createdby"  # who made and changed the row
    assert navs[("ownerid", "systemuser")] == "ownerid"
