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
