"""System query options: ``$select``, ``$filter``, ``$orderby``, ``$top``, ``$count``, ``$expand``.

Parsing checks every name against the table, so the SQL built from a :class:`QueryOptions`
only ever names known columns. ``$skip`` is refused as Dataverse refuses it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from emulator.dataverse import errors
from emulator.dataverse.schema import (
    Attribute,
    CollectionNavigation,
    ManyToMany,
    Navigation,
    Table,
)
from emulator.dataverse.tables import Catalog
from emulator.dataverse.urls import split_outside_quotes

KNOWN_OPTIONS = frozenset({"$select", "$filter", "$orderby", "$top", "$count", "$expand",
                           "$skiptoken", "$deltatoken"})
# Query string names Dataverse reads that are not system query options: FetchXML and
# saved/user views, the shared-variable ``tag``, and ``@p1``-style parameter aliases.
CUSTOM_OPTIONS = frozenset({"fetchXml", "savedQuery", "userQuery", "tag",
                            "sessiontoken", "x-ms-file-name", "size"})  # the last: files


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
    expand: tuple[Expand | CollectionExpand, ...] = ()

    @property
    def name(self) -> str:
        return self.nav.name

    def context(self) -> str:
        inner = [a.column for a in self.select or ()] + [e.context() for e in self.expand]
        return f"{self.name}({','.join(inner)})"


@dataclass(frozen=True)
class CollectionExpand:
    """A collection-valued navigation property (1:N or N:N) to inline as an array, with
    ``$select``, ``$filter``, ``$orderby``, ``$top`` and ``$expand`` of its own."""

    name: str
    target: Table
    link: CollectionNavigation | ManyToMany
    select: tuple[Attribute, ...] | None = None
    expand: tuple[Expand | CollectionExpand, ...] = ()
    filter: str | None = None
    orderby: tuple[OrderBy, ...] = ()
    top: int | None = None

    def context(self) -> str:
        inner = [a.column for a in self.select or ()] + [e.context() for e in self.expand]
        return f"{self.name}({','.join(inner)})"


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
    skiptoken: str | None = None
    extra: dict[str, str] = field(default_factory=dict)  # $deltatoken, for change tracking
    expand: tuple[Expand | CollectionExpand, ...] = ()

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
        filter=with_aliases(query.get("$filter"), query) or None,
        orderby=parse_orderby(query.get("$orderby"), table),
        top=parse_top(query.get("$top")),
        count=parse_bool(query.get("$count"), "$count"),
        expand=parse_expand(query.get("$expand"), table, catalog),
        skiptoken=query.get("$skiptoken"),
        extra={k: v for k, v in query.items() if k == "$deltatoken"},
    )


_ALIAS = re.compile(r"('(?:[^']|'')*')|(@[A-Za-z_][A-Za-z0-9_]*)")


def with_aliases(text: str | None, query: Mapping[str, str]) -> str | None:
    """``$filter=_x_value eq @stepid&@stepid=<guid>``: parameter aliases replaced by their
    values (outside string literals); an alias with no value is a 400."""
    if not text or "@" not in text:
        return text

    def value(match: re.Match[str]) -> str:
        if match.group(1):
            return match.group(1)
        if match.group(2) not in query:
            raise errors.bad_query(f"The parameter alias '{match.group(2)}' has no value.")
        return query[match.group(2)]
    return _ALIAS.sub(value, text)


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


def parse_expand(text: str | None, table: Table, catalog: Catalog
                 ) -> tuple[Expand | CollectionExpand, ...]:
    if not text:
        return ()
    return tuple(_expand_item(item.strip(), table, catalog)
                 for item in split_outside_quotes(text, ","))


def _expand_item(item: str, table: Table, catalog: Catalog) -> Expand | CollectionExpand:
    name, _, rest = item.partition("(")
    name = name.strip()
    link = collection_link(table, name)
    options = _nested_options(rest.removesuffix(")"), item, link is not None) if rest else {}
    if link is not None:
        target = catalog.by_logical_name(collection_target(table, link))
        assert target is not None
        return CollectionExpand(
            name, target, link, parse_select(options.get("$select"), target),
            parse_expand(options.get("$expand"), target, catalog),
            options.get("$filter") or None, parse_orderby(options.get("$orderby"), target),
            parse_top(options.get("$top")))
    nav = table.navigation(name)
    if nav is None:
        raise errors.unknown_property(name, table.logical_name)
    target = catalog.by_logical_name(nav.target)
    assert target is not None
    return Expand(nav, target, parse_select(options.get("$select"), target),
                  parse_expand(options.get("$expand"), target, catalog))


def collection_link(table: Table, name: str) -> CollectionNavigation | ManyToMany | None:
    """The 1:N or N:N relationship behind a collection-valued navigation property."""
    return table.collections.get(name) or table.many_to_many.get(name)


def collection_target(table: Table, link: CollectionNavigation | ManyToMany) -> str:
    """The logical name of the rows a collection-valued navigation property holds."""
    if isinstance(link, CollectionNavigation):
        return link.source
    return link.entity2 if link.entity1 == table.logical_name else link.entity1


_SINGLE_OPTIONS = ("$select", "$expand")
_COLLECTION_OPTIONS = ("$select", "$expand", "$filter", "$orderby", "$top")


def _nested_options(text: str, item: str, collection: bool) -> dict[str, str]:
    allowed = _COLLECTION_OPTIONS if collection else _SINGLE_OPTIONS
    options = {}
    for part in split_outside_quotes(text, ";"):
        key, sep, value = part.partition("=")
        if not sep or key.strip() not in allowed:
            raise errors.bad_query(f"Only {', '.join(allowed)} are supported inside '{item}'.")
        options[key.strip()] = value.strip()
    return options
