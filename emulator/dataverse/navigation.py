"""Reading through a navigation property: ``accounts(<id>)/contact_customer_accounts``
(the related rows, 1:N or N:N, with the usual query options and paging) and
``contacts(<id>)/parentcustomerid_account`` (the one row a lookup points at; 204 when it
points nowhere)."""

from __future__ import annotations

from collections.abc import Mapping

from emulator.dataverse import access, errors, writes
from emulator.dataverse.environment import Environment
from emulator.dataverse.query import collection_link, collection_target, parse_options
from emulator.dataverse.reads import ReadRequest, query_collection, retrieve_one
from emulator.dataverse.render import related_rows_sql, sql_text
from emulator.dataverse.schema import Table

Answer = tuple[str | None, dict[str, str]]  # JSON body (None: 204) and headers


def is_navigation(table: Table, name: str) -> bool:
    return collection_link(table, name) is not None or table.navigation(name) is not None


def read(env: Environment, table: Table, key: str, name: str, query: Mapping[str, str],
         request: ReadRequest) -> Answer:
    """The answer to a GET of ``<table>(<key>)/<name>``."""
    record_id = writes.require(env, table, key)
    link = collection_link(table, name)
    if link is not None:
        target = env.catalog.by_logical_name(collection_target(table, link))
        assert target is not None
        access.authorize(env, target, ("Read",))
        options = parse_options(query, target, env.catalog)
        within = related_rows_sql(table, link, target, "t", sql_text(record_id))
        page = query_collection(env, target, options, request, within)
        applied = {"Preference-Applied": ",".join(page.applied)} if page.applied else {}
        return page.body, applied
    nav = table.navigation(name)
    if nav is None:
        raise errors.unknown_property(name, table.logical_name)
    row = env.storage.fetch(table, record_id)
    assert row is not None
    target = env.catalog.by_logical_name(nav.target)
    assert target is not None
    related = row[nav.attribute.column]
    if related is None or row[nav.attribute.type_column] != nav.target:
        return None, {}
    access.authorize(env, target, ("Read",))
    options = parse_options(query, target, env.catalog)
    body = retrieve_one(env, target, str(related), options, request)
    return body, {}
