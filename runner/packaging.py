"""The wheel installs three top-level packages, ``runner``, ``connectors`` and ``emulator``
(the layout the project was asked for). Names that plain can clash with another
distribution in the same environment, which would overwrite or shadow ours; every command
checks at start and says so (install recipe-runner in its own virtualenv, as the README
and the container image do)."""

from __future__ import annotations

from functools import cache
from importlib.metadata import packages_distributions
from pathlib import Path

import structlog

DISTRIBUTION = "recipe-runner"
TOP_LEVEL = ("runner", "connectors", "emulator")
HINT = "install recipe-runner in a virtualenv of its own (see README, 'Installing')"


@cache
def top_level_problems(scan_distributions: bool = True) -> tuple[str, ...]:
    """Why our top-level packages may not be ours: one of them is imported from somewhere
    else than the other two (cheap), or another installed distribution ships the same
    name (``scan_distributions``: reads every distribution's metadata, ~0.1 s)."""
    problems = []
    owners = packages_distributions() if scan_distributions else {}
    for name in TOP_LEVEL:
        others = sorted({d for d in owners.get(name, []) if d.lower() != DISTRIBUTION})
        if others:
            problems.append(f"the top-level package {name!r} is also installed by "
                            f"{', '.join(others)}; one overwrites the other; {HINT}")
    folders = {name: _folder(name) for name in TOP_LEVEL}
    if len(set(folders.values())) > 1:
        shown = ", ".join(f"{name} from {folder}" for name, folder in folders.items())
        problems.append(f"recipe-runner's packages come from different places ({shown}): "
                        f"one is shadowed by another package of the same name; {HINT}")
    return tuple(problems)


def _folder(package: str) -> Path:
    module = __import__(package)
    return Path(module.__file__ or ".").resolve().parent.parent


def check_top_level_packages(scan_distributions: bool = False) -> None:
    """One warning line per problem (the command goes on: it may well work). The daemon
    scans the distributions too; other commands only compare where the packages are."""
    log = structlog.get_logger("recipe-runner")
    for problem in top_level_problems(scan_distributions):
        log.warning("packaging.clash", problem=problem)
