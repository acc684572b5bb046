"""The Dockerfile's install and start steps, performed without a container engine.

Like the builder stage: copy what the Dockerfile copies into a clean source folder and build
the wheels. Like the final stage: a fresh virtualenv with no pip, the recipe-runner wheel
installed from those wheels only (no editable install, no test extras, which proves the
package data and ``__init__.py`` files are complete), the Dockerfile's ``ENV`` with its
container paths mapped to a temporary folder, then its ``ENTRYPOINT``/``CMD`` started as an
unprivileged user, and its ``HEALTHCHECK`` command must pass. Slow-ish (~20 s).
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.deploy_support import (
    DOCKERFILE,
    PROJECT_ROOT,
    UNIT,
    env_of,
    exec_form,
    last,
    parse_dockerfile,
    stage_of,
    unit_entries,
)

TICK = """\
name: tick
trigger:
  type: schedule
  every: 1s
  poll_interval: 0.5s
actions:
  - type: log
    message: "tick from the container"
"""
UNREACHABLE_INDEX = ("No matching distribution found", "Could not find a version",
                     "Failed to establish a new connection", "Network is unreachable",
                     "Temporary failure in name resolution")
STARTUP_TIMEOUT_S = 40.0


@pytest.fixture(scope="module")
def installed() -> Iterator[tuple[Path, Path]]:
    """The wheel built and installed once for this module's tests: (world, venv)."""
    folder = Path(tempfile.mkdtemp(prefix="container-"))
    folder.chmod(0o755)
    try:
        yield folder, install(folder, build_wheels(folder))
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def world(installed: tuple[Path, Path]) -> Iterator[Path]:
    """A temp folder an unprivileged user can traverse (pytest's tmp_path is 0700 root)."""
    folder = Path(tempfile.mkdtemp(prefix="container-", dir=installed[0]))
    folder.chmod(0o755)
    yield folder


def run(argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False,
                          **kwargs)


def build_wheels(world: Path) -> Path:
    """The builder stage: COPY the listed sources, then ``pip wheel --wheel-dir /wheels .``."""
    builder = stage_of(parse_dockerfile(DOCKERFILE.read_text()), 0)
    source = world / "src"
    source.mkdir()
    for copy in (i for i in builder if i.keyword == "COPY"):
        *sources, _destination = copy.args.split()
        for name in sources:
            origin = PROJECT_ROOT / name.rstrip("/")
            if origin.is_dir():
                shutil.copytree(origin, source / origin.name,
                                ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
            else:
                shutil.copy2(origin, source / origin.name)
    runs = [i.args for i in builder if i.keyword == "RUN"]
    assert "pip download --require-hashes --no-deps --dest /tools -r requirements/build.lock" \
        in runs[0]
    assert "pip wheel --require-hashes --wheel-dir /wheels -r requirements/runtime.lock" \
        in runs[0]
    assert "pip wheel --no-deps --no-build-isolation --wheel-dir /wheels ." in last(builder,
                                                                                    "RUN")
    wheels, tools = world / "wheels", world / "tools"
    fetched = run([sys.executable, "-m", "pip", "download", "--quiet", "--require-hashes",
                   "--no-deps", "--dest", str(tools), "-r", "requirements/build.lock"],
                  cwd=source)
    if fetched.returncode != 0 and any(s in fetched.stderr for s in UNREACHABLE_INDEX):
        pytest.skip(f"cannot reach PyPI or a local pip cache for the build tools: "
                    f"{fetched.stderr.strip().splitlines()[-1]}")
    assert fetched.returncode == 0, fetched.stderr[-3000:]
    locked = run([sys.executable, "-m", "pip", "wheel", "--quiet", "--require-hashes",
                  "--wheel-dir", str(wheels), "-r", "requirements/runtime.lock"], cwd=source)
    if locked.returncode != 0 and any(s in locked.stderr for s in UNREACHABLE_INDEX):
        pytest.skip(f"cannot reach PyPI or a local pip cache for the dependencies: "
                    f"{locked.stderr.strip().splitlines()[-1]}")
    assert locked.returncode == 0, locked.stderr[-3000:]
    built = run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                 "--no-build-isolation", "--wheel-dir", str(wheels), "."], cwd=source)
    assert built.returncode == 0, built.stderr[-3000:]
    return wheels


def base_python() -> str:
    """A Python 3.11 the unprivileged user may run (pyenv's under /root is not)."""
    candidates = [getattr(sys, "_base_executable", sys.executable),
                  *(shutil.which(f"python3.{sys.version_info.minor}", path=folder)
                    for folder in ("/usr/local/bin", "/usr/bin"))]
    for candidate in filter(None, candidates):
        try:
            probe = run([candidate, "-c", "import ssl, sqlite3, venv"], **unprivileged())
        except PermissionError:
            continue
        if probe.returncode == 0:
            return candidate
    pytest.skip(f"no Python 3.{sys.version_info.minor} that an unprivileged user can run "
                f"(tried {candidates})")


