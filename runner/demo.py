"""``make demo`` / ``recipe-runner demo``: the emulator (Dataverse, Finance & Operations,
Entra ID) with the demo tenant and a traffic generator, and the daemon running the sample
recipes in ``recipes/`` against it (connections in ``demo/connections.yaml``: ``crm``, ``fo``
in company ``usmf``, ``hooks``), so a newcomer sees jobs flow with no Microsoft account.
Both ship in the wheel (``runner/demo_files``), so ``recipe-runner demo`` works from any
folder once installed."""

from __future__ import annotations

import asyncio
import os
import tempfile
from importlib.resources import files
from pathlib import Path

import structlog
import yaml

from emulator import EmulatorConfig, RunningEmulator
from emulator.config import default_tls_dir
from emulator.generator import generating
from emulator.seed import DEMO_SEED
from runner.cli_emulator import EXIT_CANNOT_START, CannotListen, json_mode, started
from runner.daemon import Daemon
from runner.logs import configure_logging
from runner.settings import Settings, env

# Package data (symbolic links to recipes/ and demo/ in a checkout), so that the demo runs
# from an installed wheel, wherever it is started.
DEMO_FILES = Path(str(files("runner") / "demo_files"))
DEMO_CONNECTIONS = DEMO_FILES / "connections.yaml"
DEMO_RECIPES = DEMO_FILES / "recipes"


def _demo_secret() -> str:
    apps = yaml.safe_load(DEMO_SEED.read_text())["apps"]
    return str(apps[0]["client_secret"])


def _point_connections_at(emu: RunningEmulator) -> None:
    host = emu.base_url.removeprefix("https://")
    os.environ.update(RECIPE_RUNNER_DEMO_HOST=host, RECIPE_RUNNER_DEMO_URL=emu.base_url,
                      RECIPE_RUNNER_DEMO_CA=str(emu.ca_file),
                      RECIPE_RUNNER_DEMO_SECRET=_demo_secret())


async def demo(seconds: float, port: int, generate_every_s: float = 2.0) -> int:
    fmt = env("LOG_FORMAT") or "auto"
    configure_logging(fmt, env("LOG_LEVEL") or "info")
    config = EmulatorConfig(port=port, seed_path=DEMO_SEED, tls_dir=default_tls_dir())
    with tempfile.TemporaryDirectory(prefix="recipe-runner-demo-") as state_dir:
        try:
            async with started(config, json_mode(fmt)) as emu, \
                    generating(emu.state, generate_every_s):
                _point_connections_at(emu)
                settings = Settings.from_env(
                    recipes=[DEMO_RECIPES], connections=DEMO_CONNECTIONS,
                    state_url=f"sqlite:///{Path(state_dir) / 'demo.db'}", grace_s=5.0)
                daemon = Daemon(settings)
                if seconds > 0:
                    asyncio.get_running_loop().call_later(seconds, daemon.request_stop)
                return await daemon.run()
        except CannotListen as exc:
            structlog.get_logger("recipe-runner").error(
                "daemon.cannot_start", reason=f"the demo's emulator {exc}")
            return EXIT_CANNOT_START
