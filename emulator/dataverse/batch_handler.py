"""``POST /api/data/v9.2/$batch``: run each part through the normal Web API dispatch.

Every part becomes a real aiohttp request (method, URL, headers, body) that inherits the
batch's verified principal and goes through :func:`routes.dispatch`, so a part answers
exactly what the same request would answer alone. Rules (reference §3):

* A change set is atomic: its parts run inside one store savepoint, and the first failing
  part rolls back every write of the set; the set is then answered by that failure alone.
  (Parts never await I/O, so no other request interleaves with an open savepoint.)
* ``$<Content-ID>`` names the entity an earlier part of the same change set created, at
  the start of a URL and as the value of ``…@odata.bind`` / ``@odata.id`` in a body.
* Without ``Prefer: odata.continue-on-error`` the batch stops at the first failure and
  answers ``400`` with the responses so far, the failure last; with it, every part runs
  and the batch answers ``200``.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from typing import Any

from aiohttp import web
from aiohttp.http import HttpVersion11, RawRequestMessage
from aiohttp.streams import EMPTY_PAYLOAD
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from emulator.dataverse import batch, errors, routes
from emulator.dataverse.auth import PRINCIPAL
from emulator.dataverse.environment import environment
from emulator.dataverse.events import PENDING
from emulator.dataverse.prefer import parse_prefer
from emulator.dataverse.render import JSON_TYPE
from emulator.state import STATE

_REFERENCE = re.compile(r"^\$([A-Za-z0-9_.\-]+)(.*)$", re.S)
_STREAMING_JSON = f"{JSON_TYPE}; odata.streaming=true"


class SubRequest(web.Request):
    """A batch part as an aiohttp request: its own body and its own route match."""

    ATTRS = web.Request.ATTRS | frozenset(["_part_body"])
    _part_body: bytes = b""

    async def read(self) -> bytes:
        return self._part_body


class _ChangeSetFailed(Exception):
    def __init__(self, response: batch.PartResponse) -> None:
        super().__init__(response.status)
        self.response = response


async def handle_batch(request: web.Request) -> web.StreamResponse:
    if request.method != "POST":
        raise errors.DataverseError(405, errors.RESOURCE_NOT_FOUND, (
            f"The HTTP method '{request.method}' is not allowed for this resource."))
    try:
        items = batch.parse_batch(request.headers.get("Content-Type"), await request.read())
    except batch.BatchFormatError as exc:
        raise errors.DataverseError(400, errors.PAYLOAD, str(exc)) from None
    continue_on_error = parse_prefer(request.headers.getall("Prefer", [])).continue_on_error
    results, stopped = await BatchRun(request, continue_on_error).run(items)
    boundary = batch.new_boundary("batchresponse")
    headers = {**errors.ODATA_HEADERS, "Content-Type": f"multipart/mixed; boundary={boundary}"}
    if continue_on_error:
        headers["Preference-Applied"] = "odata.continue-on-error"
    return web.Response(status=400 if stopped else 200, headers=headers,
                        body=batch.write_batch(results, boundary))


class BatchRun:
    """Runs the parts of one batch in order."""

    def __init__(self, request: web.Request, continue_on_error: bool) -> None:
        self.request = request
        self.continue_on_error = continue_on_error
        self.version = request.match_info.get("version", "v9.2")

    async def run(self, items: list[batch.BatchItem]) -> tuple[list[batch.BatchResult], bool]:
        """The results, and whether the batch stopped early at a failure."""
        results: list[batch.BatchResult] = []
        for item in items:
            if isinstance(item, batch.ChangeSet):
                result, ok = await self.run_change_set(item)
            else:
                result = await self.execute(item, {})
                ok = result.status < 400
            results.append(result)
            if not ok and not self.continue_on_error:
                return results, True
        return results, False

    async def run_change_set(self, change_set: batch.ChangeSet
                             ) -> tuple[batch.BatchResult, bool]:
        references: dict[str, str] = {}
        responses = []
        pending = PENDING.get()
        mark = len(pending) if pending is not None else 0
        try:
            with self.request.app[STATE].store.transaction():
                for part in change_set.requests:
                    response = await self.execute(part, references)
                    if response.status >= 400:
                        raise _ChangeSetFailed(response)  # rolls the savepoint back
                    responses.append(response)
                    self._remember(part, response, references)
        except _ChangeSetFailed as failed:
            if pending is not None:
                del pending[mark:]  # rolled back: its earlier parts' events never happened
            return failed.response, False
        return batch.ChangeSetResponse(tuple(responses)), True

    async def execute(self, part: batch.PartRequest,
                      references: dict[str, str]) -> batch.PartResponse:
        try:
            target = self._target(part.url, references)
            body = rewrite_references(part.body, references)
        except errors.DataverseError as exc:
            return part_response(errors.error_response(exc), part)
        sub = await self._sub_request(part, target, body)
        if sub is None:
            segments = target.path.strip("/").split("/")  # api/data/<version>/…
            missing = errors.unknown_segment(segments[2] if len(segments) > 2 else target.path)
            return part_response(errors.error_response(missing), part)
        return part_response(await routes.dispatch(sub), part)

    def _target(self, url_text: str, references: dict[str, str]) -> URL:
        """The part's URL as path and query under the service, references resolved."""
        text = resolve_reference(url_text, references) or url_text
        try:
            url = URL(text)
        except ValueError:
            raise errors.bad_query(f"The request URL '{url_text[:200]}' is not valid.") from None
        if url.path.rstrip("/").endswith("/$batch"):
            raise errors.bad_query("A batch cannot contain another batch.")
        if url.absolute:
            return url.relative()
        if not text.startswith("/"):
            return URL(f"/api/data/{self.version}/{text}")
        return url

    async def _sub_request(self, part: batch.PartRequest, target: URL,
                           body: bytes) -> SubRequest | None:
        parent = self.request
        if not target.path.startswith("/api/data/"):
            return None
        headers = CIMultiDictProxy(CIMultiDict(part.headers))
        raw_headers = tuple((k.encode(), v.encode()) for k, v in headers.items())
        message = RawRequestMessage(part.method, target.raw_path_qs, HttpVersion11, headers,
                                    raw_headers, False, None, False, False, target)
        sub = SubRequest(message, EMPTY_PAYLOAD, parent.protocol, parent.writer, parent.task,
                         asyncio.get_running_loop(), scheme=parent.scheme, host=parent.host,
                         client_max_size=parent.client_max_size)
        sub._part_body = body
        match_info = await parent.app.router.resolve(sub)
        if match_info.get("version") not in routes.VERSIONS:
            return None
        match_info.add_app(parent.app)
        match_info.freeze()
        # aiohttp attaches the route match this way itself (web_app._handle); there is no
        # public setter, and dispatch needs it for request.app and the path.
        sub._match_info = match_info
        sub[PRINCIPAL] = parent[PRINCIPAL]  # verified once for the whole batch
        return sub

    def _remember(self, part: batch.PartRequest, response: batch.PartResponse,
                  references: dict[str, str]) -> None:
        if part.content_id is None:
            return
        entity = dict(response.headers).get("OData-EntityId") or self._created_url(response)
        if entity:
            references[part.content_id] = entity

    def _created_url(self, response: batch.PartResponse) -> str | None:
        """The entity URL of a ``201`` (return=representation answers have no EntityId)."""
        if response.status != 201:
            return None
        try:
            body = json.loads(response.body)
            entity_set = str(body["@odata.context"]).rsplit("#", 1)[1].split("(")[0]
        except (ValueError, KeyError, IndexError):
            return None
        table = environment(self.request).catalog.by_entity_set(entity_set.split("/")[0])
        if table is None or table.primary_id not in body:
            return None
        root = f"{self.request.url.origin()}/api/data/{self.version}"
        return f"{root}/{table.entity_set}({body[table.primary_id]})"


