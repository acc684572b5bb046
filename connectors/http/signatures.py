"""Checking a signed webhook: HMAC-SHA256 in the schemes senders use.

* ``body``: the hex (or base64) HMAC of the raw body in one header, ``sha256=`` prefix
  allowed (GitHub's ``X-Hub-Signature-256``, Shopify's ``X-Shopify-Hmac-Sha256``). Nothing
  dates it, so the listener deduplicates replays by the body's digest instead.
* ``standard``: Standard Webhooks (Svix and others): ``webhook-id``, ``webhook-timestamp``
  and ``webhook-signature: v1,<base64>`` over ``<id>.<timestamp>.<body>``; a ``whsec_``
  secret is base64.
* ``stripe``: ``Stripe-Signature: t=<unix>,v1=<hex>`` over ``<t>.<body>``.
* ``slack``: ``X-Slack-Request-Timestamp`` and ``X-Slack-Signature: v0=<hex>`` over
  ``v0:<timestamp>:<body>``.

A signed timestamp must lie within the replay window of now. Every comparison is on bytes
in constant time, so a header in any encoding is a refusal, never an exception.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Callable, Mapping
from dataclasses import dataclass

SCHEMES = ("body", "standard", "stripe", "slack")


class SignatureRejected(Exception):
    """The request's signature (or its timestamp) does not check out; the message is safe
    to send back (it names headers, never values)."""


@dataclass(frozen=True)
class Signed:
    """What a valid signature vouches for: ``replay_key`` is the same for a replay of the
    same delivery (so it makes no second job) and derived only from signed content."""

    replay_key: str


def verify(scheme: str, secret: str, header: str, headers: Mapping[str, str], body: bytes,
           now_s: float, tolerance_s: float) -> Signed:
    """Check the request's signature in ``scheme``; raise :class:`SignatureRejected`."""
    check = _CHECKS[scheme]
    return check(secret, header, headers, body, now_s, tolerance_s)


def _body_digest(body: bytes) -> str:
    return "sha256:" + hashlib.sha256(body).hexdigest()


def _mac(key: bytes, message: bytes) -> bytes:
    return hmac.new(key, message, hashlib.sha256).digest()


def _same(expected: bytes, given: bytes) -> bool:
    return hmac.compare_digest(expected, given)


def _decode_any(text: str) -> bytes | None:
    """Hex or base64 (either alphabet) signature bytes; None if neither."""
    text = text.strip()
    try:
        return bytes.fromhex(text)
    except ValueError:
        pass
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_"
                                if ("-" in text or "_" in text) else None, validate=True)
    except (binascii.Error, ValueError):
        return None


def _check_body(secret: str, header: str, headers: Mapping[str, str], body: bytes,
                now_s: float, tolerance_s: float) -> Signed:
    given = _decode_any(_value(headers, header).removeprefix("sha256="))
    if given is None or not _same(_mac(secret.encode(), body), given):
        raise SignatureRejected(f"missing or wrong {header}")
    return Signed(_body_digest(body))


def _check_standard(secret: str, header: str, headers: Mapping[str, str], body: bytes,
                    now_s: float, tolerance_s: float) -> Signed:
    msg_id, stamp = _value(headers, "webhook-id"), _value(headers, "webhook-timestamp")
    if not msg_id or not stamp:
        raise SignatureRejected("missing webhook-id or webhook-timestamp")
    _fresh(stamp, now_s, tolerance_s, "webhook-timestamp")
    expected = _mac(_standard_key(secret), f"{msg_id}.{stamp}.".encode() + body)
    for candidate in _value(headers, "webhook-signature").split():
        version, _, encoded = candidate.partition(",")
        given = _decode_any(encoded) if version == "v1" else None
        if given is not None and _same(expected, given):
            return Signed(f"webhook-id:{msg_id}")
    raise SignatureRejected("missing or wrong webhook-signature")


def _standard_key(secret: str) -> bytes:
    if secret.startswith("whsec_"):
        decoded = _decode_any(secret.removeprefix("whsec_"))
        if decoded:
            return decoded
    return secret.encode()


def _check_stripe(secret: str, header: str, headers: Mapping[str, str], body: bytes,
                  now_s: float, tolerance_s: float) -> Signed:
    name = header if header.lower() != "x-webhook-token" else "Stripe-Signature"
    fields = [part.partition("=") for part in _value(headers, name).split(",")]
    stamps = [value for key, _, value in fields if key.strip() == "t"]
    if not stamps:
        raise SignatureRejected(f"missing or wrong {name}")
    _fresh(stamps[0], now_s, tolerance_s, f"{name} t=")
    expected = _mac(secret.encode(), stamps[0].encode() + b"." + body)
    for key, _, value in fields:
        given = _decode_any(value) if key.strip() == "v1" else None
        if given is not None and _same(expected, given):
            return Signed(_body_digest(body))
    raise SignatureRejected(f"missing or wrong {name}")


def _check_slack(secret: str, header: str, headers: Mapping[str, str], body: bytes,
                 now_s: float, tolerance_s: float) -> Signed:
    stamp = _value(headers, "X-Slack-Request-Timestamp")
    if not stamp:
        raise SignatureRejected("missing X-Slack-Request-Timestamp")
    _fresh(stamp, now_s, tolerance_s, "X-Slack-Request-Timestamp")
    expected = _mac(secret.encode(), b"v0:" + stamp.encode() + b":" + body)
    given = _decode_any(_value(headers, "X-Slack-Signature").removeprefix("v0="))
    if given is None or not _same(expected, given):
        raise SignatureRejected("missing or wrong X-Slack-Signature")
    return Signed(_body_digest(body))


def _value(headers: Mapping[str, str], name: str) -> str:
    return headers.get(name, "") or ""


def _fresh(stamp: str, now_s: float, tolerance_s: float, what: str) -> None:
    try:
        signed_at_s = float(stamp.strip())
    except ValueError:
        raise SignatureRejected(f"{what} is not a Unix time") from None
    if abs(now_s - signed_at_s) > tolerance_s:
        raise SignatureRejected(f"{what} is outside the {tolerance_s:g}s replay window "
                                "(a replayed or delayed delivery, or a clock off)")


_CHECKS: dict[str, Callable[[str, str, Mapping[str, str], bytes, float, float], Signed]] = {
    "body": _check_body,
    "standard": _check_standard,
    "stripe": _check_stripe,
    "slack": _check_slack,
}
