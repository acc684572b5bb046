"""``recipe-runner run`` and ``recipe-runner validate``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from connectors.catalog import default_registry
from runner import dry_run
from runner.config import ConfigError, Problem
from runner.connections import load_connections
from runner.daemon import run_daemon
from runner.recipes import load_recipes
from runner.settings import Settings


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--recipes", type=Path, action="append",
                        help="recipe file or directory (repeatable; default: recipes/)")
    parser.add_argument("--connections", type=Path, help="connections file")
    parser.add_argument("--state", help="state store URL (sqlite:///… or postgresql://…)")
    parser.add_argument("--worker-id", help="this replica's identity (default: host name)")
    parser.add_argument("--burst", action="store_true",
                        help="poll every recipe once, run every job, then exit")
    parser.add_argument("--grace", type=float, help="seconds running steps get on shutdown")
    parser.add_argument("--log-format", choices=["auto", "json", "console"])
    parser.add_argument("--log-level", choices=["debug", "info", "warning", "error"])
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
    return run_daemon(settings_from_args(args))


def add_validate_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="*", type=Path, help="recipe files or directories")
    parser.add_argument("--connections", type=Path, help="connections file to check as well")
    parser.add_argument("--json", action="store_true", help="problems as JSON")


def validate(args: argparse.Namespace) -> int:
    """Print every problem of the recipes (and connections); exit 1 if there is any error."""
    settings = Settings.from_env(connections=args.connections)
    problems: list[Problem] = []
    types: dict[str, str] | None = None
    if settings.connections is not None:
        try:
            conns = load_connections(settings.connections)
            types = {name: c.type for name, c in conns.connections.items()}
        except ConfigError as exc:
            problems.extend(exc.problems)
    loaded = load_recipes(args.paths or settings.recipes, default_registry(), types)
    problems.extend(loaded.problems)
    if args.json:
        print(json.dumps([{"file": p.file, "line": p.line, "column": p.column,
                           "path": list(p.path), "message": p.message,
                           "severity": p.severity} for p in problems], indent=2))
    else:
        for problem in problems:
            print(problem, file=sys.stderr)
        print(f"{len(loaded.recipes)} recipe(s) valid, "
              f"{len(loaded.broken_files)} with problems", file=sys.stderr)
    return 1 if any(p.is_error for p in problems) else 0
