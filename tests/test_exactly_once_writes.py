"""Exactly-once effects: a write sent again — after an answer cut short, a gateway error
after the service committed, or a crash that makes the step run again — leaves one effect,
never two. Each action runs under a step identity, as the engine runs it."""

from __future__ import annotations

from typing import Any

import pytest

from connectors.base import StepContext
from connectors.catalog import default_registry
from connectors.errors import FatalError
from emulator import RunningEmulator
from tests.d365_support import control, d365_client, fault, request_log
from tests.fo_connector_support import fo_client
from tests.fo_support import customer, fo_api

JOB = "0d5e2b8a-1111-4e5e-9a00-00000000e1a1"
GATEWAY_AFTER_COMMIT = {"kind": "status", "status": 503, "after_commit": True, "count": 1}


def step(client: Any, *, path: str = "actions[0]", may_repeat: bool = False,
         job: str = JOB) -> StepContext:
    return StepContext(recipe="once", connection=client, job_id=job, step_path=path,
                       may_repeat=may_repeat)


async def act(key: str, params: dict[str, Any], ctx: StepContext) -> dict[str, Any]:
    spec = default_registry().actions[key]
    return await spec.run(spec.params.model_validate(params), ctx)


async def rows(emulator: RunningEmulator, entity_set: str,
               select: str) -> list[dict[str, Any]]:
    async with d365_client(emulator) as client:
        return list((await client.get_json(entity_set, {"$select": select}))["value"])


async def posts(emulator: RunningEmulator, path: str) -> int:
    return sum(1 for e in await request_log(emulator, path) if e["method"] == "POST")


# -- Dataverse: one request ----------------------------------------------------------------

async def test_create_whose_201_is_cut_short_leaves_one_row_and_returns_its_id(
        emulator: RunningEmulator) -> None:
    await fault(emulator, path="/api/data/*/tasks", method="POST", kind="truncated", count=1)
    async with d365_client(emulator) as client:
        out = await act("dynamics365.create_record",
                        {"table": "tasks", "fields": {"subject": "call back"}}, step(client))
    tasks = await rows(emulator, "tasks", "subject")
    assert [t["activityid"] for t in tasks] == [out["id"]]
    assert await posts(emulator, "/api/data/*/tasks*") == 2  # sent twice, stored once


async def test_create_after_a_gateway_error_past_the_commit_leaves_one_row(
        emulator: RunningEmulator) -> None:
    await fault(emulator, path="/api/data/*/accounts", method="POST", **GATEWAY_AFTER_COMMIT)
    async with d365_client(emulator) as client:
        out = await act("dynamics365.create_record", {"table": "accounts", "return_record": True,
                                                      "fields": {"name": "Once Ltd"}},
                        step(client))
    assert out["record"]["name"] == "Once Ltd"
    assert [a["accountid"] for a in await rows(emulator, "accounts", "name")] == [out["id"]]


async def test_a_step_run_again_after_a_crash_finds_its_own_row(
        emulator: RunningEmulator) -> None:
    params = {"table": "tasks", "fields": {"subject": "follow up"}}
    async with d365_client(emulator) as client:
        first = await act("dynamics365.create_record", params, step(client))
        again = await act("dynamics365.create_record", params, step(client, may_repeat=True))
        other = await act("dynamics365.create_record", params, step(client, path="actions[1]"))
    assert again["id"] == first["id"] and other["id"] != first["id"]
    assert sorted(t["activityid"] for t in await rows(emulator, "tasks", "subject")) == \
        sorted([first["id"], other["id"]])


async def test_a_primary_key_given_by_the_recipe_still_conflicts_on_a_first_run(
        emulator: RunningEmulator) -> None:
    taken = "11111111-2222-4333-8444-555555555555"
    async with d365_client(emulator) as client:
        await act("dynamics365.create_record",
                  {"table": "accounts", "fields": {"accountid": taken, "name": "first"}},
                  step(client, path="actions[0]"))
        with pytest.raises(FatalError) as conflict:
            await act("dynamics365.create_record",
                      {"table": "accounts", "fields": {"accountid": taken, "name": "second"}},
                      step(client, path="actions[1]"))
    assert conflict.value.status == 412 and conflict.value.code == "0x80040237"
    assert [a["name"] for a in await rows(emulator, "accounts", "name")] == ["first"]


