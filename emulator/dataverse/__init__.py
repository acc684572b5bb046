"""The emulated Dataverse Web API: tables in SQLite, OData queries, paging, CRUD, metadata.

Routes: ``/api/data/{v8.2|v9.0|v9.1|v9.2}/…`` (other versions 404) and the control plane
under ``/_emulator/dataverse/`` and ``/_emulator/webhooks/deliveries|settings``. A seed's
sections are read by :mod:`.seeding`; users read docs/emulator.md.

Module map. Tables: schema (definitions) · columns (shared column builders) · tables
(built-ins, catalog, relationships, seed tables) · system_tables (systemuser, role, SDK
messages, system jobs, webhook registrations) · storage (SQLite rows, versions, deletion
log, row events) · intersect (N:N rows) · timestamps. Reading: urls · query (options,
expansions) · filters ($filter -> SQL) · query_functions (Microsoft.Dynamics.CRM.In, …) ·
prefer · render (row JSON in SQL) · paging · reads · navigation (reads through navigation
properties) · changes (change tracking) · fetchxml / fetch_aggregates. Writing: payload ·
writes · states (statecode/statuscode) · notes (annotation attachments) · duplicates ·
files / file_blocks (file and image columns). Who: auth (tokens) · principals (token ->
systemuser, impersonation) · callers (who a write is done as) · security (roles,
privileges) · access (which privilege a request needs). Metadata: metadata (paths) ·
metadata_types / metadata_model / metadata_query · csdl ($metadata). Messages: batch /
batch_handler ($batch) · bulk (CreateMultiple, …) · bulk_delete · messages (other actions
and functions) · sdk_messages (sdkmessage rows). Events: events (row events) · pipeline/
(webhook steps). Glue: routes · control · environment · bootstrap · seeding · errors.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from emulator.dataverse import (
    batch_handler,
    bulk,
    bulk_delete,
    changes,
    control,
    fetchxml,
    file_blocks,
    messages,
    routes,
    sdk_messages,
    seeding,
)
from emulator.dataverse.bootstrap import bootstrap
from emulator.dataverse.environment import Environment, create_environment, environment_of
from emulator.dataverse.errors import DataverseError
from emulator.dataverse.files import FileStore
from emulator.dataverse.pipeline import Pipeline, Settings
from emulator.dataverse.pipeline import control as pipeline_control
from emulator.state import EmulatorState

__all__ = ["DataverseError", "Environment", "apply_seed", "environment_of", "setup"]


def setup(app: web.Application, state: EmulatorState) -> None:
    env = create_environment(state)
    env.files = FileStore(env)
    ca_file = str(state.config.webhook_ca_file) if state.config.webhook_ca_file else None
    env.pipeline = Pipeline(env, Settings(ca_file=ca_file), lambda: state.base_url)
    env.storage.observer = env.pipeline
    bootstrap(env)
    file_blocks.register(env)
    env.table_added.append(sdk_messages.add_filters)
    env.operations["$batch"] = batch_handler.handle_batch
    bulk.register(env)
    bulk_delete.register(env)
    changes.register(env)
    fetchxml.register(env)  # wraps changes' tracked_read: register after it
    messages.register(env)
    app.add_routes(pipeline_control.routes)  # before the webhook sink's /_emulator/webhooks/…
    app.on_cleanup.append(lambda _: env.pipeline.close())
    app.router.add_route("*", "/api/data/{version}", routes.web_api)
    app.router.add_route("*", "/api/data/{version}/{path:.*}", routes.web_api)
    app.add_routes(control.routes)


def apply_seed(state: EmulatorState, doc: dict[str, Any]) -> None:
    seeding.apply(environment_of(state), state.directory, doc)
