"""``POST /data/$batch``: multipart/mixed with change sets, each part run through dispatch.

The wire format (parsing and writing multipart/mixed) is Dataverse's
:mod:`emulator.dataverse.batch`, which is OData's and not Dataverse-specific. Rules here:

* part URLs may be absolute, ``/data/…`` or relative to ``/data/``;
* a change set is atomic: its parts run inside one store savepoint and the first failing
  part rolls back the set, which is then answered by that failure alone (a write failure is
  a ``500`` part, reference §9);
* ``$<Content-ID>`` at the start of a URL names the entity an earlier part of the same
  change set created;
* the batch answers ``200``; it stops after the first failure unless the request has
  ``Prefer: odata.continue-on-error`` [I: ASP.NET OData's default batch handler].
"""

from __future__ import annotations

import re
from collections.abc import Callable
from http import HTTPStatus

from multidict import CIMultiDict, MultiDict
from yarl import URL

from emulator.dataverse import batch as wire
from emulator.fo import errors
from emulator.fo.calls import ODATA_HEADERS, FoCall, FoResponse, error_response
from emulator.fo.environment import FoEnvironment

Dispatch = Callable[[FoEnvironment, FoCall], FoResponse]
_REFERENCE = re.compile(r"^\$(\d+)(.*)$", re.S)


class _ChangeSetFailed(Exception):
    def __init__(self, response: wire.PartResponse) -> None:
        super().__init__(response.status)
        self.response = response


def handle_batch(env: FoEnvironment, call: FoCall, dispatch: Dispatch) -> FoResponse:
    if call.method != "POST":
        raise errors.method_not_allowed(call.method)
    try:
        items = wire.parse_batch(call.headers.get("Content-Type"), call.body)
    except wire.BatchFormatError as exc:
        raise errors.bad_request(str(exc)) from None
    prefer = ",".join(call.headers.getall("Prefer", [])).lower()
    run = BatchRun(env, call, dispatch, "odata.continue-on-error" in prefer)
    boundary = wire.new_boundary("batchresponse")
    headers = {**ODATA_HEADERS, "Content-Type": f"multipart/mixed; boundary={boundary}"}
    return FoResponse(200, headers, wire.write_batch(run.run(items), boundary))


class BatchRun:
    def __init__(self, env: FoEnvironment, call: FoCall, dispatch: Dispatch,
                 continue_on_error: bool) -> None:
        self.env = env
        self.call = call
        self.dispatch = dispatch
        self.continue_on_error = continue_on_error

    def run(self, items: list[wire.BatchItem]) -> list[wire.BatchResult]:
        results: list[wire.BatchResult] = []
        for item in items:
            if isinstance(item, wire.ChangeSet):
                result, ok = self.run_change_set(item)
            else:
                result = self.execute(item, {})
                ok = result.status < 400
            results.append(result)
            if not ok and not self.continue_on_error:
                break
        return results

    def run_change_set(self, change_set: wire.ChangeSet) -> tuple[wire.BatchResult, bool]:
        references: dict[str, str] = {}
        responses = []
        try:
            with self.env.storage.store.transaction():
                for part in change_set.requests:
                    response = self.execute(part, references)
                    if response.status >= 400:
                        raise _ChangeSetFailed(response)  # rolls the savepoint back
                    responses.append(response)
                    location = dict(response.headers).get("Location")
                    if part.content_id and location:
                        references[part.content_id] = location
        except _ChangeSetFailed as failed:
            return failed.response, False
        return wire.ChangeSetResponse(tuple(responses)), True

    def execute(self, part: wire.PartRequest, references: dict[str, str]) -> wire.PartResponse:
        try:
            sub = self.sub_call(part, references)
        except errors.FoError as exc:
            return part_response(error_response(exc), part)
        return part_response(self.dispatch(self.env, sub), part)

    def sub_call(self, part: wire.PartRequest, references: dict[str, str]) -> FoCall:
        url = URL(resolve_reference(part.url, references))
        path = url.path
        if url.absolute or path.startswith("/"):
            if not path.startswith("/data/"):
                raise errors.not_found(path)
            path = path.removeprefix("/data/")
        return FoCall(part.method, path, MultiDict(url.query), CIMultiDict(part.headers),
                      part.body, self.call.service_root, self.call.principal)


def resolve_reference(text: str, references: dict[str, str]) -> str:
    """``$1/…`` -> ``<URL of the entity Content-ID 1 created>/…``."""
    match = _REFERENCE.match(text)
    if match is None:
        return text
    if match.group(1) not in references:
        raise errors.bad_request(
            f"Content-ID Reference: '${match.group(1)}' does not exist in the batch context.")
    return references[match.group(1)] + match.group(2)


def part_response(response: FoResponse, part: wire.PartRequest) -> wire.PartResponse:
    headers = [(k, v) for k, v in response.headers.items() if k.lower() != "content-length"]
    return wire.PartResponse(response.status, HTTPStatus(response.status).phrase, headers,
                             response.body, part.content_id)
