"""The request log: the last 10,000 non-control requests, for tests to assert on.

Each entry is ``{method, path, query, status, duration_ms, user, time, fault}``: ``user`` is the
bearer token's ``oid`` (unverified), ``time`` the emulator-clock start as ISO 8601, ``status``
null when the connection was reset, ``fault`` the kind of injected fault or null. Headers and
bodies are never kept, and secret-bearing query parameters are masked.

``GET /_emulator/requests?path=<glob>&method=GET&limit=N`` answers ``{"requests": [...]}``, the
newest N matches, oldest first; ``DELETE /_emulator/requests`` empties the log. With
``config.log_requests`` each request is also printed to stdout as ``METHOD path status ms``.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import quote, urlencode

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from emulator.clock import EmulatorClock
from emulator.state import STATE, EmulatorState
from emulator.traffic import (
    FAULT_APPLIED,
    RequestMatcher,
    caller_oid,
    is_control_path,
    json_error,
)

CAPACITY = 10_000
DEFAULT_LIMIT = 1_000
SECRET_QUERY_KEYS = frozenset({
    "client_secret", "password", "code", "refresh_token", "access_token", "assertion",
    "client_assertion", "id_token_hint", "sig", "signature",
})

routes = web.RouteTableDef()


@dataclass(frozen=True)
class RequestRecord:
    method: str
    path: str
    query: str
    status: int | None
    duration_ms: float
    user: str | None
    time: str
    fault: str | None


class RequestLog:
    """A bounded ring of :class:`RequestRecord`, oldest dropped first."""

    def __init__(self, capacity: int = CAPACITY) -> None:
        self.records: deque[RequestRecord] = deque(maxlen=capacity)
        # called with each new record, e.g. by `recipe-runner emulator` to log it as JSON
        self.listeners: list[Callable[[RequestRecord], None]] = []

    def add(self, record: RequestRecord) -> None:
        self.records.append(record)
        for listener in self.listeners:
            listener(record)

    def find(self, matcher: RequestMatcher, limit: int) -> list[RequestRecord]:
        """The newest ``limit`` records that match, oldest first."""
        found: list[RequestRecord] = []
        for record in reversed(self.records):
            if len(found) >= limit:
                break
            if matcher.matches(record.method, record.path):
                found.append(record)
        found.reverse()
        return found


def request_log(state: EmulatorState) -> RequestLog:
    return state.extensions[__name__]


def masked_query(request: web.Request) -> str:
    pairs = [(key, "***" if key.lower() in SECRET_QUERY_KEYS else value)
             for key, value in request.query.items()]
    return urlencode(pairs, safe="$*(),'/:@", quote_via=quote)


def request_log_middleware(log: RequestLog, clock: EmulatorClock, echo: bool) -> Middleware:
    @web.middleware
    async def record(request: web.Request, handler: Handler) -> web.StreamResponse:
        if is_control_path(request.path):
            return await handler(request)
        started_at, started = clock.now().isoformat(), time.perf_counter()
        status: int | None = None  # stays None when the client went away mid-request
        try:
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        except Exception:
            status = 500  # what aiohttp answers for an unhandled exception
            raise
        finally:
            fault = request.get(FAULT_APPLIED)
            if fault == "reset":
                status = None
            entry = RequestRecord(
                method=request.method, path=request.path, query=masked_query(request),
                status=status, duration_ms=round((time.perf_counter() - started) * 1000, 3),
                user=caller_oid(request), time=started_at, fault=fault,
            )
            log.add(entry)
            if echo:
                print(f"{entry.method} {entry.path} {entry.status} {entry.duration_ms:.0f}ms",
                      flush=True)

    return record


@routes.get("/_emulator/requests")
async def list_requests(request: web.Request) -> web.Response:
    query = request.query
    try:
        limit = int(query.get("limit", DEFAULT_LIMIT))
    except ValueError:
        limit = 0
    if limit < 1:
        raise json_error(400, "limit must be a positive integer")
    method = query.get("method")
    matcher = RequestMatcher(glob=query.get("path"), method=method.upper() if method else None)
    found = request_log(request.app[STATE]).find(matcher, limit)
    return web.json_response({"requests": [_to_json(record) for record in found]})


def _to_json(record: RequestRecord) -> dict[str, Any]:
    return asdict(record)


@routes.delete("/_emulator/requests")
async def clear_requests(request: web.Request) -> web.Response:
    request_log(request.app[STATE]).records.clear()
    return web.Response(status=204)


def setup(app: web.Application, state: EmulatorState) -> None:
    log = RequestLog()
    state.extensions[__name__] = log
    app.middlewares.append(request_log_middleware(log, state.clock, state.config.log_requests))
    app.add_routes(routes)
