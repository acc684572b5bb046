"""The ``http`` connector: ``http.request`` (and, with the daemon, ``http.webhook``)."""

from __future__ import annotations

from connectors.http.client import HttpClient
from connectors.http.request import SPEC as REQUEST_SPEC
from connectors.http.request import HttpRequestParams, http_request

__all__ = ["REQUEST_SPEC", "HttpClient", "HttpRequestParams", "http_request"]
