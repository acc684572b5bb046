"""Record-action pieces the Dataverse and F&O connectors share: the action spec, a missing
record said plainly, and ``delete_record``'s ``missing_ok``.

How a record is addressed (id or alternate key; full key and company) stays each connector's
(:mod:`connectors.dynamics365.actions.records`, :mod:`connectors.dynamics_fo.actions.records`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from connectors.base import ActionSpec, Idempotency, Params, StepContext
from connectors.errors import FatalError

T = TypeVar("T")
Explain = Callable[[FatalError], FatalError]  # a service's error -> the one the step reports


def action_spec(connection_type: str, name: str, params: type[Params], run: Any,
                summary: str, idempotency: Idempotency = "natural",
                note: str = "") -> ActionSpec:
    """The action ``<connection_type>.<name>``, for connections of that type."""
    return ActionSpec(key=f"{connection_type}.{name}", params=params, run=run, summary=summary,
                      connection_types=(connection_type,), idempotency=idempotency,
                      idempotency_note=note)


def missing(exc: FatalError, what: str, record: str) -> FatalError:
    """A 404 as ``<what>: no <record> (<the service's message>)``; any other error as it is."""
    if exc.status != 404:
        return exc
    return FatalError(f"{what}: no {record} ({exc.message})", status=404, code=exc.code)


async def explained(request: Awaitable[T], explain: Explain) -> T:
    """``await request``; a ``FatalError`` it raises is replaced by ``explain(error)``."""
    try:
        return await request
    except FatalError as exc:
        raise explain(exc) from exc


async def deleted(request: Awaitable[object], missing_ok: bool, explain: Explain,
                  ctx: StepContext) -> dict[str, Any]:
    """``{"deleted": True}`` once ``request`` (the DELETE) succeeds, or when the record is
    missing (404) because this step's own earlier copy deleted it (the step may repeat:
    ``ctx.may_repeat``, or the DELETE was sent again after an answer was lost);
    ``{"deleted": False}`` when it is missing otherwise and ``missing_ok``; else
    ``explain(error)`` is raised."""
    try:
        await request
    except FatalError as exc:
        if exc.status == 404 and (exc.resent or ctx.may_repeat):
            if ctx.log is not None:
                ctx.log.info("step.repeat_recognised", action="delete_record",
                             target="already deleted")
            return {"deleted": True}
        if exc.status == 404 and missing_ok:
            return {"deleted": False}
        raise explain(exc) from exc
    return {"deleted": True}