def install(world: Path, wheels: Path) -> Path:
    """The final stage: a venv without pip; the project wheel from the local wheels only."""
    final = stage_of(parse_dockerfile(DOCKERFILE.read_text()), 1)
    install_step = " ".join(i.args for i in final if i.keyword == "RUN")
    assert "venv --without-pip /opt/recipe-runner" in install_step
    assert 'pip_whl="$(echo /tools/pip-*.whl)"' in install_step
    assert '/opt/recipe-runner/bin/python "$pip_whl/pip" install' in install_step
    assert "--no-deps /wheels/*.whl" in install_step
    assert '/opt/recipe-runner/bin/python "$pip_whl/pip" check' in install_step
    venv = world / "opt-recipe-runner"
    made = run([base_python(), "-m", "venv", "--without-pip", str(venv)])
    assert made.returncode == 0, made.stderr
    (pip_whl,) = (wheels.parent / "tools").glob("pip-*.whl")  # the locked pip, run from its wheel
    pip = [str(venv / "bin" / "python"), f"{pip_whl}/pip"]
    installed = run([*pip, "install", "--quiet", "--no-cache-dir", "--no-index", "--no-deps",
                     *map(str, wheels.glob("*.whl"))])
    assert installed.returncode == 0, installed.stderr[-3000:]
    checked = run([*pip, "check"])
    assert checked.returncode == 0, checked.stdout + checked.stderr
    return venv


def container_env(world: Path, venv: Path, port: int) -> dict[str, str]:
    """The Dockerfile's ENV with its container paths under ``world``, on a free port."""
    final = stage_of(parse_dockerfile(DOCKERFILE.read_text()), 1)
    env = env_of(final)
    mapping = {"/opt/recipe-runner": str(venv), "/etc/recipe-runner": str(world / "etc"),
               "/var/lib/recipe-runner": str(world / "state"), "$PATH": "/usr/bin:/bin"}
    for key, value in env.items():
        for container_path, here in mapping.items():
            value = value.replace(container_path, here)
        env[key] = value
    assert env["RECIPE_RUNNER_LISTEN"].startswith("127.0.0.1:")
    env["RECIPE_RUNNER_LISTEN"] = f"127.0.0.1:{port}"
    env["HOME"] = str(world / "state")
    return env


def prepare_volumes(world: Path, uid: int, gid: int) -> None:
    """What the final stage's RUN makes, plus a mounted recipe."""
    (world / "etc" / "recipes").mkdir(parents=True)
    (world / "etc" / "connections").mkdir()
    (world / "etc" / "connections" / "connections.yaml").write_text("connections: {}\n")
    (world / "etc" / "recipes" / "tick.yaml").write_text(TICK)
    state = world / "state"
    state.mkdir(mode=0o700)
    os.chown(state, uid, gid)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def unprivileged() -> dict[str, Any]:
    """Popen arguments that drop root to ``nobody`` (no-op when not root)."""
    if os.getuid() != 0:
        return {}
    nobody = pwd.getpwnam("nobody")
    return {"user": nobody.pw_uid, "group": nobody.pw_gid, "extra_groups": []}