async def test_update_upsert_and_create_only_after_a_gateway_error_past_the_commit(
        emulator: RunningEmulator) -> None:
    async with d365_client(emulator) as client:
        made = await act("dynamics365.create_record",
                         {"table": "accounts", "fields": {"name": "A", "accountnumber": "U-1"}},
                         step(client))
        await fault(emulator, path="/api/data/*/accounts(*", method="PATCH",
                    **{**GATEWAY_AFTER_COMMIT, "count": 3})
        updated = await act("dynamics365.update_record", {
            "table": "accounts", "record_id": made["id"], "fields": {"name": "B"}},
            step(client, path="actions[1]"))
        upserted = await act("dynamics365.upsert_record", {
            "table": "accounts", "key": {"accountnumber": "U-2"}, "fields": {"name": "C"}},
            step(client, path="actions[2]"))
        created = await act("dynamics365.upsert_record", {
            "table": "accounts", "key": {"accountnumber": "U-3"}, "mode": "create_only",
            "fields": {"name": "D"}}, step(client, path="actions[3]"))
    stored = {a["accountnumber"]: a for a in await rows(emulator, "accounts",
                                                         "name,accountnumber")}
    assert {n: a["name"] for n, a in stored.items()} == {"U-1": "B", "U-2": "C", "U-3": "D"}
    assert updated["id"] == made["id"] and upserted["id"] == stored["U-2"]["accountid"]
    assert created == {"id": stored["U-3"]["accountid"], "created": True}


async def test_delete_sent_again_or_run_again_succeeds_but_a_first_delete_of_nothing_fails(
        emulator: RunningEmulator) -> None:
    async with d365_client(emulator) as client:
        ids = [(await act("dynamics365.create_record", {"table": "accounts",
                                                        "fields": {"name": f"D{i}"}},
                          step(client, path=f"actions[{i}]")))["id"] for i in range(2)]
        await fault(emulator, path="/api/data/*/accounts(*", method="DELETE",
                    **GATEWAY_AFTER_COMMIT)
        resent = await act("dynamics365.delete_record", {"table": "accounts",
                                                         "record_id": ids[0]}, step(client))
        params = {"table": "accounts", "record_id": ids[1]}
        await act("dynamics365.delete_record", params, step(client, path="actions[5]"))
        rerun = await act("dynamics365.delete_record", params,
                          step(client, path="actions[5]", may_repeat=True))
        with pytest.raises(FatalError, match="no accounts record with id"):
            await act("dynamics365.delete_record", params, step(client, path="actions[6]"))
    assert resent == {"deleted": True} and rerun == {"deleted": True}
    assert await rows(emulator, "accounts", "name") == []


async def test_associate_and_disassociate_repeat_harmlessly(emulator: RunningEmulator) -> None:
    async with d365_client(emulator) as client:
        account = await act("dynamics365.create_record",
                            {"table": "accounts", "fields": {"name": "Parent"}}, step(client))
        contact = await act("dynamics365.create_record", {
            "table": "contacts", "fields": {"lastname": "Child"}}, step(client, path="a[1]"))
        relate = {"table": "accounts", "record_id": account["id"],
                  "relationship": "contact_customer_accounts",
                  "related": {"table": "contacts", "id": contact["id"]}}
        await fault(emulator, path="/api/data/*/$ref", **GATEWAY_AFTER_COMMIT)
        await fault(emulator, path="/api/data/*/$ref", **GATEWAY_AFTER_COMMIT)
        for attempt in (False, True):
            assert await act("dynamics365.associate", relate,
                             step(client, path="a[2]", may_repeat=attempt)) == \
                {"associated": True}
        related = await client.get_json(f"contacts({contact['id']})",
                                        {"$select": "_parentcustomerid_value"})
        for attempt in (False, True):
            assert await act("dynamics365.disassociate", relate,
                             step(client, path="a[3]", may_repeat=attempt)) == \
                {"disassociated": True}
    assert related["_parentcustomerid_value"] == account["id"]


# -- Dataverse: batches ----------------------------------------------------------------------

async def test_bulk_create_sent_again_after_the_commit_keeps_one_row_each(
        emulator: RunningEmulator) -> None:
    await fault(emulator, path="/api/data/*/accounts/Microsoft.Dynamics.CRM.CreateMultiple",
                **GATEWAY_AFTER_COMMIT)
    new_rows = [{"name": f"B{i}", "accountnumber": f"B-{i}"} for i in range(12)]
    async with d365_client(emulator) as client:
        out = await act("dynamics365.batch", {"table": "accounts", "operation": "create",
                                              "rows": new_rows}, step(client))
    stored = {a["accountnumber"]: a["accountid"]
              for a in await rows(emulator, "accounts", "accountnumber")}
    assert len(stored) == 12 and out["succeeded"] == 12 and out["failed"] == 0, out["results"][:2]
    assert [r["id"] for r in out["results"]] == [stored[f"B-{i}"] for i in range(12)]
    assert out["fallbacks"] == 1  # the resent chunk collided as a whole, $batch sorted it out


