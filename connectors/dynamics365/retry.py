"""Re-exports :mod:`connectors.odata.retry` (shared with the F&O connector) for existing
imports."""

from __future__ import annotations

from connectors.odata.retry import OnRetry, RetryPolicy, with_retries

__all__ = ["OnRetry", "RetryPolicy", "with_retries"]
