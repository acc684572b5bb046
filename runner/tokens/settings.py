"""Tunables of the token manager, as plain settings data."""

from __future__ import annotations

from dataclasses import dataclass

DAY_S = 86_400.0


@dataclass(frozen=True)
class TokenSettings:
    """``renew_ahead_s``: renew an access token this long before it expires.
    ``keep_alive_interval_s``: how often the daemon should call ``TokenManager.keep_alive``
    (redeeming refresh tokens so an idle connection never reaches the inactivity limit).
    ``timeout_s``: per HTTP request to the identity provider.
    ``short_lifetime_renew_fraction``: a token that lives less than ``renew_ahead_s`` is
    renewed when this fraction of its lifetime is left (not on every use)."""

    renew_ahead_s: float = 300.0
    short_lifetime_renew_fraction: float = 0.25
    keep_alive_interval_s: float = DAY_S
    timeout_s: float = 30.0
