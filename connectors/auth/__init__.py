"""Authentication helpers shared by connectors: msal over our own HTTP transport."""

from __future__ import annotations

from connectors.auth.msal_http import (
    MsalHttpClient,
    build_msal_app,
    close_msal_app,
    is_adfs_authority,
    msal_app,
)

__all__ = ["MsalHttpClient", "build_msal_app", "close_msal_app", "is_adfs_authority", "msal_app"]
