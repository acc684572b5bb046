"""Which webhook steps are registered: read from the ``sdkmessageprocessingstep``,
``sdkmessageprocessingstepimage``, ``serviceendpoint``, ``sdkmessage`` and
``sdkmessagefilter`` rows, cached until one of those tables changes.

A step fires when it is enabled (``statecode`` 0), its event handler is a webhook service
endpoint (``contract`` 8), and its message (and filter's ``primaryobjecttypecode``, when it
has a filter) match; an Update step with ``filteringattributes`` fires only when the
update's Target names one of them.
"""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from typing import TYPE_CHECKING

from emulator.dataverse import errors

if TYPE_CHECKING:
    from emulator.dataverse.environment import Environment

WEBHOOK_CONTRACT = 8
WEBHOOK_KEY, HTTP_HEADER, HTTP_QUERY_STRING = 4, 5, 6
ASYNC, SYNC = 1, 0
POST_OPERATION = 40
WATCHED_TABLES = frozenset({"sdkmessageprocessingstep", "sdkmessageprocessingstepimage",
                            "serviceendpoint", "sdkmessagefilter", "sdkmessage"})


@dataclass(frozen=True)
class Endpoint:
    id: str
    name: str
    url: str
    authtype: int | None
    authvalue: str | None

    def auth_pairs(self) -> list[tuple[str, str]]:
        """The key/value pairs of HttpHeader and HttpQueryString (``<settings><setting
        name=… value=…/></settings>``); ``code`` for WebhookKey."""
        if self.authtype == WEBHOOK_KEY:
            return [("code", self.authvalue or "")]
        if self.authtype not in (HTTP_HEADER, HTTP_QUERY_STRING) or not self.authvalue:
            return []
        try:
            root = ElementTree.fromstring(self.authvalue)
        except ElementTree.ParseError:
            return []
        return [(s.get("name", ""), s.get("value", "")) for s in root.iter("setting")]


@dataclass(frozen=True)
class Image:
    alias: str
    imagetype: int  # 0 pre, 1 post, 2 both
    attributes: frozenset[str] | None  # None: every column

    def wants(self, pre: bool) -> bool:
        return self.imagetype == 2 or self.imagetype == (0 if pre else 1)


@dataclass(frozen=True)
class Step:
    id: str
    name: str
    message: str
    entity: str | None  # None: every table
    stage: int
    mode: int
    rank: int
    filtering: frozenset[str] | None
    asyncautodelete: bool
    endpoint: Endpoint
    images: tuple[Image, ...]

    def fires_for(self, message: str, entity: str, target_names: set[str]) -> bool:
        if self.message != message or (self.entity not in (None, entity)):
            return False
        return message != "Update" or not self.filtering or bool(self.filtering & target_names)


def _names(text: str | None) -> frozenset[str] | None:
    names = frozenset(n.strip().lower() for n in (text or "").split(",") if n.strip())
    return names or None


class Registry:
    def __init__(self, env: Environment) -> None:
        self.env = env
        self._steps: list[Step] | None = None
        self._keys: set[tuple[str, str | None]] = set()

    def invalidate(self) -> None:
        self._steps = None

    def steps(self) -> list[Step]:
        if self._steps is None:
            self._steps = sorted(self._load(), key=lambda s: (s.stage, s.rank, s.name))
            self._keys = {(s.message, s.entity) for s in self._steps}
        return self._steps

    def watches(self, message: str, entity: str) -> bool:
        self.steps()
        return (message, entity) in self._keys or (message, None) in self._keys

    def has_sync(self) -> bool:
        return any(s.mode == SYNC for s in self.steps())

    def _load(self) -> list[Step]:
        db = self.env.storage.db
        rows = db.execute(
            "SELECT s.sdkmessageprocessingstepid AS id, s.name, s.stage, s.mode, s.rank, "
            "s.filteringattributes, s.asyncautodelete, m.name AS message, "
            "f.primaryobjecttypecode AS entity, e.serviceendpointid AS endpoint_id, "
            "e.name AS endpoint_name, e.url, e.authtype, e.authvalue "
            "FROM dv_sdkmessageprocessingstep AS s "
            "JOIN dv_sdkmessage AS m ON m.sdkmessageid = s._sdkmessageid_value "
            "LEFT JOIN dv_sdkmessagefilter AS f ON f.sdkmessagefilterid = "
            "s._sdkmessagefilterid_value "
            "JOIN dv_serviceendpoint AS e ON e.serviceendpointid = s._eventhandler_value "
            "AND s._eventhandler_type = 'serviceendpoint' "
            "WHERE s.statecode = 0 AND e.contract = ?", (WEBHOOK_CONTRACT,)).fetchall()
        return [self._step(r) for r in rows]

    def _step(self, row: object) -> Step:
        r = dict(row)  # type: ignore[call-overload]
        entity = r["entity"] if r["entity"] not in (None, "none") else None
        endpoint = Endpoint(r["endpoint_id"], r["endpoint_name"], r["url"] or "",
                            r["authtype"], r["authvalue"])
        return Step(r["id"], r["name"] or "", r["message"], entity, r["stage"] or 40,
                    ASYNC if r["mode"] is None else r["mode"], r["rank"] or 1,
                    _names(r["filteringattributes"]), bool(r["asyncautodelete"]), endpoint,
                    self._images(r["id"]))

    def _images(self, step_id: str) -> tuple[Image, ...]:
        rows = self.env.storage.db.execute(
            "SELECT entityalias, imagetype, attributes FROM dv_sdkmessageprocessingstepimage "
            "WHERE _sdkmessageprocessingstepid_value = ?", (step_id,))
        return tuple(Image(r[0] or "Image", r[1] if r[1] is not None else 1, _names(r[2]))
                     for r in rows)


def check_step(values: dict[str, object]) -> None:
    """Dataverse's registration rule: an asynchronous step runs after the operation."""
    mode, stage = values.get("mode"), values.get("stage")
    if mode == ASYNC and stage is not None and stage != POST_OPERATION:
        raise errors.DataverseError(400, "0x80044183", (
            "Asynchronous steps can be registered only in the post-operation stage (40)."))
