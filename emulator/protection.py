"""Dataverse service protection limits: 429 with ``Retry-After`` per user over a sliding window.

Per caller (the bearer token's ``oid``; requests without one are not counted), on ``/api/data/``
(Dataverse), the emulator enforces the three documented limits, checked in this order:

* concurrency: more than ``concurrent`` requests in flight -> 429 ``0x80072326``, at once;
* request count: ``requests`` requests in the last ``window_s`` seconds -> 429 ``0x80072322``;
* execution time: ``execution_ms`` of handling time in the window -> 429 ``0x80072321``.

``Retry-After`` is the whole seconds until a slot frees in the window (1 for concurrency).
The window runs on the emulator clock, so a test advances time instead of sleeping. Normal
responses carry ``x-ms-ratelimit-burst-remaining-xrm-requests`` and
``x-ms-ratelimit-time-remaining-xrm-requests``.

Control: ``GET /_emulator/protection``; ``PUT /_emulator/protection`` with any of ``requests``,
``window_s``, ``concurrent``, ``execution_ms``, ``enabled``; ``DELETE /_emulator/protection/usage``
forgets every caller's counts.
"""

from __future__ import annotations

import json
import math
import time
from collections import deque
from dataclasses import dataclass, field

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from emulator.clock import EmulatorClock
from emulator.state import STATE, EmulatorState
from emulator.traffic import caller_oid, is_control_path, read_body

# Dataverse's per-user limits only: F&O dropped user-based limits for priority-based
# throttling, which tests model with fault rules (429 + Retry-After) on /data/.
PROTECTED_PREFIXES = ("/api/data/",)

REQUEST_COUNT_CODE = "0x80072322"
EXECUTION_TIME_CODE = "0x80072321"
CONCURRENCY_CODE = "0x80072326"

BURST_REMAINING_HEADER = "x-ms-ratelimit-burst-remaining-xrm-requests"
TIME_REMAINING_HEADER = "x-ms-ratelimit-time-remaining-xrm-requests"

routes = web.RouteTableDef()


class ProtectionLimits(BaseModel):
    """The limits in force; the defaults are Dataverse's documented ones."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    requests: int = Field(6000, ge=1, description="requests per user per window")
    window_s: float = Field(300, gt=0, description="length of the sliding window, seconds")
    concurrent: int = Field(52, ge=1, description="requests per user in flight at once")
    execution_ms: float = Field(1_200_000, gt=0, description="handling time per user per window")
    enabled: bool = True


class LimitsUpdate(BaseModel):
    """A ``PUT /_emulator/protection`` body: the fields to change, others keep their value."""

    model_config = ConfigDict(extra="forbid")

    requests: int | None = Field(None, ge=1)
    window_s: float | None = Field(None, gt=0)
    concurrent: int | None = Field(None, ge=1)
    execution_ms: float | None = Field(None, gt=0)
    enabled: bool | None = None


LIMITS_UPDATE = TypeAdapter(LimitsUpdate)


def dataverse_error(status: int, code: str, message: str,
                    headers: dict[str, str] | None = None) -> web.Response:
    """A response shaped like a Dataverse Web API error: ``{"error": {"code", "message"}}``."""
    body = json.dumps({"error": {"code": code, "message": message}})
    response = web.Response(status=status, text=body, headers=headers)
    response.headers["Content-Type"] = "application/json; odata.metadata=minimal"
    response.headers["OData-Version"] = "4.0"
    return response


def throttled(code: str, message: str, retry_after_s: int | None) -> web.Response:
    """A 429 as Dataverse sends it; without ``Retry-After`` when ``retry_after_s`` is None."""
    headers = {"Retry-After": str(retry_after_s)} if retry_after_s is not None else None
    return dataverse_error(429, code, message, headers)


def request_count_message(limits: ProtectionLimits) -> str:
    return (f"Number of requests exceeded the limit of {limits.requests} "
            f"over time window of {_seconds(limits.window_s)} seconds.")


def execution_time_message(limits: ProtectionLimits) -> str:
    return (f"Combined execution time of incoming requests exceeded limit of "
            f"{limits.execution_ms:,.0f} milliseconds over time window of "
            f"{_seconds(limits.window_s)} seconds. Decrease number of concurrent requests or "
            "reduce the duration of requests and try again later.")


def concurrency_message(limits: ProtectionLimits) -> str:
    return f"Number of concurrent requests exceeded the limit of {limits.concurrent}."


def _seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


@dataclass
class UserUsage:
    """One caller's traffic: request times and (end time, duration) of handled requests."""

    request_times: deque[float] = field(default_factory=deque)
    executions: deque[tuple[float, float]] = field(default_factory=deque)
    execution_ms: float = 0.0
    in_flight: int = 0

    def forget_before(self, cutoff: float) -> None:
        while self.request_times and self.request_times[0] <= cutoff:
            self.request_times.popleft()
        while self.executions and self.executions[0][0] <= cutoff:
            self.execution_ms -= self.executions.popleft()[1]


