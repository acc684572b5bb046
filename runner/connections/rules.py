"""Cross-field rules of a connection: which fields an auth flow and account type need.

The rules read a plain mapping (the file's data after secret references are resolved, or a
model's dump), so the loader can report them next to schema problems even when other fields are
broken. A rule whose deciding field is itself invalid is skipped: the schema reports that field.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from runner.config.problems import Severity, suggestion
from runner.config.yaml_source import Anchor

DYNAMICS_AUTHS = ("authorization_code", "client_credentials", "password", "managed_identity")
# what a confidential client proves itself with: exactly one of these
CLIENT_CREDENTIALS = ("client_secret", "client_certificate", "federated_token_file")
MANAGED_IDENTITY_FIELDS = ("managed_identity_endpoint", "managed_identity_header")
ACCOUNT_TYPES = ("cloud", "on_premise")
HTTP_AUTHS = ("none", "basic", "bearer", "header")
HTTP_AUTH_FIELDS = {
    "none": (),
    "basic": ("username", "password"),
    "bearer": ("token",),
    "header": ("header_name", "header_value"),
}
PROFILE_FIELDS = ("client_id", "client_secret", "authority_host", "scopes")
SECRET_EXPIRY_WARNING_DAYS = 14


@dataclass(frozen=True)
class RuleViolation:
    """One broken rule about `field` of a connection; `at` says where to point."""

    field: str
    message: str
    at: Anchor = "parent"
    severity: Severity = "error"


Profiles = Mapping[str, Mapping[str, Any]]


def dynamics_rule_violations(
    conn: Mapping[str, Any], profiles: Profiles | None, today: date | None = None
) -> list[RuleViolation]:
    """Rules of a dynamics365 / dynamics_fo connection.

    `profiles` None means "not known here": a named profile is then assumed to supply what it can.
    """
    auth = conn.get("auth", "client_credentials")
    account_type = conn.get("account_type", "cloud")
    found = list(_profile_reference(conn, profiles))
    if auth in DYNAMICS_AUTHS and account_type in ACCOUNT_TYPES:
        supplied = _supplied_by_profile(conn, profiles)
        found += _required_fields(conn, auth, account_type, supplied)
        found += _unused_fields(conn, auth, account_type)
    if today is not None:
        found += _secret_expiry(conn.get("client_secret_expires"), today)
    return found


def http_rule_violations(conn: Mapping[str, Any]) -> list[RuleViolation]:
    """Rules of an http connection: the credentials its `auth` needs, and none it ignores."""
    auth = conn.get("auth", "none")
    if auth not in HTTP_AUTHS:
        return []
    found = [
        RuleViolation(name, f"field required when auth is {auth}")
        for name in HTTP_AUTH_FIELDS[auth]
        if _missing(conn, name)
    ]
    for other, names in HTTP_AUTH_FIELDS.items():
        found += [
            RuleViolation(name, f"ignored unless auth is {other}", "key", "warning")
            for name in names
            if other != auth and name not in HTTP_AUTH_FIELDS[auth] and not _missing(conn, name)
        ]
    return found


def _missing(conn: Mapping[str, Any], name: str) -> bool:
    return conn.get(name) in (None, "")


def _profile_reference(
    conn: Mapping[str, Any], profiles: Profiles | None
) -> Iterator[RuleViolation]:
    name = conn.get("oauth_profile")
    if profiles is None or name is None or not isinstance(name, str) or name in profiles:
        return
    message = f"unknown oauth_profile {name!r}" + suggestion(name, sorted(profiles))
    if not profiles:
        message += " (the file has no oauth_profiles section)"
    yield RuleViolation("oauth_profile", message, "value")


def _supplied_by_profile(conn: Mapping[str, Any], profiles: Profiles | None) -> set[str]:
    name = conn.get("oauth_profile")
    if not isinstance(name, str):
        return set()
    if profiles is None:
        return set(PROFILE_FIELDS)
    profile = profiles.get(name)
    if not isinstance(profile, Mapping):
        return set(PROFILE_FIELDS)  # unknown profile: reported once, not once per field
    return {f for f in PROFILE_FIELDS if profile.get(f) not in (None, "")}


def _required_fields(
    conn: Mapping[str, Any], auth: str, account_type: str, supplied: set[str]
) -> Iterator[RuleViolation]:
    if auth == "managed_identity":  # the platform vouches: no tenant, app or secret to name
        return
    yield from _credential_choice(conn, auth, supplied)
    needs: list[tuple[str, str]] = []
    if account_type == "cloud":
        needs.append(("tenant_id", "when account_type is cloud"))
    else:
        needs.append(("ad_domain", "when account_type is on_premise"))
    needs.append(("client_id", "(or an oauth_profile that sets it)"))
    if auth == "client_credentials":
        pass  # one of CLIENT_CREDENTIALS: _credential_choice
    elif auth == "password":
        needs += [("username", "when auth is password"), ("password", "when auth is password")]
    else:
        needs.append(("redirect_uri", "when auth is authorization_code"))
    for name, reason in needs:
        if _missing(conn, name) and name not in supplied:
            yield RuleViolation(name, f"field required {reason}")


def _credential_choice(
    conn: Mapping[str, Any], auth: str, supplied: set[str]
) -> Iterator[RuleViolation]:
    given = [n for n in CLIENT_CREDENTIALS if not _missing(conn, n)
             or (n == "client_secret" and n in supplied)]
    if len(given) > 1:
        yield RuleViolation(given[1], f"use one client credential, not {' and '.join(given)}")
    elif not given and auth == "client_credentials":
        yield RuleViolation("client_secret", "field required when auth is client_credentials "
                                             "(or client_certificate, or federated_token_file)")


def _unused_fields(
    conn: Mapping[str, Any], auth: str, account_type: str
) -> Iterator[RuleViolation]:
    unused: list[tuple[str, str]] = []
    if auth != "managed_identity":
        unused += [(n, "auth is managed_identity") for n in MANAGED_IDENTITY_FIELDS]
    else:
        unused += [(n, "auth is client_credentials or authorization_code")
                   for n in CLIENT_CREDENTIALS]
    if auth != "password":
        unused += [("username", "auth is password"), ("password", "auth is password")]
    if auth != "authorization_code":
        unused.append(("redirect_uri", "auth is authorization_code"))
    if account_type == "cloud":
        unused.append(("ad_domain", "account_type is on_premise"))
    for name, condition in unused:
        if not _missing(conn, name):
            yield RuleViolation(name, f"ignored unless {condition}", "key", "warning")


def _secret_expiry(expires: object, today: date) -> list[RuleViolation]:
    if isinstance(expires, str):
        try:
            expires = date.fromisoformat(expires)
        except ValueError:
            return []  # the schema reports a malformed date
    if not isinstance(expires, date):
        return []
    days_left = (expires - today).days
    if days_left < 0:
        message = f"client secret expired on {expires.isoformat()}; create a new one"
    elif days_left <= SECRET_EXPIRY_WARNING_DAYS:
        message = f"client secret expires on {expires.isoformat()} (in {days_left} days); renew it"
    else:
        return []
    return [RuleViolation("client_secret_expires", message, "value", "warning")]
