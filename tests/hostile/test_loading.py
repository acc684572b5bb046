"""Items 5-7 of issue 17: no recipe or config file can block, exhaust or kill the daemon.
Each hostile file is a positioned problem; the other recipes keep running; /healthz answers
within a second throughout; a reload problem of any kind keeps the last good version."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from runner import cli
from runner.daemon import Daemon
from runner.recipes import loader
from runner.settings import Settings
from tests.daemon_support import wait_for
from tests.hostile.hostile_files import billion_laughs, deep_block, deep_flow
from tests.hostile.support import TICK, assert_healthy, hostile_daemon


def _problems(running_logs: list[dict[str, object]], file: str) -> list[str]:
    return [str(e["problem"]) for e in running_logs
            if e["event"] == "recipe.problem" and file in str(e["problem"])]


async def test_billion_laughs_dropped_into_recipes_is_a_problem_not_a_stall(
        tmp_path: Path) -> None:
    async with hostile_daemon(tmp_path) as running:
        started = time.monotonic()
        (running.recipes / "laughs.yaml").write_text(billion_laughs())
        await wait_for(running.logs, lambda e: e["event"] == "recipe.problem"
                       and "laughs.yaml" in e["problem"])
        assert time.monotonic() - started < 5
        [problem] = _problems(running.logs, "laughs.yaml")
        assert problem.endswith("laughs.yaml:2:4: aliases expand to more than 100,000 values "
                                "(a 'billion laughs' file?); write the values out or use "
                                "fewer aliases")
        await assert_healthy(running)
        assert "tick" in running.daemon.engine.recipes  # type: ignore[union-attr]


@pytest.mark.parametrize(("text", "where"), [(deep_flow(), "deep.yaml:2:71:"),
                                             (deep_block(), "deep.yaml:3:127:")],
                         ids=["flow-40kb", "block-3000"])
def test_validate_reports_deep_nesting_with_its_position(
        text: str, where: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "deep.yaml").write_text(text)

    code = cli.main(["validate", str(tmp_path / "deep.yaml")])

    err = capsys.readouterr().err
    assert code == 1
    assert f"{where} nested deeper than 64 levels" in err
    assert "RecursionError" not in err


@pytest.mark.parametrize("text", [deep_flow(), deep_block()], ids=["flow-40kb", "block-3000"])
async def test_deep_nesting_keeps_the_last_good_version_and_restarts(
        text: str, tmp_path: Path) -> None:
    async with hostile_daemon(tmp_path) as running:
        (running.recipes / "tick.yaml").write_text(text)
        await wait_for(running.logs, lambda e: e["event"] == "recipe.kept_last_good")
        await assert_healthy(running)
        assert "tick" in running.daemon.engine.recipes  # type: ignore[union-attr]
    # A restart with the file still there starts (the broken file is left out), exit 0.
    async with hostile_daemon(tmp_path, {}) as again:
        assert _problems(again.logs, "tick.yaml")
        await assert_healthy(again)


async def test_fifo_and_dev_zero_in_recipes_are_refused_without_blocking(
        tmp_path: Path) -> None:
    async with hostile_daemon(tmp_path) as running:
        os.mkfifo(running.recipes / "x.yaml")
        (running.recipes / "zero.yaml").symlink_to("/dev/zero")
        await wait_for(running.logs, lambda e: e["event"] == "recipe.problem"
                       and "zero.yaml" in e["problem"])
        await wait_for(running.logs, lambda e: e["event"] == "recipe.problem"
                       and "x.yaml" in e["problem"])
        assert _problems(running.logs, "x.yaml")[0].endswith(
            "cannot read: not a regular file (a FIFO); only regular files are read")
        assert _problems(running.logs, "zero.yaml")[0].endswith(
            "cannot read: not a regular file (a character device); only regular files "
            "are read")
        await assert_healthy(running)


async def test_oversized_recipe_file_is_refused(tmp_path: Path) -> None:
    async with hostile_daemon(tmp_path) as running:
        (running.recipes / "big.yaml").write_text("name: big\n# " + "x" * 600_000 + "\n")
        await wait_for(running.logs, lambda e: e["event"] == "recipe.problem"
                       and "big.yaml" in e["problem"])
        assert "larger than the 512 KiB limit" in _problems(running.logs, "big.yaml")[0]
        await assert_healthy(running)


async def test_file_reference_to_dev_zero_is_a_start_up_problem(tmp_path: Path) -> None:
    (tmp_path / "recipes").mkdir()
    (tmp_path / "recipes" / "tick.yaml").write_text(TICK)
    (tmp_path / "connections.yaml").write_text(
        "connections:\n  sink:\n    type: http\n    base_url: https://example.test\n"
        "    auth: bearer\n    token: ${file:/dev/zero}\n")
    settings = Settings(recipes=[tmp_path / "recipes"], connections=tmp_path / "connections.yaml",
                        state_url=f"sqlite:///{tmp_path / 's.db'}", listen="off")
    from structlog.testing import capture_logs
    with capture_logs() as logs:
        code = await Daemon(settings).run()
    assert code == 2
    problems = [e["problem"] for e in logs if e["event"] == "config.problem"]
    assert problems == [f"{tmp_path / 'connections.yaml'}:6:12: connections.sink.token: cannot "
                        "read secret file '/dev/zero': not a regular file (a character "
                        "device); only regular files are read (http)"]


async def test_a_reload_that_times_out_keeps_every_running_recipe(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async with hostile_daemon(tmp_path) as running:
        slow = loader.load_recipes

        def stuck(*args: object) -> loader.LoadedRecipes:
            time.sleep(1.0)  # a file system that hangs (NFS, FUSE): only the thread waits
            return slow(*args)  # type: ignore[arg-type]

        monkeypatch.setattr(loader, "LOAD_TIMEOUT_S", 0.3)
        monkeypatch.setattr(loader, "load_recipes", stuck)
        (running.recipes / "tick.yaml").write_text(TICK.replace("tick", "tock"))
        await wait_for(running.logs, lambda e: e["event"] == "recipes.load_failed")
        await assert_healthy(running)
        assert list(running.daemon.engine.recipes) == ["tick"]  # type: ignore[union-attr]


async def test_a_reload_that_raises_keeps_the_daemon_and_its_recipes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async with hostile_daemon(tmp_path) as running:
        def broken(*args: object) -> loader.LoadedRecipes:
            raise RuntimeError("something nobody foresaw")

        monkeypatch.setattr(loader, "load_recipes", broken)
        (running.recipes / "tick.yaml").write_text(TICK.replace("tick", "tock"))
        failed = await wait_for(running.logs, lambda e: e["event"] == "daemon.reload_failed")
        assert failed["error"] == "RuntimeError: something nobody foresaw"
        await assert_healthy(running)
        assert list(running.daemon.engine.recipes) == ["tick"]  # type: ignore[union-attr]
