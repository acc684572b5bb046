"""``$batch`` over the real Web API: parts, change sets, ``$n`` references, errors."""

from __future__ import annotations

import email.parser
import email.policy
import json
from dataclasses import dataclass
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from multidict import CIMultiDict

from emulator import RunningEmulator
from emulator.dataverse import batch
from tests.dataverse_client import Api, Reply, dataverse_api

Request = tuple[str, str, Any]  # method, url, JSON body (None: no body)


@dataclass
class Part:
    status: int
    headers: CIMultiDict[str]
    body: str
    content_id: str | None

    @property
    def json(self) -> Any:
        return json.loads(self.body)


def _http(method: str, url: str, body: Any, content_id: str | None = None) -> str:
    head = ["Content-Type: application/http", "Content-Transfer-Encoding: binary"]
    if content_id is not None:
        head.append(f"Content-ID: {content_id}")
    lines = [*head, "", f"{method} {url} HTTP/1.1"]
    if body is None:
        return "\r\n".join([*lines, "", ""])
    return "\r\n".join([*lines, "Content-Type: application/json; type=entry", "",
                        json.dumps(body)])


def batch_body(items: list[Request | list[Request]], boundary: str = "batch_AAA123") -> str:
    """A multipart/mixed batch; a list item is a change set whose parts get Content-IDs."""
    chunks = []
    for n, item in enumerate(items):
        chunks.append(f"--{boundary}")
        if isinstance(item, list):
            inner = f"changeset_{n}"
            chunks.append(f"Content-Type: multipart/mixed; boundary={inner}\r\n")
            for i, (method, url, body) in enumerate(item, start=1):
                chunks += [f"--{inner}", _http(method, url, body, str(i))]
            chunks.append(f"--{inner}--")
        else:
            chunks.append(_http(*item))
    chunks.append(f"--{boundary}--\r\n")
    return "\r\n".join(chunks)


async def post_batch(api: Api, body: str, boundary: str = "batch_AAA123",
                     prefer: str | None = None) -> Reply:
    headers = {"Content-Type": f"multipart/mixed; boundary={boundary}"}
    if prefer:
        headers["Prefer"] = prefer
    async with api.http.post(f"{api.root}/$batch", data=body.encode(), headers={
            "Authorization": f"Bearer {api.token}", "OData-Version": "4.0", **headers}) as resp:
        return Reply(resp.status, CIMultiDict(resp.headers), await resp.text())


def parse_parts(reply: Reply) -> list[Part | list[Part]]:
    """The response parts, read with the stdlib MIME parser (a change set is a list)."""
    document = f"Content-Type: {reply.headers['Content-Type']}\r\n\r\n{reply.text}"
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(document.encode())
    assert message.is_multipart(), reply.text
    parts: list[Part | list[Part]] = []
    for sub in message.iter_parts():  # type: ignore[attr-defined]
        if sub.is_multipart():
            parts.append([_part(inner) for inner in sub.iter_parts()])
        else:
            parts.append(_part(sub))
    return parts


def _part(message: Any) -> Part:
    raw = message.get_payload(decode=True).decode()
    head, _, body = raw.replace("\r\n", "\n").partition("\n\n")
    status_line, *lines = head.split("\n")
    headers: CIMultiDict[str] = CIMultiDict()
    for line in lines:
        name, _, value = line.partition(":")
        headers.add(name.strip(), value.strip())
    return Part(int(status_line.split()[1]), headers, body.strip(), message["Content-ID"])


async def rows(api: Api, entity_set: str) -> list[dict[str, Any]]:
    reply = await api.get(f"{entity_set}?$select=name")
    assert reply.status == 200, reply.text
    return list(reply.json["value"])


async def test_batch_answers_each_part_in_order_with_entity_ids_and_a_get_body(
        emulator: RunningEmulator) -> None:
    async with dataverse_api(emulator) as api:
        body = batch_body([("POST", "/api/data/v9.2/accounts", {"name": "One"}),
                           ("POST", f"{api.root}/accounts", {"name": "Two"}),
                           ("GET", "accounts?$select=name&$orderby=name", None)])
        reply = await post_batch(api, body)
    assert reply.status == 200, reply.text
    assert reply.headers["Content-Type"].startswith("multipart/mixed; boundary=batchresponse_")
    first, second, listing = parse_parts(reply)
    assert isinstance(first, Part) and isinstance(second, Part) and isinstance(listing, Part)
    assert first.status == second.status == 204
    entity_id = first.headers["OData-EntityId"]
    assert entity_id.startswith(f"{emulator.base_url}/api/data/v9.2/accounts(")
    assert first.headers["Location"] == entity_id
    assert listing.status == 200
    assert "odata.streaming=true" in listing.headers["Content-Type"]
    assert [r["name"] for r in listing.json["value"]] == ["One", "Two"]


