"""The ``$batch`` wire format: multipart/mixed requests in, multipart/mixed responses out.

A batch body is parts between ``--<boundary>`` lines, closed by ``--<boundary>--``
(reference §3). A part is one HTTP request (``Content-Type: application/http``) or a change
set (``Content-Type: multipart/mixed; boundary=changeset_…``) whose parts are requests.
Lines may end in CRLF or LF, since clients differ; bodies stay bytes and are never decoded
here. Anything malformed raises :class:`BatchFormatError`, which the handler answers with
a 400 in the Dataverse error shape (never a 500).

Responses mirror the request: one ``--batchresponse_<guid>`` part per request, a change set
answered as a nested ``multipart/mixed; boundary=changesetresponse_<guid>`` with each
``Content-ID`` echoed, or, when the change set failed, as the single failing response.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

from multidict import CIMultiDict

MAX_REQUESTS = 1000  # per batch, change-set members included [D BATCH]
METHODS = frozenset({"GET", "POST", "PATCH", "PUT", "DELETE"})
_BLANK_LINE = re.compile(rb"\r?\n\r?\n")
_LINE_END = re.compile(r"\r?\n")


class BatchFormatError(Exception):
    """The batch body is not a multipart/mixed document Dataverse would accept."""


@dataclass(frozen=True)
class PartRequest:
    """One request inside a batch, as the client wrote it."""

    method: str
    url: str  # absolute, /api/data/…, relative to the service root, or $<content-id>…
    headers: CIMultiDict[str]
    body: bytes
    content_id: str | None = None


@dataclass(frozen=True)
class ChangeSet:
    requests: tuple[PartRequest, ...]


BatchItem = PartRequest | ChangeSet


@dataclass(frozen=True)
class PartResponse:
    status: int
    reason: str
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    content_id: str | None = None


@dataclass(frozen=True)
class ChangeSetResponse:
    responses: tuple[PartResponse, ...]


BatchResult = PartResponse | ChangeSetResponse


def media_type(value: str | None) -> tuple[str, dict[str, str]]:
    """``multipart/mixed; boundary="x"`` -> ("multipart/mixed", {"boundary": "x"})."""
    kind, *params = (value or "").split(";")
    parsed = {}
    for param in params:
        name, _, text = param.partition("=")
        parsed[name.strip().lower()] = text.strip().strip('"')
    return kind.strip().lower(), parsed


def boundary_of(content_type: str | None, what: str = "batch request") -> str:
    kind, params = media_type(content_type)
    if kind != "multipart/mixed" or not params.get("boundary"):
        raise BatchFormatError(f"The {what} must have a Content-Type of multipart/mixed "
                               "with a boundary parameter.")
    return params["boundary"]


def split_parts(body: bytes, boundary: str) -> list[bytes]:
    """The parts between delimiter lines; the preamble and epilogue are dropped."""
    delimiter = re.compile(rb"(?:\A|\r?\n)--" + re.escape(boundary.encode())
                           + rb"(--)?[ \t]*(?:\r?\n|\Z)")
    parts: list[bytes] = []
    start: int | None = None
    for match in delimiter.finditer(body):
        if start is not None:
            parts.append(body[start:match.start()])
        if match.group(1):
            return parts
        start = match.end()
    raise BatchFormatError(f"The multipart body does not end with '--{boundary}--'.")


def split_head(data: bytes) -> tuple[list[str], bytes]:
    """Header lines and the body after the first blank line (no blank line: no body)."""
    match = _BLANK_LINE.search(data)
    head, rest = (data, b"") if match is None else (data[:match.start()], data[match.end():])
    text = head.decode("utf-8", "replace").strip("\r\n")
    return (_LINE_END.split(text) if text else []), rest


def parse_headers(lines: Sequence[str]) -> CIMultiDict[str]:
    headers: CIMultiDict[str] = CIMultiDict()
    last: str | None = None
    for line in lines:
        if line[:1] in (" ", "\t") and last is not None:  # folded continuation line
            headers[last] = headers[last] + " " + line.strip()
            continue
        name, sep, value = line.partition(":")
        if not sep or not name.strip():
            raise BatchFormatError(f"Malformed header line in a batch part: '{line[:80]}'.")
        last = name.strip()
        headers.add(last, value.strip())
    return headers


def parse_batch(content_type: str | None, body: bytes) -> list[BatchItem]:
    """The requests and change sets of a ``$batch`` body, in order."""
    boundary = boundary_of(content_type)
    items = [_item(part) for part in split_parts(body, boundary)]
    count = sum(len(i.requests) if isinstance(i, ChangeSet) else 1 for i in items)
    if count > MAX_REQUESTS:
        raise BatchFormatError(f"The batch contains {count} requests; the maximum number of "
                               f"requests in a batch is {MAX_REQUESTS}.")
    return items


def _item(part: bytes) -> BatchItem:
    lines, content = split_head(part)
    headers = parse_headers(lines)
    kind, _ = media_type(headers.get("Content-Type"))
    if kind == "multipart/mixed":
        return _change_set(headers, content)
    return _request(headers, content)


def _change_set(headers: CIMultiDict[str], content: bytes) -> ChangeSet:
    boundary = boundary_of(headers.get("Content-Type"), "change set")
    requests = []
    for part in split_parts(content, boundary):
        lines, inner = split_head(part)
        part_headers = parse_headers(lines)
        if media_type(part_headers.get("Content-Type"))[0] == "multipart/mixed":
            raise BatchFormatError("Change sets cannot be nested.")
        request = _request(part_headers, inner)
        if request.method == "GET":
            raise BatchFormatError("GET requests are not allowed in a change set.")
        requests.append(request)
    return ChangeSet(tuple(requests))


def _request(part_headers: CIMultiDict[str], content: bytes) -> PartRequest:
    kind, _ = media_type(part_headers.get("Content-Type"))
    if kind != "application/http":
        raise BatchFormatError("Each batch part must have Content-Type application/http or "
                               "multipart/mixed.")
    lines, body = split_head(content.lstrip(b"\r\n"))
    if not lines:
        raise BatchFormatError("A batch part has no request line.")
    method, url = _request_line(lines[0])
    headers = parse_headers(lines[1:])
    content_id = part_headers.get("Content-ID") or headers.get("Content-ID")
    return PartRequest(method, url, headers, body.strip(), content_id)


def _request_line(line: str) -> tuple[str, str]:
    method, _, rest = line.strip().partition(" ")
    url, _, version = rest.rpartition(" ")
    if not version.upper().startswith("HTTP/"):
        url = rest  # tolerate a request line without the protocol version
    if method.upper() not in METHODS or not url.strip():
        raise BatchFormatError(f"Malformed request line in a batch part: '{line[:80]}'.")
    return method.upper(), url.strip()


def new_boundary(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4()}"


def write_batch(results: Sequence[BatchResult], boundary: str) -> bytes:
    """The response body: one part per request or change set, in request order."""
    chunks: list[bytes] = []
    for result in results:
        chunks.append(f"--{boundary}\r\n".encode())
        if isinstance(result, ChangeSetResponse):
            chunks.append(_change_set_part(result))
        else:
            chunks.append(_http_part(result))
    chunks.append(f"--{boundary}--\r\n".encode())
    return b"".join(chunks)


def _change_set_part(result: ChangeSetResponse) -> bytes:
    inner = new_boundary("changesetresponse")
    chunks = [f"Content-Type: multipart/mixed; boundary={inner}\r\n\r\n".encode()]
    for response in result.responses:
        chunks.append(f"--{inner}\r\n".encode())
        chunks.append(_http_part(response))
    chunks.append(f"--{inner}--\r\n".encode())
    return b"".join(chunks)


def _http_part(response: PartResponse) -> bytes:
    head = ["Content-Type: application/http", "Content-Transfer-Encoding: binary"]
    if response.content_id is not None:
        head.append(f"Content-ID: {response.content_id}")
    head += ["", f"HTTP/1.1 {response.status} {response.reason}"]
    head += [f"{name}: {value}" for name, value in response.headers]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + response.body + b"\r\n"
