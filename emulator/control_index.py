"""``GET /_emulator/``: every control route of this emulator, with what it does, and where
the services are. docs/emulator.md explains each with a curl example."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from emulator.state import STATE

DOCS = "docs/emulator.md"
DESCRIPTIONS: dict[tuple[str, str], str] = {
    ("GET", "/_emulator/"): "this list",
    ("GET", "/_emulator"): "this list",
    ("GET", "/_emulator/health"): "liveness and the base URL",
    ("GET", "/_emulator/clock"): "the emulator clock (now, offset)",
    ("POST", "/_emulator/clock/advance"): "move the clock forward {seconds}",
    ("GET", "/_emulator/requests"): "the request log (?path=<glob>&method=&limit=)",
    ("DELETE", "/_emulator/requests"): "empty the request log",
    ("POST", "/_emulator/faults"): "add a fault rule (status, delay, reset, truncated, "
                                   "non_json)",
    ("GET", "/_emulator/faults"): "list fault rules with remaining/applied counts",
    ("DELETE", "/_emulator/faults"): "clear every fault rule",
    ("DELETE", "/_emulator/faults/{rule_id}"): "remove one fault rule",
    ("POST", "/_emulator/latency"): "add latency to matching requests {ms, path}",
    ("GET", "/_emulator/latency"): "list latency rules",
    ("DELETE", "/_emulator/latency"): "clear latency rules",
    ("GET", "/_emulator/protection"): "the service protection limits",
    ("PUT", "/_emulator/protection"): "change the limits {requests, window_s, concurrent, "
                                      "execution_ms, enabled}",
    ("DELETE", "/_emulator/protection/usage"): "forget every caller's usage",
    ("POST", "/_emulator/identity/apps"): "register an app (client id, secret, redirect URIs)",
    ("POST", "/_emulator/identity/users"): "add a user (username, password, MFA)",
    ("GET", "/_emulator/identity/token-settings"): "token lifetimes and rotation settings",
    ("POST", "/_emulator/identity/token-settings"): "change token settings",
    ("POST", "/_emulator/identity/users/{username}/revoke-refresh-tokens"):
        "revoke a user's refresh tokens (AADSTS50173)",
    ("POST", "/_emulator/identity/users/{username}/mfa"): "require MFA of a user (AADSTS50076)",
    ("POST", "/_emulator/identity/apps/{client_id}/consent"):
        "grant or withdraw admin consent (AADSTS65001)",
    ("POST", "/_emulator/identity/device-codes/approve"): "sign a user in with a device code",
    ("POST", "/_emulator/identity/auto-sign-in"): "sign this user in at /authorize at once",
    ("POST", "/_emulator/identity/apps/{client_id}/certificates"):
        "register a certificate credential on an app {certificate: PEM}",
    ("POST", "/_emulator/identity/apps/{client_id}/federated-credentials"):
        "trust a federated token {subject, audience?, issuer?} for an app",
    ("POST", "/_emulator/identity/federated-tokens"):
        "a token as a Kubernetes cluster would project it {subject, audience?, lifetime_s?}",
    ("POST", "/_emulator/identity/managed-identities"):
        "add a managed identity {client_id?, system_assigned?, identity_header?, roles?}",
    ("POST", "/_emulator/dataverse/tables/{name}/rows"): "insert rows into a Dataverse table",
    ("GET", "/_emulator/dataverse/tables/{name}/rows"): "every row of a table, raw",
    ("GET", "/_emulator/dataverse/tables"): "the Dataverse tables and entity sets",
    ("POST", "/_emulator/webhooks/deliveries"): "drop, delay, duplicate or reorder webhook "
                                                "deliveries",
    ("GET", "/_emulator/webhooks/deliveries"): "webhook deliveries and rules (?wait_s=&status=)",
    ("DELETE", "/_emulator/webhooks/deliveries"): "forget delivery rules and log",
    ("GET", "/_emulator/webhooks/settings"): "outbound webhook settings (CA file, retries)",
    ("POST", "/_emulator/webhooks/settings"): "change outbound webhook settings",
    ("POST", "/_emulator/webhooks/{name}"): "a webhook sink: keep what is posted",
    ("GET", "/_emulator/webhooks/{name}"): "what a sink received",
    ("DELETE", "/_emulator/webhooks/{name}"): "empty a sink",
    ("POST", "/_emulator/fo/entities/{name}/rows"): "insert F&O rows",
    ("GET", "/_emulator/fo/entities/{name}/rows"): "every row of an F&O entity",
    ("DELETE", "/_emulator/fo/entities/{name}/rows"): "remove an F&O entity's rows",
    ("GET", "/_emulator/fo/entities"): "the F&O entities with keys and fields",
    ("GET", "/_emulator/fo/settings"): "F&O settings (default company)",
    ("PUT", "/_emulator/fo/settings"): "change F&O settings",
}


def control_routes(app: web.Application) -> list[tuple[str, str]]:
    """(method, path) of every route under /_emulator/, in registration order."""
    found = []
    for route in app.router.routes():
        path = route.resource.canonical if route.resource is not None else ""
        if route.method != "HEAD" and path.startswith("/_emulator"):
            found.append((route.method, path.replace(":\\d+", "")))
    return list(dict.fromkeys(found))


async def index(request: web.Request) -> web.Response:
    base = request.app[STATE].base_url
    routes: list[dict[str, Any]] = [
        {"method": m, "path": p, "description": DESCRIPTIONS.get((m, p), "")}
        for m, p in control_routes(request.app)]
    return web.json_response({
        "docs": DOCS,
        "services": {"dataverse": f"{base}/api/data/v9.2/", "finance_operations": f"{base}/data/",
                     "entra_id": f"{base}/<tenant-id>", "adfs": f"{base}/adfs"},
        "routes": routes})


def setup(app: web.Application) -> None:
    app.router.add_get("/_emulator/", index)
    app.router.add_get("/_emulator", index)
