"""The ``recipe-runner`` command line: one parser, one function per command."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Callable, Sequence
from importlib.metadata import PackageNotFoundError, version

from runner import (
    cli_connections,
    cli_connectors,
    cli_emulator,
    cli_jobs,
    cli_recipes,
    cli_run,
    cli_schema,
    docs,
)
from runner.demo import demo as demo_main
from runner.logs import configure_logging
from runner.packaging import check_top_level_packages
from runner.settings import env

DESCRIPTION = """\
YAML recipes for Microsoft Dynamics 365 (Dataverse and Finance & Operations): a daemon
that polls triggers and runs each event's steps as a durable job, commands to operate it,
and a local emulator to try it all without a Microsoft account."""
EPILOG = """\
Settings come from options, then RECIPE_RUNNER_* environment variables, then defaults
(see `recipe-runner run --help`). Docs: README.md and docs/reference.md."""
EXIT_BROKEN_PIPE = 141  # what a shell reports for a command killed by SIGPIPE


def package_version() -> str:
    try:
        return version("recipe-runner")
    except PackageNotFoundError:  # running from a checkout that was never installed
        return "unknown (not installed)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="recipe-runner", description=DESCRIPTION,
                                     epilog=EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version",
                        version=f"recipe-runner {package_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = sub.add_parser("run", help="run the daemon: poll triggers, run jobs",
                         formatter_class=argparse.RawDescriptionHelpFormatter,
                         description=cli_run.RUN_DESCRIPTION)
    cli_run.add_run_arguments(run)
    validate = sub.add_parser("validate", help="check recipes (and connections); exit 1 on errors")
    cli_run.add_validate_arguments(validate)
    emulator = sub.add_parser("emulator", help="run the local Dataverse / Entra ID emulator")
    cli_emulator.add_arguments(emulator)
    demo = sub.add_parser("demo", help="run the emulator with the demo seed (and sample recipes)")
    demo.add_argument("--seconds", type=float, default=0, help="stop cleanly after N seconds")
    demo.add_argument("--port", type=int, default=8443, help="the emulator's port (default 8443)")
    connections = sub.add_parser("connections", help="list, test and sign in connections")
    cli_connections.add_arguments(connections)
    cli_connectors.add_arguments(sub.add_parser(
        "connectors", help="list installed connectors (plugins) and where they come from"))
    recipes = sub.add_parser("recipes", help="list recipes; enable, disable or backfill one")
    cli_recipes.add_arguments(recipes)
    jobs = sub.add_parser("jobs", help="list, show and retry jobs")
    cli_jobs.add_arguments(jobs)
    schema = sub.add_parser("schema", help="print the JSON Schema of recipes or connections")
    cli_schema.add_arguments(schema)
    docs.add_arguments(sub.add_parser("docs", help="write docs/reference.md from the schemas"))
    return parser


def run_demo(args: argparse.Namespace) -> int:
    return asyncio.run(demo_main(args.seconds, args.port))


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "run": cli_run.run, "validate": cli_run.validate, "emulator": cli_emulator.main,
    "demo": run_demo, "connections": cli_connections.main, "recipes": cli_recipes.main,
    "jobs": cli_jobs.main, "schema": cli_schema.main, "docs": docs.main,
    "connectors": cli_connectors.main,
}
# Commands whose stdout is their own output log to stderr.
LOGS_TO_STDOUT = frozenset({"run", "demo", "emulator"})


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command not in LOGS_TO_STDOUT or getattr(args, "dry_run", False):
        configure_logging(to_stderr=True)
    else:  # the daemon configures it again from its options; until then, as the env says
        configure_logging(env("LOG_FORMAT") or "auto", env("LOG_LEVEL") or "info")
    check_top_level_packages(scan_distributions=args.command in LOGS_TO_STDOUT)
    try:
        code = COMMANDS[args.command](args)
        sys.stdout.flush()  # a closed pipe shows here, not at interpreter exit
    except BrokenPipeError:
        return _reader_went_away()
    return code


def _reader_went_away() -> int:
    """``recipe-runner jobs list --json | head``: the reader stopped reading. Not an error
    worth a traceback; further output goes nowhere."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    return EXIT_BROKEN_PIPE


if __name__ == "__main__":
    sys.exit(main())