@dataclass
class ServiceProtection:
    """The limits and every caller's usage; ``admit`` decides, ``finish`` books the time."""

    clock: EmulatorClock
    limits: ProtectionLimits = field(default_factory=ProtectionLimits)
    usage: dict[str, UserUsage] = field(default_factory=dict)

    def admit(self, user: str) -> web.Response | None:
        """Count a request by ``user``: None when admitted, else the 429 to send instead."""
        now, limits = self.clock.time(), self.limits
        usage = self.usage.setdefault(user, UserUsage())
        usage.forget_before(now - limits.window_s)
        if usage.in_flight >= limits.concurrent:
            return throttled(CONCURRENCY_CODE, concurrency_message(limits), 1)
        if len(usage.request_times) >= limits.requests:
            retry_s = self._retry_after_s(usage.request_times[0], now)
            return throttled(REQUEST_COUNT_CODE, request_count_message(limits), retry_s)
        if usage.execution_ms >= limits.execution_ms:
            retry_s = self._retry_after_s(usage.executions[0][0], now)
            return throttled(EXECUTION_TIME_CODE, execution_time_message(limits), retry_s)
        usage.request_times.append(now)
        usage.in_flight += 1
        return None

    def finish(self, user: str, duration_ms: float) -> None:
        usage = self.usage[user]
        usage.in_flight -= 1
        usage.executions.append((self.clock.time(), duration_ms))
        usage.execution_ms += duration_ms

    def remaining_headers(self, user: str) -> dict[str, str]:
        usage, limits = self.usage[user], self.limits
        return {
            BURST_REMAINING_HEADER: str(max(0, limits.requests - len(usage.request_times))),
            TIME_REMAINING_HEADER: f"{max(0.0, limits.execution_ms - usage.execution_ms):,.2f}",
        }

    def _retry_after_s(self, oldest: float, now: float) -> int:
        # The oldest entry leaves the window at oldest + window_s; round up to whole seconds.
        return max(1, math.ceil(oldest + self.limits.window_s - now))


def protection_of(state: EmulatorState) -> ServiceProtection:
    return state.extensions[__name__]


def is_protected(path: str) -> bool:
    return path.startswith(PROTECTED_PREFIXES) and not is_control_path(path)


def protection_middleware(protection: ServiceProtection) -> Middleware:
    @web.middleware
    async def protect(request: web.Request, handler: Handler) -> web.StreamResponse:
        user = caller_oid(request) if is_protected(request.path) else None
        if user is None or not protection.limits.enabled:
            return await handler(request)
        refusal = protection.admit(user)
        if refusal is not None:
            return refusal
        started = time.perf_counter()
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            _finish(protection, user, started, exc)
            raise
        except BaseException:
            protection.finish(user, (time.perf_counter() - started) * 1000)
            raise
        _finish(protection, user, started, response)
        return response

    return protect


def _finish(protection: ServiceProtection, user: str, started: float,
            response: web.StreamResponse) -> None:
    protection.finish(user, (time.perf_counter() - started) * 1000)
    if not response.prepared:  # a streamed response has sent its headers already
        response.headers.update(protection.remaining_headers(user))


@routes.get("/_emulator/protection")
async def get_limits(request: web.Request) -> web.Response:
    return web.json_response(protection_of(request.app[STATE]).limits.model_dump())


@routes.put("/_emulator/protection")
async def put_limits(request: web.Request) -> web.Response:
    update = await read_body(request, LIMITS_UPDATE)
    protection = protection_of(request.app[STATE])
    merged = protection.limits.model_dump() | update.model_dump(exclude_none=True)
    protection.limits = ProtectionLimits.model_validate(merged)
    return web.json_response(protection.limits.model_dump())


@routes.delete("/_emulator/protection/usage")
async def forget_usage(request: web.Request) -> web.Response:
    protection = protection_of(request.app[STATE])
    # Keep in-flight counts: those requests will still call finish().
    protection.usage = {user: UserUsage(in_flight=u.in_flight)
                        for user, u in protection.usage.items() if u.in_flight}
    return web.Response(status=204)


def setup(app: web.Application, state: EmulatorState) -> None:
    protection = ServiceProtection(clock=state.clock)
    state.extensions[__name__] = protection
    app.middlewares.append(protection_middleware(protection))
    app.add_routes(routes)