@pytest.mark.parametrize("atomic", [True, False])
async def test_mixed_batch_sent_again_after_the_commit_creates_and_deletes_once(
        emulator: RunningEmulator, atomic: bool) -> None:
    async with d365_client(emulator) as client:
        kept, doomed = [(await act("dynamics365.create_record", {
            "table": "accounts", "fields": {"name": name}}, step(client, path=name)))["id"]
            for name in ("kept", "doomed")]
        await fault(emulator, path="/api/data/*/$batch", **GATEWAY_AFTER_COMMIT)
        out = await act("dynamics365.batch", {"atomic": atomic, "requests": [
            {"operation": "create", "table": "accounts", "fields": {"name": "born"}},
            {"operation": "update", "table": "accounts", "id": kept,
             "fields": {"name": "renamed"}},
            {"operation": "delete", "table": "accounts", "id": doomed}]}, step(client))
    assert out["succeeded"] == 3 and out["failed"] == 0, out
    assert sorted(a["name"] for a in await rows(emulator, "accounts", "name")) == \
        ["born", "renamed"]


async def test_atomic_batch_run_again_after_a_crash_is_found_done(
        emulator: RunningEmulator) -> None:
    params = {"atomic": True, "requests": [
        {"operation": "create", "table": "tasks", "fields": {"subject": "t1"}},
        {"operation": "create", "table": "tasks", "fields": {"subject": "t2"}}]}
    async with d365_client(emulator) as client:
        first = await act("dynamics365.batch", params, step(client))
        again = await act("dynamics365.batch", params, step(client, may_repeat=True))
    assert [r["id"] for r in again["results"]] == [r["id"] for r in first["results"]]
    assert sorted(t["subject"] for t in await rows(emulator, "tasks", "subject")) == ["t1", "t2"]


# -- Finance & Operations ---------------------------------------------------------------------

async def fo_customers(emulator: RunningEmulator) -> list[str]:
    async with fo_api(emulator) as api:
        return sorted(r["CustomerAccount"] for r in await api.rows("CustomersV3"))


async def test_fo_create_after_a_gateway_error_past_the_commit_reads_the_record_back(
        emulator: RunningEmulator) -> None:
    await fault(emulator, path="/data/CustomersV3", method="POST", **GATEWAY_AFTER_COMMIT)
    async with fo_client(emulator, data_area="usmf") as client:
        out = await act("dynamics_fo.create_record", {"entity": "CustomersV3", "fields": {
            "CustomerAccount": "ONCE-1", "CustomerGroupId": "10"}}, step(client))
    assert out["key"] == {"dataAreaId": "usmf", "CustomerAccount": "ONCE-1"}
    assert out["record"]["CustomerGroupId"] == "10"
    assert await fo_customers(emulator) == ["ONCE-1"]


@pytest.mark.parametrize("atomic", [True, False])
async def test_fo_create_records_sent_again_after_the_commit_creates_each_once(
        emulator: RunningEmulator, atomic: bool) -> None:
    await fault(emulator, path="/data/$batch", **GATEWAY_AFTER_COMMIT)
    records = [{"CustomerAccount": f"M-{i}", "CustomerGroupId": "10"} for i in range(3)]
    async with fo_client(emulator, data_area="usmf") as client:
        out = await act("dynamics_fo.create_records", {"entity": "CustomersV3", "atomic": atomic,
                                                       "records": records}, step(client))
    assert out["created"] == 3 and [r["status"] for r in out["results"]] == [201] * 3
    assert await fo_customers(emulator) == ["M-0", "M-1", "M-2"]


async def test_fo_create_of_an_existing_key_on_a_first_run_is_still_a_failure(
        emulator: RunningEmulator) -> None:
    async with fo_api(emulator) as api:
        await api.insert("CustomersV3", [customer("TAKEN")])
    async with fo_client(emulator, data_area="usmf") as client:
        with pytest.raises(FatalError, match="already exists"):
            await act("dynamics_fo.create_record", {"entity": "CustomersV3", "fields": {
                "CustomerAccount": "TAKEN", "CustomerGroupId": "10"}}, step(client))


async def test_fo_delete_sent_again_after_the_commit_succeeds(emulator: RunningEmulator) -> None:
    async with fo_api(emulator) as api:
        await api.insert("CustomersV3", [customer("GONE")])
    await fault(emulator, path="/data/CustomersV3(*", method="DELETE", **GATEWAY_AFTER_COMMIT)
    async with fo_client(emulator, data_area="usmf") as client:
        out = await act("dynamics_fo.delete_record", {
            "entity": "CustomersV3", "key": {"CustomerAccount": "GONE"}}, step(client))
    assert out == {"deleted": True} and await fo_customers(emulator) == []


async def test_the_fault_rule_answered_after_carrying_the_request_out(
        emulator: RunningEmulator) -> None:
    rule = await fault(emulator, path="/api/data/*/accounts", method="POST",
                       **GATEWAY_AFTER_COMMIT)
    listed = await control(emulator, "GET", "/_emulator/faults")
    assert rule["after_commit"] is True and listed["rules"][0]["after_commit"] is True
