"""``recipe-runner recipes list|enable|disable|backfill``: every recipe, how its polling
goes, an operator's switch to pause one without editing its file, and a re-read of a past
range.

A recipe runs when its file says ``enabled: true`` (the default) and the operator has not
disabled it in the state store. A running daemon reads the store's switch before every
poll, so ``disable`` takes effect at the recipe's next poll; jobs already stored still run.

``list`` shows **lag**: the age of the recipe's oldest pending job, i.e. how far its worker
is behind what was polled (``-`` when nothing is pending). It is the same figure as the
``recipe_runner_queue_lag_seconds`` metric. How recently the trigger polled is the
separate "last poll" column.

``backfill NAME --since DATE [--until DATE] [--force]`` pages the trigger's records stamped
in ``[since, until)`` over the recipe's connection and stores them as pending jobs, without
touching the live cursor; a running daemon picks the jobs up. Events already stored are
counted as duplicates unless ``--force`` (then each gets a new job).
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from connectors.base import ConnectorError, Registry
from connectors.catalog import default_registry
from runner.cli_common import (
    EXIT_OK,
    UserError,
    add_recipe_options,
    add_state_options,
    load_operator_recipes,
    open_store_for_reading,
    open_store_for_writing,
    operator_connections,
    run_command,
    settings_from,
    warn,
)
from runner.cli_unregister import unregister_recipe
from runner.cluster.leases import Lease
from runner.cluster.view import lease_age_s, lease_json, read_cluster
from runner.config import suggestion
from runner.connections import ConnectionsFile, DynamicsConnectionBase
from runner.engine.backfill import BackfillSummary, backfill, backfill_spec
from runner.ops.queue import queue_stats
from runner.ops.recipe_health import KEPT_LAST_GOOD, poll_lag_s, recipe_health
from runner.output import (
    NONE_CELL,
    counted,
    human_time,
    iso_time,
    one_line,
    print_json,
    table,
)
from runner.recipes import LoadedRecipes, Recipe
from runner.recipes.declared import declared_name
from runner.runtime import ConnectionPool
from runner.store import JobStatus, RecipeState, Store
from runner.tokens import TokenManager, key_file_for, load_fernet

PICKUP_S = 30.0  # a daemon checks every 2 s: longer means none runs this recipe here
POLL_S = 0.5


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="recipes_command", required=True)
    listing = sub.add_parser("list", help="recipes, last poll, job counts, broken files")
    add_state_options(listing)
    add_recipe_options(listing)
    for verb, what in (("enable", "resume polling"), ("disable", "stop polling")):
        switch = sub.add_parser(verb, help=f"{what} recipes (a running daemon follows)")
        add_state_options(switch)
        add_recipe_options(switch)
        switch.add_argument("names", metavar="NAME", nargs="+")
    refill = sub.add_parser("backfill", help="re-read a past range into jobs (the live "
                            "cursor stays put; known events are skipped unless --force)")
    add_state_options(refill)
    add_recipe_options(refill)
    refill.add_argument("name", metavar="NAME")
    refill.add_argument("--since", required=True, type=parse_moment, metavar="DATE",
                        help="first moment to read (ISO date or time; UTC unless an offset)")
    refill.add_argument("--until", type=parse_moment, metavar="DATE",
                        help="read up to, not including, this moment (default: now)")
    refill.add_argument("--force", action="store_true",
                        help="make new jobs even for events already stored")
    refill.add_argument("--wait", type=float, default=600.0, metavar="SECONDS",
                        help="without the connection's secrets here the running daemon "
                             "does the backfill: how long to wait for it (default 600)")
    remove = sub.add_parser("unregister", help="remove the webhook registration that pushes "
                            "a recipe's changes (mode push or hybrid); needs the connection's "
                            "secrets")
    add_state_options(remove)
    add_recipe_options(remove)
    remove.add_argument("name", metavar="NAME")


def main(args: argparse.Namespace, registry: Registry | None = None) -> int:
    """Run one ``recipes`` command; ``registry`` defaults to every shipped connector."""
    registry = registry or default_registry()
    if args.recipes_command == "list":
        return run_command(list_recipes(args, registry))
    if args.recipes_command == "backfill":
        return run_command(backfill_recipe(args, registry))
    if args.recipes_command == "unregister":
        return run_command(unregister_recipe(args, registry))
    return run_command(switch_recipe(args, registry, args.recipes_command == "enable"))


# -- list ----------------------------------------------------------------------------


@dataclass(frozen=True)
class RecipeStatus:
    """One loaded recipe with its operator state and job counts."""

    recipe: Recipe
    state: RecipeState
    counts: dict[JobStatus, int]
    lag_s: float | None = None  # age of the oldest pending job; None: nothing pending
    lease: Lease | None = None  # which replica polls it (runner.cluster)

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
            "state": self.health(),
            "failing": self.state.failing,
            "failed_polls": self.state.failed_polls,
            "last_poll_at": iso_time(self.state.last_poll_at),
            "last_poll_error": self.state.last_error,
            "jobs": {status.value: self.counts.get(status, 0) for status in JobStatus},
            "lag_s": _rounded(self.lag_s),
            "poll_lag_s": _rounded(self.poll_lag_s(time.time())),
            "problem": self.state.file_problem,
            **lease_json(self.lease, time.time()),
        }

    def health(self) -> str:
        """The same words as the status page and the daemon's log lines."""
        return recipe_health(self.state)

    def poll_lag_s(self, now_s: float) -> float | None:
        return poll_lag_s(self.recipe.trigger, self.state, now_s)

    def cells(self) -> list[object]:
        last_poll = human_time(self.state.last_poll_at) if self.state.last_poll_at else "never"
        return [self.recipe.name, self._enabled_cell(), self.recipe.trigger.type, last_poll,
                one_line(self.health(), 60), self.counts.get(JobStatus.PENDING, 0),
                self.counts.get(JobStatus.RUNNING, 0), self.counts.get(JobStatus.FAILED, 0),
                human_duration(self.poll_lag_s(time.time())), human_duration(self.lag_s),
                self.recipe.file]

    def lease_cells(self, now_s: float) -> list[object]:
        age_s = lease_age_s(self.lease, now_s)
        owner = self.lease.owner if age_s is not None and self.lease else None
        return [owner or NONE_CELL, human_duration(age_s)]

    def _enabled_cell(self) -> str:
        if not self.recipe.enabled:
            return "no (file)"
        return "no (operator)" if self.state.enabled is False else "yes"


