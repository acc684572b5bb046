"""What every paged OData read checks: a ``value`` list in each page, no nextLink twice."""

from __future__ import annotations

import hashlib
from typing import Any

from connectors.errors import FatalError


def page_rows(service: str, body: Any, url: str | None = None) -> list[dict[str, Any]]:
    """The ``value`` list of a collection answer; ``FatalError`` (naming ``url``) without one."""
    if not isinstance(body, dict) or not isinstance(body.get("value"), list):
        where = f": {url}" if url is not None else ""
        raise FatalError(f"{service} answered a collection query without a value list{where}")
    return body["value"]


class LoopGuard:
    """The nextLinks of one paged read: a link that comes twice is a paging loop."""

    def __init__(self, service: str) -> None:
        self.service = service
        self._seen: set[bytes] = set()  # digests: a nextLink can be kilobytes long

    def check(self, next_link: str) -> None:
        """Remember ``next_link``; ``FatalError`` if it was seen before in this read."""
        digest = hashlib.blake2b(next_link.encode(), digest_size=16).digest()
        if digest in self._seen:
            raise FatalError(f"{self.service} paging loops: the nextLink {next_link[:200]} "
                             "came twice")
        self._seen.add(digest)
