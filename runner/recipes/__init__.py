"""Recipes: YAML files in, validated :class:`Recipe` objects (or positioned problems) out."""

from __future__ import annotations

from runner.recipes.loader import LoadedRecipes, load_recipe, load_recipes
from runner.recipes.model import (
    ActionStep,
    ForEachStep,
    Recipe,
    RetryPolicy,
    Step,
    StopStep,
    TriggerConfig,
)

__all__ = [
    "ActionStep",
    "ForEachStep",
    "LoadedRecipes",
    "Recipe",
    "RetryPolicy",
    "Step",
    "StopStep",
    "TriggerConfig",
    "load_recipe",
    "load_recipes",
]
