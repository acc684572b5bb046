"""Keeping secrets out of logs, job history and the status page.

Two nets: values under secret-looking keys (``password``, ``authorization``, ``token`` …)
are masked wherever they appear, and any known secret value (from the connections file) is
masked wherever it appears inside a string.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

MASK = "***"
_SECRET_KEY = re.compile(
    r"(pass(word)?|secret|token|authorization|api[-_]?key|cookie|credential|assertion|signature)",
    re.IGNORECASE,
)


class Redactor:
    def __init__(self, secret_values: Iterable[str] = ()) -> None:
        self._values: list[str] = []
        self.add(secret_values)

    def add(self, secret_values: Iterable[str]) -> None:
        """Remember values to mask; very short ones are ignored (they would mask everything)."""
        known = set(self._values) | {v for v in secret_values if v and len(v) >= 6}
        self._values = sorted(known, key=len, reverse=True)

    def text(self, value: str) -> str:
        for secret in self._values:
            if secret in value:
                value = value.replace(secret, MASK)
        return value

    def value(self, value: Any) -> Any:
        """A copy of ``value`` with secrets masked (dicts, lists and strings, recursively)."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {
                k: MASK if isinstance(k, str) and _SECRET_KEY.search(k) and v else self.value(v)
                for k, v in value.items()
            }
        if isinstance(value, list | tuple):
            return [self.value(v) for v in value]
        return value
