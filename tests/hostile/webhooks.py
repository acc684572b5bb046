"""Webhook recipes and signed requests for the hostile tests."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

HOOK_SECRET = "s3cret-token-value"


def hook_recipe(name: str, **trigger: object) -> str:
    """A webhook recipe logging its body's ``n``; ``trigger`` adds or overrides keys."""
    fields = {"type": "http.webhook", **trigger}
    lines = "".join(f"  {key}: {value}\n" for key, value in fields.items())
    return (f"name: {name}\ntrigger:\n{lines}actions:\n  - type: log\n"
            "    message: \"got {{ trigger.record.body }}\"\n")


def standard_headers(body: bytes, secret: str = HOOK_SECRET, msg_id: str = "msg_1",
                     at_s: float | None = None) -> dict[str, str]:
    """Standard Webhooks headers signing ``body``."""
    stamp = str(int(time.time() if at_s is None else at_s))
    mac = hmac.new(secret.encode(), f"{msg_id}.{stamp}.".encode() + body, hashlib.sha256)
    return {"webhook-id": msg_id, "webhook-timestamp": stamp, "Content-Type": "application/json",
            "webhook-signature": "v1," + base64.b64encode(mac.digest()).decode()}


def stripe_headers(body: bytes, secret: str = HOOK_SECRET,
                   at_s: float | None = None) -> dict[str, str]:
    stamp = str(int(time.time() if at_s is None else at_s))
    mac = hmac.new(secret.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return {"Stripe-Signature": f"t={stamp},v1={mac}", "Content-Type": "application/json"}


def slack_headers(body: bytes, secret: str = HOOK_SECRET,
                  at_s: float | None = None) -> dict[str, str]:
    stamp = str(int(time.time() if at_s is None else at_s))
    mac = hmac.new(secret.encode(), b"v0:" + stamp.encode() + b":" + body,
                   hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": f"v0={mac}",
            "Content-Type": "application/json"}


def body_signature(body: bytes, secret: str = HOOK_SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
