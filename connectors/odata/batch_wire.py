"""The OData ``$batch`` wire format (multipart/mixed), shared by every OData connector:
:func:`encode` builds the request body from single requests and change sets (lists of
requests applied atomically); :func:`decode` reads the answer's parts in order;
:func:`expand_results` turns them into one :class:`PartResult` per request:

* a change set that failed answers with its failing response alone; every member then gets
  that failure (``rolled_back`` for the members that did not fail themselves);
* without ``continue_on_error`` the service stops at the first failure: requests after it
  get a ``not_run`` result.

Sending (throttle, token, retries, the service's own errors) is each connector's: Dataverse
in ``connectors.dynamics365.actions.batch_wire``, F&O in ``connectors.dynamics_fo.actions.batch``.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from connectors.errors import FatalError
from connectors.odata.errors import MESSAGE_LIMIT

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


class ServiceRoot(Protocol):
    """What encoding needs of a client: absolute URLs of paths under its service root."""

    def url(self, path: str) -> str: ...


def encode(client: ServiceRoot, items: Sequence[BatchItem],
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


def _change_set(client: ServiceRoot, parts: Sequence[BatchPart],
                common: Mapping[str, str]) -> str:
    boundary = f"changeset_{uuid.uuid4()}"
    chunks = [f"Content-Type: multipart/mixed; boundary={boundary}\r\n\r\n"]
    for content_id, part in enumerate(parts, start=1):
        chunks += [f"--{boundary}\r\n", _http_part(client, part, content_id, common)]
    chunks.append(f"--{boundary}--\r\n")
    return "".join(chunks)


def _http_part(client: ServiceRoot, part: BatchPart, content_id: int | None,
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
        raise FatalError(f"the service answered $batch with Content-Type {content_type!r}")
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
        raise FatalError(f"the service answered a $batch part without a status: "
                         f"{status_line!r}")
    text = body.strip().decode("utf-8", "replace")
    parsed: Any = None
    if text:
        try:
            parsed = json.loads(text)
        except (ValueError, RecursionError):  # not JSON, or nested past any sense
            parsed = {"error": {"code": "", "message": text[:MESSAGE_LIMIT]}}
    return PartResult(int(match.group(1)), headers, parsed)


def expand_results(items: Sequence[BatchItem],
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