async def list_recipes(args: argparse.Namespace, registry: Registry) -> int:
    settings = settings_from(args)
    loaded = load_operator_recipes(settings, registry, operator_connections(settings))
    store = await open_store_for_reading(settings.state_url)
    assert store is not None
    try:
        statuses = await recipe_statuses(_by_name(loaded), store)
        broken = [await _broken(file, problem, store) for file, problem in broken_files(loaded)]
    finally:
        await store.close()
    if args.json:
        print_json([s.to_json() for s in statuses] + [b.to_json() for b in broken])
    elif statuses or broken:
        header = ["name", "enabled", "trigger", "last poll", "state", "pending",
                  "running", "failed", "poll lag", "job lag", "file"]
        rows = [s.cells() for s in statuses]
        if any(s.lease for s in statuses):  # a daemon has run: show who owns what
            now_s = time.time()
            header[-1:-1] = ["owner", "lease age"]
            rows = [row[:-1] + s.lease_cells(now_s) + row[-1:]
                    for row, s in zip(rows, statuses, strict=True)]
        print(table(header, rows + [b.cells(len(header)) for b in broken]))
    else:
        print(f"no recipes in {', '.join(str(p) for p in settings.recipes)}")
    return EXIT_OK


def _by_name(loaded: LoadedRecipes) -> list[Recipe]:
    return sorted(loaded.recipes.values(), key=lambda recipe: recipe.name)


async def recipe_statuses(recipes: list[Recipe], store: Store | None) -> list[RecipeStatus]:
    """Each recipe's state, counts and lag (``store=None``: nothing has run yet)."""
    if store is None:
        return [RecipeStatus(recipe, RecipeState(recipe.name, None, None, None),
                             dict.fromkeys(JobStatus, 0)) for recipe in recipes]
    queues = await queue_stats(store)  # one grouped query for every recipe
    cluster = await read_cluster(store)
    statuses = []
    for recipe in recipes:
        queue = queues.get(recipe.name)
        counts = queue.counts if queue is not None else dict.fromkeys(JobStatus, 0)
        lag_s = queue.lag_s if queue is not None and queue.pending else None
        statuses.append(RecipeStatus(recipe, await store.get_recipe_state(recipe.name),
                                     counts, lag_s, cluster.leases.get(recipe.name)))
    return statuses


