"""``http.webhook``: a trigger fed by inbound HTTP POSTs instead of polling.

The daemon listens (``--listen``, default 127.0.0.1:9464) on ``/hooks/<recipe name>``.
A POST is checked (a shared token, or an HMAC-SHA256 signature of the body, the secret
read from an environment variable so it never sits in a recipe file), stored as a job,
and only then answered ``202 Accepted`` with the job id: an acknowledged event is never
lost. An ``Idempotency-Key`` header makes a resent delivery a duplicate, not a second job.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import AsyncIterator, Mapping
from typing import Any, Literal

from pydantic import Field, model_validator

from connectors.base import Params, PollPage, StepContext, TriggerSpec


class WebhookParams(Params):
    auth: Literal["none", "token", "hmac_sha256"] = Field(
        "token", description="How callers prove who they are."
    )
    secret_env: str | None = Field(
        None, description="Environment variable holding the shared token or HMAC key.",
        examples=["CRM_WEBHOOK_SECRET"],
    )
    header: str = Field(
        "X-Webhook-Token",
        description="Header carrying the token, or the hex HMAC-SHA256 of the body "
        "(optionally prefixed 'sha256=').",
        examples=["X-Hub-Signature-256"],
    )

    @model_validator(mode="after")
    def _secret_needed(self) -> WebhookParams:
        if self.auth != "none" and not self.secret_env:
            raise ValueError("secret_env is required unless auth is none")
        return self


class WebhookRejected(Exception):
    """The request does not prove it comes from the configured sender."""


def check_request(params: WebhookParams, headers: Mapping[str, str], body: bytes) -> None:
    """Raise :class:`WebhookRejected` unless the request passes the configured check."""
    if params.auth == "none":
        return
    secret = os.environ.get(params.secret_env or "", "")
    if not secret:
        raise WebhookRejected(f"the secret variable {params.secret_env} is not set")
    given = headers.get(params.header, "")
    if params.auth == "token":
        ok = hmac.compare_digest(given.encode(), secret.encode())
    else:
        digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        ok = hmac.compare_digest(given.removeprefix("sha256=").lower(), digest)
    if not ok:
        raise WebhookRejected(f"missing or wrong {params.header}")


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
