"""Re-exports :mod:`connectors.odata.escaping` (shared with the F&O connector) for existing
imports."""

from __future__ import annotations

from connectors.odata.escaping import *  # noqa: F403
from connectors.odata.escaping import __all__ as __all__
