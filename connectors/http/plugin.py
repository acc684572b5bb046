"""The HTTP connector: the ``http`` connection type, ``http.request`` and ``webhook``."""

from __future__ import annotations

from connectors.base import Connector
from connectors.http.connection import HTTP_CONNECTION
from connectors.http.request import SPEC as REQUEST_SPEC
from connectors.http.webhook import SPEC as WEBHOOK_SPEC

CONNECTOR = Connector("http", "HTTP requests and inbound webhooks",
                      triggers=(WEBHOOK_SPEC,), actions=(REQUEST_SPEC,),
                      connection_types=(HTTP_CONNECTION,))
