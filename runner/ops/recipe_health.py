"""How a recipe is doing, in the same words everywhere: the status page, ``recipes list``
and the daemon's log lines (``recipe.failing``, ``recipe.kept_last_good``)."""

from __future__ import annotations

from runner.store import RecipeState

KEPT_LAST_GOOD = "running last good version; file has problems"


def recipe_health(state: RecipeState) -> str:
    """``ok``, ``failing (N polls in a row): …``, ``last poll failed: …`` or ``running last
    good version; file has problems: …``."""
    if state.file_problem:
        return f"{KEPT_LAST_GOOD}: {state.file_problem}"
    if state.failing:
        return f"failing ({state.failed_polls} polls in a row): {state.last_error}"
    if state.last_error:
        return f"last poll failed: {state.last_error}"
    return "ok"
