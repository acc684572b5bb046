"""Loading recipe files from a directory: every valid recipe, and every problem of the rest.

No file can take the caller down: only regular files up to a size limit are read (see
``runner.config.files``), YAML shapes that would exhaust memory or the stack are problems
(``runner.config.yaml_source``), and anything else a file makes go wrong while it is built is
a problem of that file. The daemon loads with :func:`load_recipes_off_loop`: in a thread,
within a timeout, so its event loop keeps answering while files are read.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from connectors.base import Registry
from runner.config import Problem, parse_yaml, sort_problems
from runner.config.files import UnreadableFile, read_regular_text
from runner.recipes.model import Recipe
from runner.recipes.validate import RecipeBuilder

RECIPE_SUFFIXES = (".yaml", ".yml")
LOAD_TIMEOUT_S = 30.0


class LoadTimedOut(Exception):
    """Loading the recipe files took longer than the timeout (the caller keeps what it has)."""


@dataclass
class LoadedRecipes:
    recipes: dict[str, Recipe] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    broken_files: list[str] = field(default_factory=list)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.is_error]


def display_name(path: Path) -> str:
    """The path as a user would type it: relative to the working directory when inside it."""
    try:
        return os.path.relpath(path) if not os.path.relpath(path).startswith("..") else str(path)
    except ValueError:
        return str(path)


def load_recipe(
    path: Path, registry: Registry, connections: Mapping[str, str] | None = None
) -> tuple[Recipe | None, list[Problem]]:
    name = display_name(path)
    try:
        text = read_regular_text(path)
    except UnreadableFile as exc:
        return None, [Problem(name, None, None, (), f"cannot read: {exc}")]
    try:
        builder = RecipeBuilder(parse_yaml(text, name), registry, connections)
        recipe = builder.build(text)
    except (RecursionError, MemoryError, ValueError, TypeError) as exc:
        # A shape the checks above did not foresee: a problem of this file, not a crash.
        return None, [Problem(name, None, None, (), f"cannot load: {exc.__class__.__name__}")]
    return recipe, sort_problems(builder.problems)


def recipe_files(paths: list[Path]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            try:
                files.extend(sorted(p for p in path.iterdir() if p.suffix in RECIPE_SUFFIXES))
            except OSError:
                files.append(path)  # unlistable: reported as a problem when read
        else:
            files.append(path)
    return files


def load_recipes(
    paths: list[Path], registry: Registry, connections: Mapping[str, str] | None = None
) -> LoadedRecipes:
    """Load every recipe file in ``paths`` (files or directories); never raises for content."""
    loaded = LoadedRecipes()
    for file in recipe_files(paths):
        recipe, problems = load_recipe(file, registry, connections)
        loaded.problems.extend(problems)
        if recipe is None:
            loaded.broken_files.append(display_name(file))
        elif recipe.name in loaded.recipes:
            other = loaded.recipes[recipe.name].file
            loaded.problems.append(
                Problem(
                    recipe.file,
                    None,
                    None,
                    ("name",),
                    f"recipe name {recipe.name!r} is already used by {other}",
                )
            )
            loaded.broken_files.append(recipe.file)
        else:
            loaded.recipes[recipe.name] = recipe
    return loaded


async def load_recipes_off_loop(
    paths: list[Path], registry: Registry, connections: Mapping[str, str] | None = None,
    timeout_s: float | None = None,
) -> LoadedRecipes:
    """:func:`load_recipes` in a worker thread; raises :class:`LoadTimedOut` after
    ``timeout_s`` (default ``LOAD_TIMEOUT_S``; the thread finishes on its own, every file it
    reads is size-bounded)."""
    timeout_s = LOAD_TIMEOUT_S if timeout_s is None else timeout_s
    work = asyncio.to_thread(load_recipes, paths, registry, connections)
    try:
        return await asyncio.wait_for(work, timeout_s)
    except TimeoutError:
        raise LoadTimedOut(f"reading the recipe files took longer than {timeout_s:g}s") from None
