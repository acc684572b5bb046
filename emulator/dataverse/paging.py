"""Server-driven paging with Dataverse's paging cookie, over keyset (seek) queries.

A page is ``ORDER BY <$orderby columns>, <primary key>``; the ``$skiptoken`` of the next
link stores the last row's value of each of those columns, and the next page starts strictly
after them. So rows inserted between pages, or many rows sharing one ``modifiedon`` second,
never shift the window: no row that existed at the start is missed or repeated.

The token is shaped like the real one (reference §2): the outer
``<cookie pagenumber="2" pagingcookie="…" istracking="False" />`` carries an inner
``<cookie page="1"><contactid last="{GUID}" first="{GUID}" /></cookie>`` URL-encoded once
(lower-case hex) inside it, and the whole token is URL-encoded again in the nextLink, so the
inner cookie is double-encoded on the wire. GUIDs are upper case in braces.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ElementTree
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote
from xml.sax.saxutils import escape

from emulator.dataverse import errors
from emulator.dataverse.query import OrderBy
from emulator.dataverse.schema import Attribute, AttributeType, Table
from emulator.dataverse.storage import Value
from emulator.dataverse.timestamps import format_datetime, parse_datetime

_HEX = re.compile(r"%[0-9A-F]{2}")


@dataclass(frozen=True)
class Cookie:
    page_number: int  # the page the token asks for (1-based)
    last: tuple[Value, ...]  # ordering values of the previous page's last row


def ordering(table: Table, orderby: Sequence[OrderBy]) -> list[OrderBy]:
    """The requested order plus the primary key, which makes it total."""
    order = list(orderby)
    if not any(o.attribute.name == table.primary_id for o in order):
        order.append(OrderBy(table.attributes[table.primary_id]))
    return order


def cookie_text(attr: Attribute, value: Value) -> str:
    if attr.type is AttributeType.UNIQUEIDENTIFIER or attr.type is AttributeType.LOOKUP:
        return "{" + str(value).upper() + "}"
    if attr.type is AttributeType.DATETIME:
        return format_datetime(int(value or 0))
    return str(value)


def cookie_value(attr: Attribute, text: str) -> Value:
    if attr.type in (AttributeType.UNIQUEIDENTIFIER, AttributeType.LOOKUP):
        return text.strip("{}").lower()
    if attr.type is AttributeType.DATETIME:
        return parse_datetime(text)
    if attr.type in (AttributeType.INTEGER, AttributeType.BOOLEAN) or attr.type.is_option_set:
        return int(text)
    if attr.type in (AttributeType.DECIMAL, AttributeType.MONEY):
        return float(text)
    return text


def _attribute_xml(attr: Attribute, name: str, value: Value) -> str:
    if value is None:
        return ""  # a NULL boundary value is written as an absent attribute
    return f' {name}="{escape(cookie_text(attr, value), {chr(34): "&quot;"})}"'


def encode_cookie(order: Sequence[OrderBy], page: int, first: Sequence[Value],
                  last: Sequence[Value]) -> str:
    """The ``$skiptoken`` value (decoded form) that continues after ``last``."""
    columns = "".join(
        f"<{o.attribute.column}{_attribute_xml(o.attribute, 'last', lv)}"
        f"{_attribute_xml(o.attribute, 'first', fv)} />"
        for o, fv, lv in zip(order, first, last, strict=True))
    inner = f'<cookie page="{page}">{columns}</cookie>'
    inner_encoded = _HEX.sub(lambda m: m.group(0).lower(), quote(inner, safe=""))
    return (f'<cookie pagenumber="{page + 1}" pagingcookie="{inner_encoded}" '
            f'istracking="False" />')


def decode_cookie(token: str, order: Sequence[OrderBy]) -> Cookie:
    try:
        outer = ElementTree.fromstring(token)
        inner = ElementTree.fromstring(unquote(outer.attrib["pagingcookie"]))
        by_column = {child.tag: child.attrib.get("last") for child in inner}
        last = tuple(_boundary(o.attribute, by_column) for o in order)
        return Cookie(int(outer.attrib.get("pagenumber", "2")), last)
    except (ElementTree.ParseError, KeyError, ValueError) as exc:
        raise errors.bad_query("The $skiptoken is not a valid paging cookie.") from exc


def _boundary(attr: Attribute, by_column: dict[str, str | None]) -> Value:
    if attr.column not in by_column:
        raise KeyError(attr.column)
    text = by_column[attr.column]
    return None if text is None else cookie_value(attr, text)


def keyset_sql(order: Sequence[OrderBy], last: Sequence[Value], alias: str,
               params: dict[str, Any]) -> str:
    """Rows strictly after ``last`` in ``order`` (NULLs first ascending, last descending)."""
    names = []
    for value in last:
        names.append(f":k{len(params)}")
        params[f"k{len(params)}"] = value
    cols = [f'{alias}."{o.attribute.column}"' for o in order]
    if all(not o.descending for o in order) and all(v is not None for v in last):
        # A row-value comparison lets SQLite seek in the (column, primary key) index.
        return f"({', '.join(cols)}) > ({', '.join(names)})"
    clauses = []
    for i, o in enumerate(order):
        equal = [_equal(cols[j], names[j], last[j]) for j in range(i)]
        clauses.append(" AND ".join([*equal, _after(cols[i], names[i], last[i], o.descending)]))
    return "(" + " OR ".join(f"({c})" for c in clauses) + ")"


def _equal(col: str, name: str, value: Value) -> str:
    return f"{col} IS NULL" if value is None else f"{col} = {name}"


def _after(col: str, name: str, value: Value, descending: bool) -> str:
    if descending:
        return "0" if value is None else f"({col} < {name} OR {col} IS NULL)"
    return f"{col} IS NOT NULL" if value is None else f"{col} > {name}"


def order_sql(order: Sequence[OrderBy], alias: str) -> str:
    return ", ".join(f'{alias}."{o.attribute.column}" {"DESC" if o.descending else "ASC"}'
                     for o in order)


def next_link(url_without_query: str, query: Sequence[tuple[str, str]], token: str) -> str:
    """The request URL with its options kept and ``$skiptoken`` replaced by ``token``."""
    kept = [(k, v) for k, v in query if k != "$skiptoken"] + [("$skiptoken", token)]
    encoded = "&".join(f"{quote(k, safe='$')}={quote(v, safe=_SAFE[k == '$skiptoken'])}"
                       for k, v in kept)
    return f"{url_without_query}?{encoded}"


_SAFE = {True: "=/", False: "$',()=/:@"}
