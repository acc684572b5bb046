"""System query options on ``/data/<set>``, and the ``cross-company`` switch.

F&O supports ``$filter $count $orderby $skip $top $select`` (and ``$expand`` of first-level
navigation properties, which the emulated entities do not have) plus ``$format=json``
(reference §9). Every name is checked against the entity, so SQL built from a
:class:`QueryOptions` only names known columns. Other ``$`` options are refused; options
without ``$`` (``cross-company``) are custom options.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from emulator.fo import errors
from emulator.fo.entities import Entity

KNOWN_OPTIONS = frozenset({"$filter", "$select", "$orderby", "$top", "$skip", "$count",
                           "$format", "$expand"})


@dataclass(frozen=True)
class QueryOptions:
    select: tuple[str, ...] | None = None
    filter: str | None = None
    orderby: tuple[tuple[str, bool], ...] = ()  # (field, descending)
    top: int | None = None
    skip: int = 0
    count: bool = False
    cross_company: bool = False

    def context_suffix(self) -> str:
        return f"({','.join(self.select)})" if self.select else ""


def parse_options(query: Mapping[str, str], entity: Entity) -> QueryOptions:
    for name in query:
        if name.startswith("$") and name not in KNOWN_OPTIONS:
            raise errors.bad_query(f"The query parameter '{name}' is not supported.")
    _check_format(query.get("$format"))
    _check_expand(query.get("$expand"), entity)
    return QueryOptions(
        select=parse_select(query.get("$select"), entity),
        filter=query.get("$filter") or None,
        orderby=parse_orderby(query.get("$orderby"), entity),
        top=parse_count_option(query.get("$top"), "$top"),
        skip=parse_count_option(query.get("$skip"), "$skip") or 0,
        count=parse_bool(query.get("$count"), "$count"),
        cross_company=query.get("cross-company", "").lower() == "true",
    )


def known_field(entity: Entity, name: str) -> str:
    if entity.field(name.strip()) is None:
        raise errors.unknown_property(name.strip(), entity.edm_type)
    return name.strip()


def parse_select(text: str | None, entity: Entity) -> tuple[str, ...] | None:
    if not text:
        return None
    chosen = [known_field(entity, name) for name in text.split(",")]
    return tuple(dict.fromkeys(chosen))


def parse_orderby(text: str | None, entity: Entity) -> tuple[tuple[str, bool], ...]:
    if not text:
        return ()
    order = []
    for clause in text.split(","):
        words = clause.split()
        if not words or len(words) > 2 or (len(words) == 2 and words[1] not in ("asc", "desc")):
            raise errors.bad_query(f"Syntax error in $orderby '{text}'.")
        order.append((known_field(entity, words[0]), words[-1] == "desc"))
    return tuple(order)


def parse_count_option(text: str | None, option: str) -> int | None:
    if text is None:
        return None
    if not text.isdigit():
        raise errors.bad_query(f"Invalid value '{text}' for {option} query option found. "
                               f"The {option} query option requires a non-negative integer "
                               "value.")
    return int(text)


def parse_bool(text: str | None, option: str) -> bool:
    if text is None or text == "false":
        return False
    if text == "true":
        return True
    raise errors.bad_query(f"'{text}' is not a valid value for {option}; use true or false.")


def _check_format(text: str | None) -> None:
    if text is not None and text.lower() not in ("json", "application/json"):
        raise errors.bad_query(f"The $format '{text}' is not supported; use json.")


def _check_expand(text: str | None, entity: Entity) -> None:
    """The emulated entities have no navigation properties, so any name is unknown."""
    if text:
        name = text.split(",")[0].split("(")[0].strip()
        raise errors.unknown_property(name, entity.edm_type)
