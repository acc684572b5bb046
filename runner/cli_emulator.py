"""``recipe-runner emulator``: the emulator in the foreground, logging like the daemon.

On a terminal it prints where everything is and a line per request, as before; in JSON
mode (``RECIPE_RUNNER_LOG_FORMAT=json``, or ``auto`` when stdout is not a terminal) every
line is one JSON object: ``emulator.listening`` with the URLs, ``emulator.request`` per
request, ``emulator.stopped``. A port it cannot bind is ``emulator.cannot_start``, exit 2.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import replace

import structlog

from emulator import cli as emulator_cli
from emulator.config import EmulatorConfig
from emulator.requestlog import RequestRecord, request_log
from emulator.server import RunningEmulator, running_emulator
from runner.daemon import bind_failure
from runner.logs import configure_logging
from runner.settings import env

EXIT_OK, EXIT_CANNOT_START = 0, 2
log = structlog.get_logger("recipe-runner.emulator")


class CannotListen(Exception):
    """The emulator's port could not be bound (taken, or not allowed)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    emulator_cli.add_arguments(parser)


def json_mode(fmt: str | None) -> bool:
    """Whether log lines are JSON for this format setting (``auto``: unless a terminal)."""
    fmt = fmt or "auto"
    return fmt == "json" or (fmt == "auto" and not sys.stdout.isatty())


def main(args: argparse.Namespace) -> int:
    fmt = env("LOG_FORMAT") or "auto"
    configure_logging(fmt, env("LOG_LEVEL") or "info")
    return asyncio.run(serve(emulator_cli.config_from_args(args), json_mode(fmt)))


@asynccontextmanager
async def started(config: EmulatorConfig, as_json: bool) -> AsyncIterator[RunningEmulator]:
    """The emulator running; ``CannotListen`` when its port cannot be bound. In JSON mode
    its request lines are log events instead of printed text."""
    async with AsyncExitStack() as stack:
        try:
            emu = await stack.enter_async_context(running_emulator(
                replace(config, log_requests=config.log_requests and not as_json)))
        except OSError as exc:
            raise CannotListen(bind_failure(config.host, config.port, exc)) from None
        if as_json and config.log_requests:
            request_log(emu.state).listeners.append(_log_request)
        announce(emu, as_json)
        yield emu


def announce(emu: RunningEmulator, as_json: bool) -> None:
    """Where everything is: a JSON event, or the readable block on a terminal."""
    if not as_json:
        print(emulator_cli.describe(emu), flush=True)
        return
    log.info("emulator.listening", url=emu.base_url,
             dataverse_url=f"{emu.base_url}/api/data/v9.2/",
             authority=f"{emu.base_url}/<tenant-id>", adfs_authority=f"{emu.base_url}/adfs",
             control_url=f"{emu.base_url}/_emulator/",
             ca_file=str(emu.ca_file) if emu.ca_file else None)


def _log_request(record: RequestRecord) -> None:
    log.info("emulator.request", method=record.method, path=record.path,
             status=record.status, duration_ms=record.duration_ms, fault=record.fault)


async def serve(config: EmulatorConfig, as_json: bool, seconds: float = 0) -> int:
    """Run until SIGINT/SIGTERM (or ``seconds``); the exit code."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        async with started(config, as_json):
            if seconds > 0:
                loop.call_later(seconds, stop.set)
            await stop.wait()
    except CannotListen as exc:
        log.error("emulator.cannot_start", reason=str(exc))
        return EXIT_CANNOT_START
    log.info("emulator.stopped")
    return EXIT_OK
