"""One emulated F&O environment: its entities, their storage, the default company, actions.

Kept in ``state.extensions["fo"]``; handlers reach it with :func:`fo_environment`. The
default company is the emulated user's/app's (``usmf``, as in the Contoso demo data);
``PUT /_emulator/fo/settings`` changes it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from emulator.clock import EmulatorClock
from emulator.fo.entities import Catalog, Entity, built_in_catalog
from emulator.fo.storage import FoStore
from emulator.state import EmulatorState

if TYPE_CHECKING:
    from emulator.fo.calls import FoCall, FoResponse

EXTENSION = "fo"
DEFAULT_COMPANY = "usmf"

# An OData action: (environment, call, entity, the bound row's rowid or None, parameters).
Action = Callable[["FoEnvironment", "FoCall", Entity, "int | None", dict[str, Any]],
                  "FoResponse"]


@dataclass
class FoEnvironment:
    catalog: Catalog
    storage: FoStore
    clock: EmulatorClock
    default_company: str = DEFAULT_COMPANY
    # (entity set, action name without namespace, bound to an instance?) -> handler
    actions: dict[tuple[str, str, bool], Action] = field(default_factory=dict)

    def add_entity(self, entity: Entity) -> None:
        self.catalog.add(entity)
        self.storage.create_table(entity)

    def now_s(self) -> int:
        """Emulator time in whole seconds, as F&O stores ``utcdatetime``."""
        return int(self.clock.time())


def create_environment(state: EmulatorState) -> FoEnvironment:
    env = FoEnvironment(built_in_catalog(), FoStore(state.store), state.clock)
    for entity in env.catalog.all():
        env.storage.create_table(entity)
    state.extensions[EXTENSION] = env
    return env


def fo_environment(state: EmulatorState) -> FoEnvironment:
    env: FoEnvironment = state.extensions[EXTENSION]
    return env
