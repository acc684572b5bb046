"""The hash-pinned locks: in step with pyproject.toml, installed from by `make`, the image and
CI, and audited for known vulnerabilities with an honest count of what was audited."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.tools_support import missing
from tools.lock_audit import audit, judge

ROOT = Path(__file__).resolve().parents[1]
LOCKS = ROOT / "requirements"
PIN = re.compile(r"^([A-Za-z0-9_.-]+)==([^\s;\\]+)", re.M)


def pins(lock: str) -> dict[str, str]:
    return {canonicalize_name(n): v for n, v in PIN.findall((LOCKS / lock).read_text())}


def _pyproject() -> dict[str, object]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


@pytest.mark.parametrize(("lock", "groups"), [("runtime.lock", ("main",)),
                                              ("test.lock", ("main", "test"))])
def test_every_requirement_is_pinned_in_the_lock_at_an_allowed_version(
    lock: str, groups: tuple[str, ...]
) -> None:
    project = _pyproject()["project"]
    assert isinstance(project, dict)
    wanted = list(project["dependencies"]) if "main" in groups else []
    if "test" in groups:
        wanted += project["optional-dependencies"]["test"]
    pinned = pins(lock)
    for text in wanted:
        requirement = Requirement(text)
        version = pinned.get(canonicalize_name(requirement.name))
        assert version is not None, f"{requirement.name} is not in {lock}: run `make lock`"
        assert requirement.specifier.contains(version, prereleases=True), \
            f"{lock} pins {requirement.name}=={version}, outside {requirement.specifier}"


def test_every_pin_has_hashes_and_the_locks_agree() -> None:
    for lock in ("build.lock", "runtime.lock", "test.lock"):
        blocks = re.split(r"\n(?=[A-Za-z0-9_.-]+==)", (LOCKS / lock).read_text())
        for block in blocks:
            if "==" in block.split("\n", 1)[0]:
                assert "--hash=sha256:" in block, f"{lock}: {block.splitlines()[0]} has no hash"
    test, runtime, build = pins("test.lock"), pins("runtime.lock"), pins("build.lock")
    assert {n: test.get(n) for n in runtime} == runtime
    assert {n: test.get(n) for n in build} == build


def test_make_the_image_and_ci_install_from_the_locks() -> None:
    makefile = (ROOT / "Makefile").read_text()
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "pip install --quiet --require-hashes -r requirements/test.lock" in makefile
    assert "--no-deps --no-build-isolation -e ." in makefile
    assert "--require-hashes --no-deps --dest /tools -r requirements/build.lock" in dockerfile
    assert "--require-hashes --wheel-dir /wheels -r requirements/runtime.lock" in dockerfile
    assert "--no-build-isolation" in dockerfile
    assert "make test" in (ROOT / ".ci" / "run").read_text()  # which is `make venv` first
    assert re.search(r"^lock:", makefile, re.M) and "uv pip compile" in makefile


def test_a_report_where_nothing_could_be_looked_up_is_not_clean() -> None:
    # what pip-audit prints as "No known vulnerabilities found" where PyPI is out of reach
    report = {"dependencies": [
        {"name": "aiohttp", "skip_reason": "Dependency not found on PyPI and could not be "
                                           "audited: aiohttp (3.14.5)"},
        {"name": "msal", "skip_reason": "Dependency not found on PyPI and could not be "
                                        "audited: msal (1.39.0)"}]}
    result = judge(report)
    assert result.outcome == "not audited" and result.audited == 0 and result.locked == 2
    assert "0 of 2 locked packages could be checked" in result.summary()
    assert "not a clean result" in result.summary()

    partly = judge({"dependencies": [report["dependencies"][0],
                                     {"name": "msal", "version": "1.39.0", "vulns": []}]})
    assert partly.outcome == "not audited" and partly.audited == 1
    clean = judge({"dependencies": [{"name": "msal", "version": "1.39.0", "vulns": []}]})
    assert clean.outcome == "clean" and clean.audited == 1
    bad = judge({"dependencies": [{"name": "jinja2", "version": "3.1.2", "vulns": [
        {"id": "GHSA-h5c8-rqwp-cp95", "fix_versions": ["3.1.3"]}]}]})
    assert bad.outcome == "vulnerable"
    assert bad.vulnerabilities == ["jinja2 3.1.2: GHSA-h5c8-rqwp-cp95 (fix: 3.1.3)"]
    assert judge({"dependencies": []}).outcome == "not audited"


@pytest.mark.parametrize("lock", ["runtime.lock", "test.lock"])
def test_the_locked_packages_have_no_known_vulnerabilities(lock: str) -> None:
    result = audit(LOCKS / lock)
    if result.outcome == "broken":
        missing(result.summary())  # a failure under REQUIRE_TOOLS=1: the tool must work
    if result.outcome == "not audited":
        # The vulnerability database is out of reach (as on this project's machines): say
        # so, never pass. Not a CI failure: the machine, not the code, decides this.
        pytest.skip(result.summary())
    assert result.outcome == "clean", result.summary()
