"""``validate --online`` for Finance & Operations steps: the ``entity`` exists, a trigger's
``date_field`` is one of its date fields (the very check its first poll makes, so the message
is the same), and the fields named in ``select``, ``fields`` and ``key`` exist on it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from connectors.base import FieldPath, Finding, OnlineChecker, OnlineUse, Params
from connectors.dynamics_fo import FoClient
from connectors.dynamics_fo.metadata import EntityInfo, entity_info
from connectors.dynamics_fo.triggers import (
    NEW,
    NEW_OR_UPDATED,
    NEW_OR_UPDATED_RECORD_SPEC,
    NEW_RECORD_SPEC,
)
from connectors.errors import RecipeError
from connectors.online import has_template, suggestion

DATE_PURPOSES = {NEW_RECORD_SPEC.key: NEW.purpose,
                 NEW_OR_UPDATED_RECORD_SPEC.key: NEW_OR_UPDATED.purpose}


class FoChecker:
    """Checks ``dynamics_fo`` params against one environment's ``$metadata``."""

    def __init__(self, client: FoClient) -> None:
        self.client = client

    async def check(self, key: str, model: type[Params],
                    params: Mapping[str, Any]) -> list[Finding]:
        """Every finding of one step's params (raises ConnectorError if the service fails)."""
        entity = params.get("entity")
        if not isinstance(entity, str) or has_template(entity):
            return []
        try:
            info = await entity_info(self.client, entity)
        except RecipeError as exc:
            return [Finding(("entity",), exc.message)]
        found = _date_field(info, key, model, params)
        select = params.get("select")
        for index, name in enumerate(select if isinstance(select, list) else []):
            found += _field(info, name, ("select", index))
        for param in ("fields", "key"):
            mapping = params.get(param)
            for name in mapping if isinstance(mapping, dict) else {}:
                found += _field(info, name, (param, name), at_key=True)
        return found


def _date_field(info: EntityInfo, key: str, model: type[Params],
                params: Mapping[str, Any]) -> list[Finding]:
    if key not in DATE_PURPOSES:
        return []
    name = params.get("date_field", model.model_fields["date_field"].default)
    if not isinstance(name, str) or has_template(name):
        return []
    try:
        info.require_date_field(name, DATE_PURPOSES[key])
    except RecipeError as exc:
        # Not in the recipe: the default was used, so point at the trigger itself.
        return [Finding(("date_field",), exc.message,
                        "value" if "date_field" in params else "parent")]
    return []


def _field(info: EntityInfo, name: object, path: FieldPath,
           at_key: bool = False) -> list[Finding]:
    if not isinstance(name, str) or has_template(name) or name in info.fields:
        return []
    message = f"F&O entity {info.set_name} has no field {name!r}" + suggestion(name, info.fields)
    return [Finding(path, message, "key" if at_key else "value")]


def online_check(client: FoClient) -> OnlineChecker:
    """``validate --online`` for steps on one F&O connection ($metadata read once)."""
    checker = FoChecker(client)

    async def check(use: OnlineUse) -> list[Finding]:
        return await checker.check(use.spec_key, use.model, use.params)

    return check
