"""Examples of "Query table definitions using the Web API"
(learn.microsoft.com/power-apps/developer/data-platform/webapi/query-metadata-web-api) and
"Retrieve table definitions by name or MetadataId" (…/webapi/retrieve-metadata-name-metadataid).
"""

from __future__ import annotations

from urllib.parse import quote

from emulator import RunningEmulator
from tests.dataverse_client import dataverse_api

ACCOUNT = "EntityDefinitions(LogicalName='account')"
NS = "Microsoft.Dynamics.CRM."


async def test_select_display_name_knowledge_management_and_entity_set(
        emulator: RunningEmulator) -> None:
    """query-metadata-web-api: "Querying the EntityMetadata entity type"."""
    async with dataverse_api(emulator) as api:
        reply = await api.get(f"{ACCOUNT}?$select=DisplayName,IsKnowledgeManagementEnabled,"
                              "EntitySetName")
    body = reply.json
    assert reply.status == 200
    assert body["@odata.context"].endswith("/$entity")
    label = body["DisplayName"]["LocalizedLabels"][0]
    assert (label["Label"], label["LanguageCode"], label["IsManaged"]) == ("Account", 1033, True)
    assert label["HasChanged"] is None and label["MetadataId"]
    assert body["DisplayName"]["UserLocalizedLabel"]["Label"] == "Account"
    assert (body["IsKnowledgeManagementEnabled"], body["EntitySetName"]) == (False, "accounts")
    assert body["MetadataId"]


async def test_enum_and_complex_values_in_filter(emulator: RunningEmulator) -> None:
    """query-metadata-web-api: "Use enum types in $filter operations" and "Use complex types
    in $filter operations"."""
    async with dataverse_api(emulator) as api:
        owned = await api.get("EntityDefinitions?$select=LogicalName&$filter=" + quote(
            f"OwnershipType eq {NS}OwnershipTypes'UserOwned'"))
        creatable = await api.get("EntityDefinitions?$select=LogicalName&$filter="
                                  + quote("CanCreateAttributes/Value eq true"))
    assert "account" in {d["LogicalName"] for d in owned.json["value"]}
    assert "systemuser" not in {d["LogicalName"] for d in owned.json["value"]}
    assert "account" in {d["LogicalName"] for d in creatable.json["value"]}


async def test_expand_attributes_filtered_to_picklists(emulator: RunningEmulator) -> None:
    """query-metadata-web-api: "Querying EntityMetadata attributes"."""
    picklist = quote(f"AttributeType eq {NS}AttributeTypeCode'Picklist'")
    async with dataverse_api(emulator) as api:
        reply = await api.get(f"{ACCOUNT}?$select=LogicalName&$expand=Attributes("
                              f"$select=LogicalName;$filter={picklist})")
    assert reply.json["LogicalName"] == "account"
    assert [a["LogicalName"] for a in reply.json["Attributes"]] == ["industrycode"]


async def test_cast_to_picklist_expands_option_set_and_global_option_set(
        emulator: RunningEmulator) -> None:
    """query-metadata-web-api: "…/Attributes/Microsoft.Dynamics.CRM.PicklistAttributeMetadata
    ?$select=LogicalName&$expand=OptionSet,GlobalOptionSet"."""
    async with dataverse_api(emulator) as api:
        reply = await api.get(f"{ACCOUNT}/Attributes/{NS}PicklistAttributeMetadata"
                              "?$select=LogicalName&$expand=OptionSet,GlobalOptionSet")
    industry = reply.json["value"][0]
    assert industry["LogicalName"] == "industrycode"
    option = industry["OptionSet"]["Options"][0]
    assert set(option) >= {"Value", "Label", "Description", "Color", "IsManaged", "MetadataId",
                           "HasChanged"}
    assert option["Description"] == {"LocalizedLabels": [], "UserLocalizedLabel": None}
    assert industry["OptionSet"]["OptionSetType"] == "Picklist"
    assert industry["OptionSet"]["Name"] == "account_industrycode"
    assert industry["GlobalOptionSet"] is None  # a local option set


async def test_retrieve_one_attribute_cast_and_its_option_set(emulator: RunningEmulator) -> None:
    """query-metadata-web-api: "Retrieving attributes" (by MetadataId, cast, then
    ``/OptionSet?$select=Options``)."""
    async with dataverse_api(emulator) as api:
        by_name = await api.get(f"{ACCOUNT}/Attributes(LogicalName='industrycode')"
                                "?$select=LogicalName")
        metadata_id = by_name.json["MetadataId"]
        one = await api.get(f"{ACCOUNT}/Attributes({metadata_id})/{NS}PicklistAttributeMetadata"
                            "?$select=LogicalName&$expand=OptionSet")
        options = await api.get(f"{ACCOUNT}/Attributes({metadata_id})/{NS}"
                                "PicklistAttributeMetadata/OptionSet?$select=Options")
    assert one.json["@odata.context"].endswith("/$entity")
    assert (one.json["LogicalName"], one.json["MetadataId"]) == ("industrycode", metadata_id)
    assert one.json["OptionSet"]["Options"][0]["Label"]["UserLocalizedLabel"]["Label"] == \
        "Accounting"
    assert set(options.json) == {"@odata.context", "Options", "MetadataId"}


async def test_money_cast_selects_precision(emulator: RunningEmulator) -> None:
    """query-metadata-web-api: "…/Attributes/Microsoft.Dynamics.CRM.MoneyAttributeMetadata
    ?$select=LogicalName,Precision"."""
    async with dataverse_api(emulator) as api:
        reply = await api.get(f"{ACCOUNT}/Attributes/{NS}MoneyAttributeMetadata"
                              "?$select=LogicalName,Precision")
    assert {a["LogicalName"]: a["Precision"] for a in reply.json["value"]} == {"revenue": 2}


async def test_filter_by_required_level(emulator: RunningEmulator) -> None:
    """query-metadata-web-api: "Filtering by required level"."""
    required = quote(f"RequiredLevel/Value eq {NS}AttributeRequiredLevel'ApplicationRequired'")
    async with dataverse_api(emulator) as api:
        reply = await api.get(f"{ACCOUNT}/Attributes?$select=SchemaName&$filter={required}")
    assert [a["SchemaName"] for a in reply.json["value"]] == ["Name"]


async def test_retrieve_definitions_by_their_alternate_keys(emulator: RunningEmulator) -> None:
    """retrieve-metadata-name-metadataid: "Retrieve definition items by name"."""
    async with dataverse_api(emulator) as api:
        attribute = await api.get(f"{ACCOUNT}/Attributes(LogicalName='emailaddress1')")
        relation = await api.get("RelationshipDefinitions(SchemaName='Account_Tasks')")
    assert attribute.json["LogicalName"] == "emailaddress1"
    assert attribute.json["@odata.type"] == f"#{NS}StringAttributeMetadata"
    assert relation.json["SchemaName"] == "Account_Tasks"
    assert relation.json["ReferencedEntity"] == "account"
