"""``search_records`` (OData query) and ``fetchxml_query`` (FetchXML with the paging cookie).

``search_records`` reads one page of up to ``top`` rows (≤ 5,000, via ``Prefer:
odata.maxpagesize``) and returns its ``next_link``, which a later step may pass back as
``next_link`` to read on; or, with ``all_pages``, follows ``@odata.nextLink`` until ``limit``
rows (``next_link`` is then where it stopped, or null when the query is exhausted). ``where``
is equality conditions built with escaping; ``filter`` is OData text, ANDed with it, whose
``{{ }}`` values the renderer turns into OData literals (``FILTER_TEMPLATE``).

``fetchxml_query`` sets ``page``, ``count`` and ``paging-cookie`` on the recipe's ``<fetch>``
and returns ``paging_cookie`` (already decoded twice, ready to pass back with ``page + 1``)
and ``more_records``; with ``all_pages`` it walks the cookie chain itself up to ``limit``.
Rows of both follow the :mod:`~connectors.dynamics365.actions.values` output convention.
"""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from typing import Any
from urllib.parse import unquote

from pydantic import Field

from connectors.base import ActionSpec, Params, StepContext
from connectors.dynamics365.actions.metadata import table_info
from connectors.dynamics365.actions.records import TABLE, client_of
from connectors.dynamics365.actions.values import ANNOTATIONS_PREFER, from_record, select_option
from connectors.dynamics365.client import DataverseClient
from connectors.errors import FatalError
from connectors.odata import escaping as odata
from connectors.odata.params import Columns

CONNECTION_TYPES = ("dynamics365",)
XML_TEMPLATE = {odata.TEMPLATE_VALUES: "xml"}  # each {{ }} value XML-escaped
MAX_PAGE = 5000
COOKIE = "@Microsoft.Dynamics.CRM.fetchxmlpagingcookie"
MORE = "@Microsoft.Dynamics.CRM.morerecords"
FETCH_PREFER = ('odata.include-annotations="OData.Community.Display.V1.FormattedValue,'
                'Microsoft.Dynamics.CRM.lookuplogicalname,'
                'Microsoft.Dynamics.CRM.fetchxmlpagingcookie,Microsoft.Dynamics.CRM.morerecords"')


class SearchRecordsParams(Params):
    table: str = TABLE
    where: dict[str, str | int | float | bool | None] | None = Field(
        None, description="Column = value conditions (escaped), ANDed.",
        examples=[{"lastname": "O'Bryan", "statecode": 0}])
    filter: str | None = Field(
        None, description="OData $filter, ANDed with where. Each {{ }} value in it becomes an "
        "OData literal (strings quoted and escaped; numbers, dates, GUIDs as such): write "
        "lastname eq {{ trigger.record.lastname }}, without quotes.",
        examples=["revenue gt 1000 and statecode eq 0",
                  "_parentcustomerid_value eq {{ trigger.record.accountid }}"],
        json_schema_extra=odata.FILTER_TEMPLATE)
    select: Columns = Field(None, description="Columns to return.",
                            examples=[["name", "revenue"]])
    orderby: str | None = Field(None, description="OData $orderby.", examples=["name asc"])
    expand: str | None = Field(None, description="OData $expand.",
                               examples=["primarycontactid($select=fullname)"])
    top: int = Field(50, ge=1, le=MAX_PAGE, description="Rows per page (at most 5,000).",
                     examples=[100])
    all_pages: bool = Field(False, description="Follow every page, up to limit rows.",
                            examples=[True])
    limit: int = Field(100_000, ge=1, description="With all_pages: the most rows returned.",
                       examples=[20_000])
    next_link: str | None = Field(None, description="Continue from a previous next_link.",
                                  examples=[None])


class FetchXmlQueryParams(Params):
    table: str = TABLE
    fetch_xml: str = Field(
        description="The FetchXML query; page, count and paging-cookie are set from below. "
        "Each {{ }} value in it is XML-escaped (| safe inserts XML as written).",
        examples=['<fetch><entity name="contact"><attribute name="fullname"/>'
                  '<order attribute="fullname"/></entity></fetch>',
                  '<fetch><entity name="contact"><filter><condition attribute="lastname" '
                  'operator="eq" value="{{ trigger.record.lastname }}"/></filter></entity>'
                  '</fetch>'],
        json_schema_extra=XML_TEMPLATE)
    page: int = Field(1, ge=1, description="Page number (1-based).", examples=[2])
    count: int = Field(5000, ge=1, le=MAX_PAGE, description="Rows per page.", examples=[500])
    paging_cookie: str | None = Field(None, description="paging_cookie of the previous page.",
                                      examples=[None])
    all_pages: bool = Field(False, description="Follow the paging cookie up to limit rows.",
                            examples=[True])
    limit: int = Field(100_000, ge=1, description="With all_pages: the most rows returned.",
                       examples=[50_000])