def wait_healthy(argv: list[str], env: dict[str, str], daemon: subprocess.Popen[bytes],
                 log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        assert daemon.poll() is None, f"the daemon exited:\n{log.read_text()[-3000:]}"
        check = run(argv, env=env, **unprivileged())
        if check.returncode == 0:
            return
        time.sleep(0.3)
    raise AssertionError(f"HEALTHCHECK never passed: {check.stderr}\n{log.read_text()[-3000:]}")


def image_command(instructions: list[Any], keyword: str, env: dict[str, str]) -> list[str]:
    """An exec-form instruction (ENTRYPOINT+CMD, HEALTHCHECK) with its program from PATH."""
    argv = (exec_form(instructions, "ENTRYPOINT") + exec_form(instructions, "CMD")
            if keyword == "ENTRYPOINT" else exec_form(instructions, keyword))
    return [shutil.which(argv[0], path=env["PATH"]) or argv[0], *argv[1:]]


def container(world: Path, venv: Path, **overrides: str) -> tuple[dict[str, str], str]:
    """The volumes prepared, the image's environment (plus ``overrides``) and its WORKDIR."""
    nobody = pwd.getpwnam("nobody")
    prepare_volumes(world, nobody.pw_uid, nobody.pw_gid)
    env = container_env(world, venv, free_port())
    env["PATH"] = f"{venv / 'bin'}:{env['PATH']}"
    env.update(overrides)
    instructions = stage_of(parse_dockerfile(DOCKERFILE.read_text()), 1)
    workdir = last(instructions, "WORKDIR").replace("/var/lib/recipe-runner",
                                                    str(world / "state"))
    return env, workdir


def run_healthy_then_stop(world: Path, venv: Path, env: dict[str, str],
                          workdir: str) -> tuple[int, list[str]]:
    """Start the image's ENTRYPOINT/CMD as ``nobody``, wait for its HEALTHCHECK to pass,
    SIGTERM it; the exit code and its output lines."""
    instructions = stage_of(parse_dockerfile(DOCKERFILE.read_text()), 1)
    argv = image_command(instructions, "ENTRYPOINT", env)
    healthcheck = image_command(instructions, "HEALTHCHECK", env)
    assert argv[0].startswith(str(venv)) and healthcheck[0].startswith(str(venv))
    log = world / "daemon.log"
    with log.open("wb") as out:
        daemon = subprocess.Popen(argv, env=env, cwd=workdir, stdout=out,
                                  stderr=subprocess.STDOUT, **unprivileged())
    try:
        wait_healthy(healthcheck, env, daemon, log)
    finally:
        daemon.send_signal(signal.SIGTERM)
        returncode = daemon.wait(timeout=20)
    return returncode, log.read_text().splitlines()


@pytest.mark.slow
def test_wheel_installs_in_a_clean_venv_and_starts_healthy_as_an_unprivileged_user(
    world: Path, installed: tuple[Path, Path],
) -> None:
    venv = installed[1]
    env, workdir = container(world, venv)
    returncode, lines = run_healthy_then_stop(world, venv, env, workdir)
    events = [json.loads(line)["event"] for line in lines]  # JSON logs on stdout, only
    assert "daemon.ready" in events and "recipe.loaded" in events
    assert events[-1] == "daemon.stopped"
    assert returncode == 0
    nobody = pwd.getpwnam("nobody")
    assert (world / "state" / "recipe-runner.db").stat().st_uid == nobody.pw_uid
    site = run([str(venv / "bin" / "python"), "-c", "import pip"])
    assert site.returncode != 0, "the final image must not ship pip"
    dev = run([str(venv / "bin" / "python"), "-c", "import pytest"])
    assert dev.returncode != 0, "the final image must not ship test extras"


@pytest.mark.slow
def test_healthcheck_passes_with_the_listener_off_from_the_heartbeat_file(
    world: Path, installed: tuple[Path, Path],
) -> None:
    venv = installed[1]
    env, workdir = container(world, venv, RECIPE_RUNNER_LISTEN="off")
    returncode, lines = run_healthy_then_stop(world, venv, env, workdir)
    assert returncode == 0
    assert "daemon.listening" not in [json.loads(line)["event"] for line in lines]
    assert not (world / "state" / "recipe-runner.alive").exists()  # removed on a clean stop
    instructions = stage_of(parse_dockerfile(DOCKERFILE.read_text()), 1)
    stopped = run(image_command(instructions, "HEALTHCHECK", env), env=env, cwd=workdir)
    assert stopped.returncode == 1 and "no heartbeat file" in stopped.stderr


CONNECTIONS = """\
connections:
  crm:
    type: dynamics365
    auth: client_credentials
    environment: contoso.crm.dynamics.com
    tenant_id: 00000000-0000-4000-8000-000000000001
    client_id: 11111111-1111-4111-8111-111111111111
    client_secret: ${env:D365_CLIENT_SECRET}
"""
CONTACTS = """\
name: contacts
trigger: {type: dynamics365.new_record, connection: crm, table: contacts}
actions: [{type: log, message: "{{ trigger.record.fullname }}"}]
"""


@pytest.mark.slow
def test_validate_in_the_image_reads_the_mounted_connections_file(
    world: Path, installed: tuple[Path, Path],
) -> None:
    venv = installed[1]
    env, workdir = container(world, venv)
    (world / "etc" / "connections" / "connections.yaml").write_text(CONNECTIONS)
    (world / "etc" / "recipes" / "contacts.yaml").write_text(CONTACTS)
    env.pop("D365_CLIENT_SECRET", None)  # CI has no secrets: a warning, not an error
    checked = run(["recipe-runner", "validate"], env=env, cwd=workdir, **unprivileged())
    assert checked.returncode == 0, checked.stderr
    assert checked.stderr.splitlines()[-1] == "2 recipe(s) valid, 0 with problems"
    assert "unknown connection" not in checked.stderr
    assert "D365_CLIENT_SECRET" in checked.stderr


@pytest.mark.slow
def test_demo_runs_from_the_installed_wheel_in_any_folder(
    world: Path, installed: tuple[Path, Path],
) -> None:
    venv = installed[1]
    env = {"PATH": f"{venv / 'bin'}:/usr/bin:/bin", "HOME": str(world),
           "XDG_STATE_HOME": str(world), "RECIPE_RUNNER_LOG_FORMAT": "json",
           "RECIPE_RUNNER_LISTEN": "off"}
    demo = run(["recipe-runner", "demo", "--seconds", "8", "--port", "0"], env=env, cwd=world)
    assert demo.returncode == 0, demo.stdout[-2000:] + demo.stderr[-2000:]
    events = [json.loads(line) for line in demo.stdout.splitlines()]
    done = {e["recipe"] for e in events if e["event"] == "job.finished"
            and e["outcome"] == "succeeded"}
    assert "contact-followup" in done


def test_the_units_documentation_is_installed_with_the_wheel(
    installed: tuple[Path, Path],
) -> None:
    documentation = unit_entries(UNIT.read_text())["Unit"]["Documentation"][0]
    path = documentation.removeprefix("file://").replace("/opt/recipe-runner",
                                                          str(installed[1]))
    assert Path(path).is_file(), f"{documentation} is not installed"
