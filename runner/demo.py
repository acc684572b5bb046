"""``make demo`` / ``recipe-runner demo``: the emulator with the demo tenant and a traffic
generator, so a newcomer sees Dataverse changes happen with no Microsoft account."""

from __future__ import annotations

import asyncio
import signal

from emulator import EmulatorConfig, running_emulator
from emulator.cli import describe
from emulator.config import default_tls_dir
from emulator.generator import generating
from emulator.seed import DEMO_SEED


async def demo(seconds: float, port: int, generate_every_s: float = 2.0) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    if seconds > 0:
        loop.call_later(seconds, stop.set)
    config = EmulatorConfig(port=port, seed_path=DEMO_SEED, tls_dir=default_tls_dir())
    async with running_emulator(config) as emu, generating(emu.state, generate_every_s) as gen:
        print(describe(emu), flush=True)
        print(f"  demo traffic:        a change every {generate_every_s:g}s "
              f"(contacts, opportunities, accounts)", flush=True)
        await stop.wait()
        print(f"demo stopped after {gen.tick_count} rounds of changes", flush=True)
    return 0
