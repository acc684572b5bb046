"""Sending a Dataverse ``$batch`` (reference §3): :func:`send_batch` posts items (single
requests, or lists of requests forming one atomic change set) and returns one
:class:`PartResult` per request, in request order, by the rules of the shared wire format
(:mod:`connectors.odata.batch_wire`).

The POST goes through the connection's throttle, token and retries like every other call
(the client's ``request`` only sends JSON bodies, hence this small sender).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from yarl import URL

from connectors.dynamics365.client import ODATA_HEADERS, DataverseClient
from connectors.dynamics365.errors import error_from_exception, error_from_response
from connectors.errors import FatalError, RetryableError
from connectors.odata.batch_wire import (
    MAX_PARTS,
    BatchItem,
    BatchPart,
    PartResult,
    decode,
    encode,
    expand_results,
)
from connectors.odata.retry import NotingResends, with_retries

__all__ = ["BatchItem", "BatchPart", "BatchReply", "PartResult", "send_batch"]


@dataclass(frozen=True)
class BatchReply:
    """One result per request, and whether the ``$batch`` was sent again after an attempt
    whose outcome is unknown (its parts may have been applied by that earlier copy)."""

    results: list[PartResult]
    resent: bool


async def send_batch(client: DataverseClient, items: Sequence[BatchItem],
                     continue_on_error: bool,
                     extra_headers: Mapping[str, str] | None = None) -> BatchReply:
    """One result per request of ``items`` (see the module docstring); ``extra_headers``
    (e.g. impersonation) go on the ``$batch`` request and on each of its requests."""
    count = sum(1 if isinstance(i, BatchPart) else len(i) for i in items)
    if count > MAX_PARTS:
        raise FatalError(f"a $batch holds at most {MAX_PARTS} requests, not {count}")
    content_type, body = encode(client, items, extra_headers)
    headers = {**ODATA_HEADERS, **(extra_headers or {}), "Content-Type": content_type}
    if continue_on_error:
        headers["Prefer"] = "odata.continue-on-error"
    post = NotingResends(lambda: _post(client, body, headers))
    answer_type, raw = await with_retries(post, client.retry)
    return BatchReply(expand_results(items, decode(answer_type, raw)), post.resent)


async def _post(client: DataverseClient, body: bytes,
                headers: dict[str, str]) -> tuple[str, bytes]:
    status, answer_headers, raw = await _send(client, body, headers, force_refresh=False)
    if status == 401:
        status, answer_headers, raw = await _send(client, body, headers, force_refresh=True)
    answer_type = answer_headers.get("Content-Type", "")
    if status >= 400 and not answer_type.startswith("multipart/"):
        error = error_from_response(status, answer_headers, raw.decode("utf-8", "replace"))
        if isinstance(error, RetryableError) and status == 429 and error.retry_after_s:
            client.throttle.pause(error.retry_after_s)
        raise error
    return answer_type, raw


async def _send(client: DataverseClient, body: bytes, headers: dict[str, str], *,
                force_refresh: bool) -> tuple[int, dict[str, str], bytes]:
    token = await client.tokens.access_token(force_refresh=force_refresh)
    async with client.throttle.slot():
        try:
            async with client.session.post(URL(client.url("$batch"), encoded=True), data=body,
                                           headers={**headers,
                                                    "Authorization": f"Bearer {token}"}) as resp:
                return resp.status, dict(resp.headers), await resp.read()
        except Exception as exc:
            mapped = error_from_exception(exc)
            if mapped is None:
                raise
            raise mapped from exc
