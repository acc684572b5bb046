"""Typed models of `connections.yaml`: Dynamics 365 (Dataverse), Finance & Operations, plain HTTP.

Read top-down: OAuth profile -> the shared Dynamics fields and derived URLs -> the three connection
types -> the file. Secrets are `SecretStr`: they never show in `repr()` or `str()`. Cross-field
rules (which fields an auth flow needs) live in `rules.py`; the models enforce them when built
directly, the loader reports them with positions instead.
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal, Self
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from connectors.auth.credentials import (
    CertificateCredential,
    certificate_credential,
    federated_assertion,
)
from connectors.auth.managed_identity import ManagedIdentitySource
from connectors.base import ConnectionSettings
from connectors.odata.throttle import ThrottleSettings
from connectors.proxy import Proxy, ProxyPolicy
from runner.connections.fields import (
    ConnectionName,
    DataAreaId,
    HostPort,
    HttpsUrl,
    HttpUrl,
    LoopbackRedirect,
    NonEmptyStr,
    existing_file,
)
from runner.connections.rules import (
    RuleViolation,
    dynamics_rule_violations,
    http_rule_violations,
)

DEFAULT_AUTHORITY_HOST = "login.microsoftonline.com"
RULES_REPORTED = "rules_reported"  # validation context flag: the caller reports rules itself
_STRICT = ConfigDict(extra="forbid", frozen=True)
_HOST_NAME = re.compile(
    r"^(\*\.)?[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$")


def _host_name(value: str) -> str:
    value = value.strip().lower()
    if not _HOST_NAME.match(value):
        raise ValueError("must be a host name such as api.example.com or *.example.com "
                         "(no scheme, port or path)")
    return value


HostName = Annotated[str, AfterValidator(_host_name)]


def _secret(value: SecretStr | None) -> str | None:
    return value.get_secret_value() if value is not None else None


def _raise_rule_errors(violations: list[RuleViolation]) -> None:
    errors = [f"{v.field}: {v.message}" for v in violations if v.severity == "error"]
    if errors:
        raise ValueError("; ".join(errors))


def _rules_reported(info: ValidationInfo) -> bool:
    return bool((info.context or {}).get(RULES_REPORTED))


class OAuthProfile(BaseModel):
    """A named app registration that several connections share; each field is optional."""

    model_config = _STRICT

    client_id: NonEmptyStr | None = Field(None, description="Application (client) id.")
    client_secret: SecretStr | None = Field(
        None, description="Client secret.", examples=["${env:CORP_CLIENT_SECRET}"]
    )
    authority_host: HostPort | None = Field(
        None, description="Token authority host, e.g. a sovereign cloud.",
        examples=["login.microsoftonline.us"],
    )
    scopes: list[NonEmptyStr] | None = Field(
        None, description="Scopes to request instead of the derived ones.",
        examples=[["https://abc.crm.dynamics.com/user_impersonation"]],
    )


class ProxySetting(BaseModel):
    """A connection's own HTTP proxy; wins over HTTPS_PROXY / HTTP_PROXY / NO_PROXY."""

    model_config = _STRICT

    url: HttpUrl = Field(description="Proxy URL (http://host:port) for this connection's "
                                     "token and API requests, http and https alike.",
                         examples=["http://proxy.contoso.com:3128"])
    username: NonEmptyStr | None = Field(None, description="User for a proxy that requires "
                                                           "Basic authentication.",
                                         examples=["${env:PROXY_USER}"])
    password: SecretStr | None = Field(None, description="Its password.",
                                       examples=["${file:/run/secrets/proxy_password}"])
    no_proxy: list[NonEmptyStr] = Field(
        default_factory=list, description="Hosts reached directly: host names, domain "
                                          "suffixes (.contoso.com), IPs or CIDR blocks, each "
                                          "optionally with :port; * for all.",
        examples=[[".internal.contoso.com", "10.0.0.0/8"]])

    @field_validator("url")
    @classmethod
    def _usable(cls, value: str) -> str:
        Proxy.parse(value)  # ProxyConfigError (a ValueError) names what is wrong
        return value

    def policy(self) -> ProxyPolicy:
        password = self.password.get_secret_value() if self.password else None
        return ProxyPolicy.explicit(self.url, self.username, password, self.no_proxy)


def proxy_policy(setting: ProxySetting | None) -> ProxyPolicy:
    """The connection's own proxy, else the environment's (read now)."""
    return setting.policy() if setting is not None else ProxyPolicy.from_environ()


