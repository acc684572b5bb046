"""The file half of the hostile corpus: recipe and connection files an attacker (or an
accident) could put where the daemon reads, each with its expected outcome.

``corpus/recipes/NN-name.yaml`` and ``corpus/connections/NN-name.yaml`` give exactly the
problem lines in ``NN-name.expected`` (``UPDATE_SNAPSHOTS=1`` rewrites them; review the diff).
Files that cannot live in git (a FIFO, a symlink to ``/dev/zero`` …) are made here. Then a
running daemon gets them all, and must keep its last good recipes and connections and answer
``/healthz`` within a second after each."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from connectors.catalog import default_registry
from runner.connections import check_connections
from runner.recipes.loader import load_recipe
from tests.daemon_support import wait_for
from tests.hostile.support import TICK, assert_healthy, hostile_daemon

CORPUS = Path(__file__).parent / "corpus"
RECIPES = sorted((CORPUS / "recipes").glob("*.yaml"))
CONNECTIONS = sorted((CORPUS / "connections").glob("*.yaml"))
ENVIRON = {"GOOD_SECRET": "s3cret-value", "MULTILINE_VALUE": "line1\nline2",
           "ANSI_VALUE": "abc\x1b[31mred"}
GOOD_CONNECTIONS = ("connections:\n  sink:\n    type: http\n"
                    "    base_url: https://hooks.example.com\n")


def _special_files(folder: Path) -> dict[str, str]:
    """Make the files git cannot hold; name → the problem line each must give."""
    os.mkfifo(folder / "fifo.yaml")
    (folder / "zero.yaml").symlink_to("/dev/zero")
    (folder / "loop.yaml").symlink_to(folder / "loop.yaml")
    (folder / "dir.yaml").mkdir()
    (folder / "big.yaml").write_text("name: big\n# " + "x" * 600_000 + "\n")
    regular = "only regular files are read"
    return {
        "fifo.yaml": f"fifo.yaml: cannot read: not a regular file (a FIFO); {regular}",
        "zero.yaml": f"zero.yaml: cannot read: not a regular file (a character device); {regular}",
        "loop.yaml": "loop.yaml: cannot read: Too many levels of symbolic links",
        "dir.yaml": f"dir.yaml: cannot read: not a regular file (a directory); {regular}",
        "big.yaml": "big.yaml: cannot read: larger than the 512 KiB limit (586 KiB)",
    }


def _snapshot(case: Path, lines: list[str]) -> None:
    expected = case.with_suffix(".expected")
    if os.environ.get("UPDATE_SNAPSHOTS") == "1":
        expected.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert lines == expected.read_text(encoding="utf-8").splitlines()


SPECIAL_FILES = 5  # fifo, /dev/zero, a symlink loop, a directory, an oversized file


def test_the_corpus_holds_at_least_forty_hostile_files() -> None:
    assert len(RECIPES) >= 20 and len(CONNECTIONS) >= 12
    assert len(RECIPES) + len(CONNECTIONS) + SPECIAL_FILES >= 40


@pytest.mark.parametrize("case", RECIPES, ids=[p.stem for p in RECIPES])
def test_hostile_recipe_file_gives_exactly_its_expected_problems(
        case: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(case.parent)
    recipe, problems = load_recipe(Path(case.name), default_registry(), {"crm": "dynamics365"})
    lines = [str(p) for p in problems] or ["ok"]
    _snapshot(case, lines)
    assert (recipe is None) == any(p.is_error for p in problems)


def test_special_files_are_refused_without_being_opened_for_long(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    expected = _special_files(tmp_path)
    monkeypatch.chdir(tmp_path)
    for name, line in expected.items():
        recipe, problems = load_recipe(Path(name), default_registry())
        assert recipe is None and [str(p) for p in problems] == [line]


@pytest.mark.parametrize("case", CONNECTIONS, ids=[p.stem for p in CONNECTIONS])
def test_hostile_connections_file_gives_exactly_its_expected_problems(
        case: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(case.parent)
    check = check_connections(Path(case.name), display_name=case.name, environ=ENVIRON)
    lines = [str(p) for p in check.problems]
    _snapshot(case, lines)
    assert check.file is None
    shown = "\n".join(lines)
    assert "saltsalt" not in shown and "line2" not in shown and "\x1b" not in shown


async def test_a_running_daemon_survives_every_hostile_recipe_file(tmp_path: Path) -> None:
    async with hostile_daemon(tmp_path) as running:
        for case in RECIPES:
            shutil.copy(case, running.recipes / case.name)
        _special_files(running.recipes)
        await running.reloaded()
        await assert_healthy(running)
        broken = {line.split(":")[0].rsplit("/", 1)[-1] for line in
                  (str(e["problem"]) for e in running.events("recipe.problem"))}
        assert {"01-billion-laughs.yaml", "fifo.yaml", "zero.yaml"} <= broken
        assert "tick" in running.daemon.engine.recipes  # type: ignore[union-attr]


async def test_a_running_daemon_keeps_its_connections_through_every_hostile_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in ENVIRON.items():
        monkeypatch.setenv(name, value)
    shutil.copy(CORPUS / "connections" / "shadow.txt", tmp_path / "shadow.txt")
    async with hostile_daemon(tmp_path, {"tick": TICK},
                              connections=GOOD_CONNECTIONS) as running:
        def kept() -> int:
            return len(running.events("connections.kept_last_good"))
        for index, case in enumerate(CONNECTIONS, start=1):
            (tmp_path / "connections.yaml").write_bytes(case.read_bytes())
            await wait_for(running.logs, lambda _e, n=index: kept() >= n, 10)
            await assert_healthy(running)
        assert running.daemon.connections is not None
        assert list(running.daemon.connections.connections) == ["sink"]
