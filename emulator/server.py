"""Running the emulator on a real socket: in-process for tests, blocking for the CLI."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from aiohttp import web

from emulator.app import build_app
from emulator.config import EmulatorConfig
from emulator.origins import origin
from emulator.seed import apply_seed, load_seed_file
from emulator.state import STATE, EmulatorState
from emulator.tls import TlsFiles, ensure_tls_files


@dataclass
class RunningEmulator:
    app: web.Application
    base_url: str  # e.g. https://localhost:8443
    port: int
    tls: TlsFiles | None

    @property
    def state(self) -> EmulatorState:
        return self.app[STATE]

    @property
    def ca_file(self) -> Path | None:
        return self.tls.ca_cert if self.tls else None

    def client_ssl(self) -> ssl.SSLContext | bool:
        return self.tls.client_context() if self.tls else False

    def client_session(self, **kwargs: object) -> aiohttp.ClientSession:
        """An aiohttp session that trusts the emulator's CA (and nothing is disabled)."""
        connector = aiohttp.TCPConnector(ssl=self.client_ssl())
        return aiohttp.ClientSession(connector=connector, **kwargs)  # type: ignore[arg-type]


@asynccontextmanager
async def running_emulator(config: EmulatorConfig) -> AsyncIterator[RunningEmulator]:
    app = build_app(config)
    tls = ensure_tls_files(config.tls_dir) if config.tls else None
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(
        runner, config.host, config.port, ssl_context=tls.server_context() if tls else None
    )
    await site.start()
    port = _bound_port(runner)
    scheme = "https" if tls else "http"
    state = app[STATE]
    state.base_url = origin(scheme, config.public_host, config.public_port or port)
    if config.seed_path:
        apply_seed(state, load_seed_file(config.seed_path))
    try:
        yield RunningEmulator(app=app, base_url=state.base_url, port=port, tls=tls)
    finally:
        await runner.cleanup()
        state.store.close()


def _bound_port(runner: web.AppRunner) -> int:
    for address in runner.addresses:
        if isinstance(address, tuple) and len(address) >= 2:
            return int(address[1])
    raise RuntimeError("the emulator did not bind a TCP port")
