"""EntityDefinitions and custom tables declared in a seed."""

from __future__ import annotations

from urllib.parse import quote

from emulator import RunningEmulator
from emulator.dataverse import apply_seed
from emulator.dataverse.metadata_model import entity_node
from emulator.dataverse.tables import built_in_catalog
from tests.dataverse_client import dataverse_api

PROJECT_SEED = {
    "tables": [{
        "logical_name": "new_project", "primary_name": "new_name", "change_tracking": False,
        "attributes": [
            {"name": "new_code", "type": "string", "max_length": 20},
            {"name": "new_budget", "type": "money"},
            {"name": "new_phase", "type": "picklist", "options": {1: "Planned", 2: "Active"}},
            {"name": "new_accountid", "type": "lookup", "targets": ["account"]},
        ],
        "keys": [{"name": "new_code_key", "attributes": ["new_code"]}],
    }],
    "rows": {"new_projects": [{"new_name": "Apollo", "new_code": "AP-1", "new_phase": 2}]},
}


async def test_entity_definitions_lists_tables_with_entity_sets(emulator: RunningEmulator) -> None:
    async with dataverse_api(emulator) as api:
        reply = await api.get("EntityDefinitions?$select=LogicalName,EntitySetName")
    sets = {d["LogicalName"]: d["EntitySetName"] for d in reply.json["value"]}
    assert sets["contact"] == "contacts" and sets["opportunity"] == "opportunities"
    assert {"account", "lead", "task", "incident"} <= set(sets)


async def test_one_definition_with_attributes_and_keys(emulator: RunningEmulator) -> None:
    async with dataverse_api(emulator) as api:
        reply = await api.get("EntityDefinitions(LogicalName='contact')?$expand=Attributes,Keys")
    body = reply.json
    assert body["PrimaryIdAttribute"] == "contactid"
    assert body["PrimaryNameAttribute"] == "fullname"
    assert body["ChangeTrackingEnabled"] is True
    types = {a["LogicalName"]: a["AttributeType"] for a in body["Attributes"]}
    assert types["parentcustomerid"] == "Customer" and types["creditlimit"] == "Money"
    assert types["gendercode"] == "Picklist" and types["birthdate"] == "DateTime"
    lookup = next(a for a in body["Attributes"] if a["LogicalName"] == "parentcustomerid")
    assert lookup["Targets"] == ["account", "contact"]
    assert body["Keys"][0]["KeyAttributes"] == ["emailaddress1"]


async def test_unknown_entity_definition_is_404(emulator: RunningEmulator) -> None:
    async with dataverse_api(emulator) as api:
        reply = await api.get("EntityDefinitions(LogicalName='nosuch')")
    assert reply.status == 404


async def test_seeded_custom_table_is_queryable_keyed_and_described(
        emulator: RunningEmulator) -> None:
    apply_seed(emulator.state, PROJECT_SEED)
    async with dataverse_api(emulator) as api:
        rows = await api.get("new_projects?$select=new_name,new_phase",
                             headers={"Prefer": 'odata.include-annotations="*"'})
        by_key = await api.get("new_projects(new_code='AP-1')?$select=new_name")
        tracked = await api.get("EntityDefinitions?$select=LogicalName&$filter="
                                + quote("ChangeTrackingEnabled eq false"))
    assert rows.json["value"][0]["new_name"] == "Apollo"
    assert rows.json["value"][0]["new_phase@OData.Community.Display.V1.FormattedValue"] == "Active"
    assert by_key.json["new_name"] == "Apollo"
    untracked = {d["LogicalName"] for d in tracked.json["value"]}
    assert "new_project" in untracked and not {"account", "contact"} & untracked


CONTACT = "EntityDefinitions(LogicalName='contact')"
CAST = "Microsoft.Dynamics.CRM."