async def search_records(params: SearchRecordsParams, ctx: StepContext) -> dict[str, Any]:
    """``{"rows", "count", "next_link"}``."""
    client = client_of(ctx)
    info = await table_info(client, params.table)
    path, query = info.entity_set, _query(params, select_option(info, params.select))
    if params.next_link is not None:
        path, query = _own_link(client, params.next_link), {}
    if not params.all_pages:
        prefer = f"{ANNOTATIONS_PREFER},odata.maxpagesize={params.top}"
        body = await client.get_json(path, query, {"Prefer": prefer})
        rows = [from_record(r) for r in body.get("value") or []]
        return {"rows": rows, "count": len(rows), "next_link": body.get("@odata.nextLink")}
    return await _all_pages(client, path, query, params.limit)


async def _all_pages(client: DataverseClient, path: str, query: dict[str, str],
                     limit: int) -> dict[str, Any]:
    rows: list[dict[str, Any]] = []
    next_link: str | None = None
    pages = client.paginate(path, query, min(limit, MAX_PAGE), {"Prefer": ANNOTATIONS_PREFER})
    try:
        async for page in pages:
            rows += [from_record(r) for r in page.rows[:limit - len(rows)]]
            next_link = page.next_link
            if len(rows) >= limit:
                break
    finally:
        await pages.aclose()  # type: ignore[attr-defined]
    return {"rows": rows, "count": len(rows), "next_link": next_link}


def _query(params: SearchRecordsParams, select: dict[str, str]) -> dict[str, str]:
    query = dict(select)
    clauses = [odata.compare(k, "eq", v) for k, v in (params.where or {}).items()]
    if params.filter:
        clauses.append(f"({params.filter})")
    if clauses:
        query["$filter"] = " and ".join(clauses)
    if params.orderby:
        query["$orderby"] = params.orderby
    if params.expand:
        query["$expand"] = params.expand
    return query


def _own_link(client: DataverseClient, link: str) -> str:
    """A next_link is only followed on this connection's own Web API (tokens stay home)."""
    if not link.startswith(client.base_url):
        raise FatalError("next_link does not belong to this connection's Web API")
    return link


async def fetchxml_query(params: FetchXmlQueryParams, ctx: StepContext) -> dict[str, Any]:
    """``{"rows", "count", "page", "paging_cookie", "more_records"}``."""
    client = client_of(ctx)
    info = await table_info(client, params.table)
    page, cookie = params.page, params.paging_cookie
    rows: list[dict[str, Any]] = []
    while True:
        fetch = with_paging(params.fetch_xml, page, params.count, cookie)
        body = await client.get_json(info.entity_set, {"fetchXml": fetch},
                                     {"Prefer": FETCH_PREFER})
        rows += [from_record(r) for r in body.get("value") or []]
        more = bool(body.get(MORE))
        cookie = inner_cookie(body.get(COOKIE)) if more else None
        if not (params.all_pages and more and len(rows) < params.limit):
            break
        page += 1
    rows = rows[:params.limit] if params.all_pages else rows
    return {"rows": rows, "count": len(rows), "page": page, "paging_cookie": cookie,
            "more_records": more}


def with_paging(fetch_xml: str, page: int, count: int, cookie: str | None) -> str:
    """The FetchXML with ``page``, ``count`` and ``paging-cookie`` (XML-escaped) set."""
    try:
        fetch = ElementTree.fromstring(fetch_xml)
    except ElementTree.ParseError as exc:
        raise FatalError(f"fetch_xml is not valid XML: {exc}") from None
    if fetch.tag != "fetch":
        raise FatalError("fetch_xml must have <fetch> as its root element")
    fetch.set("page", str(page))
    fetch.set("count", str(count))
    fetch.attrib.pop("paging-cookie", None)
    if cookie:
        fetch.set("paging-cookie", cookie)
    return ElementTree.tostring(fetch, encoding="unicode")


def inner_cookie(annotation: Any) -> str | None:
    """The ``pagingcookie`` of the annotation, URL-decoded twice (reference §2)."""
    if not isinstance(annotation, str):
        return None
    try:
        outer = ElementTree.fromstring(annotation)
    except ElementTree.ParseError:
        raise FatalError("Dataverse sent a paging cookie that is not XML") from None
    return unquote(unquote(outer.get("pagingcookie", ""))) or None


SPECS = (
    ActionSpec(key="dynamics365.search_records", params=SearchRecordsParams,
               run=search_records, connection_types=CONNECTION_TYPES,
               summary="Query a Dataverse table (filter, select, orderby, expand, pages)."),
    ActionSpec(key="dynamics365.fetchxml_query", params=FetchXmlQueryParams,
               run=fetchxml_query, connection_types=CONNECTION_TYPES,
               summary="Run a FetchXML query, paging with the paging cookie."),
)
