"""``recipe-runner validate --online``: valid recipes checked against the live environments.

For each connection the recipes use whose connection type has an online check
(``ConnectionTypeSpec.online_check``: Dataverse's and F&O's, or a plugin's), one client is
opened by that type's factory (for OAuth types with a token from the daemon's
:class:`~runner.tokens.TokenManager`: the same state store and encrypted token caches, so
``authorization_code`` connections use their stored sign-in), and every trigger and step on
it is checked. What the checks find becomes ordinary :class:`Problem`\\ s at the recipe's
own lines. A connection that cannot be reached or signed in to is one problem, pointing at
it in the connections file, and its steps are left unchecked.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from connectors.base import Finding, OnlineChecker, OnlineUse, Params, Registry
from connectors.errors import ConnectorError
from runner.config import FieldPath, Problem, YamlSource, load_yaml, parse_yaml
from runner.connections import ConnectionsFile
from runner.recipes.loader import display_name
from runner.recipes.model import ActionStep, ForEachStep, Recipe, Step
from runner.runtime import ConnectionPool, needs_tokens
from runner.store import Store
from runner.tokens import TokenManager, key_file_for, load_fernet


@dataclass(frozen=True)
class Use:
    """One trigger or action step of a recipe on a named connection."""

    source: YamlSource
    path: FieldPath  # of the trigger or step in the recipe file
    spec_key: str
    model: type[Params]
    connection: str
    params: dict[str, Any]
    trigger: bool = False

    def problem(self, finding: Finding) -> Problem:
        return self.source.problem((*self.path, *finding.path), finding.message,
                                   at=finding.at, context=self.spec_key)


def recipe_uses(recipe: Recipe, registry: Registry) -> Iterator[Use]:
    """The trigger and every action step (nested ones too) that names a connection."""
    source = parse_yaml(Path(recipe.file).read_text(encoding="utf-8"), recipe.file)
    trigger = recipe.trigger
    if trigger.connection is not None:
        spec = registry.triggers[trigger.type]
        yield Use(source, ("trigger",), trigger.type, spec.params, trigger.connection,
                  trigger.params, trigger=True)
    yield from _step_uses(recipe.steps, ("actions",), source, registry)


def _step_uses(steps: Sequence[Step], path: FieldPath, source: YamlSource,
               registry: Registry) -> Iterator[Use]:
    for index, step in enumerate(steps):
        here = (*path, index)
        if isinstance(step, ForEachStep):
            yield from _step_uses(step.steps, (*here, "actions"), source, registry)
        if isinstance(step, ActionStep) and step.connection is not None:
            spec = registry.actions[step.type]
            yield Use(source, here, step.type, spec.params, step.connection, step.params)
        on_error = step.on_error if isinstance(step, ActionStep | ForEachStep) else None
        if isinstance(on_error, tuple):
            yield from _step_uses(on_error, (*here, "on_error"), source, registry)


async def check_online(recipes: Iterable[Recipe], registry: Registry,
                       connections: ConnectionsFile, connections_file: Path,
                       state_url: str) -> list[Problem]:
    """Every problem the environments' metadata reveals in ``recipes`` (already valid)."""
    by_connection: dict[str, list[Use]] = defaultdict(list)
    for recipe in recipes:
        for use in recipe_uses(recipe, registry):
            conn = connections.connections.get(use.connection)
            spec = registry.connection_types.get(conn.type) if conn is not None else None
            if spec is not None and spec.online_check is not None:
                by_connection[use.connection].append(use)
    if not by_connection:
        return []
    conn_source = load_yaml(connections_file, display_name(connections_file))
    problems: list[Problem] = []
    async with _token_manager(connections, state_url) as tokens:
        pool = ConnectionPool(connections, tokens, registry, purpose="check")
        try:
            for name, uses in by_connection.items():
                problems += await _check_connection(name, connections, pool, registry, uses,
                                                    conn_source)
        finally:
            await pool.close()
    return problems


async def _check_connection(name: str, connections: ConnectionsFile, pool: ConnectionPool,
                            registry: Registry, uses: list[Use],
                            conn_source: YamlSource) -> list[Problem]:
    conn = connections.connections[name]
    online_check = registry.connection_types[conn.type].online_check
    assert online_check is not None
    try:
        return await _check_uses(online_check(pool.get(name)), uses)
    except ConnectorError as exc:
        message = f"cannot check {len(uses)} recipe step(s) online: {exc.message}"
        return [conn_source.problem(("connections", name), message, at="key",
                                    context=conn.type)]


async def _check_uses(check: OnlineChecker, uses: list[Use]) -> list[Problem]:
    problems: list[Problem] = []
    for use in uses:
        found = await check(OnlineUse(use.spec_key, use.params, use.model, use.trigger))
        problems += [use.problem(finding) for finding in found]
    return problems


@asynccontextmanager
async def _token_manager(connections: ConnectionsFile,
                         state_url: str) -> AsyncIterator[TokenManager | None]:
    """A started :class:`TokenManager` over the daemon's state store and token key (None
    when no connection signs in with OAuth)."""
    if not needs_tokens(connections):
        yield None
        return
    key_file = key_file_for(state_url)
    if state_url.startswith("sqlite"):
        key_file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)  # the SQLite file's folder
    fernet = load_fernet(key_file)
    assert fernet is not None  # load_fernet creates the key when there is none
    async with await Store.open(state_url) as store:
        manager = TokenManager(connections, store, fernet)
        await manager.start()
        try:
            yield manager
        finally:
            manager.close()