async def test_attributes_sub_path_lists_columns_with_their_derived_types(
        emulator: RunningEmulator) -> None:
    async with dataverse_api(emulator) as api:
        listed = await api.get(f"{CONTACT}/Attributes?$select=LogicalName,AttributeType")
        one = await api.get(f"{CONTACT}/Attributes(LogicalName='emailaddress1')")
    assert listed.status == 200, listed.text
    by_name = {a["LogicalName"]: a for a in listed.json["value"]}
    assert by_name["gendercode"]["@odata.type"] == f"#{CAST}PicklistAttributeMetadata"
    assert by_name["birthdate"]["AttributeType"] == "DateTime"
    assert set(by_name["lastname"]) == {"@odata.type", "LogicalName", "AttributeType",
                                        "MetadataId"}
    assert one.json["@odata.context"].endswith("/$entity")
    assert (one.json["LogicalName"], one.json["MaxLength"]) == ("emailaddress1", 100)
    assert "OptionSet" not in str(listed.json) + str(one.json)  # only through a cast


async def test_picklist_cast_expands_option_sets_with_localized_labels(
        emulator: RunningEmulator) -> None:
    async with dataverse_api(emulator) as api:
        reply = await api.get(f"{CONTACT}/Attributes/{CAST}PicklistAttributeMetadata"
                              "?$select=LogicalName&$expand=OptionSet($select=Options)")
        doc_path = await api.get(f"{CONTACT}/Attributes(LogicalName='gendercode')/"
                                 f"{CAST}PicklistAttributeMetadata/OptionSet?$select=Options")
    assert reply.status == 200, reply.text
    gender = next(a for a in reply.json["value"] if a["LogicalName"] == "gendercode")
    assert "@odata.type" not in gender  # the cast made it the declared type
    female = gender["OptionSet"]["Options"][1]
    assert female["Value"] == 2
    assert female["Label"]["UserLocalizedLabel"]["Label"] == "Female"
    assert female["Label"]["LocalizedLabels"][0]["LanguageCode"] == 1033
    assert [o["Value"] for o in doc_path.json["Options"]] == [1, 2]
    assert {a["LogicalName"] for a in reply.json["value"]} == {"gendercode"}


async def test_datetime_and_lookup_casts_select_their_own_properties(
        emulator: RunningEmulator) -> None:
    async with dataverse_api(emulator) as api:
        dates = await api.get(f"{CONTACT}/Attributes/{CAST}DateTimeAttributeMetadata"
                              "?$select=LogicalName,DateTimeBehavior,Format")
        lookups = await api.get(f"{CONTACT}/Attributes/{CAST}LookupAttributeMetadata"
                                "?$select=LogicalName,Targets")
        uncast = await api.get(f"{CONTACT}/Attributes?$select=LogicalName,Targets")
        abstract = await api.get(f"{CONTACT}/Attributes/{CAST}EnumAttributeMetadata")
    birthdate = next(a for a in dates.json["value"] if a["LogicalName"] == "birthdate")
    assert (birthdate["Format"], birthdate["DateTimeBehavior"]) == ("DateOnly",
                                                                    {"Value": "DateOnly"})
    targets = {a["LogicalName"]: a["Targets"] for a in lookups.json["value"]}
    assert targets["parentcustomerid"] == ["account", "contact"]
    assert targets["createdby"] == ["systemuser"]
    assert uncast.status == 400
    assert uncast.json["error"]["message"] == (
        f"Could not find a property named 'Targets' on type '{CAST}AttributeMetadata'.")
    assert abstract.status == 400


async def test_option_set_without_a_cast_is_not_a_segment(emulator: RunningEmulator) -> None:
    async with dataverse_api(emulator) as api:
        reply = await api.get(f"{CONTACT}/Attributes(LogicalName='gendercode')/OptionSet")
        expanded = await api.get(f"{CONTACT}/Attributes?$expand=OptionSet")
    assert reply.status == 404
    assert expanded.status == 400
    assert "'OptionSet'" in expanded.json["error"]["message"]