def human_duration(seconds: float | None) -> str:
    """``42s``, ``7m05s``, ``3h02m``, ``2d04h``; ``-`` for none."""
    if seconds is None:
        return NONE_CELL
    whole = int(seconds)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    if whole < 86400:
        return f"{whole // 3600}h{whole % 3600 // 60:02d}m"
    return f"{whole // 86400}d{whole % 86400 // 3600:02d}h"


def broken_files(loaded: LoadedRecipes) -> list[tuple[str, str]]:
    """``(file, first problem)`` of every file that did not load."""
    broken = []
    for file in loaded.broken_files:
        problems = [p for p in loaded.problems if p.file == file and p.is_error]
        broken.append((file, str(problems[0]) if problems else f"{file}: does not load"))
    return broken


@dataclass(frozen=True)
class BrokenFile:
    """A recipe file that does not load. ``kept``: a daemon still runs the recipe's last
    good version (it said so in the store)."""

    file: str
    problem: str
    name: str | None
    kept: bool

    def health(self) -> str:
        where = self.problem.removeprefix(f"{self.file}:").strip()  # the file has a column
        return f"{KEPT_LAST_GOOD}: {where}" if self.kept else f"broken: {where}"

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "file": self.file, "enabled": self.kept,
                "file_enabled": None, "operator_override": None, "trigger": None,
                "state": self.health(), "failing": False, "failed_polls": None,
                "last_poll_at": None, "last_poll_error": None, "jobs": None, "lag_s": None,
                "poll_lag_s": None,
                "problem": self.problem}

    def cells(self, width: int = 11) -> list[object]:
        name = self.name or "(broken)"
        return [name, "yes" if self.kept else "no", "-", "-", one_line(self.health(), 100),
                *["-"] * (width - 6), self.file]


async def _broken(file: str, problem: str, store: Store) -> BrokenFile:
    name = declared_name(file)
    kept = name is not None and (await store.get_recipe_state(name)).file_problem is not None
    return BrokenFile(file, problem, name, kept)


# -- enable / disable ----------------------------------------------------------------


async def switch_recipe(args: argparse.Namespace, registry: Registry, enabled: bool) -> int:
    settings = settings_from(args)
    loaded = load_operator_recipes(settings, registry, operator_connections(settings))
    unknown = [name for name in args.names if name not in loaded.recipes]
    if unknown:  # nothing is switched unless every name is right
        raise UserError(f"no recipe named {unknown[0]!r}"
                        + suggestion(unknown[0], loaded.recipes))
    recipes = [loaded.recipes[name] for name in dict.fromkeys(args.names)]
    store = await open_store_for_writing(settings.state_url)
    async with store:
        for recipe in recipes:
            await store.set_recipe_enabled(recipe.name, enabled)
    verb = "enabled" if enabled else "disabled (a running daemon stops polling it at its next poll)"
    for recipe in recipes:
        if enabled and not recipe.enabled:
            warn(f"{recipe.file} says enabled: false; the daemon runs {recipe.name} only once "
                 "the file says true")
        if not args.json:
            print(f"recipe {recipe.name} {verb}")
    if args.json:  # one object for one name, a list for several
        switched = [{"name": r.name, "operator_override": enabled} for r in recipes]
        print_json(switched[0] if len(switched) == 1 else switched)
    return EXIT_OK


# -- backfill ------------------------------------------------------------------------


