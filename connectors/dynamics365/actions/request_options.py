"""What a Dataverse step may ask besides its data, and how Dataverse's refusals of it are
reported.

* ``impersonate``: act as another user (Microsoft's "Impersonate another user using the Web
  API"). ``{object_id}`` is sent as ``CallerObjectId`` (the user's Microsoft Entra object
  id), ``{systemuser_id}`` as ``MSCRMCallerID`` (its ``systemuserid``). Dataverse then works
  with that user's privileges and records the connection's own user in
  ``createdonbehalfby`` / ``modifiedonbehalfby``. The connection's user needs the
  ``prvActOnBehalfOfAnotherUser`` privilege (the Delegate role); without it Dataverse answers
  ``403`` ``0x80040220``, reported as a ``FatalError`` that says so and how to fix it.
* ``if_match``: an ETag (``W/"12345"``, a record's ``@odata.etag``; a bare version number
  is taken as one), sent as ``If-Match`` so the write applies only to that version; another
  version answers ``412`` (see :mod:`~connectors.dynamics365.actions.conditional`).
* ``suppress_duplicate_detection: false``: ``MSCRM.SuppressDuplicateDetection: false``, so
  Dataverse's duplicate detection rules run on the create or update (the Web API skips them
  by default); a duplicate answers ``500`` ``0x80040333`` and nothing is written.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import Field, model_validator

from connectors.base import Params
from connectors.errors import FatalError
from connectors.odata import escaping as odata

PRIVILEGE_MISSING = "0x80040220"
DUPLICATE_DETECTED = "0x80040333"
ACT_ON_BEHALF = "prvActOnBehalfOfAnotherUser"
_ETAG = re.compile(r'^(W/)?"[^"\s]+"$')


class Impersonate(Params):
    """Whom a request acts as: exactly one of ``object_id`` and ``systemuser_id``."""

    object_id: str | None = Field(
        None, description="The user's Microsoft Entra object id (sent as CallerObjectId).",
        examples=["{{ trigger.record.owner_entra_id }}"])
    systemuser_id: str | None = Field(
        None, description="The user's systemuserid in Dataverse (sent as MSCRMCallerID).",
        examples=["{{ trigger.record._ownerid_value }}"])

    # Their GUID form is checked when the step runs (headers()): the values are usually
    # templates inside this map, which ``validate`` cannot render.

    @model_validator(mode="after")
    def _one(self) -> Impersonate:
        if (self.object_id is None) == (self.systemuser_id is None):
            raise ValueError("give exactly one of object_id and systemuser_id")
        return self

    def headers(self) -> dict[str, str]:
        """The impersonation header; FatalError when the id is not a GUID."""
        name, value = (("CallerObjectId", self.object_id) if self.object_id is not None
                       else ("MSCRMCallerID", self.systemuser_id))
        try:
            return {name: odata.guid(value)}
        except ValueError as exc:
            field = "object_id" if name == "CallerObjectId" else "systemuser_id"
            raise FatalError(f"impersonate.{field}: {exc}") from None

    def named(self) -> str:
        if self.object_id is not None:
            return f"the user with Entra object id {self.object_id.lower()}"
        return f"the user with systemuserid {str(self.systemuser_id).lower()}"


IMPERSONATE = Field(
    None, description="Act as this user: {object_id: <Entra object id>} or {systemuser_id: "
    "<systemuserid>}. The connection's user needs the prvActOnBehalfOfAnotherUser privilege "
    "(Delegate role).", examples=[{"systemuser_id": "{{ trigger.record._ownerid_value }}"}])
SUPPRESS_DUPLICATE_DETECTION = Field(
    True, description="false: run Dataverse's duplicate detection rules on this write; a "
    "duplicate fails the step (0x80040333) and writes nothing.", examples=[False])


def if_match_field(what: str) -> Any:
    return Field(None, description=(
        f"{what} only if the record is still at this version: its ETag, e.g. "
        "{{ steps.read.record['@odata.etag'] }} (or its versionnumber). Another version "
        "fails the step: the record changed since it was read."),
        examples=["{{ steps.read.record['@odata.etag'] }}"])


def etag(value: str | int | None) -> str | None:
    """``W/"123"`` from an ETag or a bare version number; ValueError for anything else."""
    if value is None:
        return None
    text = str(value).strip()
    if text.isdigit():
        return f'W/"{text}"'
    if not _ETAG.match(text):
        raise ValueError(f"{text[:60]!r} is not an ETag: give a record's @odata.etag, such as "
                         'W/"12345", or its versionnumber')
    return text


def caller_headers(impersonate: Impersonate | None) -> dict[str, str]:
    return impersonate.headers() if impersonate is not None else {}


def detection_headers(suppress: bool) -> dict[str, str]:
    return {} if suppress else {"MSCRM.SuppressDuplicateDetection": "false"}


def is_duplicate_detected(exc: FatalError) -> bool:
    """Dataverse's duplicate detection refused the write (it wrote nothing)."""
    return (exc.code or "").lower() == DUPLICATE_DETECTED


def refusal(exc: FatalError, what: str, impersonate: Impersonate | None) -> FatalError | None:
    """``exc`` said in words when it is about whom the step acts as or a duplicate found by
    Dataverse's rules; None for any other error."""
    code = (exc.code or "").lower()
    if code == DUPLICATE_DETECTED:
        return _again(exc, f"{what}: Dataverse's duplicate detection found a record like this "
                           f"one, so nothing was written ({exc.message})")
    if exc.status == 403 and code == PRIVILEGE_MISSING:
        return _privilege(exc, what, impersonate)
    if impersonate is not None and exc.status == 404 and _names(exc.message, impersonate):
        return _again(exc, f"{what}: cannot act as {impersonate.named()}: Dataverse has no "
                           f"such user ({exc.message})")
    return None


def caller_refused(exc: FatalError, impersonate: Impersonate | None) -> bool:
    """Dataverse refused whom the request acts as (not what it does): every request of the
    step would be refused the same way."""
    if impersonate is None:
        return False
    if exc.status == 403 and (exc.code or "").lower() == PRIVILEGE_MISSING:
        return ACT_ON_BEHALF.lower() in exc.message.lower()
    return exc.status == 404 and _names(exc.message, impersonate)


def _privilege(exc: FatalError, what: str, impersonate: Impersonate | None) -> FatalError:
    if ACT_ON_BEHALF.lower() in exc.message.lower():
        target = impersonate.named() if impersonate is not None else "another user"
        return _again(exc, (
            f"{what}: this connection's user may not act as {target}: it lacks the "
            f"{ACT_ON_BEHALF} privilege (give its user or application user a security role "
            f"with 'Act on Behalf of Another User', such as Delegate) ({exc.message})"))
    if impersonate is not None:
        return _again(exc, f"{what}: {impersonate.named()}, whom this step acts as, lacks a "
                           f"privilege for it ({exc.message})")
    return _again(exc, f"{what}: this connection's user lacks a privilege for it "
                       f"({exc.message})")


def _names(message: str, impersonate: Impersonate) -> bool:
    """The 404 is about the impersonated user, not the record the step addressed."""
    lowered = message.lower()
    user = str(impersonate.object_id or impersonate.systemuser_id).strip("{} ").lower()
    return user in lowered and ("systemuser" in lowered or "object id" in lowered)


def _again(exc: FatalError, message: str) -> FatalError:
    return FatalError(message, status=exc.status, code=exc.code)
