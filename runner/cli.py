"""The ``recipe-runner`` command line."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from emulator import cli as emulator_cli
from emulator.config import EmulatorConfig, default_tls_dir
from emulator.seed import DEMO_SEED


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="recipe-runner", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    emulator = sub.add_parser("emulator", help="run the local Dataverse / Entra ID emulator")
    emulator_cli.add_arguments(emulator)
    demo = sub.add_parser("demo", help="run the emulator with the demo seed (and sample recipes)")
    demo.add_argument("--seconds", type=float, default=0, help="stop cleanly after N seconds")
    demo.add_argument("--port", type=int, default=8443)
    return parser


def run_demo(args: argparse.Namespace) -> int:
    config = EmulatorConfig(port=args.port, seed_path=DEMO_SEED, tls_dir=default_tls_dir())
    asyncio.run(emulator_cli.serve(config, seconds=args.seconds))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "emulator":
        return emulator_cli.main(args)
    if args.command == "demo":
        return run_demo(args)
    return 2


if __name__ == "__main__":
    sys.exit(main())
