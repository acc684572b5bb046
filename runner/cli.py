"""The ``recipe-runner`` command line."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from emulator import cli as emulator_cli
from emulator.config import EmulatorConfig, default_tls_dir
from emulator.seed import DEMO_SEED
from runner import cli_connections, cli_run


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="recipe-runner", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the daemon: poll triggers, run jobs")
    cli_run.add_run_arguments(run)
    validate = sub.add_parser("validate", help="check recipes (and connections); exit 1 on errors")
    cli_run.add_validate_arguments(validate)
    emulator = sub.add_parser("emulator", help="run the local Dataverse / Entra ID emulator")
    emulator_cli.add_arguments(emulator)
    demo = sub.add_parser("demo", help="run the emulator with the demo seed (and sample recipes)")
    demo.add_argument("--seconds", type=float, default=0, help="stop cleanly after N seconds")
    demo.add_argument("--port", type=int, default=8443)
    connections = sub.add_parser("connections", help="list, test and sign in connections")
    cli_connections.add_arguments(connections)
    return parser


def run_demo(args: argparse.Namespace) -> int:
    config = EmulatorConfig(port=args.port, seed_path=DEMO_SEED, tls_dir=default_tls_dir())
    asyncio.run(emulator_cli.serve(config, seconds=args.seconds))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "run":
        return cli_run.run(args)
    if args.command == "validate":
        return cli_run.validate(args)
    if args.command == "emulator":
        return emulator_cli.main(args)
    if args.command == "demo":
        return run_demo(args)
    if args.command == "connections":
        return cli_connections.main(args)
    return 2


if __name__ == "__main__":
    sys.exit(main())
