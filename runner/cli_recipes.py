"""``recipe-runner recipes list|enable|disable``: every recipe, how its polling goes, and
an operator's switch to pause one without editing its file.

A recipe runs when its file says ``enabled: true`` (the default) and the operator has not
disabled it in the state store. A running daemon reads the store's switch before every
poll, so ``disable`` takes effect at the recipe's next poll; jobs already stored still run.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any

from connectors.base import Registry
from connectors.catalog import default_registry
from runner.cli_common import (
    EXIT_OK,
    UserError,
    add_recipe_options,
    add_state_options,
    load_connections_file,
    load_operator_recipes,
    open_store_for_reading,
    open_store_for_writing,
    run_command,
    settings_from,
    warn,
)
from runner.config import suggestion
from runner.output import human_time, iso_time, one_line, print_json, table
from runner.recipes import LoadedRecipes, Recipe
from runner.store import JobStatus, RecipeState, Store


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="recipes_command", required=True)
    listing = sub.add_parser("list", help="recipes, last poll, job counts, broken files")
    add_state_options(listing)
    add_recipe_options(listing)
    for verb, what in (("enable", "resume polling"), ("disable", "stop polling")):
        switch = sub.add_parser(verb, help=f"{what} a recipe (a running daemon follows)")
        add_state_options(switch)
        add_recipe_options(switch)
        switch.add_argument("name", metavar="NAME")


def main(args: argparse.Namespace, registry: Registry | None = None) -> int:
    """Run one ``recipes`` command; ``registry`` defaults to every shipped connector."""
    registry = registry or default_registry()
    if args.recipes_command == "list":
        return run_command(list_recipes(args, registry))
    return run_command(switch_recipe(args, registry, args.recipes_command == "enable"))


# -- list ----------------------------------------------------------------------------


@dataclass(frozen=True)
class RecipeStatus:
    """One loaded recipe with its operator state and job counts."""

    recipe: Recipe
    state: RecipeState
    counts: dict[JobStatus, int]

    @property
    def enabled(self) -> bool:
        return self.recipe.enabled and self.state.enabled is not False

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.recipe.name,
            "file": self.recipe.file,
            "enabled": self.enabled,
            "file_enabled": self.recipe.enabled,
            "operator_override": self.state.enabled,
            "trigger": self.recipe.trigger.type,
            "last_poll_at": iso_time(self.state.last_poll_at),
            "last_poll_error": self.state.last_error,
            "jobs": {status.value: self.counts.get(status, 0) for status in JobStatus},
            "problem": None,
        }

    def cells(self) -> list[object]:
        last_poll = human_time(self.state.last_poll_at) if self.state.last_poll_at else "never"
        return [self.recipe.name, self._enabled_cell(), self.recipe.trigger.type, last_poll,
                one_line(self.state.last_error, 40), self.counts.get(JobStatus.PENDING, 0),
                self.counts.get(JobStatus.RUNNING, 0), self.counts.get(JobStatus.FAILED, 0),
                self.recipe.file]

    def _enabled_cell(self) -> str:
        if not self.recipe.enabled:
            return "no (file)"
        return "no (operator)" if self.state.enabled is False else "yes"


async def list_recipes(args: argparse.Namespace, registry: Registry) -> int:
    settings = settings_from(args)
    loaded = load_operator_recipes(settings, registry, load_connections_file(settings))
    store = await open_store_for_reading(settings.state_url)
    try:
        statuses = [await recipe_status(recipe, store) for recipe in _by_name(loaded)]
    finally:
        if store is not None:
            await store.close()
    broken = broken_files(loaded)
    if args.json:
        print_json([s.to_json() for s in statuses] + [_broken_json(f, p) for f, p in broken])
    elif statuses or broken:
        rows = [s.cells() for s in statuses] + [_broken_cells(f, p) for f, p in broken]
        print(table(["name", "enabled", "trigger", "last poll", "poll error", "pending",
                     "running", "failed", "file"], rows))
    else:
        print(f"no recipes in {', '.join(str(p) for p in settings.recipes)}")
    return EXIT_OK


def _by_name(loaded: LoadedRecipes) -> list[Recipe]:
    return sorted(loaded.recipes.values(), key=lambda recipe: recipe.name)


async def recipe_status(recipe: Recipe, store: Store | None) -> RecipeStatus:
    """The recipe's state and counts (``store=None``: nothing has run yet)."""
    if store is None:
        return RecipeStatus(recipe, RecipeState(recipe.name, None, None, None),
                            dict.fromkeys(JobStatus, 0))
    return RecipeStatus(recipe, await store.get_recipe_state(recipe.name),
                        await store.count_jobs_by_status(recipe.name))


def broken_files(loaded: LoadedRecipes) -> list[tuple[str, str]]:
    """``(file, first problem)`` of every file that did not load."""
    broken = []
    for file in loaded.broken_files:
        problems = [p for p in loaded.problems if p.file == file and p.is_error]
        broken.append((file, str(problems[0]) if problems else f"{file}: does not load"))
    return broken


def _broken_json(file: str, problem: str) -> dict[str, Any]:
    return {"name": None, "file": file, "enabled": False, "file_enabled": None,
            "operator_override": None, "trigger": None, "last_poll_at": None,
            "last_poll_error": None, "jobs": None, "problem": problem}


def _broken_cells(file: str, problem: str) -> list[object]:
    where = problem.removeprefix(f"{file}:").strip()  # the file has its own column
    return ["(broken)", "no", "-", "-", one_line(where, 80), "-", "-", "-", file]


# -- enable / disable ----------------------------------------------------------------


async def switch_recipe(args: argparse.Namespace, registry: Registry, enabled: bool) -> int:
    settings = settings_from(args)
    loaded = load_operator_recipes(settings, registry, load_connections_file(settings))
    recipe = loaded.recipes.get(args.name)
    if recipe is None:
        raise UserError(f"no recipe named {args.name!r}" + suggestion(args.name, loaded.recipes))
    store = await open_store_for_writing(settings.state_url)
    async with store:
        await store.set_recipe_enabled(recipe.name, enabled)
    if enabled and not recipe.enabled:
        warn(f"{recipe.file} says enabled: false; the daemon runs {recipe.name} only once "
             "the file says true")
    verb = "enabled" if enabled else "disabled (a running daemon stops polling it at its next poll)"
    if args.json:
        print_json({"name": recipe.name, "operator_override": enabled})
    else:
        print(f"recipe {recipe.name} {verb}")
    return EXIT_OK
