"""The Dockerfile built and run for real, with podman (Debian's package) and vfs storage.

No base image can be pulled here, so the test makes one: ``debootstrap`` of Debian bookworm
with its python3, imported with ``podman import`` and passed as ``--build-arg PYTHON_IMAGE``
(the Dockerfile's default stays the official python slim image). Then the image is built, and
run the way README's "Running with Docker" shows (host network, so the container reaches the
emulator on loopback): it runs as a non-root user, its HEALTHCHECK passes, ``validate`` and
``connections test`` answer as ``docker run`` commands, and SIGTERM (``podman stop``) ends it
with exit 0 after its shutdown lines.

Cost: debootstrap (~1 min, once per machine: the base image is kept in
``/var/tmp/recipe-runner-podman``), the build (~2 min with vfs, less with its layer cache)
and the run (~30 s). That is too slow for every ``make test``, so it is opt-in:
``RECIPE_RUNNER_IMAGE_TEST=1`` (``make test-image``; ``.ci/run`` sets it and installs podman,
runc and debootstrap). Opted in, a missing tool or not being root skips it with the reason,
and ``REQUIRE_TOOLS=1`` turns that skip into a failure.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from emulator import RunningEmulator
from tests.tokens_support import CLIENT_SECRET, connection, seed_tenant
from tests.tools_support import missing, tool

ROOT = Path(__file__).resolve().parents[1]
STORE = Path("/var/tmp/recipe-runner-podman")  # kept between runs: the base image is slow
BASE = "localhost/recipe-runner-test-base:bookworm"
IMAGE = "localhost/recipe-runner:test"
BASE_PACKAGES = "python3,python3-pip,python3-venv,python-is-python3,ca-certificates"
TICK = {"name": "tick", "trigger": {"type": "schedule", "every": "1s", "poll_interval": "0.5s"},
        "actions": [{"type": "log", "message": "tick from the container"}]}
pytestmark = pytest.mark.slow


# This sandbox allows no rlimit changes and has hybrid cgroups, which crun refuses: runc,
# no default ulimits, cgroupfs. (On an ordinary host podman's defaults work.)
CONTAINERS_CONF = """\
[containers]
default_ulimits = []
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
runtime = "runc"
"""


def podman_argv() -> list[str]:
    binary = tool("podman", "podman")
    tool("runc", "runc", "/usr/sbin")
    return [binary, "--storage-driver", "vfs", "--root", str(STORE / "storage"),
            "--runroot", str(STORE / "run")]


def podman_env() -> dict[str, str]:
    conf = STORE / "containers.conf"
    if not conf.exists() or conf.read_text() != CONTAINERS_CONF:
        conf.write_text(CONTAINERS_CONF)
    return {**os.environ, "CONTAINERS_CONF": str(conf)}


def podman(*argv: str, timeout_s: float = 600, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*podman_argv(), *argv], capture_output=True, text=True,
                          timeout=timeout_s, check=False, env=podman_env(), **kwargs)


def make_base() -> None:
    """Debian bookworm with its python3, as an image (pip may install into it, as in the
    official image)."""
    if podman("image", "exists", BASE).returncode == 0:
        return
    debootstrap = tool("debootstrap", "debootstrap", "/usr/sbin")
    rootfs = Path(tempfile.mkdtemp(prefix="rootfs-", dir=STORE))
    try:
        made = subprocess.run(
            [debootstrap, "--variant=minbase", f"--include={BASE_PACKAGES}", "bookworm",
             str(rootfs), "http://deb.debian.org/debian"],
            capture_output=True, text=True, timeout=900, check=False)
        if made.returncode != 0:
            missing(f"debootstrap could not make a Debian base: {made.stdout[-500:]}"
                    f"{made.stderr[-500:]}")
        for marker in rootfs.glob("usr/lib/python3*/EXTERNALLY-MANAGED"):
            marker.unlink()
        # The machine's trust store: where TLS to PyPI is inspected by a local CA, the build's
        # pip must trust what the host's pip trusts.
        host_bundle = Path("/etc/ssl/certs/ca-certificates.crt")
        if host_bundle.exists():
            shutil.copy(host_bundle, rootfs / "etc" / "ssl" / "certs" / "ca-certificates.crt")
        shutil.rmtree(rootfs / "var" / "cache" / "apt" / "archives", ignore_errors=True)
        tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
        imported = subprocess.run([*podman_argv(), "import", "-", BASE], stdin=tar.stdout,
                                  capture_output=True, text=True, timeout=600, check=False,
                                  env=podman_env())
        tar.wait()
        assert imported.returncode == 0, imported.stderr
    finally:
        shutil.rmtree(rootfs, ignore_errors=True)


@pytest.fixture(scope="module")
def image() -> str:
    if os.environ.get("RECIPE_RUNNER_IMAGE_TEST") != "1":
        pytest.skip("the image build and run take minutes: set RECIPE_RUNNER_IMAGE_TEST=1 "
                    "(make test-image; .ci/run does)")
    if os.geteuid() != 0:
        missing("building an image with podman here needs root (rootful vfs storage)")
    STORE.mkdir(parents=True, exist_ok=True)
    make_base()
    built = podman("build", "--format", "docker", "--network", "host",
                   "--build-arg", f"PYTHON_IMAGE={BASE}",
                   "-t", IMAGE, "-f", "Dockerfile", ".", cwd=ROOT, timeout_s=1200)
    assert built.returncode == 0, built.stdout[-4000:] + built.stderr[-4000:]
    return IMAGE


def inspect(name: str) -> dict[str, Any]:
    shown = podman("inspect", name)
    assert shown.returncode == 0, shown.stderr
    return dict(json.loads(shown.stdout)[0])


@pytest.fixture
def mounts(emulator: RunningEmulator, tmp_path: Path) -> Iterator[dict[str, Path]]:
    """What the README mounts: recipes/, connections/, a state volume (owned by the image's
    user), plus the emulator's CA."""
    paths = {name: tmp_path / name for name in ("recipes", "connections", "state", "tls")}
    for path in paths.values():
        path.mkdir()
        path.chmod(0o755)
    os.chown(paths["state"], 10001, 10001)
    shutil.copy(emulator.ca_file, paths["tls"] / "ca.pem")
    (paths["tls"] / "ca.pem").chmod(0o644)
    (paths["recipes"] / "tick.yaml").write_text(yaml.safe_dump(TICK, sort_keys=False))
    yield paths


