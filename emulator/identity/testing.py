"""Helpers for tests that drive the identity emulator: its control routes, and a browser stand-in.

Everything goes over HTTP, as a test's own client would; nothing reaches into the state.
"""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import requests

from emulator.server import RunningEmulator

PREFIX = "/_emulator/identity"


async def control(emu: RunningEmulator, path: str, body: dict[str, Any]) -> dict[str, Any]:
    """POST ``body`` to a control route (``path`` under ``/_emulator/``); raises on non-2xx."""
    url = f"{emu.base_url}/_emulator/{path.lstrip('/')}"
    async with emu.client_session() as http, http.post(url, json=body) as resp:
        payload: dict[str, Any] = await resp.json()
    if resp.status >= 300:
        raise AssertionError(f"control route {path} answered {resp.status}: {payload}")
    return payload


async def add_app(emu: RunningEmulator, **fields: Any) -> dict[str, Any]:
    return await control(emu, "identity/apps", fields)


async def add_user(emu: RunningEmulator, **fields: Any) -> dict[str, Any]:
    return await control(emu, "identity/users", fields)


async def set_token_settings(emu: RunningEmulator, **fields: Any) -> dict[str, Any]:
    return await control(emu, "identity/token-settings", fields)


async def auto_sign_in(emu: RunningEmulator, username: str | None) -> dict[str, Any]:
    return await control(emu, "identity/auto-sign-in", {"username": username})


async def revoke_refresh_tokens(emu: RunningEmulator, username: str) -> dict[str, Any]:
    return await control(emu, f"identity/users/{username}/revoke-refresh-tokens", {})


async def require_mfa(emu: RunningEmulator, username: str, required: bool = True
                      ) -> dict[str, Any]:
    return await control(emu, f"identity/users/{username}/mfa", {"required": required})


async def advance_clock(emu: RunningEmulator, seconds: float) -> dict[str, Any]:
    return await control(emu, "clock/advance", {"seconds": seconds})


class _HiddenInputs(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.fields: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = dict(attrs)
        if tag == "input" and named.get("type") == "hidden" and named.get("name"):
            self.fields[str(named["name"])] = named.get("value") or ""


def follow_authorize(auth_uri: str, ca_file: str, timeout_s: float = 10.0) -> dict[str, str]:
    """GET ``auth_uri`` like a browser with the auto-sign-in user set; return what the client
    would receive (``code``, ``state``), the ``auth_response`` msal's flow API wants.

    Handles a redirect (``response_mode`` query or fragment) and a ``form_post`` page.
    Synchronous, like msal: call it from a worker thread in async tests.
    """
    with requests.Session() as http:
        http.trust_env = False
        resp = http.get(auth_uri, verify=ca_file, allow_redirects=False, timeout=timeout_s)
    if resp.status_code == 302:
        location = urlsplit(resp.headers["Location"])
        return dict(parse_qsl(location.fragment or location.query))
    if resp.status_code == 200 and "<form" in resp.text and 'type="hidden"' in resp.text:
        parser = _HiddenInputs()
        parser.feed(resp.text)
        return parser.fields
    raise AssertionError(f"authorize answered {resp.status_code} with no code: {resp.text[:200]}")
