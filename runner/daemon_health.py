"""How the daemon tells about its recipes' health, one way everywhere (the log lines here,
the store for ``/readyz``, the status page and ``recipes list``):

* polls that keep failing: one ``recipe.failing`` error line once the store counts
  ``FAILING_AFTER_POLLS`` failures in a row, ``recipe.recovered`` after the next good poll;
* a poll still running when the next one is due: one ``poll.overran`` line per overrun;
* a file broken by an edit while its last good version runs: ``recipe.kept_last_good``
  ("running last good version; file has problems: …"), stored, and ``recipe.file_fixed``
  once the file loads again.
"""

from __future__ import annotations

from typing import Any

from runner.engine.engine import Engine
from runner.ops.recipe_health import KEPT_LAST_GOOD
from runner.recipes import LoadedRecipes


class RecipeHealth:
    """The daemon's memory of what it already said, so each thing is said once."""

    def __init__(self, log: Any) -> None:
        self.log = log
        self._failing: set[str] = set()
        self._overran: set[str] = set()  # scheduler jobs whose overrun was reported
        self.kept: set[str] = set()  # recipes running a last good version

    # -- polls ---------------------------------------------------------------------------

    async def poll_finished(self, engine: Engine, name: str, error: str | None) -> None:
        """After a poll that ran (not skipped): escalate, or say it recovered."""
        if error is None:
            if name in self._failing:
                self._failing.discard(name)
                self.log.info("recipe.recovered", recipe=name)
            return
        state = await engine.store.get_recipe_state(name)
        if state.failing and name not in self._failing:
            self._failing.add(name)
            self.log.error("recipe.failing", recipe=name, failed_polls=state.failed_polls,
                           error=error)

    def overran(self, engine: Engine | None, job_id: str) -> None:
        """A scheduled run came while the previous one still ran, so it was skipped."""
        if job_id in self._overran:
            return
        self._overran.add(job_id)
        feed = engine.feeds.get(job_id) if engine else None
        if feed is not None:  # a table feed polls for several recipes
            self.log.warning("poll.overran", feed=job_id, recipes=sorted(feed.members),
                             poll_interval_s=feed.poll_interval_s,
                             reason="the previous poll is still running; the next one waits")
            return
        running = engine.recipes.get(job_id) if engine else None
        if running is None:
            self.log.info("task.overran", task=job_id)
            return
        self.log.warning("poll.overran", recipe=job_id,
                         poll_interval_s=running.recipe.trigger.poll_interval_s,
                         reason="the previous poll is still running; the next one waits")

    def poll_ended(self, name: str) -> None:
        self._overran.discard(name)

    # -- broken edits ----------------------------------------------------------------------

    async def keep_last_good(self, engine: Engine, name: str, file: str,
                             loaded: LoadedRecipes) -> None:
        problems = [p for p in loaded.problems if p.file == file and p.is_error]
        first = str(problems[0]) if problems else f"{file}: does not load"
        self.log.warning("recipe.kept_last_good", recipe=name, file=file, problem=first,
                         problems=len(problems), message=f"{KEPT_LAST_GOOD}: {first}")
        self.kept.add(name)
        await engine.store.set_file_problem(name, first)

    async def clear_kept(self, engine: Engine, names: list[str], *,
                         files: dict[str, str], fixed: bool) -> None:
        """These recipes no longer run a kept version: their file loads again (``fixed``),
        or the daemon stops."""
        for name in [n for n in names if n in self.kept]:
            self.kept.discard(name)
            if fixed:
                self.log.info("recipe.file_fixed", recipe=name, file=files.get(name))
            try:
                await engine.store.set_file_problem(name, None)
            except Exception as exc:  # the store is down: the line says it, stop goes on
                self.log.warning("recipe.kept_state_not_cleared", recipe=name, error=str(exc))
