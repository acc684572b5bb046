"""A recipe that writes to the table its own trigger watches starts itself again.

With ``dynamics365.new_or_updated_record`` every update is a new row version, so a step that
updates (or upserts, or creates in) the watched table makes the trigger fire again for the
row it just wrote — twice per change at best, forever without a condition. ``validate``
warns at such a step unless the trigger sets ``ignore_own_changes: true`` (rows this
connection's own user wrote last are skipped) or the step has an ``if:``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from runner.recipes.model import TriggerConfig

_CREATES = frozenset({"dynamics365.create_record", "dynamics365.upsert_record",
                      "dynamics365.batch"})
_WRITES = _CREATES | {"dynamics365.update_record"}
WATCHERS = {"dynamics365.new_or_updated_record": _WRITES, "dynamics365.new_record": _CREATES}


def loop_warning(trigger: TriggerConfig | None, step_type: str, params: Mapping[str, Any],
                 connection: str | None, condition: str | None) -> str | None:
    """The warning for a step that would start its own recipe again, or None."""
    if trigger is None or condition is not None or connection != trigger.connection:
        return None
    if step_type not in WATCHERS.get(trigger.type, ()):
        return None
    if trigger.params.get("ignore_own_changes") is True:
        return None
    watched = trigger.params.get("table")
    if not isinstance(watched, str) or not _writes_table(params, watched):
        return None
    return (f"writes to {watched}, the table this recipe's trigger watches: each write is a "
            "change that starts the recipe again (a loop); set ignore_own_changes: true on "
            "the trigger, or give this step an if:")


def _writes_table(params: Mapping[str, Any], watched: str) -> bool:
    tables = [params.get("table")]
    requests = params.get("requests")
    if isinstance(requests, list):
        tables += [r.get("table") for r in requests
                   if isinstance(r, dict) and r.get("operation") != "delete"]
    return any(isinstance(t, str) and _same_table(t, watched) for t in tables)


def _same_table(a: str, b: str) -> bool:
    """Entity set or logical name alike: ``contacts`` / ``contact``, ``opportunities`` /
    ``opportunity`` (a warning's heuristic; metadata would be exact, validate is offline)."""
    return _singular(a.casefold()) == _singular(b.casefold())


def _singular(name: str) -> str:
    if name.endswith("ies"):
        return name[:-3] + "y"
    if name.endswith(("sses", "xes", "ches", "shes")):
        return name[:-2]
    return name[:-1] if name.endswith("s") else name
