"""Fault injection: the next N matching requests fail the way real services and networks fail.

``POST /_emulator/faults`` adds a rule (answer: 201 and the rule with its ``id``)::

    {"path": "/api/data/*/contacts*", "method": "GET", "count": 2,
     "kind": "status", "status": 429, "retry_after_s": 5}

* ``path`` is a glob ('*' crosses '/'), or give ``path_regex``; neither matches every path;
  ``method`` is optional; ``count`` is how many matching requests to fault (null or omitted:
  until cleared).
* kinds: ``status`` (an error response without calling the handler; a 429 gets Dataverse's
  request-count body, others ``{"error": {"code": "", "message": <reason>}}``;
  ``error_code``, ``message``, ``body``, ``headers`` and ``retry_after_s`` override;
  ``after_commit: true`` carries the request out first, so a write is stored and its answer
  lost), ``delay`` (``delay_s`` of wall-clock sleep, then the handler), ``reset`` (the
  connection is aborted with a TCP reset before the handler runs), ``truncated`` (the
  handler runs; its response is sent with the full ``Content-Length`` but only half the
  body, then the connection closes), ``non_json`` (an HTML page, status 200 unless
  ``status`` says otherwise, without calling the handler).

Note for tests: aiohttp's client quietly resends an idempotent request (GET, PUT, DELETE) once
when a *reused* keep-alive connection is reset, so a ``reset`` with ``count: 1`` on a GET may
never reach the caller; use POST, a count of 2, or a fresh connection.

Rules are tried in the order they were added; the first that matches and has a remaining
count applies. ``GET /_emulator/faults`` lists rules with ``remaining`` and ``applied``;
``DELETE /_emulator/faults`` clears them all, ``DELETE /_emulator/faults/{id}`` one.
"""

from __future__ import annotations

import asyncio
import json
import socket
import struct
from dataclasses import dataclass, field
from http import HTTPStatus
from itertools import count
from typing import Annotated, Any, Literal

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware
from pydantic import Field, TypeAdapter

from emulator.protection import REQUEST_COUNT_CODE, ProtectionLimits, dataverse_error
from emulator.protection import request_count_message as _request_count_message
from emulator.state import STATE, EmulatorState
from emulator.traffic import (
    FAULT_APPLIED,
    MatcherSpec,
    RequestMatcher,
    is_control_path,
    json_error,
    read_body,
)

PROXY_ERROR_PAGE = (
    "<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head>\n"
    "<body><h1>Bad Gateway</h1><p>The proxy server received an invalid response "
    "from an upstream server.</p></body></html>\n"
)

routes = web.RouteTableDef()


class _FaultSpec(MatcherSpec):
    count: int | None = Field(
        None, ge=1, description="how many matching requests to fault; null: until cleared"
    )


class StatusFault(_FaultSpec):
    kind: Literal["status"]
    status: int = Field(ge=400, le=599, examples=[429, 500, 503])
    retry_after_s: int | None = Field(None, ge=0, description="Retry-After header, seconds")
    error_code: str | None = Field(None, description="error.code of the default body")
    message: str | None = Field(None, description="error.message of the default body")
    body: Any = Field(None, description="a JSON body that replaces the default one")
    headers: dict[str, str] = Field(default_factory=dict)
    after_commit: bool = Field(
        False, description="carry the request out first (a write is committed), then answer "
                           "the error: a gateway that timed out after the service wrote")


class DelayFault(_FaultSpec):
    kind: Literal["delay"]
    delay_s: float = Field(ge=0, le=600, description="wall-clock seconds before handling")


class ResetFault(_FaultSpec):
    kind: Literal["reset"]


class TruncatedFault(_FaultSpec):
    kind: Literal["truncated"]


class NonJsonFault(_FaultSpec):
    kind: Literal["non_json"]
    status: int = Field(200, ge=100, le=599)
    body: str = PROXY_ERROR_PAGE


FaultSpec = StatusFault | DelayFault | ResetFault | TruncatedFault | NonJsonFault
FAULT_SPEC: TypeAdapter[FaultSpec] = TypeAdapter(
    Annotated[FaultSpec, Field(discriminator="kind")]
)


@dataclass
class FaultRule:
    id: int
    spec: FaultSpec
    matcher: RequestMatcher
    remaining: int | None  # None: until cleared
    applied: int = 0

    def to_json(self) -> dict[str, Any]:
        described = self.spec.model_dump(mode="json", exclude_none=True)
        return {"id": self.id, **described, "remaining": self.remaining, "applied": self.applied}


