"""What the operator commands (``recipes``, ``jobs``, ``run --dry-run``) share: their
common options, the state store opened without side effects, recipes and connections
loaded like the daemon loads them, and one-line errors with exit code 1.

Commands that only read never create, migrate or write the state store: a SQLite file
that does not exist yet reads as "no state" instead of being created.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from runner.config import ConfigError
from runner.connections import ConnectionsFile, load_connections
from runner.output import print_error
from runner.recipes import LoadedRecipes, load_recipes
from runner.redact import Redactor
from runner.runtime import secret_values
from runner.settings import Settings
from runner.store import LATEST_VERSION, Store, applied_versions, create_store_engine
from runner.store.engine import normalize_url

EXIT_OK, EXIT_USER_ERROR = 0, 1


class UserError(Exception):
    """A mistake the operator can fix (unknown job id, unreadable file …): printed as one
    line on stderr, exit code 1."""


def add_state_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--state", help="state store URL (default $RECIPE_RUNNER_STATE or "
                        "sqlite:///state/recipe-runner.db)")
    parser.add_argument("--json", action="store_true", help="print JSON for scripts")


def add_recipe_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--recipes", type=Path, action="append",
                        help="recipe file or directory (repeatable; default: recipes/)")
    parser.add_argument("--connections", type=Path, help="connections file")


def settings_from(args: argparse.Namespace) -> Settings:
    return Settings.from_env(
        state_url=getattr(args, "state", None),
        recipes=getattr(args, "recipes", None),
        connections=getattr(args, "connections", None),
    )


def run_command(command: Coroutine[Any, Any, int]) -> int:
    """Run one command to its exit code; a ``UserError`` becomes one line and exit 1."""
    try:
        return asyncio.run(command)
    except UserError as exc:
        print_error(str(exc))
        return EXIT_USER_ERROR
    finally:
        command.close()  # never started if asyncio.run refused (e.g. inside a running loop)


# -- the state store ------------------------------------------------------------------


def sqlite_file(url: str) -> Path | None:
    """The database file of a SQLite URL (``None`` for PostgreSQL)."""
    normalized = normalize_url(url)
    prefix = "sqlite+aiosqlite:///"
    return Path(normalized[len(prefix):]) if normalized.startswith(prefix) else None


async def open_store_for_reading(url: str) -> Store | None:
    """The store, or ``None`` when there is no state yet; never creates or migrates."""
    file = _checked_file(url)
    if file is not None and not file.exists():
        return None
    engine = create_store_engine(url)
    try:
        versions = await applied_versions(engine)
    except (OSError, SQLAlchemyError) as exc:
        await engine.dispose()
        raise UserError(f"cannot read the state store: {_first_line(exc)}") from None
    if not versions or max(versions) != LATEST_VERSION:
        await engine.dispose()
        if not versions:
            return None
        raise UserError(f"the state store is at schema version {max(versions)}, this "
                        f"recipe-runner reads version {LATEST_VERSION}; start the daemon of "
                        "the matching version once to migrate it")
    return Store(engine)


async def open_store_for_writing(url: str) -> Store:
    """The store as the daemon opens it (created and migrated if needed)."""
    file = _checked_file(url)
    if file is not None:
        file.parent.mkdir(parents=True, exist_ok=True)
    try:
        return await Store.open(url)
    except (OSError, SQLAlchemyError) as exc:
        raise UserError(f"cannot open the state store: {_first_line(exc)}") from None


def _checked_file(url: str) -> Path | None:
    try:
        return sqlite_file(url)
    except ValueError as exc:
        raise UserError(str(exc)) from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{exc.__class__.__name__}: {text[0] if text else ''}"


# -- connections and recipes ----------------------------------------------------------


def load_connections_file(settings: Settings) -> ConnectionsFile | None:
    """The connections file if one is configured; its first problem is a ``UserError``."""
    if settings.connections is None:
        return None
    try:
        return load_connections(settings.connections)
    except ConfigError as exc:
        first = exc.problems[0] if exc.problems else settings.connections
        raise UserError(f"connections file has problems: {first}") from None


def redactor_for(connections: ConnectionsFile | None) -> Redactor:
    """Masks secret-looking keys, and every secret value of the connections file."""
    return Redactor(secret_values(connections))


def load_operator_recipes(
    settings: Settings, registry: Any, connections: ConnectionsFile | None
) -> LoadedRecipes:
    types = None
    if connections is not None:
        types = {name: conn.type for name, conn in connections.connections.items()}
    return load_recipes(settings.recipes, registry, types)


def warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)
