"""One emulated Dataverse environment: its tables, their storage, and its fixed ids.

Kept in ``state.extensions["dataverse"]``; handlers reach it with :func:`environment`.
Other features plug operations in here rather than adding routes that would race the
catch-all Web API route: ``env.operations["$batch"] = handler`` for an unbound segment, and
``env.bound_actions["CreateMultiple"] = handler`` for ``<set>/Microsoft.Dynamics.CRM.<Name>``,
and ``env.tracked_read`` for collection GETs that ask for change tracking.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from emulator.dataverse.duplicates import DEFAULT_RULES, Rule
from emulator.dataverse.intersect import Intersects
from emulator.dataverse.render import RowRenderer
from emulator.dataverse.schema import ManyToMany, Table
from emulator.dataverse.security import Security
from emulator.dataverse.storage import DataverseStore
from emulator.dataverse.tables import Catalog, built_in_catalog
from emulator.state import STATE, EmulatorState

EXTENSION = "dataverse"

Operation = Callable[[web.Request], Awaitable[web.StreamResponse]]
BoundAction = Callable[[web.Request, Table], Awaitable[web.StreamResponse]]
# Answers a collection GET itself (change tracking) or returns None to let it read normally.
TrackedRead = Callable[[web.Request, Table], Awaitable[web.StreamResponse | None]]


@dataclass
class Environment:
    catalog: Catalog
    storage: DataverseStore
    intersects: Intersects
    security: Security = field(default_factory=Security)
    organization_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    business_unit_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    system_user_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    operations: dict[str, Operation] = field(default_factory=dict)
    bound_actions: dict[str, BoundAction] = field(default_factory=dict)
    tracked_read: TrackedRead | None = None
    duplicate_rules: list[Rule] = field(default_factory=lambda: list(DEFAULT_RULES))
    files: Any = None  # the FileStore (files.py), made once the environment exists
    pipeline: Any = None  # the webhook event pipeline (pipeline/), made with the app
    # Called with each table added after start-up (e.g. to register its message filters).
    table_added: list[Callable[[Environment, Table], None]] = field(default_factory=list)

    def add_table(self, table: Table) -> None:
        self.catalog.add(table)
        self.storage.create_table(table)
        for hook in self.table_added:
            hook(self, table)

    def add_many_to_many(self, relation: ManyToMany) -> None:
        self.catalog.add_many_to_many(relation)
        self.intersects.create(relation)


def create_environment(state: EmulatorState) -> Environment:
    catalog = built_in_catalog()
    renderer = RowRenderer(catalog)
    storage = DataverseStore(state.store, state.clock, lambda t: renderer.json_sql(t, "t"))
    env = Environment(catalog, storage, Intersects(state.store))
    storage.intersects = env.intersects
    for table in catalog.tables():
        env.storage.create_table(table)
    for relation in catalog.many_to_many():
        env.intersects.create(relation)
    state.extensions[EXTENSION] = env
    return env


def environment(request: web.Request) -> Environment:
    return environment_of(request.app[STATE])


def environment_of(state: EmulatorState) -> Environment:
    env: Environment = state.extensions[EXTENSION]
    return env
