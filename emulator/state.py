"""Everything one emulator instance holds, reachable from any handler as ``request.app[STATE]``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from emulator.clock import EmulatorClock
from emulator.config import EmulatorConfig
from emulator.directory import Directory
from emulator.store import Store
from emulator.tokens import TokenSigner


@dataclass
class EmulatorState:
    config: EmulatorConfig
    clock: EmulatorClock = field(default_factory=EmulatorClock)
    directory: Directory = field(default_factory=Directory)
    store: Store = field(init=False)
    signer: TokenSigner = field(init=False)
    base_url: str = ""  # set once the server is bound, e.g. https://localhost:8443
    # Feature modules keep their own objects here, keyed by module name.
    extensions: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.store = Store(self.config.db_path)
        self.signer = TokenSigner(self.clock)


STATE: web.AppKey[EmulatorState] = web.AppKey("emulator_state", EmulatorState)
