"""``http.webhook``: a trigger fed by inbound HTTP POSTs instead of polling.

The daemon listens (``--listen``, default 127.0.0.1:9464) on ``/hooks/<recipe name>``.
A POST is checked, stored as a job, and only then answered ``202 Accepted`` with the job id:
an acknowledged event is never lost. The checks (``auth``):

* ``token``: a shared token in a header (``header``), or in a query parameter (``query``;
  Dataverse's *WebhookKey* registration sends ``?code=<key>``, its *HttpHeader* one a header).
* ``hmac_sha256``: a signature of the body in one of the schemes of
  :mod:`connectors.http.signatures` (``signature``); the timestamped ones are refused outside
  ``replay_window``, and a replay inside it is the same delivery (deduplicated).
* ``none``: anyone who can reach the listener; a POST a browser could send cross-site (an
  ``Origin`` or cross-site ``Sec-Fetch-Site`` header, or a non-JSON body) is refused unless
  ``allow_browsers``. ``validate`` warns about it.

The secret is read from an environment variable (``secret_env``), never from the recipe; the
header or query parameter carrying it is masked in the job's stored record, and its value in
every log line and step. An ``Idempotency-Key`` header (or Dataverse's ``x-request-id``)
makes a resent delivery a duplicate, not a second job, unless the signature gives a key.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import Field, model_validator

from connectors.base import Params, PollPage, StepContext, TriggerSpec
from connectors.durations import Duration
from connectors.http.signatures import SignatureRejected, verify

BROWSER_SITES = frozenset({"cross-site", "same-site"})


class WebhookParams(Params):
    auth: Literal["none", "token", "hmac_sha256"] = Field(
        "token", description="How callers prove who they are: a shared token, an HMAC-SHA256 "
        "signature, or none (anyone who reaches the listener).")
    secret_env: str | None = Field(
        None, description="Environment variable holding the shared token or HMAC key.",
        examples=["CRM_WEBHOOK_SECRET"],
    )
    header: str = Field(
        "X-Webhook-Token",
        description="Header carrying the token; with signature: body, the header carrying the "
        "hex or base64 HMAC-SHA256 of the body (optionally prefixed 'sha256=').",
        examples=["X-Hub-Signature-256"],
    )
    query: str | None = Field(
        None, description="With auth: token, the query parameter carrying the token instead "
        "of a header (Dataverse's WebhookKey sends ?code=...).", examples=["code"])
    signature: Literal["body", "standard", "stripe", "slack"] = Field(
        "body", description="With auth: hmac_sha256, the signing scheme: body (HMAC of the "
        "body, no timestamp), standard (Standard Webhooks: webhook-id, webhook-timestamp, "
        "webhook-signature), stripe (Stripe-Signature t=,v1=) or slack (X-Slack-Signature).",
        examples=["standard"])
    replay_window: Duration = Field(
        300.0, gt=0, description="Signed timestamps older (or newer) than this are refused.",
        examples=["5m"])
    allow_browsers: bool = Field(
        False, description="With auth: none, also accept POSTs a web page could send "
        "cross-site (form or text bodies, an Origin header).", examples=[False])

    @model_validator(mode="after")
    def _secret_needed(self) -> WebhookParams:
        if self.auth != "none" and not self.secret_env:
            raise ValueError("secret_env is required unless auth is none")
        if self.query is not None and self.auth != "token":
            raise ValueError("query only applies to auth: token")
        return self


class WebhookRejected(Exception):
    """The request does not prove it comes from the configured sender (``status`` 401), or
    looks like a browser's cross-site POST (403)."""

    def __init__(self, message: str, status: int = 401) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Accepted:
    """A request that passed: the key a replay of it has (None: the sender's own key, if
    any), and which of its headers and query parameters carry the secret."""

    replay_key: str | None = None
    secret: str | None = None
    secret_headers: frozenset[str] = field(default_factory=frozenset)  # lower case
    secret_query: frozenset[str] = field(default_factory=frozenset)


def webhook_secret(params: WebhookParams) -> str | None:
    """The configured secret (from its environment variable), or None."""
    return os.environ.get(params.secret_env or "") or None


def check_request(params: WebhookParams, headers: Mapping[str, str],
                  query: Mapping[str, str], body: bytes, now_s: float) -> Accepted:
    """Raise :class:`WebhookRejected` unless the request passes the configured check."""
    if params.auth == "none":
        _not_from_a_browser(params, headers)
        return Accepted()
    secret = webhook_secret(params)
    if not secret:
        raise WebhookRejected(f"the secret variable {params.secret_env} is not set")
    if params.auth == "token":
        return _check_token(params, secret, headers, query)
    try:
        signed = verify(params.signature, secret, params.header, headers, body, now_s,
                        params.replay_window)
    except SignatureRejected as exc:
        raise WebhookRejected(str(exc)) from None
    return Accepted(signed.replay_key, secret, frozenset({params.header.lower()}))


def _check_token(params: WebhookParams, secret: str, headers: Mapping[str, str],
                 query: Mapping[str, str]) -> Accepted:
    given = query.get(params.query, "") if params.query else headers.get(params.header, "")
    if not hmac.compare_digest(given.encode(errors="replace"), secret.encode()):
        where = f"?{params.query}=" if params.query else params.header
        raise WebhookRejected(f"missing or wrong {where}")
    if params.query:
        return Accepted(None, secret, secret_query=frozenset({params.query}))
    return Accepted(None, secret, frozenset({params.header.lower()}))


def _not_from_a_browser(params: WebhookParams, headers: Mapping[str, str]) -> None:
    """A web page can make a visitor's browser POST a form or text anywhere, no preflight;
    refuse what only such a page would send, unless the recipe allows browsers."""
    if params.allow_browsers:
        return
    site = headers.get("Sec-Fetch-Site", "").lower()
    content_type = headers.get("Content-Type", "").split(";")[0].strip().lower()
    if site in BROWSER_SITES or headers.get("Origin") or content_type != "application/json":
        raise WebhookRejected("this webhook takes JSON from servers, not cross-site posts "
                              "from a browser (allow_browsers: true accepts them)", 403)


async def no_polling(
    params: WebhookParams, cursor: Mapping[str, Any] | None, ctx: StepContext
) -> AsyncIterator[PollPage]:
    """Webhook recipes are never polled; events arrive through the daemon's listener."""
    return
    yield  # pragma: no cover - makes this an async generator


SPEC = TriggerSpec(
    key="http.webhook", params=WebhookParams, poll=no_polling,
    summary="Start a job for every HTTP POST to /hooks/<recipe> on the daemon's listener.",
)