async def test_keys_and_relationship_sub_paths(emulator: RunningEmulator) -> None:
    async with dataverse_api(emulator) as api:
        keys = await api.get(f"{CONTACT}/Keys")
        many_to_one = await api.get(f"{CONTACT}/ManyToOneRelationships?$select=SchemaName,"
                                    "ReferencedEntity,ReferencingEntityNavigationPropertyName")
        one_to_many = await api.get("EntityDefinitions(LogicalName='account')/"
                                    "OneToManyRelationships(SchemaName='Account_Tasks')")
        many_to_many = await api.get(f"{CONTACT}/ManyToManyRelationships")
        by_name = await api.get("RelationshipDefinitions(SchemaName='contact_customer_accounts')")
    assert [k["KeyAttributes"] for k in keys.json["value"]] == [["emailaddress1"]]
    navs = {(r["SchemaName"], r["ReferencedEntity"], r["ReferencingEntityNavigationPropertyName"])
            for r in many_to_one.json["value"]}
    assert {("contact_customer_accounts", "account", "parentcustomerid_account"),
            ("contact_customer_contacts", "contact", "parentcustomerid_contact"),
            ("lk_contact_createdby", "systemuser", "createdby")} <= navs
    assert (one_to_many.json["ReferencingEntity"], one_to_many.json["ReferencingAttribute"]) == (
        "task", "regardingobjectid")
    assert many_to_many.status == 200 and isinstance(many_to_many.json["value"], list)
    assert by_name.json["@odata.type"] == f"#{CAST}OneToManyRelationshipMetadata"
    assert by_name.json["ReferencedEntityNavigationPropertyName"] == "contact_customer_accounts"


async def test_nested_expand_options_keep_their_commas_and_filters(
        emulator: RunningEmulator) -> None:
    picklist = quote(f"AttributeType eq {CAST}AttributeTypeCode'Picklist'")
    async with dataverse_api(emulator) as api:
        selected = await api.get(f"{CONTACT}?$select=LogicalName&$expand="
                                 "Attributes($select=LogicalName,AttributeType)")
        filtered = await api.get(f"{CONTACT}?$select=LogicalName&$expand=Attributes("
                                 f"$select=LogicalName;$filter={picklist}),Keys")
    assert selected.status == 200, selected.text
    columns = selected.json["Attributes"]
    assert {"LogicalName", "AttributeType"} <= set(columns[0])
    assert "MaxLength" not in str(columns)
    assert [a["LogicalName"] for a in filtered.json["Attributes"]] == ["gendercode"]
    assert filtered.json["Keys"][0]["LogicalName"] == "emailaddress1_key"


async def test_entity_definitions_filter_knows_real_properties_and_refuses_others(
        emulator: RunningEmulator) -> None:
    async with dataverse_api(emulator) as api:
        public = await api.get("EntityDefinitions?$select=LogicalName&$filter="
                               + quote("IsPrivate eq false"))
        owned = await api.get("EntityDefinitions?$select=LogicalName&$filter=" + quote(
            f"OwnershipType eq {CAST}OwnershipTypes'UserOwned' and "
            "CanChangeTrackingBeEnabled/Value eq true and ObjectTypeCode lt 5"))
        unknown = await api.get("EntityDefinitions?$filter=" + quote("IsPrivat eq false"))
    assert len(public.json["value"]) == len(emulator_tables(emulator))
    assert {d["LogicalName"] for d in owned.json["value"]} == {
        "account", "contact", "lead", "opportunity"}
    assert unknown.status == 400
    assert unknown.json["error"] == {"code": "0x80060888", "message": (
        f"Could not find a property named 'IsPrivat' on type '{CAST}EntityMetadata'.")}


def emulator_tables(emulator: RunningEmulator) -> list[str]:
    from emulator.dataverse import environment_of
    return [t.logical_name for t in environment_of(emulator.state).catalog.tables()]


async def test_table_labels_are_localized_labels(emulator: RunningEmulator) -> None:
    async with dataverse_api(emulator) as api:
        body = (await api.get("EntityDefinitions(LogicalName='account')"
                              "?$select=DisplayName,EntitySetName")).json
    assert body["@odata.context"].endswith("/$entity")
    assert body["DisplayName"]["UserLocalizedLabel"]["Label"] == "Account"
    assert body["DisplayName"]["LocalizedLabels"][0]["LanguageCode"] == 1033
    assert set(body) == {"@odata.context", "DisplayName", "EntitySetName", "MetadataId"}


def test_every_definition_carries_exactly_the_properties_its_type_declares() -> None:
    catalog = built_in_catalog()
    for table in catalog.tables():
        entity = entity_node(catalog, table)
        assert set(entity.props) == entity.type.properties
        nodes = [*entity.navs["Attributes"](), *entity.navs["Keys"](),
                 *entity.navs["ManyToOneRelationships"]()]
        for node in nodes:
            assert set(node.props) == node.type.properties, node.type.name
            if "OptionSet" in node.navs:
                option_set = node.navs["OptionSet"]()
                assert set(option_set.props) == option_set.type.properties
