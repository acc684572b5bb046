"""Fixed latency added to matching requests, to make timing-dependent client code observable.

``POST /_emulator/latency {"ms": 20, "path": "/api/data/*"}`` adds a rule (``path_regex`` and
``method`` work as for faults; no path: every non-control request). A rule for the same path
and method replaces the earlier one; ``"ms": 0`` removes it. The first matching rule applies.
``GET /_emulator/latency`` lists the rules; ``DELETE /_emulator/latency`` clears them.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware
from pydantic import Field, TypeAdapter

from emulator.state import STATE, EmulatorState
from emulator.traffic import MatcherSpec, RequestMatcher, is_control_path, read_body

routes = web.RouteTableDef()


class LatencySpec(MatcherSpec):
    ms: float = Field(ge=0, le=600_000, description="milliseconds added before handling")

    def same_target(self, other: LatencySpec) -> bool:
        return (self.path, self.path_regex, self.method) == (
            other.path, other.path_regex, other.method)


LATENCY_SPEC = TypeAdapter(LatencySpec)


@dataclass
class LatencyRules:
    rules: list[tuple[LatencySpec, RequestMatcher]] = field(default_factory=list)

    def set(self, spec: LatencySpec) -> None:
        self.rules = [(s, m) for s, m in self.rules if not s.same_target(spec)]
        if spec.ms > 0:
            self.rules.append((spec, spec.matcher()))

    def delay_s(self, method: str, path: str) -> float:
        for spec, matcher in self.rules:
            if matcher.matches(method, path):
                return spec.ms / 1000
        return 0.0

    def to_json(self) -> dict[str, Any]:
        return {"rules": [spec.model_dump(mode="json", exclude_none=True)
                          for spec, _ in self.rules]}


def latency_rules(state: EmulatorState) -> LatencyRules:
    return state.extensions[__name__]


def latency_middleware(rules: LatencyRules) -> Middleware:
    @web.middleware
    async def add_latency(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not is_control_path(request.path):
            delay_s = rules.delay_s(request.method, request.path)
            if delay_s > 0:
                await asyncio.sleep(delay_s)
        return await handler(request)

    return add_latency


@routes.post("/_emulator/latency")
async def set_latency(request: web.Request) -> web.Response:
    spec = await read_body(request, LATENCY_SPEC)
    rules = latency_rules(request.app[STATE])
    rules.set(spec)
    return web.json_response(rules.to_json(), status=201)


@routes.get("/_emulator/latency")
async def list_latency(request: web.Request) -> web.Response:
    return web.json_response(latency_rules(request.app[STATE]).to_json())


@routes.delete("/_emulator/latency")
async def clear_latency(request: web.Request) -> web.Response:
    latency_rules(request.app[STATE]).rules.clear()
    return web.Response(status=204)


def setup(app: web.Application, state: EmulatorState) -> None:
    rules = LatencyRules()
    state.extensions[__name__] = rules
    app.middlewares.append(latency_middleware(rules))
    app.add_routes(routes)