def parse_moment(text: str) -> datetime:
    """``2026-01-02``, ``2026-01-02T03:04:05Z`` or with an offset; naive means UTC."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO date or time: {text!r}") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


async def backfill_recipe(args: argparse.Namespace, registry: Registry) -> int:
    """Here when this shell has the connection's secrets (or none is needed), else by the
    daemon, which has them: the request goes through the store and this waits for it."""
    settings = settings_from(args)
    operator = operator_connections(settings)
    loaded = load_operator_recipes(settings, registry, operator)
    recipe = loaded.recipes.get(args.name)
    if recipe is None:
        raise UserError(f"no recipe named {args.name!r}" + suggestion(args.name, loaded.recipes))
    if args.until is not None and args.until <= args.since:
        raise UserError("--until must be later than --since")
    try:
        spec = backfill_spec(recipe, registry.triggers)
    except ConnectorError as exc:
        raise UserError(exc.message) from None
    store = await open_store_for_writing(settings.state_url)
    async with store:
        if spec.connection_types and operator.file is None and operator.missing_secrets:
            summary = await _backfill_by_daemon(args, recipe, store, operator.missing_secrets)
        else:
            connections = operator.file
            tokens = await _token_manager(connections, store, settings.state_url)
            summary = await _backfill_with_connection(args, recipe, spec, store, connections,
                                                      tokens)
    _print_backfill(args, recipe, summary)
    return EXIT_OK


async def _backfill_by_daemon(args: argparse.Namespace, recipe: Recipe, store: Store,
                              missing: list[str]) -> BackfillSummary:
    """Queue the backfill for the daemon and wait for its outcome (``--wait``)."""
    body = {"id": uuid.uuid4().hex, "since": args.since.isoformat(),
            "until": args.until.isoformat() if args.until else None, "force": args.force}
    if not await store.request_backfill(recipe.name, body):
        raise UserError(f"a backfill of {recipe.name} is already queued for the daemon; "
                        "wait until it has run")
    warn(f"this shell lacks the connection's secrets ({missing[0]}); the running daemon "
         f"does the backfill, waiting up to {args.wait:g} s")
    started = time.monotonic()
    while time.monotonic() - started < args.wait:
        outcome = await store.backfill_result(recipe.name)
        if outcome is not None and outcome.get("id") == body["id"]:
            if not outcome["ok"]:
                raise UserError(f"backfill of {recipe.name} stopped: {outcome['error']}")
            return BackfillSummary(**outcome["summary"])
        if time.monotonic() - started > PICKUP_S:
            await _withdraw_if_untaken(store, recipe.name, body)
        await asyncio.sleep(POLL_S)
    raise UserError(f"the daemon is still running the backfill of {recipe.name} after "
                    f"{args.wait:g} s; its log says when it is done (recipe.backfill_finished)")


async def _withdraw_if_untaken(store: Store, name: str, body: dict[str, Any]) -> None:
    """No daemon took the request in time: take it back (so none runs it later, unasked)
    and say why; if a daemon took it meanwhile, keep waiting."""
    if await store.take_backfill(name, body):
        raise UserError(f"no daemon took the backfill of {name} within {PICKUP_S:g} s: is "
                        "one running on this state store with this recipe? Or run the "
                        "command where the connection's secrets are set")


async def _backfill_with_connection(
    args: argparse.Namespace, recipe: Recipe, spec: Any, store: Store,
    connections: ConnectionsFile | None, tokens: TokenManager | None,
) -> BackfillSummary:
    """Over the recipe's connection, built as the daemon builds it (tokens from the store)."""
    pool = ConnectionPool(connections, tokens)
    try:
        connection = pool.get(recipe.trigger.connection) if spec.connection_types else None
        return await backfill(recipe, spec, store, connection, args.since, args.until,
                              force=args.force)
    except ConnectorError as exc:
        raise UserError(f"backfill of {recipe.name} stopped: {exc.message}") from None
    finally:
        await pool.close()
        if tokens is not None:
            tokens.close()


async def _token_manager(connections: ConnectionsFile | None, store: Store,
                         state_url: str) -> TokenManager | None:
    if connections is None or not any(isinstance(c, DynamicsConnectionBase)
                                      for c in connections.connections.values()):
        return None
    manager = TokenManager(connections, store, load_fernet(key_file_for(state_url)))
    await manager.start()
    return manager


def _print_backfill(args: argparse.Namespace, recipe: Recipe, summary: BackfillSummary) -> None:
    until = args.until.isoformat().replace("+00:00", "Z") if args.until else "now"
    since = args.since.isoformat().replace("+00:00", "Z")
    if args.json:
        print_json({"name": recipe.name, "since": since, "until": until, "force": args.force,
                    **summary.to_json()})
        return
    print(f"backfill {recipe.name} [{since}, {until}): {counted(summary.events, 'event')}, "
          f"{counted(summary.new_jobs, 'new job')}, "
          f"{counted(summary.duplicates, 'duplicate')}")


def _rounded(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds, 3)
