"""Examples of "Use WebHooks to create external handlers for server events"
(learn.microsoft.com/power-apps/developer/data-platform/use-webhooks) and "Register a WebHook"
(…/data-platform/register-web-hook)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from emulator import RunningEmulator
from tests.dataverse_client import dataverse_api
from tests.test_dataverse_webhooks import (  # fixtures, used by name below
    Receiver,
    dataverse,
    deliveries,
    endpoint,
    image,
    plain_receiver,
    receiver_tls,
    step,
)

__all__ = ["dataverse", "plain_receiver", "receiver_tls"]
CONTRACTS = "http://schemas.microsoft.com/xrm/2011/Contracts"
# The top-level properties of the documented RemoteExecutionContext example.
DOCUMENTED = ("BusinessUnitId", "CorrelationId", "Depth", "InitiatingUserId", "InputParameters",
              "IsExecutingOffline", "IsInTransaction", "IsOfflinePlayback", "IsolationMode",
              "MessageName", "Mode", "OperationCreatedOn", "OperationId", "OrganizationId",
              "OrganizationName", "OutputParameters", "OwningExtension", "ParentContext",
              "PostEntityImages", "PreEntityImages", "PrimaryEntityId", "PrimaryEntityName",
              "RequestId", "SecondaryEntityName", "SharedVariables", "Stage", "UserId")


async def test_update_of_a_contact_as_in_the_documented_example(
        dataverse: RunningEmulator, plain_receiver: Receiver) -> None:
    """use-webhooks: "Request Body" — a step on Update of contact, filtering attributes
    firstname,lastname, post-operation, asynchronous, with an image of fullname."""
    async with dataverse_api(dataverse) as api:
        endpoint_id = await endpoint(api, plain_receiver.url)
        step_id = await step(api, endpoint_id, "Update", "contact",
                             filteringattributes="firstname,lastname")
        await image(api, step_id, "AsynchronousStepPrimaryName", 1, "fullname")
        contact = await api.create("contacts", {"firstname": "Jim", "lastname": "Glynn"})
        await api.patch(f"contacts({contact})", {"firstname": "James"},
                        headers={"If-Match": "*"})
        await deliveries(dataverse)
    (call,) = plain_receiver.calls
    body = call["body"]
    assert set(DOCUMENTED) <= set(body)
    assert (body["MessageName"], body["Mode"], body["Stage"], body["Depth"]) == (
        "Update", 1, 40, 1)
    assert body["OperationCreatedOn"].startswith("/Date(")
    target = body["InputParameters"][0]["value"]
    assert target["__type"] == f"Entity:{CONTRACTS}"
    assert set(target) == {"__type", "Attributes", "EntityState", "FormattedValues", "Id",
                           "KeyAttributes", "LogicalName", "RelatedEntities", "RowVersion"}
    values = {p["key"]: p["value"] for p in target["Attributes"]}
    assert values["firstname"] == "James" and values["contactid"] == contact
    assert values["modifiedon"].startswith("/Date(")
    modified_by = values["modifiedby"]
    assert modified_by["__type"] == f"EntityReference:{CONTRACTS}"
    assert set(modified_by) == {"__type", "Id", "KeyAttributes", "LogicalName", "Name",
                                "RowVersion"}
    assert modified_by["LogicalName"] == "systemuser"
    assert values["modifiedonbehalfby"] is None
    post = body["PostEntityImages"][0]
    assert post["key"] == "AsynchronousStepPrimaryName"
    assert {p["key"]: p["value"] for p in post["value"]["Attributes"]}["fullname"] == \
        "James Glynn"
    owning = body["OwningExtension"]
    assert (owning["Id"], owning["LogicalName"]) == (step_id, "sdkmessageprocessingstep")
    headers = call["headers"]
    assert headers["x-ms-dynamics-entity-name"] == "contact"
    assert headers["x-ms-dynamics-request-name"] == "Update"
    assert headers["x-ms-dynamics-organization"] == "localhost"
    assert headers["x-ms-correlation-request-id"] == body["CorrelationId"]


async def test_authentication_options(dataverse: RunningEmulator,
                                      plain_receiver: Receiver) -> None:
    """register-web-hook: "Authentication options" — HttpHeader pairs as headers,
    WebhookKey as ``?code=``, HttpQueryString pairs in the query."""
    settings = '<settings><setting name="Key1" value="Value1" /><setting name="Key2" ' \
               'value="Value2" /></settings>'
    async with dataverse_api(dataverse) as api:
        for authtype, value in ((5, settings), (4, "00000000-0000-0000-0000-000000000001"),
                                (6, settings)):
            endpoint_id = await endpoint(api, plain_receiver.url, authtype, value)
            await step(api, endpoint_id, "Create", "lead")
        await api.create("leads", {"lastname": "auth"})
        await deliveries(dataverse)
    found: list[dict[str, Any]] = plain_receiver.calls
    assert any(c["headers"].get("Key1") == "Value1" and c["headers"].get("Key2") == "Value2"
               for c in found)
    assert any(c["query"] == {"code": "00000000-0000-0000-0000-000000000001"} for c in found)
    assert any(c["query"] == {"Key1": "Value1", "Key2": "Value2"} for c in found)


async def test_the_documented_registration_queries(dataverse: RunningEmulator,
                                                   plain_receiver: Receiver) -> None:
    """register-web-hook: "Query WebHook registrations", "Query steps registered for a
    WebHook" and "Query failed asynchronous jobs for a given step"."""
    await dataverse_control_retries(dataverse)
    async with dataverse_api(dataverse) as api:
        endpoint_id = await endpoint(api, plain_receiver.url)
        step_id = await step(api, endpoint_id, "Create", "task")
        hooks = await api.get("serviceendpoints?$filter=contract eq 8&$select= "
                              "serviceendpointid,name,authtype,url")
        steps = await api.get(
            "serviceendpoints(@id)/serviceendpoint_sdkmessageprocessingstep?$select="
            "sdkmessageprocessingstepid,name,description,asyncautodelete,filteringattributes,"
            f"mode,stage&@id={endpoint_id}")
        detail = await api.get(
            "sdkmessageprocessingsteps(@id)?$select=name,description,filteringattributes,"
            "asyncautodelete,mode,stage&$expand=plugintypeid($select=friendlyname),"
            "eventhandler_serviceendpoint($select=name),sdkmessagefilterid($select="
            f"primaryobjecttypecode),sdkmessageid($select=name)&@id={step_id}")
        plain_receiver.statuses = [500] * 5
        await api.create("tasks", {"subject": "fails"})
        await deliveries(dataverse)
        failed = await api.get(
            "asyncoperations?$orderby=completedon desc&$filter=" + quote(
                "statuscode eq 31 and _owningextensionid_value eq @stepid")
            + "&$select=name,friendlymessage,errorcode,message,completedon"
            + f"&@stepid={step_id}")
    assert [(h["name"], h["authtype"]) for h in hooks.json["value"]] == [("recipe-runner", 4)]
    assert [s["sdkmessageprocessingstepid"] for s in steps.json["value"]] == [step_id]
    body = detail.json
    assert body["eventhandler_serviceendpoint"]["name"] == "recipe-runner"
    assert body["sdkmessagefilterid"]["primaryobjecttypecode"] == "task"
    assert body["sdkmessageid"]["name"] == "Create" and body["plugintypeid"] is None
    (job,) = failed.json["value"]
    assert job["friendlymessage"] and "HTTP 500" in job["message"] and job["completedon"]


async def dataverse_control_retries(emu: RunningEmulator) -> None:
    from tests.d365_support import control
    await control(emu, "POST", "/_emulator/webhooks/settings", {"retry_delays_s": [0.01]})
