"""F&O OData error responses: ``{"error": {"code": "", "message", "innererror": {…}}}``.

Real F&O bodies (reference §9, [T]) leave ``code`` empty and put the detail in
``innererror`` with a .NET exception ``type`` and a ``stacktrace``; the emulator sends an
empty stack trace. Handlers raise :class:`FoError` (never an aiohttp HTTP exception) so the
same handlers answer ``$batch`` parts; :func:`error_body` renders it.

Statuses and messages not shown in the reference are [I]: query errors are 400 with the
ASP.NET OData "The query specified in the URI is not valid." prefix; write failures are
``AxODataWriteException`` answered 500, as the reference shows them inside a batch.
"""

from __future__ import annotations

import json

ODATA_EXCEPTION = "Microsoft.OData.ODataException"
WRITE_EXCEPTION = "Microsoft.Dynamics.Platform.Integration.Services.OData.AxODataWriteException"
NOT_FOUND_EXCEPTION = "Microsoft.OData.UriParser.ODataUnrecognizedPathException"
AUTH_EXCEPTION = "System.UnauthorizedAccessException"
GENERIC_MESSAGE = "An error has occurred."
QUERY_PREFIX = "The query specified in the URI is not valid. "


class FoError(Exception):
    """An error answer: ``status``, the top-level ``message`` and the ``innererror``."""

    def __init__(self, status: int, message: str, inner_message: str, inner_type: str,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(inner_message)
        self.status = status
        self.message = message
        self.inner_message = inner_message
        self.inner_type = inner_type
        self.headers = headers or {}


def error_body(error: FoError) -> bytes:
    inner = {"message": error.inner_message, "type": error.inner_type, "stacktrace": ""}
    body = {"error": {"code": "", "message": error.message, "innererror": inner}}
    return json.dumps(body).encode()


def bad_query(detail: str) -> FoError:
    """A ``$filter``/``$orderby``/… the OData layer refuses: 400."""
    return FoError(400, QUERY_PREFIX + detail, detail, ODATA_EXCEPTION)


def bad_request(detail: str) -> FoError:
    """A malformed request body or URL: 400."""
    return FoError(400, GENERIC_MESSAGE, detail, ODATA_EXCEPTION)


def not_found(segment: str) -> FoError:
    detail = f"Resource not found for the segment '{segment}'."
    return FoError(404, GENERIC_MESSAGE, detail, NOT_FOUND_EXCEPTION)


def unknown_property(name: str, edm_type: str) -> FoError:
    return bad_query(f"Could not find a property named '{name}' on type '{edm_type}'.")


def write_failed(entity_type: str, infolog: str) -> FoError:
    """The X++ write failed (validation, duplicate key): ``AxODataWriteException``, 500."""
    detail = f"Write failed for table row of type '{entity_type}'. Infolog: {infolog}"
    return FoError(500, GENERIC_MESSAGE, detail, WRITE_EXCEPTION)


def method_not_allowed(method: str) -> FoError:
    detail = f"The HTTP method '{method}' is not allowed for this resource."
    return FoError(405, GENERIC_MESSAGE, detail, ODATA_EXCEPTION)


def unauthorized(detail: str, challenge: str) -> FoError:
    return FoError(401, "Authorization has been denied for this request.", detail,
                   AUTH_EXCEPTION, {"WWW-Authenticate": challenge})


def unexpected() -> FoError:
    return FoError(500, GENERIC_MESSAGE, "An unexpected error occurred in the emulator.",
                   "System.Exception")
