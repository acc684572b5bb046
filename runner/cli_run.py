"""``recipe-runner run`` and ``recipe-runner validate``."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from connectors.base import Registry
from connectors.catalog import default_registry
from runner import dry_run
from runner.config import Problem, sort_problems
from runner.connections import ConnectionsFile, check_connections
from runner.daemon import run_daemon
from runner.gc_tuning import tune_for_batches
from runner.logs import configure_logging
from runner.recipes import LoadedRecipes, load_recipes
from runner.recipes.online import check_online
from runner.settings import DEFAULT_STATE_URL, Settings

RUN_DESCRIPTION = """\
Run the daemon: load the recipes, poll each trigger on its interval and run every event's
steps as a durable job, until SIGTERM or Ctrl-C (running steps get the grace period).
SIGHUP, or a change to a recipe file, reloads the recipes.

Each option falls back to a RECIPE_RUNNER_* variable, then to a default. Settings that
have no option (set them in the environment, or in the systemd/docker env file):
  RECIPE_RUNNER_LISTEN          health, metrics, status page and webhooks; host:port or off
                                (default 127.0.0.1:9464)
  RECIPE_RUNNER_STATUS_TOKEN    bearer token for the status page and /metrics; required to
                                listen beyond loopback
  RECIPE_RUNNER_SECRET_KEY      key that encrypts cached tokens (default: a key file
                                beside the SQLite state)
  RECIPE_RUNNER_CLAIM_TTL_S     seconds a claimed job stays claimed without a heartbeat (60)
  RECIPE_RUNNER_LEASE_TTL_S     replicas on PostgreSQL: seconds a recipe's lease lasts (15)
  RECIPE_RUNNER_TOKEN_RECHECK_S how often a connection that needs a person is retried (60)
  RECIPE_RUNNER_HEARTBEAT_FILE  file touched every few seconds while the loop runs, for
                                HEALTHCHECK with the listener off (default: beside the state)
Exit codes: 0 stopped cleanly, 2 configuration error (not worth restarting), 1 other."""


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--recipes", type=Path, action="append",
                        help="recipe file or directory, repeatable (default: "
                             "$RECIPE_RUNNER_RECIPES, paths separated by ':', else recipes/)")
    parser.add_argument("--connections", type=Path,
                        help="connections file (default: $RECIPE_RUNNER_CONNECTIONS, else "
                             "connections.yaml when there is one)")
    parser.add_argument("--state", help="state store URL, sqlite:///… or postgresql://… "
                        f"(default: $RECIPE_RUNNER_STATE, else {DEFAULT_STATE_URL})")
    parser.add_argument("--worker-id", help="this replica's identity (default: "
                        "$RECIPE_RUNNER_WORKER_ID, else the host name)")
    parser.add_argument("--burst", action="store_true",
                        help="poll every recipe once, run every job, then exit")
    parser.add_argument("--grace", type=float, metavar="SECONDS",
                        help="seconds running steps get on shutdown (default: "
                             "$RECIPE_RUNNER_GRACE_S, else 30)")
    parser.add_argument("--log-format", choices=["auto", "json", "console"],
                        help="default: $RECIPE_RUNNER_LOG_FORMAT, else auto (JSON unless "
                             "stdout is a terminal)")
    parser.add_argument("--log-level", choices=["debug", "info", "warning", "error"],
                        help="default: $RECIPE_RUNNER_LOG_LEVEL, else info")
    dry_run.add_arguments(parser)


def settings_from_args(args: argparse.Namespace) -> Settings:
    return Settings.from_env(
        recipes=args.recipes, connections=args.connections, state_url=args.state,
        worker_id=args.worker_id, burst=args.burst or None, grace_s=args.grace,
        log_format=args.log_format, log_level=args.log_level,
    )


def run(args: argparse.Namespace) -> int:
    if getattr(args, "dry_run", False):
        return dry_run.main(args)
    tune_for_batches()
    return run_daemon(settings_from_args(args))


def add_validate_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="*", type=Path, help="recipe files or directories")
    parser.add_argument("--connections", type=Path, help="connections file to check as well")
    parser.add_argument("--json", action="store_true", help="problems as JSON")
    parser.add_argument("--online", action="store_true",
                        help="also check tables, columns, keys and labels against the live "
                             "environments (needs the connections and their tokens)")
    parser.add_argument("--state", help="with --online: the state store holding token caches "
                        "(default $RECIPE_RUNNER_STATE or sqlite:///state/recipe-runner.db)")


def validate(args: argparse.Namespace) -> int:
    """Print every problem of the recipes (and connections); exit 1 if there is any error."""
    settings = Settings.from_env(connections=args.connections, state_url=args.state)
    problems: list[Problem] = []
    conns: ConnectionsFile | None = None
    types: dict[str, str] | None = None
    if settings.connections is not None:
        # Offline, secrets need not be available (users' CI): a missing one is a warning.
        check = check_connections(settings.connections, secrets_required=args.online)
        problems.extend(check.problems)
        conns, types = check.file, check.types
    registry = default_registry()
    loaded = load_recipes(args.paths or settings.recipes, registry, types)
    problems.extend(loaded.problems)
    if args.online:
        problems.extend(_online_problems(loaded, registry, conns, settings))
    _print_problems(problems, loaded, args.json)
    return 1 if any(p.is_error for p in problems) else 0


def _online_problems(loaded: LoadedRecipes, registry: Registry, conns: ConnectionsFile | None,
                     settings: Settings) -> list[Problem]:
    if conns is None or settings.connections is None:
        if settings.connections is not None:
            return []  # the connections file's own problems are reported already
        return [Problem("--online", None, None, (), "needs a connections file "
                        "(--connections or RECIPE_RUNNER_CONNECTIONS)")]
    # The problems are the output; the token layer's log lines would only repeat them.
    configure_logging("console", "critical", to_stderr=True)
    found = asyncio.run(check_online(loaded.recipes.values(), registry, conns,
                                     settings.connections, settings.state_url))
    return sort_problems(found)


def _print_problems(problems: list[Problem], loaded: LoadedRecipes, as_json: bool) -> None:
    if as_json:
        print(json.dumps([{"file": p.file, "line": p.line, "column": p.column,
                           "path": list(p.path), "message": p.message,
                           "severity": p.severity} for p in problems], indent=2))
        return
    for problem in problems:
        print(problem, file=sys.stderr)
    failed = {p.file for p in problems if p.is_error}
    valid = [r for r in loaded.recipes.values() if r.file not in failed]
    print(f"{len(valid)} recipe(s) valid, "
          f"{len(loaded.recipes) - len(valid) + len(loaded.broken_files)} with problems",
          file=sys.stderr)