async def test_change_set_whose_third_operation_fails_leaves_no_rows(
        emulator: RunningEmulator) -> None:
    async with dataverse_api(emulator) as api:
        body = batch_body([[("POST", "/api/data/v9.2/accounts", {"name": "A"}),
                            ("POST", "/api/data/v9.2/accounts", {"name": "B"}),
                            ("POST", "/api/data/v9.2/accounts", {"name": "x" * 161})]])
        reply = await post_batch(api, body)
        remaining = await rows(api, "accounts")
    assert reply.status == 400
    (only,) = parse_parts(reply)
    assert isinstance(only, Part) and only.status == 400
    assert only.json["error"]["code"] == "0x80044331"
    assert "REQ_ID" in only.headers
    assert remaining == []


async def test_content_id_reference_binds_a_contact_to_the_account_created_before_it(
        emulator: RunningEmulator) -> None:
    async with dataverse_api(emulator) as api:
        body = batch_body([[
            ("POST", "/api/data/v9.2/accounts", {"name": "Parent"}),
            ("POST", "/api/data/v9.2/contacts", {"lastname": "Child",
                                                  "parentcustomerid_account@odata.bind": "$1"}),
            ("PATCH", "$1", {"primarycontactid@odata.bind": "$2"}),
            ("PUT", "$2/firstname", {"value": "Kid"}),
        ]])
        reply = await post_batch(api, body)
        (change_set,) = parse_parts(reply)
        assert isinstance(change_set, list)
        account_url = change_set[0].headers["OData-EntityId"]
        contact_url = change_set[1].headers["OData-EntityId"]
        contact = (await api.get(contact_url + "?$select=fullname,_parentcustomerid_value")).json
        account = (await api.get(account_url + "?$select=_primarycontactid_value")).json
    assert reply.status == 200
    assert [p.status for p in change_set] == [204, 204, 204, 204]
    assert [p.content_id for p in change_set] == ["1", "2", "3", "4"]
    assert contact["_parentcustomerid_value"] == account["accountid"]
    assert account["_primarycontactid_value"] == contact["contactid"]
    assert contact["fullname"] == "Kid Child"


async def test_reference_to_an_undeclared_content_id_is_400_and_rolls_back(
        emulator: RunningEmulator) -> None:
    async with dataverse_api(emulator) as api:
        body = batch_body([[("POST", "/api/data/v9.2/accounts", {"name": "Kept?"}),
                            ("POST", "/api/data/v9.2/contacts",
                             {"parentcustomerid_account@odata.bind": "$7"})]])
        reply = await post_batch(api, body)
        remaining = await rows(api, "accounts")
    (only,) = parse_parts(reply)
    assert isinstance(only, Part) and only.status == 400
    assert "Content-ID Reference: '$7' does not exist in the batch context." in (
        only.json["error"]["message"])
    assert remaining == []


async def test_without_continue_on_error_the_batch_stops_at_the_first_failure(
        emulator: RunningEmulator) -> None:
    async with dataverse_api(emulator) as api:
        body = batch_body([("POST", "accounts", {"name": "First"}),
                           ("POST", "accounts", {"nosuchcolumn": 1}),
                           ("POST", "accounts", {"name": "Never"})])
        reply = await post_batch(api, body)
        names = [r["name"] for r in await rows(api, "accounts")]
    assert reply.status == 400
    statuses = [p.status for p in parse_parts(reply) if isinstance(p, Part)]
    assert statuses == [204, 400]
    assert names == ["First"]


async def test_continue_on_error_runs_every_part_and_returns_per_item_results(
        emulator: RunningEmulator) -> None:
    async with dataverse_api(emulator) as api:
        body = batch_body([("POST", "tasks", {"subject": "x" * 201}),
                           [("POST", "accounts", {"name": "In set"}),
                            ("DELETE", "accounts(00000000-0000-4000-8000-000000000001)", None)],
                           ("POST", "tasks", {"subject": "Task 2"}),
                           ("GET", "tasks?$select=subject", None)])
        reply = await post_batch(api, body, prefer="odata.continue-on-error")
        accounts = await rows(api, "accounts")
    assert reply.status == 200
    assert reply.headers["Preference-Applied"] == "odata.continue-on-error"
    too_long, failed_set, created, listing = parse_parts(reply)
    assert isinstance(too_long, Part) and too_long.status == 400
    assert too_long.json["error"]["code"] == "0x80044331"
    assert isinstance(failed_set, Part) and failed_set.status == 404
    assert isinstance(created, Part) and created.status == 204
    assert isinstance(listing, Part)
    assert [t["subject"] for t in listing.json["value"]] == ["Task 2"]
    assert accounts == []  # the failed change set rolled its create back


