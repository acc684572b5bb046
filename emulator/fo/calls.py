"""One F&O request and its answer, independent of aiohttp.

:func:`emulator.fo.routes.dispatch` maps a :class:`FoCall` to a :class:`FoResponse`
synchronously (SQLite calls are short), so a ``$batch`` runs its parts by building calls,
and a change set is atomic without any other request interleaving.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from multidict import CIMultiDict, MultiDict

from emulator.fo import errors

JSON_TYPE = ("application/json; odata.metadata=minimal; odata.streaming=true; "
             "IEEE754Compatible=false; charset=utf-8")
ODATA_HEADERS = {"OData-Version": "4.0"}


@dataclass(frozen=True)
class FoCall:
    method: str
    path: str  # after /data/, undecoded quotes kept: CustomersV3(dataAreaId='usmf',…)
    query: MultiDict[str]
    headers: CIMultiDict[str]
    body: bytes
    service_root: str  # https://localhost:PORT/data
    principal: dict[str, Any] = field(default_factory=dict)

    def json_body(self) -> Any:
        try:
            return json.loads(self.body or b"{}")
        except ValueError:
            raise errors.bad_request("The request body is not valid JSON.") from None

    def flag(self, name: str) -> bool:
        return self.query.get(name, "").lower() == "true"


@dataclass
class FoResponse:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


def json_response(body: str | dict[str, Any], status: int = 200,
                  headers: dict[str, str] | None = None) -> FoResponse:
    text = body if isinstance(body, str) else json.dumps(body, separators=(",", ":"))
    return FoResponse(status, {"Content-Type": JSON_TYPE, **ODATA_HEADERS, **(headers or {})},
                      text.encode())


def no_content(headers: dict[str, str] | None = None) -> FoResponse:
    return FoResponse(204, {**ODATA_HEADERS, **(headers or {})})


def error_response(error: errors.FoError) -> FoResponse:
    headers = {"Content-Type": "application/json; charset=utf-8", **ODATA_HEADERS,
               **error.headers}
    return FoResponse(error.status, headers, errors.error_body(error))
