"""Control routes for webhook deliveries (registered before the webhook sink's
``/_emulator/webhooks/{name}``, so these two names are taken):

* ``POST /_emulator/webhooks/deliveries`` a rule (see :mod:`.rules`) → 201 the rule;
* ``GET /_emulator/webhooks/deliveries`` → ``{"rules", "deliveries", "counts"}``; filter with
  ``?status=delivered&entity=contact&message=Update&step_id=…``; ``?wait_s=5`` first waits
  (up to 5 s) until no delivery is in flight;
* ``DELETE /_emulator/webhooks/deliveries`` → forget rules and log;
* ``GET|POST /_emulator/webhooks/settings`` ``{"ca_file", "timeout_s", "retry_delays_s",
  "max_concurrency", "seed"}`` → the settings in force.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from emulator.dataverse.environment import environment
from emulator.dataverse.pipeline.dispatcher import Pipeline
from emulator.dataverse.pipeline.rules import DeliveryRuleSpec
from emulator.traffic import json_error, read_body

routes = web.RouteTableDef()
RULE = TypeAdapter(DeliveryRuleSpec)


class SettingsPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ca_file: str | None = Field(None, description="PEM file of the CA the receivers use")
    timeout_s: float | None = Field(None, gt=0, le=600)
    retry_delays_s: list[float] | None = Field(None, max_length=20)
    max_concurrency: int | None = Field(None, ge=1, le=256)
    seed: int | None = Field(None, description="seed of the rules' random draws")


PATCH = TypeAdapter(SettingsPatch)


def _pipeline(request: web.Request) -> Pipeline:
    pipeline: Pipeline = environment(request).pipeline
    return pipeline


@routes.post("/_emulator/webhooks/deliveries")
async def add_rule(request: web.Request) -> web.Response:
    rule = _pipeline(request).rules.add(await read_body(request, RULE))
    return web.json_response(rule.to_json(), status=201)


@routes.get("/_emulator/webhooks/deliveries")
async def list_deliveries(request: web.Request) -> web.Response:
    pipeline = _pipeline(request)
    try:
        wait_s = float(request.query.get("wait_s", "0"))
    except ValueError:
        raise json_error(400, "wait_s must be a number of seconds") from None
    if wait_s > 0 and pipeline.tasks:
        await asyncio.wait(set(pipeline.tasks), timeout=wait_s)
    wanted = {k: request.query.get(k, "") for k in ("status", "entity", "message", "step_id",
                                                    "record_id")}
    entries = pipeline.log.find(**wanted)
    return web.json_response({
        "rules": [r.to_json() for r in pipeline.rules.rules],
        "deliveries": [e.to_json() for e in entries],
        "counts": dict(Counter(e.status for e in entries)),
        "in_flight": len(pipeline.tasks)})


@routes.delete("/_emulator/webhooks/deliveries")
async def clear_deliveries(request: web.Request) -> web.Response:
    pipeline = _pipeline(request)
    pipeline.rules.rules.clear()
    pipeline.log.entries.clear()
    return web.Response(status=204)


def _settings_json(pipeline: Pipeline) -> dict[str, object]:
    settings = pipeline.settings
    return {"ca_file": settings.ca_file, "timeout_s": settings.timeout_s,
            "retry_delays_s": list(settings.retry_delays_s),
            "max_concurrency": settings.max_concurrency}


@routes.get("/_emulator/webhooks/settings")
async def get_settings(request: web.Request) -> web.Response:
    return web.json_response(_settings_json(_pipeline(request)))


@routes.post("/_emulator/webhooks/settings")
async def set_settings(request: web.Request) -> web.Response:
    pipeline = _pipeline(request)
    patch = await read_body(request, PATCH)
    settings = pipeline.settings
    if patch.ca_file is not None:
        settings.ca_file = patch.ca_file or None
        pipeline.sender.reset_tls()
    if patch.timeout_s is not None:
        settings.timeout_s = patch.timeout_s
    if patch.retry_delays_s is not None:
        settings.retry_delays_s = tuple(patch.retry_delays_s)
    if patch.max_concurrency is not None:
        settings.max_concurrency = patch.max_concurrency
    if patch.seed is not None:
        pipeline.rules.random = random.Random(patch.seed)
    return web.json_response(_settings_json(pipeline))
