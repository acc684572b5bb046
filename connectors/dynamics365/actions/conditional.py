"""A conditional write (``if_match``) that Dataverse refused, and what a repeat of it means.

A write sent with ``If-Match: <etag>`` applies only to that version of the record; any other
version answers ``412`` "The version of the existing record doesn't match the RowVersion
property provided.": someone changed the record since the step's input read it, and the step
fails saying so.

A step can run twice (its answer lost, the process killed after sending it). Its first copy
may have applied and moved the record to a new version, so the second copy is refused
although the write is done. The version alone cannot tell the step's own earlier write from
someone else's, so when the step may be a repeat it reads the record: if every column it
writes already holds the value it would write, the write is taken as done (the record is as
the step wants it, whoever wrote last); otherwise the mismatch stands. A lookup given by
alternate key cannot be compared that way and keeps the mismatch.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from connectors.dynamics365.actions.metadata import Column, TableInfo
from connectors.dynamics365.client import DataverseClient
from connectors.errors import FatalError
from connectors.odata import escaping as odata

BIND = "@odata.bind"
_BOUND_ID = re.compile(r"\(([0-9a-fA-F-]{36})\)$")


def is_mismatch(exc: FatalError, etag: str | None) -> bool:
    """The answer of a write whose ``If-Match`` ETag is not the record's version."""
    return etag is not None and exc.status == 412


def mismatch(exc: FatalError, what: str, record: str, etag: str) -> FatalError:
    return FatalError(f"{what}: the {record} changed since it was read (it is no longer at "
                      f"version {etag}), so nothing was written ({exc.message})",
                      status=exc.status, code=exc.code)


async def already_written(client: DataverseClient, info: TableInfo, path: str,
                          payload: Mapping[str, Any], headers: Mapping[str, str]) -> bool:
    """True when the record at ``path`` holds every value of ``payload`` (see the module
    docstring); False when one differs or cannot be compared."""
    expected = expectations(info, payload)
    if expected is None:
        return False
    if not expected:
        return True  # a write of no columns changes no value
    row = await client.get_json(path, {"$select": ",".join(expected)}, headers)
    return all(_same(column, want, row.get(name)) for name, (column, want) in expected.items())


def expectations(info: TableInfo,
                 payload: Mapping[str, Any]) -> dict[str, tuple[Column | None, Any]] | None:
    """Web API property -> (its column, the value the write sets); None when a value cannot
    be compared with what a read returns."""
    lookups = {nav: lookup for (lookup, _), nav in info.navigation.items()}
    expected: dict[str, tuple[Column | None, Any]] = {}
    for name, value in payload.items():
        if name.endswith(BIND):
            nav = name[:-len(BIND)]
            match = _BOUND_ID.search(str(value))
            lookup = lookups.get(nav, nav if nav in info.columns else None)
            if match is None or lookup is None:
                return None
            expected[f"_{lookup}_value"] = (None, odata.guid(match.group(1)))
        elif "@" in name or name not in info.columns:
            return None
        else:
            expected[name] = (info.columns[name], value)
    return expected


def _same(column: Column | None, want: Any, have: Any) -> bool:
    if want is None or have is None:
        return want is have
    if column is not None and column.type == "MultiSelectPicklist":
        return _options(want) == _options(have)
    if column is not None and column.type == "DateTime":
        try:
            return odata.parse_datetime(want) == odata.parse_datetime(have)
        except (TypeError, ValueError):
            return False
    if isinstance(want, bool) or isinstance(have, bool):
        return want is have
    if isinstance(have, int | float):
        try:
            return math.isclose(float(want), float(have), rel_tol=1e-12, abs_tol=1e-9)
        except (TypeError, ValueError):
            return False
    return bool(str(want).lower() == str(have).lower()) if column is None else want == have


def _options(value: Any) -> set[str]:
    return {part.strip() for part in str(value).split(",") if part.strip()}
