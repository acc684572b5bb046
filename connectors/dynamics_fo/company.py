"""Which company a trigger or action reads and writes, and how an entity is addressed by key.

A step's ``data_area`` and ``cross_company`` default (``None``) to the connection's. Reads:

* ``cross_company: true`` -> ``?cross-company=true``: every company the app can see;
* else a ``data_area`` -> ``?cross-company=true`` and ``dataAreaId eq '<company>'``: that
  company, whatever the app's default company in F&O is (reference §9's form for one company);
* else no parameter: F&O's default company for the app.

Entities whose key has no ``dataAreaId`` (shared entities) ignore both. A key address always
carries the full key, ``dataAreaId`` first taken from the step's or connection's company when
the recipe's key leaves it out, and ``cross-company=true`` so another company's row is found.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from connectors.dynamics_fo.client import FoClient
from connectors.dynamics_fo.metadata import DATA_AREA, EntityInfo
from connectors.errors import RecipeError
from connectors.odata import escaping as odata

CROSS_COMPANY = {"cross-company": "true"}


@dataclass(frozen=True)
class CompanyScope:
    data_area: str | None
    cross_company: bool


def scope_of(client: FoClient, data_area: str | None, cross_company: bool | None) -> CompanyScope:
    """The step's settings, each falling back to the connection's when ``None``."""
    area = data_area or client.data_area
    return CompanyScope(area.lower() if area else None,
                        client.cross_company if cross_company is None else cross_company)


def read_options(scope: CompanyScope, info: EntityInfo) -> tuple[dict[str, str], str | None]:
    """(query parameters, ``$filter`` clause or None) restricting a read to the scope."""
    if not info.company_specific:
        return {}, None
    if scope.cross_company:
        return dict(CROSS_COMPANY), None
    if scope.data_area:
        return dict(CROSS_COMPANY), f"{DATA_AREA} eq {odata.string_literal(scope.data_area)}"
    return {}, None


def and_filters(*clauses: str | None) -> str | None:
    """The clauses ANDed, each in parentheses; None when there are none."""
    present = [c for c in clauses if c]
    if len(present) <= 1:
        return present[0] if present else None
    return " and ".join(f"({c})" for c in present)


def full_key(info: EntityInfo, key: Mapping[str, Any], scope: CompanyScope) -> dict[str, Any]:
    """Every key field in key order; ``RecipeError`` naming what is missing or unknown."""
    values = dict(key)
    if info.company_specific and values.get(DATA_AREA) in (None, "") and scope.data_area:
        values[DATA_AREA] = scope.data_area
    missing = [k for k in info.key if values.get(k) in (None, "")]
    extra = [k for k in values if k not in info.key]
    if missing or extra:
        raise RecipeError(f"the key of F&O entity {info.set_name} is {', '.join(info.key)}"
                          + (f"; missing: {', '.join(missing)}" if missing else "")
                          + (f"; not key fields: {', '.join(extra)}" if extra else ""))
    return {k: values[k] for k in info.key}


def key_path(info: EntityInfo, key: Mapping[str, Any],
             scope: CompanyScope) -> tuple[str, dict[str, str], dict[str, Any]]:
    """(path, query parameters, the full key) addressing one entity."""
    values = full_key(info, key, scope)
    params = dict(CROSS_COMPANY) if info.company_specific else {}
    return info.set_name + odata.alternate_key(values), params, values


def with_company(info: EntityInfo, fields: Mapping[str, Any],
                 scope: CompanyScope) -> dict[str, Any]:
    """A new record's fields, with ``dataAreaId`` from the scope when the recipe left it out."""
    values = dict(fields)
    if info.company_specific and values.get(DATA_AREA) in (None, "") and scope.data_area:
        values[DATA_AREA] = scope.data_area
    return values


def key_of(info: EntityInfo, record: Mapping[str, Any]) -> dict[str, Any]:
    """The key fields of a record the service returned."""
    return {k: record.get(k) for k in info.key}
