"""associate / disassociate ($ref) against the emulator."""

from __future__ import annotations

from emulator import RunningEmulator
from tests.d365_actions_support import run
from tests.d365_support import d365_client


async def test_associate_and_disassociate_a_collection_member(
        emulator: RunningEmulator) -> None:
    async with d365_client(emulator) as client:
        account = await run(client, "create_record", table="accounts", fields={"name": "A"})
        contact = await run(client, "create_record", table="contacts",
                            fields={"lastname": "C", "emailaddress1": "c@x.test"})
        related = {"table": "contacts", "key": {"emailaddress1": "c@x.test"}}
        await run(client, "associate", table="accounts", record_id=account["id"],
                  relationship="contact_customer_accounts", related=related)
        linked = await run(client, "get_record", table="contacts", record_id=contact["id"],
                           select=["parentcustomerid"])
        out = await run(client, "disassociate", table="accounts", record_id=account["id"],
                        relationship="contact_customer_accounts", related=related)
        unlinked = await run(client, "get_record", table="contacts", record_id=contact["id"],
                             select=["parentcustomerid"])
    assert linked["record"]["_parentcustomerid_value"] == account["id"]
    assert linked["record"]["_parentcustomerid_value@table"] == "account"
    assert out == {"disassociated": True}
    assert unlinked["record"]["_parentcustomerid_value"] is None


async def test_associate_and_disassociate_a_single_valued_lookup(
        emulator: RunningEmulator) -> None:
    async with d365_client(emulator) as client:
        account = await run(client, "create_record", table="accounts",
                            fields={"name": "A", "accountnumber": "K'1"})
        opportunity = await run(client, "create_record", table="opportunities",
                                fields={"name": "O"})
        await run(client, "associate", table="opportunities", record_id=opportunity["id"],
                  relationship="customerid_account",
                  related={"table": "account", "key": {"accountnumber": "K'1"}})
        linked = await run(client, "get_record", table="opportunities", record_id=opportunity["id"],
                           select=["customerid"])
        await run(client, "disassociate", table="opportunities", record_id=opportunity["id"],
                  relationship="customerid_account",
                  related={"table": "accounts", "id": account["id"]})
        unlinked = await run(client, "get_record", table="opportunities",
                             record_id=opportunity["id"], select=["customerid"])
    assert linked["record"]["_customerid_value"] == account["id"]
    assert linked["record"]["_customerid_value@label"] == "A"
    assert unlinked["record"]["_customerid_value"] is None