async def test_a_batch_of_more_than_1000_requests_is_refused(
        emulator: RunningEmulator) -> None:
    async with dataverse_api(emulator) as api:
        body = batch_body([("POST", "accounts", {"name": f"n{i}"}) for i in range(1001)])
        reply = await post_batch(api, body)
        remaining = await rows(api, "accounts")
    assert reply.status == 400
    assert "1000" in reply.json["error"]["message"]
    assert remaining == []


async def test_malformed_multipart_answers_400_with_the_dataverse_error_shape(
        emulator: RunningEmulator) -> None:
    unclosed = batch_body([("POST", "accounts", {"name": "x"})]).replace("--batch_AAA123--", "")
    bad_line = "--batch_AAA123\r\nContent-Type: application/http\r\n\r\nNOT A REQUEST\r\n" \
               "--batch_AAA123--\r\n"
    get_in_set = batch_body([[("GET", "accounts", None)]])
    async with dataverse_api(emulator) as api:
        replies = [await post_batch(api, text) for text in (unclosed, bad_line, get_in_set)]
        no_boundary = await api.call("POST", "$batch", headers={
            "Content-Type": "multipart/mixed"})
        remaining = await rows(api, "accounts")
    for reply in [*replies, no_boundary]:
        assert reply.status == 400, reply.text
        assert set(reply.json["error"]) == {"code", "message"}
    assert remaining == []


async def test_return_representation_part_still_feeds_its_content_id(
        emulator: RunningEmulator) -> None:
    body = batch_body([[("POST", "accounts", {"name": "Rep"}),
                        ("POST", "contacts", {"lastname": "L",
                                              "parentcustomerid_account@odata.bind": "$1"})]])
    body = body.replace("POST accounts HTTP/1.1\r\n",
                        "POST accounts HTTP/1.1\r\nPrefer: return=representation\r\n")
    async with dataverse_api(emulator) as api:
        reply = await post_batch(api, body)
    (change_set,) = parse_parts(reply)
    assert isinstance(change_set, list)
    assert [p.status for p in change_set] == [201, 204]
    assert change_set[0].json["name"] == "Rep"


async def test_batch_without_a_bearer_token_is_401(emulator: RunningEmulator) -> None:
    headers = {"Content-Type": "multipart/mixed; boundary=batch_AAA123"}
    async with dataverse_api(emulator) as api, api.http.post(
            f"{api.root}/$batch", data=batch_body([]), headers=headers) as resp:
        assert resp.status == 401
        assert "WWW-Authenticate" in resp.headers


async def test_parts_with_bad_urls_answer_errors_in_their_own_parts(
        emulator: RunningEmulator) -> None:
    async with dataverse_api(emulator) as api:
        body = batch_body([("GET", "http://[::1/api/data/v9.2/accounts", None),
                           ("GET", "/api/data/v7.0/accounts", None),
                           ("GET", "/somewhere/else", None),
                           ("POST", "/api/data/v9.2/$batch", {}),
                           ("GET", "nosuchset", None)])
        reply = await post_batch(api, body, prefer="odata.continue-on-error")
    assert reply.status == 200
    statuses = [p.status for p in parse_parts(reply) if isinstance(p, Part)]
    assert statuses == [400, 404, 404, 400, 404]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from([
    b"--batch_X", b"--batch_X--", b"--changeset_Y", b"--changeset_Y--", b"\r\n", b"\n",
    b"Content-Type: application/http", b"Content-Type: multipart/mixed; boundary=changeset_Y",
    b"Content-Type: multipart/mixed", b"Content-ID: 1", b"GET accounts HTTP/1.1",
    b"POST $1 HTTP/1.1", b"PATCH", b"{\"name\": 1}", b": no name", b" folded", b"\xff\xfe",
]), max_size=30))
def test_parsing_any_body_either_succeeds_or_raises_a_format_error(chunks: list[bytes]) -> None:
    try:
        items = batch.parse_batch("multipart/mixed; boundary=batch_X", b"\r\n".join(chunks))
    except batch.BatchFormatError:
        return
    for item in items:
        requests = item.requests if isinstance(item, batch.ChangeSet) else (item,)
        assert all(r.method in batch.METHODS for r in requests)
