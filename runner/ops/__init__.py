"""Running it in production: health, readiness, Prometheus metrics and the status page.

Map: ``routes.py`` mounts everything on the daemon's listener · ``health.py`` ``/healthz``
and ``/readyz`` · ``heartbeat.py`` the event loop's heartbeat · ``metrics.py`` the
Prometheus metrics (``METRICS``) the engine records into · ``store_timing.py`` state store
latency · ``queue.py`` read-only queue and reachability queries · ``views.py`` and
``status.py`` (+ ``templates/``) the status page · ``auth.py`` the status token and the
loopback rule · ``context.py`` what the routes share.

Kept free of engine imports so the engine can import ``runner.ops.metrics``.
"""

from __future__ import annotations

from runner.ops.auth import is_loopback, listen_problem
from runner.ops.metrics import METRICS, Metrics

__all__ = ["METRICS", "Metrics", "is_loopback", "listen_problem"]
