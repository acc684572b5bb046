"""msal results and exceptions → the exception a connector raises, and the words it carries."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests
from msal.exceptions import MsalServiceError

from connectors.errors import AuthError, RetryableError
from runner.tokens import classify_exception, classify_result, explain


@pytest.mark.parametrize(("error", "code", "fix"), [
    ("invalid_grant", 700082, "run `recipe-runner connections login crm`"),
    ("invalid_grant", 50173, "run `recipe-runner connections login crm`"),
    ("interaction_required", 50076, "run `recipe-runner connections login crm`"),
    ("invalid_grant", 70043, "run `recipe-runner connections login crm`"),
    ("invalid_client", 7000222, "put a valid client secret in the connections file, then run "
                                "`recipe-runner connections test crm`"),
])
def test_needs_a_person_errors_are_auth_errors_with_code_and_fix(
    error: str, code: int, fix: str
) -> None:
    result = {"error": error, "error_codes": [code],
              "error_description": f"AADSTS{code}: user ada@contoso.com did something"}
    mapped = classify_result("crm", "authorization_code", result)
    assert isinstance(mapped, AuthError)
    assert mapped.code == f"AADSTS{code}" and mapped.connection == "crm"
    assert mapped.message.endswith(fix)
    assert "ada@contoso.com" not in mapped.message  # the description is never echoed


def test_code_is_read_from_the_description_when_error_codes_is_missing() -> None:
    mapped = classify_result("crm", "password", {"error": "invalid_grant",
                                                 "error_description": "AADSTS50126: nope"})
    assert mapped.code == "AADSTS50126"
    assert "username or password" in mapped.message


@pytest.mark.parametrize("result", [
    {"error": "temporarily_unavailable"},
    {"error": "invalid_request", "error_codes": [50196]},
    {"error": {"code": "0x80072322", "message": "throttled"}},
])
def test_transient_results_are_retryable(result: dict[str, object]) -> None:
    assert isinstance(classify_result("crm", "password", result), RetryableError)


@pytest.mark.parametrize("exc", [
    requests.ConnectionError("refused"),
    requests.Timeout("slow"),
    MsalServiceError("HTTP Error: 503", error=None, error_description=None),
    ValueError("Expecting value: line 1 column 1 (char 0) JSON"),
])
def test_transport_exceptions_are_retryable(exc: Exception) -> None:
    assert isinstance(classify_exception("crm", exc), RetryableError)


def test_unknown_exceptions_are_not_swallowed() -> None:
    assert classify_exception("crm", KeyError("bug")) is None


def test_password_flow_fix_does_not_suggest_login() -> None:
    assert "connections test crm" in explain("crm", "AADSTS50173", "password").fix


def test_mfa_on_a_password_connection_says_the_same_fix_as_the_readme() -> None:
    mapped = classify_result("svc", "password", {"error": "invalid_grant",
                                                 "error_codes": [50076]})
    fix = ("the password flow cannot do multi-factor authentication: set "
           "`auth: authorization_code` (and `redirect_uri`) on the connection, restart the "
           "daemon, then run `recipe-runner connections login svc`")
    assert mapped.message.endswith(fix)
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    row = next(line for line in readme.splitlines() if line.startswith("| AADSTS50076 |"))
    assert "the password flow cannot do MFA: set `auth: authorization_code`" in row
    assert "`recipe-runner connections login NAME`" in row