@dataclass
class FaultBook:
    """The active rules, in the order they were added."""

    rules: list[FaultRule] = field(default_factory=list)
    _ids: count[int] = field(default_factory=lambda: count(1))

    def add(self, spec: FaultSpec) -> FaultRule:
        rule = FaultRule(next(self._ids), spec, spec.matcher(), spec.count)
        self.rules.append(rule)
        return rule

    def take(self, method: str, path: str) -> FaultSpec | None:
        """The fault for this request, if any, using up one of its rule's count."""
        for rule in self.rules:
            if rule.remaining != 0 and rule.matcher.matches(method, path):
                if rule.remaining is not None:
                    rule.remaining -= 1
                rule.applied += 1
                return rule.spec
        return None

    def remove(self, rule_id: int) -> bool:
        kept = [rule for rule in self.rules if rule.id != rule_id]
        removed = len(kept) != len(self.rules)
        self.rules = kept
        return removed


def fault_book(state: EmulatorState) -> FaultBook:
    return state.extensions[__name__]


def fault_middleware(book: FaultBook) -> Middleware:
    @web.middleware
    async def inject_faults(request: web.Request, handler: Handler) -> web.StreamResponse:
        if is_control_path(request.path):
            return await handler(request)
        spec = book.take(request.method, request.path)
        if spec is None:
            return await handler(request)
        request[FAULT_APPLIED] = spec.kind
        return await apply_fault(spec, request, handler)

    return inject_faults


async def apply_fault(spec: FaultSpec, request: web.Request,
                      handler: Handler) -> web.StreamResponse:
    match spec:
        case StatusFault():
            if spec.after_commit:
                await _handled(request, handler)
            return status_response(spec)
        case DelayFault():
            await asyncio.sleep(spec.delay_s)
            return await handler(request)
        case ResetFault():
            reset_connection(request)
            # Nothing can be written any more; aiohttp treats the failed write as a disconnect.
            return web.Response(status=500)
        case TruncatedFault():
            return await truncated_response(request, await _handled(request, handler))
        case NonJsonFault():
            return web.Response(status=spec.status, text=spec.body, content_type="text/html")


def status_response(spec: StatusFault) -> web.Response:
    headers = dict(spec.headers)
    if spec.retry_after_s is not None:
        headers["Retry-After"] = str(spec.retry_after_s)
    if spec.body is not None:
        return web.Response(status=spec.status, text=json.dumps(spec.body), headers=headers,
                            content_type="application/json")
    default_code, default_message = _default_error(spec.status)
    return dataverse_error(spec.status, spec.error_code if spec.error_code is not None
                           else default_code, spec.message or default_message, headers)


def _default_error(status: int) -> tuple[str, str]:
    if status == 429:
        return REQUEST_COUNT_CODE, _request_count_message(ProtectionLimits())
    try:
        return "", HTTPStatus(status).phrase
    except ValueError:
        return "", "Error"


def reset_connection(request: web.Request) -> None:
    """Abort the connection so the client sees a TCP reset (RST), not a clean close."""
    transport = request.transport
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        # SO_LINGER with a zero timeout turns close() into an RST.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


async def _handled(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException as exc:
        return exc


_NOT_COPIED = frozenset({"content-length", "transfer-encoding", "content-encoding"})
_SYNTHETIC_BODY = json.dumps({"value": [{"name": "truncated response " * 8}]}).encode()


async def truncated_response(request: web.Request,
                             full: web.StreamResponse) -> web.StreamResponse:
    """Send ``full``'s head with its real length but only half its body, then close."""
    if full.prepared:  # already streamed by the handler: nothing left to cut
        return full
    body = full.body if isinstance(full, web.Response) else None
    if not isinstance(body, bytes) or len(body) < 2:
        body = _SYNTHETIC_BODY
    cut = web.StreamResponse(status=full.status, reason=full.reason)
    for name, value in full.headers.items():
        if name.lower() not in _NOT_COPIED:
            cut.headers.add(name, value)
    cut.content_length = len(body)
    cut.force_close()  # the connection closes after the short body
    await cut.prepare(request)
    await cut.write(body[: len(body) // 2])
    return cut


@routes.post("/_emulator/faults")
async def add_fault(request: web.Request) -> web.Response:
    spec = await read_body(request, FAULT_SPEC)
    rule = fault_book(request.app[STATE]).add(spec)
    return web.json_response(rule.to_json(), status=201)


@routes.get("/_emulator/faults")
async def list_faults(request: web.Request) -> web.Response:
    rules = fault_book(request.app[STATE]).rules
    return web.json_response({"rules": [rule.to_json() for rule in rules]})


@routes.delete("/_emulator/faults")
async def clear_faults(request: web.Request) -> web.Response:
    fault_book(request.app[STATE]).rules.clear()
    return web.Response(status=204)


@routes.delete("/_emulator/faults/{rule_id:\\d+}")
async def remove_fault(request: web.Request) -> web.Response:
    if not fault_book(request.app[STATE]).remove(int(request.match_info["rule_id"])):
        raise json_error(404, "no such fault rule")
    return web.Response(status=204)


def setup(app: web.Application, state: EmulatorState) -> None:
    book = FaultBook()
    state.extensions[__name__] = book
    app.middlewares.append(fault_middleware(book))
    app.add_routes(routes)
