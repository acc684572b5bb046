"""Who exists in the emulated tenant: app registrations, users and token settings."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

DEFAULT_TENANT = "00000000-0000-4000-8000-000000000001"


@dataclass
class AppRegistration:
    client_id: str
    client_secret: str | None = None  # None: a public client
    tenant_id: str = DEFAULT_TENANT
    redirect_uris: list[str] = field(default_factory=list)
    display_name: str = "emulated app"
    object_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    # The enterprise application (service principal): the ``oid`` of app-only tokens.
    service_principal_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    roles: list[str] = field(default_factory=list)  # app roles granted, the ``roles`` claim
    # False: no one consented to its delegated permissions, so user flows get AADSTS65001.
    consented: bool = True

    @property
    def is_confidential(self) -> bool:
        return self.client_secret is not None


@dataclass
class User:
    username: str
    password: str
    tenant_id: str = DEFAULT_TENANT
    object_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    display_name: str = ""
    mfa_required: bool = False


@dataclass
class TokenSettings:
    access_token_lifetime_s: int = 3600
    refresh_token_inactivity_s: int = 90 * 24 * 3600
    adfs_refresh_token_lifetime_s: int = 8 * 3600
    # Entra keeps a redeemed refresh token valid (the client should switch to the new one).
    # True: redeeming retires it at once, and a second redeem is AADSTS70000 (a stricter
    # server than Entra, for testing that a client always keeps the newest token).
    refresh_token_strict_rotation: bool = False
    device_code_interval_s: int = 5  # how long a device-flow client waits between polls


@dataclass
class Directory:
    apps: dict[str, AppRegistration] = field(default_factory=dict)
    users: dict[str, User] = field(default_factory=dict)  # keyed by lower-cased username
    settings: TokenSettings = field(default_factory=TokenSettings)

    def add_app(self, app: AppRegistration) -> AppRegistration:
        self.apps[app.client_id] = app
        return app

    def add_user(self, user: User) -> User:
        self.users[user.username.lower()] = user
        return user

    def user(self, username: str) -> User | None:
        return self.users.get(username.lower())

    def tenant_ids(self) -> set[str]:
        """Every tenant that exists: the default one and any an app or user lives in."""
        tenants = {DEFAULT_TENANT}
        tenants.update(app.tenant_id for app in self.apps.values())
        tenants.update(user.tenant_id for user in self.users.values())
        return tenants

    def tenant_of_domain(self, domain: str) -> str | None:
        """The tenant whose users sign in as ``…@domain``, as Entra resolves a domain authority."""
        suffix = "@" + domain.lower()
        for user in self.users.values():
            if user.username.lower().endswith(suffix):
                return user.tenant_id
        return None
