"""Dataverse error responses: ``{"error": {"code": "0x…", "message": "…"}}``.

Handlers raise :class:`DataverseError` (never an aiohttp HTTP exception), so the same
handlers can answer the sub-requests of a ``$batch``; :func:`error_response` renders it.
Codes are the hex values the Web API returns (reference §6).
"""

from __future__ import annotations

import json

from aiohttp import web

ODATA_HEADERS = {"OData-Version": "4.0"}
JSON_TYPE = "application/json; odata.metadata=minimal"

OBJECT_DOES_NOT_EXIST = "0x80040217"
RESOURCE_NOT_FOUND = "0x80060888"  # also the URI parser's code for bad query options
DUPLICATE_RECORD = "0x80040237"
DUPLICATE_KEY = "0x80060892"
VALIDATION = "0x80044331"
PAYLOAD = "0x80048d19"
AUTH = "0x80072560"  # [I] any code will do: clients branch on the 401 status
NOT_IMPLEMENTED = "0x80060891"  # [I]
UNEXPECTED = "0x80040216"  # the SDK's "An unexpected error occurred"


class DataverseError(Exception):
    """An error answer: HTTP ``status`` with the Dataverse ``code`` and ``message``."""

    def __init__(self, status: int, code: str, message: str,
                 headers: dict[str, str] | None = None, inner_type: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}
        self.inner_type = inner_type  # adds {"innererror": {message, type}}, as some errors do


def not_found(entity: str, record_id: str) -> DataverseError:
    message = f"{entity} With Id = {record_id} Does Not Exist"
    return DataverseError(404, OBJECT_DOES_NOT_EXIST, message)


def unknown_segment(segment: str) -> DataverseError:
    message = f"Resource not found for the segment '{segment}'."
    return DataverseError(404, RESOURCE_NOT_FOUND, message)


def bad_query(message: str) -> DataverseError:
    return DataverseError(400, RESOURCE_NOT_FOUND, message)


def unknown_property(name: str, entity: str) -> DataverseError:
    return bad_query(f"Could not find a property named '{name}' on type "
                     f"'Microsoft.Dynamics.CRM.{entity}'.")


def bad_payload(entity_set: str, inner: str) -> DataverseError:
    return DataverseError(400, PAYLOAD, (
        f"Error identified in Payload provided by the user for Entity :'{entity_set}', For more "
        "information on this error please follow this help link "
        "https://go.microsoft.com/fwlink/?linkid=2195293  ---->  InnerException : "
        f"Microsoft.OData.ODataException: {inner}"))


def precondition_failed(message: str, code: str = "") -> DataverseError:
    return DataverseError(412, code, message)


def error_response(error: DataverseError) -> web.Response:
    detail: dict[str, object] = {"code": error.code, "message": error.message}
    if error.inner_type:
        detail["innererror"] = {"message": error.message, "type": error.inner_type}
    body = json.dumps({"error": detail})
    return web.Response(status=error.status, text=body, content_type="application/json",
                        headers={**ODATA_HEADERS, **error.headers})
