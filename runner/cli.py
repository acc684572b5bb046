"""The ``recipe-runner`` command line."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from runner import (
    cli_connections,
    cli_emulator,
    cli_jobs,
    cli_recipes,
    cli_run,
    cli_schema,
    docs,
)
from runner.demo import demo as demo_main
from runner.logs import configure_logging


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="recipe-runner", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the daemon: poll triggers, run jobs")
    cli_run.add_run_arguments(run)
    validate = sub.add_parser("validate", help="check recipes (and connections); exit 1 on errors")
    cli_run.add_validate_arguments(validate)
    emulator = sub.add_parser("emulator", help="run the local Dataverse / Entra ID emulator")
    cli_emulator.add_arguments(emulator)
    demo = sub.add_parser("demo", help="run the emulator with the demo seed (and sample recipes)")
    demo.add_argument("--seconds", type=float, default=0, help="stop cleanly after N seconds")
    demo.add_argument("--port", type=int, default=8443)
    connections = sub.add_parser("connections", help="list, test and sign in connections")
    cli_connections.add_arguments(connections)
    recipes = sub.add_parser("recipes", help="list recipes; enable or disable one")
    cli_recipes.add_arguments(recipes)
    jobs = sub.add_parser("jobs", help="list, show and retry jobs")
    cli_jobs.add_arguments(jobs)
    schema = sub.add_parser("schema", help="print the JSON Schema of recipes or connections")
    cli_schema.add_arguments(schema)
    docs.add_arguments(sub.add_parser("docs", help="write docs/reference.md from the schemas"))
    return parser


def run_demo(args: argparse.Namespace) -> int:
    return asyncio.run(demo_main(args.seconds, args.port))


# Commands whose stdout is their own output log to stderr.
LOGS_TO_STDOUT = frozenset({"run", "demo", "emulator"})


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command not in LOGS_TO_STDOUT or getattr(args, "dry_run", False):
        configure_logging(to_stderr=True)
    if args.command == "run":
        return cli_run.run(args)
    if args.command == "validate":
        return cli_run.validate(args)
    if args.command == "emulator":
        return cli_emulator.main(args)
    if args.command == "demo":
        return run_demo(args)
    if args.command == "connections":
        return cli_connections.main(args)
    if args.command == "recipes":
        return cli_recipes.main(args)
    if args.command == "jobs":
        return cli_jobs.main(args)
    if args.command == "schema":
        return cli_schema.main(args)
    if args.command == "docs":
        return docs.main(args)
    return 2


if __name__ == "__main__":
    sys.exit(main())
