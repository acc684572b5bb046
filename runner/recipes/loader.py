"""Loading recipe files from a directory: every valid recipe, and every problem of the rest."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from connectors.base import Registry
from runner.config import Problem, parse_yaml, sort_problems
from runner.recipes.model import Recipe
from runner.recipes.validate import RecipeBuilder

RECIPE_SUFFIXES = (".yaml", ".yml")


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
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return None, [Problem(name, None, None, (), f"cannot read: {exc.__class__.__name__}")]
    builder = RecipeBuilder(parse_yaml(text, name), registry, connections)
    recipe = builder.build(text)
    return recipe, sort_problems(builder.problems)


def recipe_files(paths: list[Path]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(p for p in path.iterdir() if p.suffix in RECIPE_SUFFIXES))
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
