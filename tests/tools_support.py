"""Outside programs some tests drive (tinyproxy, promtool, podman, pip-audit): found on PATH,
or the test skips with the reason, unless ``REQUIRE_TOOLS=1`` (set by ``.ci/run``, which
installs them) turns the skip into a failure, as ``REQUIRE_POSTGRES=1`` does for PostgreSQL."""

from __future__ import annotations

import os
import shutil

import pytest

REQUIRE_FLAG = "REQUIRE_TOOLS"


def required() -> bool:
    return os.environ.get(REQUIRE_FLAG) == "1"


def missing(reason: str) -> None:
    """Skip with ``reason``, or fail with it under ``REQUIRE_TOOLS=1``."""
    if required():
        pytest.fail(f"{reason} and {REQUIRE_FLAG}=1")
    pytest.skip(reason)


def tool(name: str, package: str, *extra_dirs: str) -> str:
    """The path of program ``name`` (Debian package ``package``), or skip/fail."""
    found = shutil.which(name) or next(
        (os.path.join(d, name) for d in extra_dirs if os.access(os.path.join(d, name), os.X_OK)),
        None)
    if found is None:
        missing(f"{name} is not installed (apt-get install {package}; .ci/run does)")
    assert found is not None
    return found
