"""What the operations routes read: the running engine, the loop heartbeat, the metrics."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from runner.engine.engine import Engine
from runner.ops.heartbeat import Heartbeat
from runner.ops.metrics import Metrics
from runner.redact import Redactor
from runner.tokens import TokenManager


@dataclass
class OpsContext:
    engine: Engine
    heartbeat: Heartbeat
    metrics: Metrics

    @property
    def redactor(self) -> Redactor:
        """The daemon's redactor (knows every secret of the connections file)."""
        return self.engine.services.redactor

    @property
    def tokens(self) -> TokenManager | None:
        return self.engine.pool.tokens


OPS: web.AppKey[OpsContext] = web.AppKey("ops", OpsContext)
