"""``recipe-runner emulator``: run the emulator in the foreground until interrupted."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from pathlib import Path

from emulator.config import EmulatorConfig, default_tls_dir
from emulator.server import RunningEmulator, running_emulator

HELP_EPILOG = """\
Seed files (apps, users, tables, rows, security roles), every control-plane route under
/_emulator/ with a curl example (faults, clock, identity, protection limits, request log,
webhook deliveries) and how to test a recipe offline: docs/emulator.md.
While it runs, GET <base URL>/_emulator/ lists the control routes."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = ("A local Dataverse Web API, Finance & Operations OData, Entra ID "
                          "and AD FS, on one HTTPS port, with a control plane for tests.")
    parser.epilog = HELP_EPILOG
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8443, help="port (0 picks a free one)")
    parser.add_argument("--public-port", type=int, default=None,
                        help="port in the URLs it hands out, when a proxy or port forward "
                             "serves it on another one (443: no port in URLs, as Microsoft's)")
    parser.add_argument("--seed", type=Path, help="YAML seed file: apps, users, tables, rows")
    parser.add_argument("--db", default=":memory:", help="SQLite file to keep the data in")
    parser.add_argument("--tls-dir", type=Path, default=default_tls_dir(),
                        help="where the test CA and server certificate are kept")
    parser.add_argument("--no-tls", action="store_true", help="plain HTTP (msal will refuse it)")
    parser.add_argument("--webhook-ca", type=Path, default=None,
                        help="CA file to trust when posting to https webhook receivers")
    parser.add_argument("--quiet", action="store_true",
                        help="do not print a line per request (printed by default)")


def config_from_args(args: argparse.Namespace) -> EmulatorConfig:
    return EmulatorConfig(
        host=args.host, port=args.port, public_port=args.public_port,
        tls=not args.no_tls, tls_dir=args.tls_dir,
        db_path=args.db, seed_path=args.seed, log_requests=not args.quiet,
        webhook_ca_file=args.webhook_ca,
    )


def describe(emu: RunningEmulator) -> str:
    lines = [
        f"emulator listening on {emu.base_url}",
        f"  Dataverse Web API:   {emu.base_url}/api/data/v9.2/",
        f"  F&O OData:           {emu.base_url}/data/",
        f"  Entra ID authority:  {emu.base_url}/<tenant-id>",
        f"  AD FS authority:     {emu.base_url}/adfs",
        f"  control plane:       {emu.base_url}/_emulator/  (docs/emulator.md)",
    ]
    if emu.ca_file:
        lines.append(f"  test CA (trust it):  {emu.ca_file}")
    return "\n".join(lines)


async def serve(config: EmulatorConfig, seconds: float = 0) -> None:
    """Run until SIGINT/SIGTERM, or for ``seconds`` when it is positive."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with running_emulator(config) as emu:
        print(describe(emu), flush=True)
        if seconds > 0:
            loop.call_later(seconds, stop.set)
        await stop.wait()
    print("emulator stopped", file=sys.stderr, flush=True)


def main(args: argparse.Namespace) -> int:
    asyncio.run(serve(config_from_args(args)))
    return 0
