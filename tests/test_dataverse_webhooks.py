"""Webhook steps registered through the Web API, delivered as Dataverse delivers them.

A receiver runs on loopback, over https with its own CA (given to the emulator) or plain
http; the tests register a service endpoint and steps, write rows every way a row can be
written, and assert on what the receiver got, the system jobs and the delivery log.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from emulator import EmulatorConfig, RunningEmulator, running_emulator
from emulator.tls import ensure_tls_files
from tests.d365_support import control
from tests.dataverse_client import Api, dataverse_api

FAST_RETRIES = {"retry_delays_s": [0.05, 0.05]}


@dataclass
class Receiver:
    """Records every POST; answers the next status in ``statuses`` (then 200)."""

    url: str = ""
    calls: list[dict[str, Any]] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        self.calls.append({"headers": dict(request.headers), "query": dict(request.query),
                           "body": await request.json()})
        return web.Response(status=self.statuses.pop(0) if self.statuses else 200)

    def bodies(self) -> list[dict[str, Any]]:
        return [c["body"] for c in self.calls]


@pytest.fixture(scope="session")
def receiver_tls(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A CA of the receiver's own, which only the emulator's webhook setting trusts."""
    return ensure_tls_files(tmp_path_factory.mktemp("receiver-tls"))


@pytest.fixture
async def receiver(receiver_tls: Any) -> AsyncIterator[Receiver]:
    found = Receiver()
    app = web.Application()
    app.router.add_post("/{tail:.*}", found.handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server(ssl=receiver_tls.server_context())  # not a constructor option
    try:
        found.url = f"https://localhost:{server.port}/api/dataverse"
        yield found
    finally:
        await server.close()


@pytest.fixture
async def plain_receiver() -> AsyncIterator[Receiver]:
    found = Receiver()
    app = web.Application()
    app.router.add_post("/{tail:.*}", found.handle)
    async with TestServer(app, host="127.0.0.1") as server:
        found.url = f"http://127.0.0.1:{server.port}/hook"
        yield found


@pytest.fixture
async def dataverse(tls_dir: Path, receiver_tls: Any) -> AsyncIterator[RunningEmulator]:
    config = EmulatorConfig(port=0, tls_dir=tls_dir, webhook_ca_file=receiver_tls.ca_cert)
    async with running_emulator(config) as emu:
        yield emu


async def _one(api: Api, path: str) -> str:
    reply = await api.get(path)
    assert reply.status == 200 and len(reply.json["value"]) == 1, reply.text
    row = reply.json["value"][0]
    return str(next(v for k, v in row.items() if k.endswith("id") and not k.startswith("@")))


async def endpoint(api: Api, url: str, authtype: int = 4, authvalue: str = "s3cret") -> str:
    return await api.create("serviceendpoints", {
        "name": "recipe-runner", "url": url, "contract": 8, "authtype": authtype,
        "authvalue": authvalue, "messageformat": 2})


async def step(api: Api, endpoint_id: str, message: str, table: str, **fields: Any) -> str:
    message_id = await _one(api, "sdkmessages?$select=sdkmessageid&$filter="
                            + quote(f"name eq '{message}'"))
    filter_id = await _one(api, "sdkmessagefilters?$select=sdkmessagefilterid&$filter=" + quote(
        f"sdkmessageid/name eq '{message}' and primaryobjecttypecode eq '{table}'"))
    return await api.create("sdkmessageprocessingsteps", {
        "name": f"{message} of {table}", "stage": 40, "mode": 1, "rank": 1,
        "supporteddeployment": 0, "asyncautodelete": False,
        "sdkmessageid@odata.bind": f"/sdkmessages({message_id})",
        "sdkmessagefilterid@odata.bind": f"/sdkmessagefilters({filter_id})",
        "eventhandler_serviceendpoint@odata.bind": f"/serviceendpoints({endpoint_id})",
        **fields})


async def image(api: Api, step_id: str, alias: str, imagetype: int, attributes: str) -> None:
    await api.create("sdkmessageprocessingstepimages", {
        "name": alias, "entityalias": alias, "imagetype": imagetype,
        "messagepropertyname": "Target", "attributes": attributes,
        "sdkmessageprocessingstepid@odata.bind": f"/sdkmessageprocessingsteps({step_id})"})


async def deliveries(emu: RunningEmulator, **query: str) -> dict[str, Any]:
    args = "&".join(f"{k}={v}" for k, v in {"wait_s": "5", **query}.items())
    return dict(await control(emu, "GET", f"/_emulator/webhooks/deliveries?{args}"))


def attributes(entity: dict[str, Any]) -> dict[str, Any]:
    return {pair["key"]: pair["value"] for pair in entity["Attributes"]}


async def test_async_create_posts_the_execution_context_with_webhook_key_over_https(
        dataverse: RunningEmulator, receiver: Receiver) -> None:
    async with dataverse_api(dataverse) as api:
        endpoint_id = await endpoint(api, receiver.url)
        step_id = await step(api, endpoint_id, "Create", "contact")
        await image(api, step_id, "PostImage", 1, "fullname,emailaddress1")
        contact = await api.create("contacts", {"firstname": "Ada", "lastname": "Lovelace",
                                                "emailaddress1": "ada@example.com",
                                                "gendercode": 2, "creditlimit": 10})
        log = await deliveries(dataverse)
        jobs = (await api.get("asyncoperations?$select=name,statuscode,_owningextensionid_value"
                              "&$filter=operationtype eq 1")).json["value"]
        stored = (await api.get(f"serviceendpoints({endpoint_id})?$select=authvalue")).json
    assert log["counts"] == {"delivered": 1}
    call = receiver.calls[0]
    assert call["query"] == {"code": "s3cret"}
    assert call["headers"]["x-ms-dynamics-entity-name"] == "contact"
    assert call["headers"]["x-ms-dynamics-request-name"] == "Create"
    body = call["body"]
    assert (body["MessageName"], body["PrimaryEntityName"], body["PrimaryEntityId"]) == (
        "Create", "contact", contact)
    assert (body["Stage"], body["Mode"], body["Depth"], body["SecondaryEntityName"]) == (
        40, 1, 1, "none")
    target = body["InputParameters"][0]
    assert target["key"] == "Target" and target["value"]["LogicalName"] == "contact"
    values = attributes(target["value"])
    assert values["firstname"] == "Ada" and values["contactid"] == contact
    assert values["gendercode"] == {"__type": "OptionSetValue:http://schemas.microsoft.com/"
                                              "xrm/2011/Contracts", "Value": 2}
    assert values["creditlimit"]["Value"] == 10.0
    assert values["createdon"].startswith("/Date(")
    assert body["OutputParameters"] == [{"key": "id", "value": contact}]
    post = body["PostEntityImages"][0]
    assert post["key"] == "PostImage"
    assert attributes(post["value"]) == {"contactid": contact, "fullname": "Ada Lovelace",
                                         "emailaddress1": "ada@example.com"}
    assert body["OwningExtension"]["Id"] == step_id
    for name in ("OperationId", "CorrelationId", "InitiatingUserId", "UserId",
                 "OrganizationId", "BusinessUnitId", "OperationCreatedOn"):
        assert body[name], name
    assert [(j["statuscode"], j["_owningextensionid_value"]) for j in jobs] == [(30, step_id)]
    assert jobs[0]["asyncoperationid"] == body["OperationId"]
    assert stored["authvalue"] is None  # the secret cannot be read back
    assert "s3cret" not in str(log)


async def test_updates_fire_only_for_filtering_attributes_and_carry_pre_images(
        dataverse: RunningEmulator, receiver: Receiver) -> None:
    async with dataverse_api(dataverse) as api:
        endpoint_id = await endpoint(api, receiver.url)
        step_id = await step(api, endpoint_id, "Update", "contact",
                             filteringattributes="firstname,lastname")
        await image(api, step_id, "Before", 0, "firstname")
        contact = await api.create("contacts", {"firstname": "Old", "lastname": "Name"})
        await api.patch(f"contacts({contact})", {"jobtitle": "CTO"}, headers={"If-Match": "*"})
        await api.patch(f"contacts({contact})", {"firstname": "New"}, headers={"If-Match": "*"})
        log = await deliveries(dataverse)
    assert log["counts"] == {"delivered": 1}
    body = receiver.bodies()[0]
    assert body["MessageName"] == "Update"
    assert attributes(body["InputParameters"][0]["value"])["firstname"] == "New"
    assert "jobtitle" not in attributes(body["InputParameters"][0]["value"])
    assert attributes(body["PreEntityImages"][0]["value"]) == {"contactid": contact,
                                                              "firstname": "Old"}
    assert body["PostEntityImages"] == []


async def test_every_write_path_fires_create_update_and_delete_steps(
        dataverse: RunningEmulator, plain_receiver: Receiver) -> None:
    async with dataverse_api(dataverse) as api:
        endpoint_id = await endpoint(api, plain_receiver.url, authtype=5,
                                     authvalue='<settings><setting name="x-api-key" '
                                               'value="k3y" /></settings>')
        for message in ("Create", "Update", "Delete"):
            await step(api, endpoint_id, message, "account")
        made = (await api.post("accounts/Microsoft.Dynamics.CRM.CreateMultiple", {"Targets": [
            {"@odata.type": "Microsoft.Dynamics.CRM.account", "name": f"bulk {i}"}
            for i in range(3)]})).json["Ids"]
        await api.control_insert("account", [{"name": "control plane"}])
        batch = await api.http.post(f"{api.root}/$batch", data=(
            "--b\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n"
            f"PATCH {api.root}/accounts({made[0]}) HTTP/1.1\r\nContent-Type: application/json"
            "\r\nIf-Match: *\r\n\r\n{\"name\": \"renamed\"}\r\n--b--\r\n"),
            headers={"Authorization": f"Bearer {api.token}",
                     "Content-Type": "multipart/mixed; boundary=b"})
        assert batch.status == 200, await batch.text()
        await api.delete(f"accounts({made[1]})")
        log = await deliveries(dataverse)
    messages = sorted(b["MessageName"] for b in plain_receiver.bodies())
    assert messages == ["Create"] * 4 + ["Delete", "Update"]
    assert log["counts"] == {"delivered": 6}
    assert {c["headers"]["x-api-key"] for c in plain_receiver.calls} == {"k3y"}
    deleted = next(b for b in plain_receiver.bodies() if b["MessageName"] == "Delete")
    assert deleted["InputParameters"][0]["value"]["Id"] == made[1]
    assert "EntityReference" in deleted["InputParameters"][0]["value"]["__type"]


async def test_disabled_steps_and_bad_registrations(dataverse: RunningEmulator,
                                                    receiver: Receiver) -> None:
    async with dataverse_api(dataverse) as api:
        endpoint_id = await endpoint(api, receiver.url)
        step_id = await step(api, endpoint_id, "Create", "lead")
        await api.patch(f"sdkmessageprocessingsteps({step_id})", {"statecode": 1},
                        headers={"If-Match": "*"})
        await api.create("leads", {"lastname": "quiet"})
        refused = await api.post("sdkmessageprocessingsteps", {"name": "x", "stage": 20,
                                                               "mode": 1})
        log = await deliveries(dataverse)
    assert receiver.calls == [] and log["deliveries"] == []
    assert refused.status == 400 and "post-operation" in refused.json["error"]["message"]


async def test_synchronous_step_failure_fails_and_rolls_back_the_operation(
        dataverse: RunningEmulator, receiver: Receiver) -> None:
    async with dataverse_api(dataverse) as api:
        endpoint_id = await endpoint(api, receiver.url)
        await step(api, endpoint_id, "Create", "task", mode=0)
        ok = await api.post("tasks", {"subject": "accepted"})
        receiver.statuses = [500]
        refused = await api.post("tasks", {"subject": "refused"})
        subjects = [t["subject"] for t in (await api.get("tasks?$select=subject")).json["value"]]
    assert ok.status == 204
    assert refused.status == 400 and "Endpoint unavailable" in refused.json["error"]["message"]
    assert subjects == ["accepted"]
    assert [b["Mode"] for b in receiver.bodies()] == [0, 0]
    assert receiver.bodies()[0]["IsInTransaction"] is True


async def test_async_deliveries_are_retried_then_fail_as_a_system_job(
        dataverse: RunningEmulator, receiver: Receiver) -> None:
    await control(dataverse, "POST", "/_emulator/webhooks/settings", FAST_RETRIES)
    async with dataverse_api(dataverse) as api:
        endpoint_id = await endpoint(api, receiver.url)
        step_id = await step(api, endpoint_id, "Create", "incident")
        receiver.statuses = [500, 503]  # then 200: the 503 is retried at once
        await api.create("incidents", {"title": "flaky"})
        recovered = await deliveries(dataverse)
        receiver.statuses = [500] * 10
        await api.create("incidents", {"title": "down"})
        failed = await deliveries(dataverse, status="failed")
        jobs = (await api.get("asyncoperations?$select=statuscode,message,retrycount"
                              "&$filter=" + quote(f"_owningextensionid_value eq {step_id}")
                              + "&$orderby=createdon")).json["value"]
    first = recovered["deliveries"][0]
    assert (first["status"], first["attempts"]) == ("delivered", 3)
    assert len(failed["deliveries"]) == 1 and failed["deliveries"][0]["http_status"] == 500
    assert sorted(j["statuscode"] for j in jobs) == [30, 31]
    broken = next(j for j in jobs if j["statuscode"] == 31)
    assert "HTTP 500" in broken["message"] and broken["retrycount"] == 2


async def test_control_plane_drops_duplicates_delays_and_reorders_deliveries(
        dataverse: RunningEmulator, plain_receiver: Receiver) -> None:
    async with dataverse_api(dataverse) as api:
        endpoint_id = await endpoint(api, plain_receiver.url)
        await step(api, endpoint_id, "Create", "account")
        await control(dataverse, "POST", "/_emulator/webhooks/deliveries",
                      {"action": "drop", "count": 1})
        await control(dataverse, "POST", "/_emulator/webhooks/deliveries",
                      {"action": "duplicate", "count": 1})
        await control(dataverse, "POST", "/_emulator/webhooks/deliveries",
                      {"action": "reorder", "count": 1, "hold_s": 2})
        names = []
        for name in ("lost", "twice", "late", "on time"):
            names.append(name)
            await api.create("accounts", {"name": name})
            await asyncio.sleep(0.05)  # one at a time, so the order is the writes' order
        log = await deliveries(dataverse)
    received = [attributes(b["InputParameters"][0]["value"])["name"]
                for b in plain_receiver.bodies()]
    assert received == ["twice", "twice", "on time", "late"]
    assert log["counts"] == {"dropped": 1, "delivered": 4}
    assert sum(1 for d in log["deliveries"] if d["duplicate"]) == 1
    assert [r["applied"] for r in log["rules"]] == [1, 1, 1]


async def test_http_to_a_non_loopback_host_is_refused_at_delivery(
        dataverse: RunningEmulator) -> None:
    await control(dataverse, "POST", "/_emulator/webhooks/settings", {"retry_delays_s": []})
    async with dataverse_api(dataverse) as api:
        endpoint_id = await endpoint(api, "http://receiver.example.com/hook")
        await step(api, endpoint_id, "Create", "account")
        await api.create("accounts", {"name": "x"})
        log = await deliveries(dataverse)
    entry = log["deliveries"][0]
    assert entry["status"] == "failed" and "https" in entry["error"]
