"""System query options: ``$select``, ``$filter``, ``$orderby``, ``$top``, ``$count``, ``$expand``.

Parsing checks every name against the table, so the SQL built from a :class:`QueryOptions`
only ever names known columns. ``$skip`` is refused as Dataverse refuses it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from emulator.dataverse import errors
from emulator.dataverse.schema import Attribute, Navigation, Table
from emulator.dataverse.tables import Catalog
from emulator.dataverse.urls import split_outside_quotes

KNOWN_OPTIONS = frozenset({"$select", "$filter", "$orderby", "$top", "$count", "$expand",
                           "$skiptoken", "$deltatoken"})
# Query string names Dataverse reads that are not system query options: FetchXML and
# saved/user views, the shared-variable ``tag``, and ``@p1``-style parameter aliases.
CUSTOM_OPTIONS = frozenset({"fetchXml", "savedQuery", "userQuery", "tag"})


def check_custom_options(query: Mapping[str, str]) -> None:
    """A query string name Dataverse does not know is a 400, never silently ignored."""
    for name in query:
        if not name.startswith(("$", "@")) and name not in CUSTOM_OPTIONS:
            raise errors.bad_query(f"The query parameter {name} is not supported")


@dataclass(frozen=True)
class Expand:
    """A single-valued navigation property to inline, with its own ``$select``/``$expand``."""

    nav: Navigation
    target: Table
    select: tuple[Attribute, ...] | None = None
    expand: tuple[Expand, ...] = ()

    def context(self) -> str:
        inner = [a.column for a in self.select or ()] + [e.context() for e in self.expand]
        return f"{self.nav.name}({','.join(inner)})"


@dataclass(frozen=True)
class OrderBy:
    attribute: Attribute
    descending: bool = False


@dataclass(frozen=True)
class QueryOptions:
    select: tuple[Attribute, ...] | None = None
    filter: str | None = None
    orderby: tuple[OrderBy, ...] = ()
    top: int | None = None
    count: bool = False
    expand: tuple[Expand, ...] = ()
    skiptoken: str | None = None
    extra: dict[str, str] = field(default_factory=dict)  # $deltatoken, for change tracking

    def context_suffix(self) -> str:
        """``(name,primarycontactid(fullname))`` for ``@odata.context``; empty without $select."""
        if self.select is None and not self.expand:
            return ""
        names = [a.column for a in self.select or ()] + [e.context() for e in self.expand]
        return f"({','.join(names)})"


def parse_options(query: Mapping[str, str], table: Table, catalog: Catalog) -> QueryOptions:
    if "$skip" in query:
        raise errors.bad_query("The query parameter $skip is not supported")
    for name in query:
        if name.startswith("$") and name not in KNOWN_OPTIONS:
            raise errors.bad_query(f"The query parameter {name} is not supported")
    return QueryOptions(
        select=parse_select(query.get("$select"), table),
        filter=query.get("$filter") or None,
        orderby=parse_orderby(query.get("$orderby"), table),
        top=parse_top(query.get("$top")),
        count=parse_bool(query.get("$count"), "$count"),
        expand=parse_expand(query.get("$expand"), table, catalog),
        skiptoken=query.get("$skiptoken"),
        extra={k: v for k, v in query.items() if k == "$deltatoken"},
    )


def attribute(table: Table, name: str) -> Attribute:
    attr = table.attribute_by_column(name.strip())
    if attr is None:
        raise errors.unknown_property(name.strip(), table.logical_name)
    return attr


def parse_select(text: str | None, table: Table) -> tuple[Attribute, ...] | None:
    if not text:
        return None
    chosen: dict[str, Attribute] = {}
    for name in text.split(","):
        attr = attribute(table, name)
        chosen[attr.name] = attr
    return tuple(chosen.values())


def parse_orderby(text: str | None, table: Table) -> tuple[OrderBy, ...]:
    if not text:
        return ()
    order = []
    for clause in text.split(","):
        words = clause.split()
        if not words or len(words) > 2 or (len(words) == 2 and words[1] not in ("asc", "desc")):
            raise errors.bad_query(f"Syntax error in $orderby '{text}'.")
        order.append(OrderBy(attribute(table, words[0]), len(words) == 2 and words[1] == "desc"))
    return tuple(order)


def parse_top(text: str | None) -> int | None:
    if text is None:
        return None
    if not text.isdigit():
        raise errors.bad_query(f"Invalid value '{text}' for $top query option found. "
                               "The $top query option requires a non-negative integer value.")
    return int(text)


def parse_bool(text: str | None, option: str) -> bool:
    if text is None or text == "false":
        return False
    if text == "true":
        return True
    raise errors.bad_query(f"'{text}' is not a valid value for {option}; use true or false.")


def parse_expand(text: str | None, table: Table, catalog: Catalog) -> tuple[Expand, ...]:
    if not text:
        return ()
    return tuple(_expand_item(item.strip(), table, catalog)
                 for item in split_outside_quotes(text, ","))


def _expand_item(item: str, table: Table, catalog: Catalog) -> Expand:
    name, _, rest = item.partition("(")
    nav = table.navigation(name.strip())
    if nav is None:
        if name.strip() in table.collections:
            raise errors.DataverseError(501, errors.NOT_IMPLEMENTED, (
                f"The emulator does not expand collection-valued navigation property "
                f"'{name.strip()}'."))
        raise errors.unknown_property(name.strip(), table.logical_name)
    target = catalog.by_logical_name(nav.target)
    assert target is not None
    options = _nested_options(rest.removesuffix(")"), item) if rest else {}
    return Expand(nav, target, parse_select(options.get("$select"), target),
                  parse_expand(options.get("$expand"), target, catalog))


def _nested_options(text: str, item: str) -> dict[str, str]:
    options = {}
    for part in split_outside_quotes(text, ";"):
        key, sep, value = part.partition("=")
        if not sep or key.strip() not in ("$select", "$expand"):
            raise errors.bad_query(f"Only $select and $expand are supported inside '{item}'.")
        options[key.strip()] = value.strip()
    return options
