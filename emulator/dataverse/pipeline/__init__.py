"""Webhook steps: Dataverse's event pipeline, delivering execution contexts to registered
service endpoints (reference: "Use WebHooks to create external handlers for server events",
"Register a WebHook").

Modules: registrations (the step, image and endpoint rows) · context (the
RemoteExecutionContext JSON) · delivery (one HTTP post with its authentication and TLS) ·
rules (what a test does to deliveries, and the delivery log) · dispatcher (events →
deliveries, synchronous and asynchronous, system jobs, retries) · control (the
``/_emulator/webhooks/…`` routes).
"""

from __future__ import annotations

from emulator.dataverse.pipeline.delivery import Settings
from emulator.dataverse.pipeline.dispatcher import Pipeline

__all__ = ["Pipeline", "Settings"]
