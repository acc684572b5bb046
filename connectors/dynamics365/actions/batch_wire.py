"""The ``$batch`` wire format (reference §3): multipart/mixed out, per-part results back.

:func:`send_batch` posts items (single requests, or lists of requests forming one atomic
change set) and returns one :class:`PartResult` per request, in request order:

* a change set that failed answers with its failing response alone; every member then gets
  that failure (``rolled_back`` for the members that did not fail themselves);
* without ``continue_on_error`` Dataverse stops at the first failure (outer 400): requests
  after it get a ``not_run`` result.

The POST goes through the connection's throttle, token and retries like every other call
(the client's ``request`` only sends JSON bodies, hence this small sender).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from yarl import URL

from connectors.dynamics365.client import ODATA_HEADERS, DataverseClient
from connectors.dynamics365.errors import error_detail, error_from_exception, error_from_response
from connectors.errors import FatalError, RetryableError
from connectors.odata.retry import NotingResends, with_retries

MAX_PARTS = 1000
_STATUS_LINE = re.compile(r"HTTP/\d\.\d (\d{3})")


@dataclass(frozen=True)
class BatchPart:
    method: str
    path: str  # relative to the Web API root, already escaped
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PartResult:
    status: int
    headers: dict[str, str]
    body: Any  # parsed JSON, or None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def error(self) -> dict[str, Any]:
        """``{"status", "code", "message"}`` of a failed part."""
        if isinstance(self.body, dict) and isinstance(self.body.get("error"), dict):
            inner = self.body["error"]
            return {"status": self.status, "code": str(inner.get("code") or ""),
                    "message": str(inner.get("message") or "")}
        return {"status": self.status, "code": "", "message": str(self.body or "")}


BatchItem = BatchPart | Sequence[BatchPart]  # a sequence is one atomic change set


def encode(client: DataverseClient, items: Sequence[BatchItem],
           common: Mapping[str, str] | None = None) -> tuple[str, bytes]:
    """(Content-Type, body) of a ``$batch`` request; ``common`` headers go on every part."""
    boundary = f"batch_{uuid.uuid4()}"
    chunks: list[str] = []
    for item in items:
        chunks.append(f"--{boundary}\r\n")
        if isinstance(item, BatchPart):
            chunks.append(_http_part(client, item, None, common or {}))
        else:
            chunks.append(_change_set(client, item, common or {}))
    chunks.append(f"--{boundary}--\r\n")
    return f"multipart/mixed; boundary={boundary}", "".join(chunks).encode()


def _change_set(client: DataverseClient, parts: Sequence[BatchPart],
                common: Mapping[str, str]) -> str:
    boundary = f"changeset_{uuid.uuid4()}"
    chunks = [f"Content-Type: multipart/mixed; boundary={boundary}\r\n\r\n"]
    for content_id, part in enumerate(parts, start=1):
        chunks += [f"--{boundary}\r\n", _http_part(client, part, content_id, common)]
    chunks.append(f"--{boundary}--\r\n")
    return "".join(chunks)


def _http_part(client: DataverseClient, part: BatchPart, content_id: int | None,
               common: Mapping[str, str]) -> str:
    head = ["Content-Type: application/http", "Content-Transfer-Encoding: binary"]
    if content_id is not None:
        head.append(f"Content-ID: {content_id}")
    lines = [f"{part.method} {client.url(part.path)} HTTP/1.1", *[
        f"{k}: {v}" for k, v in {**common, **part.headers}.items()]]
    body = ""
    if part.body is not None:
        lines.append("Content-Type: application/json; type=entry")
        body = json.dumps(part.body, separators=(",", ":"))
    return "\r\n".join(head) + "\r\n\r\n" + "\r\n".join(lines) + "\r\n\r\n" + body + "\r\n"


@dataclass(frozen=True)
class BatchReply:
    """One result per request, and whether the ``$batch`` was sent again after an attempt
    whose outcome is unknown (its parts may have been applied by that earlier copy)."""

    results: list[PartResult]
    resent: bool


async def send_batch(client: DataverseClient, items: Sequence[BatchItem],
                     continue_on_error: bool,
                     extra_headers: Mapping[str, str] | None = None) -> BatchReply:
    """One result per request of ``items`` (see the module docstring); ``extra_headers``
    (e.g. impersonation) go on the ``$batch`` request and on each of its requests."""
    count = sum(1 if isinstance(i, BatchPart) else len(i) for i in items)
    if count > MAX_PARTS:
        raise FatalError(f"a $batch holds at most {MAX_PARTS} requests, not {count}")
    content_type, body = encode(client, items, extra_headers)
    headers = {**ODATA_HEADERS, **(extra_headers or {}), "Content-Type": content_type}
    if continue_on_error:
        headers["Prefer"] = "odata.continue-on-error"
    post = NotingResends(lambda: _post(client, body, headers))
    answer_type, raw = await with_retries(post, client.retry)
    return BatchReply(_expand(items, decode(answer_type, raw)), post.resent)


async def _post(client: DataverseClient, body: bytes,
                headers: dict[str, str]) -> tuple[str, bytes]:
    status, answer_headers, raw = await _send(client, body, headers, force_refresh=False)
    if status == 401:
        status, answer_headers, raw = await _send(client, body, headers, force_refresh=True)
    answer_type = answer_headers.get("Content-Type", "")
    if status >= 400 and not answer_type.startswith("multipart/"):
        error = error_from_response(status, answer_headers, raw.decode("utf-8", "replace"))
        if isinstance(error, RetryableError) and status == 429 and error.retry_after_s:
            client.throttle.pause(error.retry_after_s)
        raise error
    return answer_type, raw


async def _send(client: DataverseClient, body: bytes, headers: dict[str, str], *,
                force_refresh: bool) -> tuple[int, dict[str, str], bytes]:
    token = await client.tokens.access_token(force_refresh=force_refresh)
    async with client.throttle.slot():
        try:
            async with client.session.post(URL(client.url("$batch"), encoded=True), data=body,
                                           headers={**headers,
                                                    "Authorization": f"Bearer {token}"}) as resp:
                return resp.status, dict(resp.headers), await resp.read()
        except Exception as exc:
            mapped = error_from_exception(exc)
            if mapped is None:
                raise
            raise mapped from exc


def decode(content_type: str, raw: bytes) -> list[PartResult | list[PartResult]]:
    """The response parts in order; a successful change set as a nested list."""
    results: list[PartResult | list[PartResult]] = []
    for part in _split(raw, _boundary(content_type)):
        head, _, rest = _head_and_rest(part)
        part_type = head.get("content-type", "")
        if part_type.startswith("multipart/"):
            results.append([_http_response(p) for p in _split(rest, _boundary(part_type))])
        else:
            results.append(_http_response(part))
    return results


def _boundary(content_type: str) -> str:
    match = re.search(r'boundary="?([^";]+)"?', content_type)
    if match is None:
        raise FatalError(f"Dataverse answered $batch with Content-Type {content_type!r}")
    return match.group(1)


def _split(raw: bytes, boundary: str) -> list[bytes]:
    delimiter = re.compile(rb"(?:^|\r?\n)--" + re.escape(boundary.encode()) + rb"(--)?[ \t]*\r?\n?")
    parts, start = [], None
    for match in delimiter.finditer(raw):
        if start is not None:
            parts.append(raw[start:match.start()])
        if match.group(1):
            break
        start = match.end()
    return parts


def _head_and_rest(data: bytes) -> tuple[dict[str, str], str, bytes]:
    """(headers lower-cased, first line, rest) of a block ending its head at a blank line."""
    match = re.search(rb"\r?\n\r?\n", data)
    head_raw, rest = (data, b"") if match is None else (data[:match.start()], data[match.end():])
    lines = head_raw.decode("utf-8", "replace").strip().splitlines()
    headers = {}
    for line in lines:
        name, sep, value = line.partition(":")
        if sep and not line.startswith("HTTP/"):
            headers[name.strip().lower()] = value.strip()
    return headers, lines[0] if lines else "", rest


def _http_response(part: bytes) -> PartResult:
    outer, _, inner = _head_and_rest(part)
    headers, status_line, body = _head_and_rest(inner.lstrip(b"\r\n"))
    if "content-id" in outer:
        headers["content-id"] = outer["content-id"]
    match = _STATUS_LINE.match(status_line)
    if match is None:
        raise FatalError(f"Dataverse answered a $batch part without a status: {status_line!r}")
    text = body.strip().decode("utf-8", "replace")
    parsed: Any = None
    if text:
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = {"error": {"code": "", "message": error_detail(text)[1]}}
    return PartResult(int(match.group(1)), headers, parsed)


def _expand(items: Sequence[BatchItem],
            answers: list[PartResult | list[PartResult]]) -> list[PartResult]:
    """One result per request, following the rules in the module docstring."""
    results: list[PartResult] = []
    for index, item in enumerate(items):
        answer = answers[index] if index < len(answers) else None
        size = 1 if isinstance(item, BatchPart) else len(item)
        if answer is None:
            results += [_synthetic(424, "not_run", "not run: an earlier request failed")] * size
        elif isinstance(answer, list):
            results += answer
        elif size == 1:
            results.append(answer)
        else:
            results += _rolled_back(answer, size)
    return results


def _rolled_back(failure: PartResult, size: int) -> list[PartResult]:
    failed_at = int(failure.headers.get("content-id", "0") or 0)
    note = _synthetic(424, "rolled_back",
                      f"rolled back: request {failed_at or '?'} of the change set failed")
    return [failure if i == failed_at else note for i in range(1, size + 1)]


def _synthetic(status: int, code: str, message: str) -> PartResult:
    return PartResult(status, {}, {"error": {"code": code, "message": message}})