def run_args(mounts: dict[str, Path]) -> list[str]:
    return ["--network", "host",
            "-v", f"{mounts['recipes']}:/etc/recipe-runner/recipes:ro",
            "-v", f"{mounts['connections']}:/etc/recipe-runner/connections:ro",
            "-v", f"{mounts['state']}:/var/lib/recipe-runner",
            "-v", f"{mounts['tls']}:/etc/recipe-runner/tls:ro"]


async def write_connections(emulator: RunningEmulator, mounts: dict[str, Path]) -> None:
    await seed_tenant(emulator)
    conn = connection(emulator, client_secret="${env:D365_CLIENT_SECRET}",
                      ca_bundle="/etc/recipe-runner/tls/ca.pem")
    path = mounts["connections"] / "connections.yaml"
    path.write_text(yaml.safe_dump({"connections": {"crm": conn}}, sort_keys=False))
    path.chmod(0o644)


async def apodman(*argv: str) -> subprocess.CompletedProcess[str]:
    """``podman`` off the event loop: the emulator in this process must keep answering."""
    return await asyncio.to_thread(podman, *argv)


async def wait_healthy(name: str, deadline_s: float = 60) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if (await apodman("healthcheck", "run", name)).returncode == 0:
            return
        await asyncio.sleep(1)
    logs = await apodman("logs", name)
    raise AssertionError(f"HEALTHCHECK never passed:\n{logs.stdout[-3000:]}{logs.stderr[-2000:]}")


async def test_the_image_builds_and_runs_as_the_readme_says(
    image: str, emulator: RunningEmulator, mounts: dict[str, Path]
) -> None:
    await write_connections(emulator, mounts)
    secret = ["-e", f"D365_CLIENT_SECRET={CLIENT_SECRET}"]
    validated = await apodman("run", "--rm", *run_args(mounts), *secret, image, "validate",
                              "/etc/recipe-runner/recipes", "--connections",
                              "/etc/recipe-runner/connections/connections.yaml")
    tested = await apodman("run", "--rm", *run_args(mounts), *secret, image, "connections",
                           "test", "crm")
    name = f"rr-test-{os.getpid()}"
    started = await apodman("run", "-d", "--name", name, *run_args(mounts), *secret, image)
    try:
        assert started.returncode == 0, started.stderr
        await wait_healthy(name)
        user = await apodman("exec", name, "id", "-u")
        health = inspect(name)["State"].get("Health") or inspect(name)["State"].get(
            "Healthcheck", {})
        stopped = await apodman("stop", "-t", "15", name)
        state = inspect(name)["State"]
        logs = (await apodman("logs", name)).stdout
    finally:
        await apodman("rm", "-f", name)

    assert validated.returncode == 0, validated.stdout + validated.stderr
    assert "1 recipe(s) valid" in validated.stdout + validated.stderr
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "crm: ok" in tested.stdout and "UserId" in tested.stdout
    assert user.stdout.strip() == "10001"
    assert health.get("Status") == "healthy"
    assert stopped.returncode == 0 and state["ExitCode"] == 0, logs[-3000:]
    events = [json.loads(line)["event"] for line in logs.splitlines() if line.startswith("{")]
    assert "daemon.started" in events or "daemon.listening" in events, events[:20]
    assert events[-1] in ("daemon.stopped", "daemon.exited"), events[-10:]
    assert CLIENT_SECRET not in logs + tested.stdout + validated.stdout
    config = inspect(image)["Config"]
    assert config["User"] == "10001:10001"
    assert (ROOT / "Dockerfile").read_text().count("ARG PYTHON_IMAGE=python:3.11-slim") == 1
