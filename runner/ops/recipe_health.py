"""How a recipe is doing, in the same words everywhere: the status page, ``recipes list``
and the daemon's log lines (``recipe.failing``, ``recipe.kept_last_good``); and how late its
polls are (:func:`poll_lag_s`, also on ``/metrics``)."""

from __future__ import annotations

from runner.recipes.model import TriggerConfig
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


def poll_lag_s(trigger: TriggerConfig, state: RecipeState, now_s: float) -> float | None:
    """Seconds since the recipe's last poll without an error, beyond its poll interval (0:
    on time); None when it has not polled well yet or does not poll (``mode: push``,
    webhooks). A recipe whose polls fail or never come round shows it here, while the job
    lag (the oldest pending job's age) stays empty."""
    if state.last_good_poll_at is None or trigger.params.get("mode") == "push":
        return None
    return max(0.0, now_s - state.last_good_poll_at - trigger.poll_interval_s)
