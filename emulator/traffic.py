"""What the cross-cutting middlewares (request log, faults, latency, service protection) share.

* which requests they see: every one except the control plane under ``/_emulator/``;
* how a control rule names requests: a glob or a regex on the path, and an optional method;
* who the caller is: the ``oid`` claim of the bearer token, read without verifying it
  (the Microsoft-path handlers verify tokens; here we only need a key to count by);
* how a control route reads and validates its JSON body (400 with every problem at once).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

CONTROL_PREFIX = "/_emulator"

# Set by the fault middleware to the kind of fault it applied; read by the request log.
FAULT_APPLIED: web.RequestKey[str] = web.RequestKey("emulator_fault_applied", str)

ModelT = TypeVar("ModelT")


def is_control_path(path: str) -> bool:
    """True for the emulator's own control plane, which no middleware may fault or throttle."""
    return path == CONTROL_PREFIX or path.startswith(CONTROL_PREFIX + "/")


@dataclass(frozen=True)
class RequestMatcher:
    """Matches a request by path (glob or regex; neither means every path) and method."""

    glob: str | None = None
    regex: re.Pattern[str] | None = None
    method: str | None = None  # upper case; None matches every method

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and method.upper() != self.method:
            return False
        if self.glob is not None:
            # fnmatch's "*" also crosses "/", so "/api/data/*/contacts*" matches any version.
            return fnmatchcase(path, self.glob)
        if self.regex is not None:
            return self.regex.search(path) is not None
        return True


class MatcherSpec(BaseModel):
    """The envelope every control rule shares: which requests it applies to."""

    model_config = ConfigDict(extra="forbid")

    path: str | None = Field(
        None, description="glob matched against the request path ('*' crosses '/')",
        examples=["/api/data/*/contacts*"],
    )
    path_regex: str | None = Field(
        None, description="regular expression searched in the request path",
        examples=[r"^/api/data/v9\.2/contacts\("],
    )
    method: str | None = Field(None, description="HTTP method; omitted: any", examples=["GET"])

    @model_validator(mode="after")
    def _one_path_form(self) -> MatcherSpec:
        if self.path is not None and self.path_regex is not None:
            raise ValueError("give either 'path' (a glob) or 'path_regex', not both")
        if self.path_regex is not None:
            try:
                re.compile(self.path_regex)
            except re.error as exc:
                raise ValueError(f"path_regex does not compile: {exc}") from exc
        return self

    def matcher(self) -> RequestMatcher:
        regex = re.compile(self.path_regex) if self.path_regex is not None else None
        method = self.method.upper() if self.method else None
        return RequestMatcher(glob=self.path, regex=regex, method=method)


def caller_oid(request: web.Request) -> str | None:
    """The ``oid`` claim of the request's bearer token, unverified; None without a usable one."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or token.count(".") != 2:
        return None
    payload = token.split(".")[1]
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (ValueError, binascii.Error):
        return None
    oid = claims.get("oid") if isinstance(claims, dict) else None
    return oid if isinstance(oid, str) and oid else None


def json_error(status: int, message: str, problems: list[str] | None = None) -> web.HTTPException:
    """A control-plane error: ``{"error": message, "problems": [...]}`` with the given status."""
    body: dict[str, Any] = {"error": message}
    if problems:
        body["problems"] = problems
    exc_class = web.HTTPNotFound if status == 404 else web.HTTPBadRequest
    return exc_class(text=json.dumps(body), content_type="application/json")


async def read_body(request: web.Request, adapter: TypeAdapter[ModelT]) -> ModelT:
    """The request's JSON body validated by ``adapter``; 400 naming every problem otherwise."""
    try:
        raw = await request.json()
    except ValueError as exc:
        raise json_error(400, "the body is not JSON") from exc
    try:
        return adapter.validate_python(raw)
    except ValidationError as exc:
        raise json_error(400, "the body is not a valid rule", problems_of(exc)) from exc


def problems_of(exc: ValidationError) -> list[str]:
    """Pydantic errors as ``loc: message`` lines."""
    lines = []
    for error in exc.errors(include_url=False, include_input=False):
        location = ".".join(str(part) for part in error["loc"]) or "body"
        lines.append(f"{location}: {error['msg']}")
    return lines
