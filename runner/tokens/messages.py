"""One clear sentence per AADSTS code: what it means, and the command that fixes it.

Used for the ``connection.invalid`` log line and by ``recipe-runner connections test``. Texts
never include a secret: only the connection's name and the code.
"""

from __future__ import annotations

from dataclasses import dataclass

SIGN_IN_AGAIN = "sign in again"
NEEDS_MFA = "sign in again, with multi-factor authentication"
# the password flow cannot answer an MFA prompt: only a browser sign-in can
PASSWORD_CANNOT_MFA = ("the password flow cannot do multi-factor authentication: set "
                       "`auth: authorization_code` (and `redirect_uri`) on the connection, "
                       "restart the daemon, then run `recipe-runner connections login {name}`")
FIX_SECRET = "put a valid client secret in the connections file"
FIX_PASSWORD = "fix the username or password in the connections file"
FIX_APP = "fix the app registration or the connection's settings"
FIX_CERTIFICATE = ("upload the certificate's public part to the app registration (Certificates "
                   "& secrets), or fix client_certificate in the connections file")
FIX_ASSERTION = ("check this machine's clock (NTP) and that federated_token_file is being "
                 "renewed")
FIX_FEDERATION = ("add a federated credential to the app registration whose issuer, subject "
                  "and audience match the token in federated_token_file")
FIX_MANAGED_IDENTITY = ("assign a managed identity to the machine (or set client_id to the "
                        "user-assigned one's client id)")

# code -> (meaning, what a person must do)
MEANINGS: dict[str, tuple[str, str]] = {
    "AADSTS700082": ("the refresh token expired after being unused for too long", SIGN_IN_AGAIN),
    "AADSTS70008": ("the refresh token expired or was revoked", SIGN_IN_AGAIN),
    "AADSTS50173": ("the grant was revoked (password reset, or an admin revoked sessions)",
                    SIGN_IN_AGAIN),
    "AADSTS50076": ("multi-factor authentication is now required", NEEDS_MFA),
    "AADSTS50078": ("the multi-factor authentication has expired", NEEDS_MFA),
    "AADSTS50079": ("the user must enrol in multi-factor authentication", NEEDS_MFA),
    "AADSTS70043": ("a sign-in frequency policy requires a fresh sign-in", SIGN_IN_AGAIN),
    "AADSTS700084": ("the refresh token reached its fixed lifetime", SIGN_IN_AGAIN),
    "AADSTS50132": ("the session ended after a password change", SIGN_IN_AGAIN),
    "AADSTS50133": ("the session ended after a password expiry", SIGN_IN_AGAIN),
    # Entra keeps a redeemed refresh token valid; an authority that rotates strictly (the
    # emulator's refresh_token_strict_rotation) refuses every one but the newest.
    "AADSTS70000": ("the refresh token was refused as already used or not valid: an "
                    "authority that rotates refresh tokens strictly accepts only the newest, "
                    "so another copy of this connection's tokens (a second daemon with its "
                    "own state, a restored backup) used it first", SIGN_IN_AGAIN),
    "AADSTS65001": ("the app has no consent for this resource", SIGN_IN_AGAIN),
    "AADSTS53003": ("a Conditional Access policy blocked the sign-in", FIX_APP),
    "AADSTS50126": ("the username or password is wrong", FIX_PASSWORD),
    "AADSTS50034": ("the user does not exist in this tenant", FIX_PASSWORD),
    "AADSTS50057": ("the user account is disabled", FIX_PASSWORD),
    "AADSTS50055": ("the user's password has expired", FIX_PASSWORD),
    "AADSTS7000215": ("the client secret is wrong", FIX_SECRET),
    "AADSTS700027": ("the certificate is not registered on the app (or the assertion's "
                     "signature does not verify)", FIX_CERTIFICATE),
    "AADSTS700024": ("the client assertion is expired or not yet valid", FIX_ASSERTION),
    "AADSTS700021": ("the client assertion names another app than client_id", FIX_APP),
    "AADSTS70021": ("no federated credential on the app matches the federated token",
                    FIX_FEDERATION),
    "managed_identity_not_found": ("the managed identity endpoint has no such identity",
                                   FIX_MANAGED_IDENTITY),
    "managed_identity_refused": ("the managed identity endpoint refused the request",
                                 "check managed_identity_endpoint and "
                                 "managed_identity_header (IDENTITY_HEADER)"),
    "AADSTS7000222": ("the client secret has expired; create a new one in the Azure portal",
                      FIX_SECRET),
    "AADSTS7000218": ("no client secret was sent, but the app needs one", FIX_SECRET),
    "AADSTS70002": ("the client secret does not match the app", FIX_SECRET),
    "AADSTS700016": ("the app (client id) is not registered in this tenant", FIX_APP),
    "AADSTS90002": ("the tenant does not exist", FIX_APP),
    "AADSTS70011": ("the requested scope is not valid", FIX_APP),
    "AADSTS500011": ("the resource is not registered in this tenant", FIX_APP),
}
NEVER_SIGNED_IN = "never_signed_in"


@dataclass(frozen=True)
class Explanation:
    """What went wrong with a connection, in words, and the command that fixes it."""

    meaning: str
    fix: str

    def sentence(self) -> str:
        return f"{self.meaning}; fix: {self.fix}"


def explain(connection: str, code: str | None, auth: str) -> Explanation:
    """The meaning of ``code`` (an ``AADSTS…`` code, ``never_signed_in`` or None) for a
    connection that uses the ``auth`` flow, and the command that fixes it."""
    if code == NEVER_SIGNED_IN:
        return Explanation("the connection has never been signed in",
                           f"run `recipe-runner connections login {connection}`")
    meaning, action = MEANINGS.get(code or "", ("the identity provider refused the token "
                                                "request", FIX_APP))
    return Explanation(meaning, _fix(connection, action, auth))


def _fix(connection: str, action: str, auth: str) -> str:
    if action in (SIGN_IN_AGAIN, NEEDS_MFA) and auth == "authorization_code":
        return f"run `recipe-runner connections login {connection}`"
    if action == NEEDS_MFA and auth == "password":
        return PASSWORD_CANNOT_MFA.format(name=connection)
    if action == NEEDS_MFA:  # client credentials never see it; a user flow otherwise
        return f"run `recipe-runner connections login {connection}`"
    if action == SIGN_IN_AGAIN:  # password flow: a new sign-in needs the user's own action
        action = "sign in as the user once (or fix the password) in the connections file"
    return f"{action}, then run `recipe-runner connections test {connection}`"
