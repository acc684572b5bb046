"""The wheel's top-level packages (``runner``, ``connectors``, ``emulator``) are checked at
start: another installed distribution that ships one of those names is a warning line that
says what clashes and what to do."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from runner import packaging


def fake_distribution(folder: Path, name: str, top_level: str) -> None:
    info = folder / f"{name}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    (info / "top_level.txt").write_text(top_level + "\n")


def test_a_distribution_shipping_emulator_too_is_named_with_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_distribution(tmp_path, "some-emulator", "emulator")
    monkeypatch.setattr(sys, "path", [*sys.path, str(tmp_path)])
    packaging.top_level_problems.cache_clear()
    try:
        with capture_logs() as logs:
            packaging.check_top_level_packages(scan_distributions=True)
    finally:
        packaging.top_level_problems.cache_clear()
    assert [e["event"] for e in logs] == ["packaging.clash"]
    assert "'emulator' is also installed by some-emulator" in logs[0]["problem"]
    assert "virtualenv of its own" in logs[0]["problem"]


def test_this_environment_has_no_clash() -> None:
    packaging.top_level_problems.cache_clear()
    assert packaging.top_level_problems(True) == ()
