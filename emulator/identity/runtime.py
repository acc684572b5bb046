"""What the identity feature keeps per emulator: codes, refresh tokens, the auto-sign-in user."""

from __future__ import annotations

from dataclasses import dataclass

from emulator.identity.codes import AuthCodes
from emulator.identity.device_codes import DeviceCodes
from emulator.identity.refresh_tokens import RefreshTokens
from emulator.state import EmulatorState

EXTENSION_KEY = "identity"


@dataclass
class IdentityRuntime:
    codes: AuthCodes
    refresh_tokens: RefreshTokens
    device_codes: DeviceCodes
    # When set, GET /authorize signs this user in at once and redirects (no form).
    auto_sign_in_username: str | None = None


def install(state: EmulatorState) -> IdentityRuntime:
    runtime = IdentityRuntime(AuthCodes(state.clock), RefreshTokens(state.clock),
                              DeviceCodes(state.clock))
    state.extensions[EXTENSION_KEY] = runtime
    return runtime


def runtime_of(state: EmulatorState) -> IdentityRuntime:
    runtime = state.extensions.get(EXTENSION_KEY)
    if not isinstance(runtime, IdentityRuntime):
        return install(state)
    return runtime
