"""PYTEST_DONT_REWRITE
Helpers for engine tests: a recording HTTP endpoint, a list trigger, and an engine
built from recipe text over a real SQLite store."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog
from aiohttp import web
from pydantic import Field

from connectors.base import Event, Params, PollPage, Registry, StepContext, TriggerSpec
from connectors.builtin import LOG_SPEC
from connectors.http import REQUEST_SPEC
from runner.engine.engine import Engine
from runner.engine.worker import WorkerSettings
from runner.recipes import load_recipe
from runner.runtime import ConnectionPool
from runner.store import Store


class ListParams(Params):
    records: list[dict[str, Any]] = Field(description="Records to emit, in order.")
    page_size: int = 10


async def poll_list(
    params: ListParams, cursor: Mapping[str, Any] | None, ctx: StepContext
) -> AsyncIterator[PollPage]:
    """Emits records after the cursor's offset, one page at a time (a recording fake)."""
    offset = int((cursor or {}).get("offset", 0))
    while offset < len(params.records):
        page = params.records[offset : offset + params.page_size]
        offset += len(page)
        events = [Event(key=f"{r['id']}:{r.get('v', 1)}", record=r) for r in page]
        yield PollPage(events=events, cursor={"offset": offset})


LIST_TRIGGER = TriggerSpec(key="test.list", params=ListParams, poll=poll_list,
                           summary="Test records.")


def make_registry() -> Registry:
    registry = Registry()
    for spec in (LOG_SPEC, REQUEST_SPEC, LIST_TRIGGER):
        registry.add(spec)
    return registry


@dataclass
class Endpoint:
    """A local HTTP server that records requests and answers per a script of statuses."""

    url: str = ""
    received: list[dict[str, Any]] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)  # consumed first, then 200

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.json() if request.can_read_body else None
        self.received.append({"path": request.path, "json": body,
                              "key": request.headers.get("Idempotency-Key"),
                              "request_id": request.headers.get("X-Request-Id")})
        status = self.statuses.pop(0) if self.statuses else 200
        headers = {"Retry-After": "0"} if status == 503 else {}
        return web.json_response({"n": len(self.received)}, status=status, headers=headers)


async def build_engine(tmp_path: Path, recipe_text: str, name: str = "recipe.yaml",
                       store: Store | None = None, worker_id: str = "test-worker",
                       claim_ttl_s: float = 30) -> Engine:
    file = tmp_path / name
    file.write_text(recipe_text)
    registry = make_registry()
    recipe, problems = load_recipe(file, registry, {})
    assert recipe is not None, [str(p) for p in problems]
    store = store or await Store.open(f"sqlite:///{tmp_path / 'state.db'}")
    engine = Engine(store, registry, ConnectionPool(None), structlog.get_logger("test"),
                    WorkerSettings(worker_id, claim_ttl_s=claim_ttl_s))
    engine.add(recipe, start_worker=False)
    return engine
