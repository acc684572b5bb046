"""The status token: the status page and ``/metrics`` need it once it is set (probes do
not), and the daemon refuses to listen beyond loopback without one."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from runner.daemon import Daemon
from runner.ops import is_loopback, listen_problem
from runner.settings import Settings
from tests.ops_support import running_daemon, webhook_recipe, write_files

TOKEN = "status-Token-5f3a9c1e77b2"


def basic(password: str) -> str:
    return "Basic " + base64.b64encode(f"ops:{password}".encode()).decode()


async def test_status_page_and_metrics_need_the_token_once_it_is_set(tmp_path: Path) -> None:
    write_files(tmp_path, {}, [webhook_recipe("auth-hook")])
    (tmp_path / "connections.yaml").unlink()
    async with running_daemon(tmp_path, status_token=TOKEN) as ops:
        anonymous = {path: await ops.get(path) for path in ("/", "/metrics", "/jobs/x")}
        wrong = await ops.get("/", Authorization="Bearer not-the-token")
        bearer = {path: (await ops.get(path, Authorization=f"Bearer {TOKEN}"))[0]
                  for path in ("/", "/metrics")}
        browser = await ops.get("/", Authorization=basic(TOKEN))
        probes = [(await ops.get(path))[0] for path in ("/healthz", "/readyz")]

    for status, body, headers in [*anonymous.values(), wrong]:
        assert status == 401 and TOKEN not in body
        assert headers["WWW-Authenticate"].startswith("Bearer")
    assert bearer == {"/": 200, "/metrics": 200}
    assert browser[0] == 200 and "auth-hook" in browser[1]
    assert probes == [200, 200]


async def test_daemon_refuses_a_public_listen_address_without_a_token(tmp_path: Path) -> None:
    write_files(tmp_path, {}, [webhook_recipe("public-hook")])
    settings = Settings(recipes=[tmp_path / "recipes"], listen="0.0.0.0:9464",
                        state_url=f"sqlite:///{tmp_path / 'state' / 's.db'}")
    with capture_logs() as logs:
        code = await Daemon(settings).run()

    assert code == 2
    refused = [e for e in logs if e["event"] == "daemon.cannot_start"]
    assert len(refused) == 1 and "RECIPE_RUNNER_STATUS_TOKEN" in refused[0]["reason"]
    assert "0.0.0.0:9464" in refused[0]["reason"]
    assert not (tmp_path / "state" / "s.db").exists()  # refused before touching anything


@pytest.mark.parametrize(("host", "token", "allowed"), [
    ("127.0.0.1", None, True), ("::1", None, True), ("localhost", None, True),
    ("0.0.0.0", None, False), ("192.168.1.20", None, False), ("status.example", None, False),
    ("0.0.0.0", TOKEN, True),
])
def test_only_loopback_listens_without_a_token(host: str, token: str | None,
                                                allowed: bool) -> None:
    assert (listen_problem((host, 9464), token) is None) is allowed
    assert is_loopback(host) is (host in ("127.0.0.1", "::1", "localhost"))


def test_status_token_comes_from_the_environment_and_is_never_shown(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RECIPE_RUNNER_STATUS_TOKEN", TOKEN)
    settings = Settings.from_env()
    assert settings.status_token == TOKEN and TOKEN not in repr(settings)
