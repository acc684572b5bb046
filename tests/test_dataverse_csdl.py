"""``$metadata``: the CSDL document a client library reads to learn the entity model."""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree

from emulator import RunningEmulator
from tests.dataverse_client import dataverse_api

NS = {"edmx": "http://docs.oasis-open.org/odata/ns/edmx",
      "edm": "http://docs.oasis-open.org/odata/ns/edm"}


async def test_metadata_is_an_edmx_document_of_every_table(emulator: RunningEmulator) -> None:
    async with dataverse_api(emulator) as api:
        reply = await api.get("$metadata")
    assert reply.status == 200, reply.text
    assert reply.headers["Content-Type"].startswith("application/xml")
    root = ElementTree.fromstring(reply.text)
    schema = root.find("edmx:DataServices/edm:Schema", NS)
    assert schema is not None and schema.get("Namespace") == "Microsoft.Dynamics.CRM"
    account = schema.find("edm:EntityType[@Name='account']", NS)
    assert account is not None
    assert account.find("edm:Key/edm:PropertyRef", NS).get("Name") == "accountid"
    types = {p.get("Name"): p.get("Type") for p in account.findall("edm:Property", NS)}
    assert types["name"] == "Edm.String" and types["revenue"] == "Edm.Decimal"
    assert types["_primarycontactid_value"] == "Edm.Guid"
    assert types["versionnumber"] == "Edm.Int64"
    navs = {n.get("Name"): n.get("Type") for n in account.findall("edm:NavigationProperty", NS)}
    assert navs["primarycontactid"] == "mscrm.contact"
    assert navs["Account_Tasks"] == "Collection(mscrm.task)"
    assert navs["accountleads_association"] == "Collection(mscrm.lead)"
    sets = {s.get("Name"): s.get("EntityType")
            for s in schema.findall("edm:EntityContainer/edm:EntitySet", NS)}
    assert sets["accounts"] == "Microsoft.Dynamics.CRM.account"
    functions = {f.get("Name") for f in schema.findall("edm:Function", NS)}
    assert "WhoAmI" in functions


async def test_metadata_annotations_mark_change_tracking(emulator: RunningEmulator) -> None:
    async with dataverse_api(emulator) as api:
        plain = await api.get("$metadata")
        annotated = await api.get("$metadata?annotations=true")
    term = "Org.OData.Capabilities.V1.ChangeTracking"
    assert term not in plain.text
    root = ElementTree.fromstring(annotated.text)
    tracked = {s.get("Name") for s in root.iter(f"{{{NS['edm']}}}EntitySet")
               if s.find(f"edm:Annotation[@Term='{term}']", NS) is not None}
    assert {"accounts", "contacts"} <= tracked and "roles" not in tracked
