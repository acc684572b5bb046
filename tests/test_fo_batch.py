"""``POST /data/$batch``: change sets are atomic, ``$<Content-ID>`` references, GET parts."""

from __future__ import annotations

import json
import re
from typing import Any

from emulator import RunningEmulator
from tests.fo_support import FoApi, Reply, customer, fo_api


def _request(method: str, url: str, body: Any = None, content_id: str | None = None) -> str:
    head = ["Content-Type: application/http", "Content-Transfer-Encoding: binary"]
    if content_id:
        head.append(f"Content-ID: {content_id}")
    lines = [*head, "", f"{method} {url} HTTP/1.1", "Accept: application/json"]
    if body is None:
        return "\r\n".join([*lines, "", ""])
    return "\r\n".join([*lines, "Content-Type: application/json", "", json.dumps(body)])


def _change_set(boundary: str, parts: list[str]) -> str:
    inner = "".join(f"--{boundary}\r\n{part}\r\n" for part in parts)
    return (f"Content-Type: multipart/mixed; boundary={boundary}\r\n\r\n"
            f"{inner}--{boundary}--")


async def _batch(api: FoApi, items: list[str], prefer: str | None = None) -> Reply:
    body = "".join(f"--batch_1\r\n{item}\r\n" for item in items) + "--batch_1--\r\n"
    headers = {"Content-Type": "multipart/mixed; boundary=batch_1"}
    if prefer:
        headers["Prefer"] = prefer
    return await api.call("POST", "$batch", headers=headers, data=body.encode())


def _statuses(reply: Reply) -> list[int]:
    return [int(s) for s in re.findall(r"^HTTP/1\.1 (\d{3})", reply.text, re.M)]


async def test_change_set_creates_and_updates_through_a_content_id_reference(
        emulator: RunningEmulator) -> None:
    async with fo_api(emulator) as api:
        change_set = _change_set("changeset_a", [
            _request("POST", f"{emulator.base_url}/data/CustomersV3", customer("US-200"), "1"),
            _request("PATCH", "$1", {"CreditLimit": 42}, "2"),
            _request("POST", "VendorsV2", {"VendorAccountNumber": "V-9",
                                           "VendorGroupId": "10"}, "3")])
        reply = await _batch(api, [change_set, _request("GET", "CustomersV3?$select="
                                                               "CustomerAccount,CreditLimit")])
    assert reply.status == 200
    assert reply.headers["Content-Type"].startswith("multipart/mixed; boundary=batchresponse_")
    assert _statuses(reply) == [201, 204, 201, 200]
    assert '"CustomerAccount":"US-200","CreditLimit":42.0' in reply.text
    assert "Content-ID: 1" in reply.text


async def test_a_failing_change_set_rolls_back_and_answers_the_500_part(
        emulator: RunningEmulator) -> None:
    async with fo_api(emulator) as api:
        await api.insert("CustomersV3", [customer("US-001")])
        change_set = _change_set("changeset_b", [
            _request("POST", "CustomersV3", customer("US-300"), "1"),
            _request("POST", "CustomersV3", customer("US-001"), "2")])  # duplicate key
        reply = await _batch(api, [change_set, _request("GET", "CustomersV3/$count")])
        rows = await api.rows("CustomersV3")
    assert reply.status == 200
    assert _statuses(reply) == [500], "the batch stops at the failure by default"
    assert "AxODataWriteException" in reply.text
    assert [row["CustomerAccount"] for row in rows] == ["US-001"]


async def test_continue_on_error_runs_every_part(emulator: RunningEmulator) -> None:
    async with fo_api(emulator) as api:
        reply = await _batch(api, [_request("GET", "NoSuchSet"),
                                   _request("GET", "CustomersV3/$count")],
                             prefer="odata.continue-on-error")
    assert _statuses(reply) == [404, 200]


async def test_malformed_batch_answers_400_with_innererror(emulator: RunningEmulator) -> None:
    async with fo_api(emulator) as api:
        reply = await api.call("POST", "$batch", data=b"nothing",
                               headers={"Content-Type": "text/plain"})
    assert reply.status == 400
    assert "multipart/mixed" in reply.inner["message"]
