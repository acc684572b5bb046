"""Keeping secrets out of logs, job history and the status page.

Two nets: values under secret-looking keys (``password``, ``authorization``, ``token`` …)
are masked wherever they appear, and any known secret value is masked wherever it appears
inside a string, **in the encodings a secret travels in**:

* as written, URL-encoded (``%2F``, ``+`` for a space) and JSON-escaped;
* base64 (standard and URL-safe) at any alignment, so ``Basic dXNlcjpzM2NyZXQ=`` is masked
  although the redactor only knows the password: every base64-looking run of a text is
  decoded and checked;
* a JWT's payload and signature parts on their own (a service may echo one part back).

Known values come from the connections file and from the webhook secrets of the recipes;
the daemon shares one redactor (``runner.logs.REDACTOR``) between its log lines, the job
history it writes and the status page.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, quote_plus

MASK = "***"
MIN_SECRET_CHARS = 6  # shorter values would mask ordinary words
MAX_DEPTH = 100
TOO_DEEP = "… (nested too deeply to show)"
_SECRET_KEY = re.compile(
    r"(pass(word)?|secret|token|authorization|api[-_]?key|cookie|credential|assertion|signature)",
    re.IGNORECASE,
)
# Base64 (either alphabet) long enough to hold "user:" plus a six-character secret.
_BASE64_RUN = re.compile(r"[A-Za-z0-9+/_-]{12,}={0,2}")
_JWT = re.compile(r"^[A-Za-z0-9_-]{8,}\.([A-Za-z0-9_-]{8,})\.([A-Za-z0-9_-]{8,})$")


def encodings(secret: str) -> set[str]:
    """``secret`` and the forms it takes on the wire and in stored text."""
    forms = {secret, quote(secret, safe=""), quote_plus(secret), json.dumps(secret)[1:-1]}
    raw = secret.encode()
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        text = encode(raw).decode()
        forms |= {text, text.rstrip("=")}
    jwt = _JWT.match(secret)
    if jwt:  # the header part is shared by every token of an issuer: not secret
        forms |= {part for part in jwt.groups() if len(part) >= MIN_SECRET_CHARS}
    return {form for form in forms if len(form) >= MIN_SECRET_CHARS}


class Redactor:
    def __init__(self, secret_values: Iterable[str] = ()) -> None:
        self._secrets: set[str] = set()
        self._values: list[str] = []
        self.add(secret_values)

    def add(self, secret_values: Iterable[str]) -> None:
        """Remember values to mask; very short ones are ignored (they would mask everything)."""
        fresh = {v for v in secret_values if v and len(v) >= MIN_SECRET_CHARS} - self._secrets
        if not fresh:
            return
        self._secrets |= fresh
        known = set(self._values).union(*(encodings(v) for v in fresh))
        self._values = sorted(known, key=len, reverse=True)

    def text(self, value: str) -> str:
        if not self._values:
            return value
        value = _BASE64_RUN.sub(self._masked_run, value)  # first: mask whole runs
        for secret in self._values:
            if secret in value:
                value = value.replace(secret, MASK)
        return value

    def _masked_run(self, match: re.Match[str]) -> str:
        """A base64 run that decodes to text holding a secret (``Basic …`` of
        ``user:password``, a secret wrapped in a token) is masked whole."""
        run = match.group()
        for start in range(4):  # the run may begin mid-group (glued to other text)
            decoded = _decoded(run[start:])
            if decoded and any(secret in decoded for secret in self._secrets):
                return MASK
        return run

    def value(self, value: Any, depth: int = 0) -> Any:
        """A copy of ``value`` with secrets masked (dicts, lists and strings, recursively);
        below ``MAX_DEPTH`` levels a value is replaced, not walked (hostile nesting)."""
        if isinstance(value, str):
            return self.text(value)
        if depth >= MAX_DEPTH and isinstance(value, dict | list | tuple):
            return TOO_DEEP
        if isinstance(value, dict):
            return {
                k: MASK if isinstance(k, str) and _SECRET_KEY.search(k) and v
                else self.value(v, depth + 1)
                for k, v in value.items()
            }
        if isinstance(value, list | tuple):
            return [self.value(v, depth + 1) for v in value]
        return value


def _decoded(run: str) -> str | None:
    bare = run.rstrip("=")
    altchars = b"-_" if ("-" in bare or "_" in bare) else None
    try:
        raw = base64.b64decode(bare + "=" * (-len(bare) % 4), altchars=altchars)
    except (binascii.Error, ValueError):
        return None
    return raw.decode("utf-8", errors="ignore")