class DynamicsConnectionBase(BaseModel):
    """Fields shared by Dataverse and Finance & Operations connections, and the derived URLs."""

    model_config = _STRICT

    auth: Literal["authorization_code", "client_credentials", "password",
                  "managed_identity"] = Field(
        "client_credentials", description="OAuth flow used to get tokens (managed_identity: "
                                          "the Azure identity of the machine running the "
                                          "daemon; client_id then names a user-assigned one)."
    )
    environment: HostPort = Field(
        description="Full domain of the environment, optionally with :port (no https://).",
        examples=["abc.crm.dynamics.com", "localhost:8443"],
    )
    account_type: Literal["cloud", "on_premise"] = Field(
        "cloud", description="cloud (Entra ID) or on_premise (AD FS)."
    )
    ad_domain: HostPort | None = Field(
        None, description="AD FS host; required when on_premise.", examples=["adfs.contoso.com"]
    )
    tenant_id: NonEmptyStr | None = Field(
        None, description="Entra ID tenant id or domain; required for cloud.",
        examples=["${env:D365_TENANT_ID}"],
    )
    client_id: NonEmptyStr | None = Field(
        None, description="Application (client) id.", examples=["${env:D365_CLIENT_ID}"]
    )
    client_secret: SecretStr | None = Field(
        None, description="Client secret; required for client_credentials.",
        examples=["${file:/run/secrets/d365_client_secret}"],
    )
    client_certificate: SecretStr | None = Field(
        None, description="PEM with the app's certificate and, unless client_certificate_key "
                          "is set, its private key: signed client assertions instead of a "
                          "secret.", examples=["${file:/etc/recipe-runner/app-cert.pem}"])
    client_certificate_key: SecretStr | None = Field(
        None, description="PEM private key of client_certificate, when kept in its own file.",
        examples=["${file:/etc/recipe-runner/app-key.pem}"])
    client_certificate_thumbprint: NonEmptyStr | None = Field(
        None, description="SHA-1 thumbprint (hex) as the portal shows it; checked against "
                          "the certificate, needed only when the PEM has no certificate.",
        examples=["3A1F9C2B7D4E5F60718293A4B5C6D7E8F9012345"])
    client_certificate_passphrase: SecretStr | None = Field(
        None, description="Passphrase of an encrypted private key.")
    federated_token_file: Path | None = Field(
        None, description="Workload identity federation: a file holding a token from a "
                          "trusted issuer (e.g. Kubernetes' projected service-account token), "
                          "read again on every renewal.",
        examples=["/var/run/secrets/azure/tokens/azure-identity-token"])
    managed_identity_endpoint: HttpUrl | None = Field(
        None, description="Managed identity token endpoint; default IDENTITY_ENDPOINT (App "
                          "Service) or IMDS http://169.254.169.254/metadata/identity/oauth2/"
                          "token.")
    managed_identity_header: SecretStr | None = Field(
        None, description="App Service's X-IDENTITY-HEADER secret; default IDENTITY_HEADER. "
                          "Set means the App Service protocol, unset IMDS.",
        examples=["${env:IDENTITY_HEADER}"])
    client_secret_expires: date | None = Field(
        None, description="When the client secret expires; warned about 14 days ahead.",
        examples=["2027-05-01"],
    )
    username: NonEmptyStr | None = Field(
        None, description="User for the password flow.", examples=["someone@contoso.com"]
    )
    password: SecretStr | None = Field(
        None, description="Password for the password flow.", examples=["${env:D365_PASSWORD}"]
    )
    resource_uri: HttpsUrl | None = Field(
        None, description="Narrower resource to authorize; its scheme and host are used.",
        examples=["https://abc.crm.dynamics.com/api/data/v9.0/"],
    )
    oauth_profile: NonEmptyStr | None = Field(
        None, description="Name of an entry in oauth_profiles.", examples=["corp"]
    )
    authority_host: HostPort | None = Field(
        None, description="Token authority host (sovereign cloud, or the emulator).",
        examples=["login.microsoftonline.com", "localhost:8443"],
    )
    ca_bundle: Path | None = Field(
        None, description="Private CA file to trust (AD FS, the emulator); must exist.",
        examples=["/etc/ssl/corp-ca.pem"],
    )
    redirect_uri: LoopbackRedirect | None = Field(
        None, description="Loopback redirect for authorization_code.",
        examples=["http://localhost:8765/callback"],
    )
    requests_per_s: float = Field(
        16.0, gt=0, le=10_000,
        description="Client-side cap on requests per second to this environment, shared by "
                    "every recipe using the connection. Dataverse allows one user 6,000 "
                    "requests per 5 minutes (20/s); raise it only for an identity with higher "
                    "limits, or for the emulator.", examples=[16, 200])
    max_concurrent: int = Field(
        16, ge=1, le=256, description="Requests in flight at once on this connection "
                                      "(Dataverse allows one user 52).", examples=[16])
    proxy: ProxySetting | None = Field(
        None, description="HTTP proxy for this connection's token and API requests; "
                          "without it HTTPS_PROXY / HTTP_PROXY / NO_PROXY apply.")
    _profile_scopes: tuple[str, ...] | None = PrivateAttr(None)

    @field_validator("ca_bundle", "federated_token_file")
    @classmethod
    def _file_exists(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        return None if value is None else existing_file(value, info)

    @model_validator(mode="after")
    def _check_rules(self, info: ValidationInfo) -> Self:
        if not _rules_reported(info):
            _raise_rule_errors(dynamics_rule_violations(self.model_dump(), profiles=None))
        return self

    @model_validator(mode="after")
    def _usable_certificate(self) -> Self:
        self.certificate_credential()  # CredentialError (a ValueError) says what is wrong
        return self

    def certificate_credential(self) -> CertificateCredential | None:
        """The certificate credential, when client_certificate is set."""
        if self.client_certificate is None:
            return None
        return certificate_credential(
            self.client_certificate.get_secret_value(),
            _secret(self.client_certificate_key), self.client_certificate_thumbprint,
            _secret(self.client_certificate_passphrase))

    @property
    def client_credential(self) -> str | dict[str, Any] | None:
        """msal's ``client_credential``: certificate, federated token file, or secret."""
        certificate = self.certificate_credential()
        if certificate is not None:
            return certificate.for_msal()
        if self.federated_token_file is not None:
            return {"client_assertion": federated_assertion(self.federated_token_file)}
        return _secret(self.client_secret)

    @property
    def managed_identity_source(self) -> ManagedIdentitySource:
        endpoint = str(self.managed_identity_endpoint) if self.managed_identity_endpoint \
            else None
        return ManagedIdentitySource.resolve(endpoint, _secret(self.managed_identity_header),
                                             self.client_id)

    @property
    def proxy_policy(self) -> ProxyPolicy:
        """Which proxy each of this connection's requests goes through."""
        return proxy_policy(self.proxy)

    @property
    def throttle(self) -> ThrottleSettings:
        """The client-side limits of this connection."""
        return ThrottleSettings(max_concurrent=self.max_concurrent,
                                requests_per_s=self.requests_per_s)

    @property
    def environment_url(self) -> str:
        """`https://<environment>`, no trailing slash."""
        return f"https://{self.environment}"

    @property
    def resource(self) -> str:
        """What tokens are for: resource_uri's scheme and host if set, else the environment URL."""
        if self.resource_uri:
            parts = urlsplit(self.resource_uri)
            return f"{parts.scheme}://{parts.netloc}"
        return self.environment_url

    @property
    def authority_url(self) -> str:
        """Entra ID `https://<authority_host>/<tenant_id>`, or AD FS `https://<ad_domain>/adfs`."""
        if self.account_type == "on_premise":
            return f"https://{self.ad_domain}/adfs"
        return f"https://{self.authority_host or DEFAULT_AUTHORITY_HOST}/{self.tenant_id}"

    @property
    def scopes(self) -> list[str]:
        """The profile's scopes if it sets any, else `<resource>/.default` for client_credentials
        and `<resource>/user_impersonation` for the user flows."""
        if self._profile_scopes is not None:
            return list(self._profile_scopes)
        suffix = ".default" if self.auth == "client_credentials" else "user_impersonation"
        return [f"{self.resource}/{suffix}"]

    def with_profile(self, profile: OAuthProfile) -> Self:
        """A copy taking from `profile` what this connection does not set itself."""
        update = {
            name: getattr(profile, name)
            for name in ("client_id", "client_secret", "authority_host")
            if getattr(self, name) is None and getattr(profile, name) is not None
        }
        copy = self.model_copy(update=update)
        if profile.scopes is not None:
            copy._profile_scopes = tuple(profile.scopes)
        return copy


class Dynamics365Connection(DynamicsConnectionBase):
    """Dataverse Web API (Dynamics 365 Sales, Customer Service, …)."""

    type: Literal["dynamics365"] = Field(description="Connection type.")
    api_version: Literal[8, 9] = Field(9, description="Web API version: 8 -> v8.2, 9 -> v9.2.")

    @property
    def api_base_url(self) -> str:
        """`https://<environment>/api/data/v9.2/` (or v8.2)."""
        return f"{self.environment_url}/api/data/v{self.api_version}.2/"


class DynamicsFoConnection(DynamicsConnectionBase):
    """Dynamics 365 Finance & Operations OData."""

    type: Literal["dynamics_fo"] = Field(description="Connection type.")
    data_area: DataAreaId | None = Field(
        None, description="Default company (dataAreaId).", examples=["usmf"]
    )
    cross_company: bool = Field(False, description="Query across all companies by default.")

    @property
    def api_base_url(self) -> str:
        """`https://<environment>/data/`."""
        return f"{self.environment_url}/data/"


class HttpConnection(BaseModel):
    """A plain HTTP(S) service, e.g. webhooks."""

    model_config = _STRICT

    type: Literal["http"] = Field(description="Connection type.")
    base_url: HttpUrl = Field(description="Base URL of the service.",
                              examples=["https://hooks.example.com"])
    auth: Literal["none", "basic", "bearer", "header"] = Field(
        "none", description="none, basic (username/password), bearer (token) or header."
    )
    username: NonEmptyStr | None = Field(None, description="User for basic auth.")
    password: SecretStr | None = Field(None, description="Password for basic auth.")
    token: SecretStr | None = Field(None, description="Bearer token.")
    header_name: NonEmptyStr | None = Field(None, description="Header name for header auth.",
                                            examples=["X-Api-Key"])
    header_value: SecretStr | None = Field(None, description="Header value for header auth.")
    ca_bundle: Path | None = Field(None, description="Private CA file to trust; must exist.")
    allowed_hosts: list[HostName] = Field(
        default_factory=list,
        description="More hosts the credentials may be sent to (same scheme, any port; "
        "'*.example.com' for its subdomains). Otherwise only base_url's scheme, host and port "
        "get them, and a step whose URL leaves that origin fails.",
        examples=[["api2.example.com", "*.hooks.example.com"]])
    proxy: ProxySetting | None = Field(
        None, description="HTTP proxy for this connection; without it HTTPS_PROXY / "
                          "HTTP_PROXY / NO_PROXY apply.")

    @field_validator("ca_bundle")
    @classmethod
    def _ca_bundle_exists(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        return None if value is None else existing_file(value, info)

    @model_validator(mode="after")
    def _check_rules(self, info: ValidationInfo) -> Self:
        if not _rules_reported(info):
            _raise_rule_errors(http_rule_violations(self.model_dump()))
        return self

    @property
    def proxy_policy(self) -> ProxyPolicy:
        """Which proxy each of this connection's requests goes through."""
        return proxy_policy(self.proxy)


DynamicsConnection = Dynamics365Connection | DynamicsFoConnection
Connection = Annotated[
    Dynamics365Connection | DynamicsFoConnection | HttpConnection, Field(discriminator="type")
]
# A connection of a type an installed connector brings: its own settings model (already
# validated by the loader against that model).
AnyConnection = Connection | ConnectionSettings
CONNECTION_MODELS: dict[str, type[BaseModel]] = {
    "dynamics365": Dynamics365Connection,
    "dynamics_fo": DynamicsFoConnection,
    "http": HttpConnection,
}


class ConnectionsFile(BaseModel):
    """The whole `connections.yaml`; connections that name an oauth_profile have it applied."""

    model_config = _STRICT

    connections: dict[ConnectionName, AnyConnection] = Field(
        description="Connections by name ([a-z0-9_-]+)."
    )
    oauth_profiles: dict[NonEmptyStr, OAuthProfile] = Field(
        default_factory=dict, description="Named OAuth app registrations."
    )

    @model_validator(mode="after")
    def _apply_profiles(self) -> Self:
        for name, conn in self.connections.items():
            if isinstance(conn, DynamicsConnectionBase) and conn.oauth_profile is not None:
                profile = self.oauth_profiles.get(conn.oauth_profile)
                if profile is None:
                    raise ValueError(f"connections.{name}: unknown oauth_profile")
                self.connections[name] = conn.with_profile(profile)
        return self


def connections_json_schema() -> dict[str, Any]:
    """JSON Schema of `connections.yaml`, for editors (e.g. the YAML language server)."""
    schema = ConnectionsFile.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "recipe-runner connections.yaml"
    return schema