def resolve_reference(text: str, references: dict[str, str]) -> str | None:
    """``$1/lastname`` -> ``<entity URL of Content-ID 1>/lastname``; None if no reference.

    ``$<digits>`` that no earlier part declared is the documented 400; other ``$names``
    (``$metadata``) are left alone unless a part declared them.
    """
    match = _REFERENCE.match(text)
    if match is None:
        return None
    content_id, rest = match.group(1), match.group(2)
    if content_id in references:
        return references[content_id] + rest
    if content_id.isdigit():
        raise errors.DataverseError(400, errors.PAYLOAD, (
            f"Content-ID Reference: '${content_id}' does not exist in the batch context."))
    return None


def rewrite_references(body: bytes, references: dict[str, str]) -> bytes:
    """Replace ``"$1"`` values of ``…@odata.bind`` and ``@odata.id`` with entity URLs."""
    if b'"$' not in body:
        return body
    try:
        document = json.loads(body)
    except ValueError:
        return body  # dispatch answers the JSON error itself
    return json.dumps(_rewrite(document, references)).encode()


def _rewrite(value: Any, references: dict[str, str], key: str = "") -> Any:
    if isinstance(value, dict):
        return {k: _rewrite(v, references, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_rewrite(v, references, key) for v in value]
    if isinstance(value, str) and (key.endswith("@odata.bind") or key == "@odata.id"):
        return resolve_reference(value, references) or value
    return value


def part_response(response: web.StreamResponse, part: batch.PartRequest) -> batch.PartResponse:
    """A dispatched response as a batch part, with the headers a batch adds."""
    body = response.body if isinstance(response, web.Response) else None
    headers = [(k, v) for k, v in response.headers.items() if k.lower() != "content-length"]
    entity_id = response.headers.get("OData-EntityId")
    if entity_id:  # a batch answers Location too, just before OData-EntityId [D BATCH]
        names = [k.lower() for k, _ in headers]
        headers.insert(names.index("odata-entityid"), ("Location", entity_id))
    if response.status >= 400:
        headers.insert(0, ("REQ_ID", str(uuid.uuid4())))
    elif part.method == "GET" and response.headers.get("Content-Type") == JSON_TYPE:
        headers = [(k, _STREAMING_JSON if k.lower() == "content-type" else v)
                   for k, v in headers]
    return batch.PartResponse(response.status, response.reason, headers,
                              body if isinstance(body, bytes) else b"", part.content_id)
