"""What a test or seed file may say about apps, users and token settings (validated input).

The same models read the control routes' JSON and the seed file's ``apps:``, ``users:`` and
``token_settings:`` sections, so both reject the same mistakes with the same messages.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PositiveInt, SecretStr, ValidationError

from emulator.directory import DEFAULT_TENANT, AppRegistration, TokenSettings, User


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AppSpec(_Spec):
    client_id: str = Field(default_factory=lambda: str(uuid.uuid4()), min_length=1)
    client_secret: SecretStr | None = Field(None, description="omit for a public client")
    tenant_id: str = DEFAULT_TENANT
    redirect_uris: list[str] = Field(default_factory=list)
    display_name: str = "emulated app"
    roles: list[str] = Field(default_factory=list, description="app roles: the roles claim")
    consented: bool = Field(True, description="false: user sign-ins get AADSTS65001 until "
                                              "an admin consents")

    def registration(self) -> AppRegistration:
        secret = self.client_secret.get_secret_value() if self.client_secret else None
        return AppRegistration(
            client_id=self.client_id, client_secret=secret, tenant_id=self.tenant_id.lower(),
            redirect_uris=list(self.redirect_uris), display_name=self.display_name,
            roles=list(self.roles), consented=self.consented,
        )


class UserSpec(_Spec):
    username: str = Field(pattern=r"^[^@\s]+@[^@\s]+$", examples=["ada@emulator.test"])
    password: SecretStr
    tenant_id: str = DEFAULT_TENANT
    display_name: str = ""
    mfa_required: bool = False
    object_id: str = Field(default_factory=lambda: str(uuid.uuid4()))

    def user(self) -> User:
        return User(username=self.username, password=self.password.get_secret_value(),
                    tenant_id=self.tenant_id.lower(), object_id=self.object_id,
                    display_name=self.display_name, mfa_required=self.mfa_required)


class TokenSettingsPatch(_Spec):
    access_token_lifetime_s: PositiveInt | None = None
    refresh_token_inactivity_s: PositiveInt | None = None
    adfs_refresh_token_lifetime_s: PositiveInt | None = None
    refresh_token_strict_rotation: bool | None = None
    device_code_interval_s: PositiveInt | None = None

    def apply(self, settings: TokenSettings) -> None:
        for name, value in self.model_dump(exclude_none=True).items():
            setattr(settings, name, value)


def problems(exc: ValidationError) -> str:
    """Every validation problem on one line: ``username: String should match pattern …``."""
    return "; ".join(
        f"{'.'.join(str(part) for part in err['loc']) or 'body'}: {err['msg']}"
        for err in exc.errors()
    )


def describe_app(app: AppRegistration) -> dict[str, Any]:
    """An app registration as JSON, without its secret."""
    return {
        "client_id": app.client_id, "tenant_id": app.tenant_id,
        "confidential": app.is_confidential, "redirect_uris": app.redirect_uris,
        "display_name": app.display_name, "object_id": app.object_id,
        "service_principal_id": app.service_principal_id, "roles": app.roles,
        "consented": app.consented,
    }


def describe_user(user: User) -> dict[str, Any]:
    """A user as JSON, without the password."""
    return {
        "username": user.username, "tenant_id": user.tenant_id, "object_id": user.object_id,
        "display_name": user.display_name, "mfa_required": user.mfa_required,
    }


def describe_settings(settings: TokenSettings) -> dict[str, Any]:
    return asdict(settings)
