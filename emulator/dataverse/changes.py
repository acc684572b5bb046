"""Change tracking (reference §4): ``Prefer: odata.track-changes``, delta links, deletions.

A tracked read returns what changed in the version window ``(since, until]``:

* ``since`` is 0 on the first read (every current row, no deletions) or the version in
  ``$deltatoken=<version>!<MM/dd/yyyy HH:mm:ss>`` on a delta read;
* ``until`` is the environment's last version when the read's first page was served. It
  rides in the paging cookie (``istracking="True"``), so all pages of one read see one
  window. A write made while pages are read lands after ``until``: the next delta reports
  it, so nothing is lost, and nothing is repeated within one read.

Rows come first, by ``versionnumber`` (each row once, in its current state), then the
``$deletedEntity`` entries of the deletion log; a page holds up to 5,000 entries
(``odata.maxpagesize`` applies). The last page carries ``@odata.deltaLink`` with
``$deltatoken=<until>!<now>``. Tokens expire after 7 days of emulator time
(``Organization.ExpireChangeTrackingInDays``' default).
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, unquote

from aiohttp import web

from emulator.dataverse import errors, paging, prefer, routes
from emulator.dataverse.environment import Environment, environment
from emulator.dataverse.query import QueryOptions, parse_options
from emulator.dataverse.reads import ALIAS, row_json_sql
from emulator.dataverse.render import context_url
from emulator.dataverse.schema import Table

NOT_ENABLED = "0x80072491"  # ChangeTrackingNotEnabledForEntity [D ERRCODES]
TOKEN_LIFETIME = timedelta(days=7)
TOKEN_TIME_FORMAT = "%m/%d/%Y %H:%M:%S"
UNSUPPORTED_OPTIONS = ("$filter", "$orderby", "$expand", "$top")
_TOKEN = re.compile(r"^(\d+)!(\d{2}/\d{2}/\d{4} \d{2}:\d{2}:\d{2})$")
_HEX = re.compile(r"%[0-9A-F]{2}")
_ROWS, _DELETED = "versionnumber", "deletedversionnumber"  # cookie tags: the two phases


@dataclass(frozen=True)
class Window:
    since: int
    until: int
    deletions: bool  # a first read reports no deletions


@dataclass(frozen=True)
class Position:
    """Where the previous page ended: its number, phase and last version served."""

    page: int
    phase: str
    last: int


@dataclass
class Page:
    rows: list[str]  # row JSON texts, oldest change first
    deleted: list[str]  # ids of deleted rows, after the rows
    next: Position | None


def register(env: Environment) -> None:
    env.tracked_read = tracked_read


def is_tracked(request: web.Request) -> bool:
    prefs = prefer.parse_prefer(request.headers.getall("Prefer", []))
    skiptoken = request.query.get("$skiptoken", "")
    return prefs.track_changes or "$deltatoken" in request.query or (
        'istracking="True"' in skiptoken)


async def tracked_read(request: web.Request, table: Table) -> web.StreamResponse | None:
    """Answer a change-tracking GET of a collection; None when the GET is not one."""
    if not is_tracked(request):
        return None
    env = environment(request)
    if not table.change_tracking:
        raise errors.DataverseError(400, NOT_ENABLED, (
            f"Entity {table.logical_name} isn't enabled for change tracking."))
    _refuse_unsupported(request)
    options = parse_options(request.query, table, env.catalog)
    prefs = prefer.parse_prefer(request.headers.getall("Prefer", []))
    token = request.query.get("$deltatoken")
    since = parse_token(env, token) if token is not None else 0
    cookie = request.query.get("$skiptoken")
    window, position = _window(env, since, token is not None, cookie)
    page = read_page(env, table, options, prefs, window, position)
    return routes.json_response(_body(request, table, options, window, page),
                                headers=_applied(prefs))


def _refuse_unsupported(request: web.Request) -> None:
    for option in UNSUPPORTED_OPTIONS:
        if option in request.query:
            raise errors.bad_query(f'The "{option}" query parameter isn\'t supported when '
                                   "Change Tracking is enabled.")


def _window(env: Environment, since: int, delta: bool,
            cookie: str | None) -> tuple[Window, Position | None]:
    if cookie is None:
        return Window(since, env.storage.versions.last, delta), None
    until, position = decode_cookie(cookie)
    return Window(since, until, delta), position


def _applied(prefs: prefer.Preferences) -> dict[str, str]:
    applied = ["odata.track-changes"] if prefs.track_changes else []
    if prefs.max_page_size:
        applied.append(f"odata.maxpagesize={prefs.max_page_size}")
    return {"Preference-Applied": ",".join(applied)} if applied else {}


def read_page(env: Environment, table: Table, options: QueryOptions,
              prefs: prefer.Preferences, window: Window, position: Position | None) -> Page:
    """One page of changes after ``position`` (None: the first page)."""
    size = prefs.max_page_size or prefer.MAX_PAGE_SIZE
    number = position.page + 1 if position else 1
    rows: list[str] = []
    deleted_after = window.since
    if position is None or position.phase == _ROWS:
        after = position.last if position else window.since
        found = _changed_rows(env, table, options, prefs, window, after, size + 1)
        if len(found) > size:
            last = found[size - 1][1]
            return Page([r for r, _ in found[:size]], [], Position(number, _ROWS, last))
        rows = [r for r, _ in found]
    else:
        deleted_after = position.last
    if not window.deletions:
        return Page(rows, [], None)
    deleted = [(i, v) for i, v in env.storage.deleted_since(table, deleted_after)
               if v <= window.until]
    room = size - len(rows)
    page = Page(rows, [record_id for record_id, _ in deleted[:room]], None)
    if len(deleted) > room:
        page.next = Position(number, _DELETED, deleted[room - 1][1] if room else deleted_after)
    return page


def _changed_rows(env: Environment, table: Table, options: QueryOptions,
                  prefs: prefer.Preferences, window: Window, after: int,
                  limit: int) -> list[tuple[str, int]]:
    where, params = env.storage.changed_since_sql(after, ALIAS)
    sql = (f"SELECT {row_json_sql(env, table, options, prefs)}, {ALIAS}.versionnumber "
           f"FROM {table.sql_table} AS {ALIAS} WHERE {where} AND {ALIAS}.versionnumber <= ? "
           f"ORDER BY {ALIAS}.versionnumber LIMIT {int(limit)}")
    cursor = env.storage.db.cursor()
    cursor.row_factory = None
    return [(str(r[0]), int(r[1])) for r in cursor.execute(sql, [*params, window.until])]


def _body(request: web.Request, table: Table, options: QueryOptions, window: Window,
          page: Page) -> str:
    root = service_root(request)
    suffix = options.context_suffix() + ("/$delta" if window.deletions else "")
    head = {"@odata.context": context_url(root, table, suffix)}
    deleted_context = f"{root}/$metadata#{table.entity_set}/$deletedEntity"
    entries = page.rows + [_compact({"@odata.context": deleted_context, "id": record_id,
                                     "reason": "deleted"}) for record_id in page.deleted]
    url = str(request.url.with_query(None))
    query = list(request.query.items())
    if page.next is not None:
        cookie = encode_cookie(window.until, page.next)
        link = {"@odata.nextLink": paging.next_link(url, query, cookie)}
    else:
        now = environment(request).storage.clock.now()
        link = {"@odata.deltaLink": delta_link(url, query, new_token(window.until, now))}
    return (_compact(head)[:-1] + ',"value":[' + ",".join(entries) + "],"
            + _compact(link)[1:])


def _compact(value: dict[str, Any]) -> str:
    return json.dumps(value, separators=(",", ":"))


def service_root(request: web.Request) -> str:
    return f"{request.url.origin()}/api/data/{request.match_info.get('version', 'v9.2')}"


def new_token(version: int, now: datetime) -> str:
    """``<version>!<MM/dd/yyyy HH:mm:ss>`` (UTC), as Dataverse writes it."""
    return f"{version}!{now.astimezone(UTC).strftime(TOKEN_TIME_FORMAT)}"


def parse_token(env: Environment, token: str) -> int:
    """The version a ``$deltatoken`` names; a 400 when malformed, unknown or expired."""
    match = _TOKEN.match(token)
    try:
        issued = datetime.strptime(match.group(2), TOKEN_TIME_FORMAT) if match else None
    except ValueError:
        issued = None
    if match is None or issued is None or int(match.group(1)) > env.storage.versions.last:
        raise errors.bad_query(f"The $deltatoken '{token}' is not a valid change tracking "
                               "token.")
    if env.storage.clock.now() - issued.replace(tzinfo=UTC) > TOKEN_LIFETIME:
        raise errors.bad_query(f"The $deltatoken '{token}' has expired: changes are kept "
                               f"for {TOKEN_LIFETIME.days} days. Read the table again "
                               "with Prefer: odata.track-changes.")
    return int(match.group(1))


def delta_link(url: str, query: list[tuple[str, str]], token: str) -> str:
    """The request URL with its options, minus paging, plus ``$deltatoken`` (encoded
    ``919042%2108%2f22%2f2017%2008%3a10%3a44``, lower-case hex, like the docs)."""
    kept = [(k, v) for k, v in query if k not in ("$skiptoken", "$deltatoken")]
    options = [f"{quote(k, safe='$')}={quote(v, safe=_SAFE)}" for k, v in kept]
    encoded = _HEX.sub(lambda m: m.group(0).lower(), quote(token, safe=""))
    return f"{url}?{'&'.join([*options, f'$deltatoken={encoded}'])}"


_SAFE = "$',()=/:@"


def encode_cookie(until: int, position: Position) -> str:
    """The ``$skiptoken`` (decoded form) continuing after ``position`` in window ``until``."""
    inner = (f'<cookie page="{position.page}" version="{until}"><{position.phase} '
             f'last="{position.last}" /></cookie>')
    inner_encoded = _HEX.sub(lambda m: m.group(0).lower(), quote(inner, safe=""))
    return (f'<cookie pagenumber="{position.page + 1}" pagingcookie="{inner_encoded}" '
            'istracking="True" />')


def decode_cookie(token: str) -> tuple[int, Position]:
    try:
        outer = ElementTree.fromstring(token)
        inner = ElementTree.fromstring(unquote(outer.attrib["pagingcookie"]))
        (boundary,) = list(inner)
        if boundary.tag not in (_ROWS, _DELETED):
            raise ValueError(boundary.tag)
        position = Position(int(inner.attrib["page"]), boundary.tag,
                            int(boundary.attrib["last"]))
        return int(inner.attrib["version"]), position
    except (ElementTree.ParseError, KeyError, ValueError) as exc:
        raise errors.bad_query("The $skiptoken is not a valid paging cookie.") from exc
