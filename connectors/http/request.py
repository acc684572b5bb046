"""``http.request``: call any HTTP endpoint; the response becomes the step's output."""

from __future__ import annotations

import contextlib
import json
from typing import Any, Literal

import aiohttp
from pydantic import Field, model_validator

from connectors.base import ActionSpec, FatalError, Params, RetryableError, StepContext
from connectors.http.client import AnswerTooLarge, OriginError, read_text_capped
from connectors.http.retry_after import parse_retry_after

RETRYABLE_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
MAX_TEXT_CHARS = 64_000


class HttpRequestParams(Params):
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"] = Field(
        "GET", description="HTTP method.", examples=["POST"]
    )
    url: str = Field(
        description="Absolute URL, or a path relative to the connection's base_url.",
        examples=["https://hooks.example.com/crm", "/orders"],
    )
    headers: dict[str, str] = Field(default_factory=dict, description="Extra request headers.")
    query: dict[str, str | int | float | bool] = Field(
        default_factory=dict, description="Query-string parameters."
    )
    json_body: Any = Field(None, alias="json", description="A JSON body.")
    form: dict[str, str] | None = Field(None, description="A form-encoded body.")
    body: str | None = Field(None, description="A raw text body.")
    allow_status: list[int] = Field(
        default_factory=list,
        description="Non-2xx statuses that are not an error (e.g. [404]).",
        examples=[[404, 409]],
    )
    timeout_s: float = Field(30.0, gt=0, description="Whole-request timeout in seconds.")
    idempotency_header: str | None = Field(
        "Idempotency-Key",
        description="Header that carries a key derived from the step identity on every "
                    "method but GET and HEAD: the same on each retry and re-run of this step "
                    "of this job, so the receiver can drop repeats. null turns it off; a value "
                    "given in headers wins.",
        examples=["Idempotency-Key", "X-Request-Id", None])

    @model_validator(mode="after")
    def _one_body(self) -> HttpRequestParams:
        given = [n for n in ("json_body", "form", "body") if getattr(self, n) is not None]
        if len(given) > 1:
            raise ValueError("give at most one of json, form and body")
        return self


def _idempotency(params: HttpRequestParams, ctx: StepContext) -> dict[str, str]:
    name = params.idempotency_header
    if not name or params.method in ("GET", "HEAD") or \
            any(given.lower() == name.lower() for given in params.headers):
        return {}
    return {params.idempotency_header: ctx.derived_id()}


def _request_kwargs(params: HttpRequestParams, base_headers: dict[str, str],
                    ctx: StepContext) -> dict[str, Any]:
    kwargs: dict[str, Any] = {
        "headers": {**base_headers, **_idempotency(params, ctx), **params.headers},
        "params": {k: str(v).lower() if isinstance(v, bool) else str(v)
                   for k, v in params.query.items()},
        "timeout": aiohttp.ClientTimeout(total=params.timeout_s),
    }
    if params.json_body is not None:
        kwargs["json"] = params.json_body
    elif params.form is not None:
        kwargs["data"] = params.form
    elif params.body is not None:
        kwargs["data"] = params.body
    return kwargs


async def _read_output(resp: aiohttp.ClientResponse) -> dict[str, Any]:
    text = await read_text_capped(resp)
    output: dict[str, Any] = {
        "status": resp.status,
        "headers": {k: v for k, v in resp.headers.items() if k.lower() != "set-cookie"},
        "json": None,
        "text": text[:MAX_TEXT_CHARS],
    }
    if "json" in resp.headers.get("Content-Type", ""):
        with contextlib.suppress(ValueError, RecursionError):
            output["json"] = json.loads(text)
    return output


def _raise_for(output: dict[str, Any], params: HttpRequestParams, url: str) -> None:
    status = output["status"]
    if status < 400 or status in params.allow_status:
        return
    message = f"{params.method} {url} answered {status}: {output['text'][:300]}"
    if status in RETRYABLE_STATUSES:
        retry_after_s = parse_retry_after(output["headers"].get("Retry-After"))
        raise RetryableError(message, retry_after_s=retry_after_s, status=status)
    raise FatalError(message, status=status)


async def http_request(params: HttpRequestParams, ctx: StepContext) -> dict[str, Any]:
    """Send the request; 2xx (or an allowed status) returns status, headers, json and text."""
    client = ctx.connection
    if client is None:
        raise FatalError("http.request needs an HTTP session (no connection was given)")
    url = client.resolve(params.url)
    kwargs = _request_kwargs(params, {}, ctx)  # the connection's auth headers go via send()
    try:
        async with await client.send(params.method, url, auth_headers=client.headers,
                                     **kwargs) as resp:
            output = client.scrub(await _read_output(resp))
    except (OriginError, AnswerTooLarge) as exc:
        raise FatalError(f"{params.method} {url}: {exc}") from None
    except aiohttp.ClientConnectorCertificateError as exc:
        raise FatalError(f"{params.method} {url}: the server's certificate is not trusted "
                         "(give the connection a ca_bundle)") from exc
    except (TimeoutError, aiohttp.ClientConnectionError, aiohttp.ClientPayloadError,
            aiohttp.ClientHttpProxyError) as exc:
        raise RetryableError(f"{params.method} {url} failed: {exc.__class__.__name__}") from exc
    _raise_for(output, params, url)
    return output


SPEC = ActionSpec(
    key="http.request",
    params=HttpRequestParams,
    run=http_request,
    summary="Send an HTTP request; the status, headers and JSON body become the step's output.",
    connection_types=("http",),
    idempotency="keyed",
    idempotency_note="each request carries an Idempotency-Key derived from the step identity; "
                     "a repeat is harmless when the receiver drops requests with a key it "
                     "has seen",
)
