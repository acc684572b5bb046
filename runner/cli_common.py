"""What the operator commands (``recipes``, ``jobs``, ``run --dry-run``) share: their
common options, the state store opened without side effects, recipes and connections
loaded like the daemon loads them, and one-line errors with exit code 1.

Operator commands never need the daemon's secrets: connections are read for their names
and types (a ``${env:…}`` secret that is not set in this shell is fine). Only the
commands that talk to Dynamics themselves (``connections test|login``, ``recipes
backfill`` when no daemon runs, ``run --dry-run``) need them.

Commands never create a state store: one that is not where they look is an error that
says where they looked and how to point at the right one (``--state`` or
``RECIPE_RUNNER_STATE``); only the daemon creates and migrates a store.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from runner.config import ConfigError
from runner.connections import ConnectionsFile, check_connections, load_connections
from runner.output import print_error
from runner.recipes import LoadedRecipes, load_recipes
from runner.redact import Redactor
from runner.runtime import secret_values
from runner.settings import DEFAULT_STATE_URL, Settings, env
from runner.store import LATEST_VERSION, Store, applied_versions, create_store_engine
from runner.store.engine import normalize_url

EXIT_OK, EXIT_USER_ERROR = 0, 1


class UserError(Exception):
    """A mistake the operator can fix (unknown job id, unreadable file …): printed as one
    line on stderr, exit code 1."""


STORE_HINT = ("point at the daemon's store with --state URL or RECIPE_RUNNER_STATE "
              "(systemd unit: sqlite:////var/lib/recipe-runner/recipe-runner.db; container: "
              "run the command inside it with `docker exec`)")


def add_state_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--state", help="state store URL (default: $RECIPE_RUNNER_STATE, "
                        f"else {DEFAULT_STATE_URL} under the current folder)")
    parser.add_argument("--json", action="store_true", help="print JSON for scripts")


def add_recipe_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--recipes", type=Path, action="append",
                        help="recipe file or directory (repeatable; default: "
                             "$RECIPE_RUNNER_RECIPES, else recipes/)")
    parser.add_argument("--connections", type=Path,
                        help="connections file (default: $RECIPE_RUNNER_CONNECTIONS, else "
                             "connections.yaml when there is one); its secrets are not needed")


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


async def open_store_for_reading(url: str, *, missing_ok: bool = False) -> Store | None:
    """The daemon's store; never creates or migrates. A store that is not there is a
    ``UserError`` saying where it looked (``missing_ok``: ``None`` instead, for commands
    that make sense before the daemon first ran, such as ``run --dry-run``)."""
    file = _checked_file(url)
    if file is not None and not file.exists():
        if missing_ok:
            return None
        raise UserError(_no_store_here(url, file))
    engine = create_store_engine(url)
    try:
        versions = await applied_versions(engine)
    except (OSError, SQLAlchemyError) as exc:
        await engine.dispose()
        raise UserError(f"cannot read the state store {_shown(url)}: {_first_line(exc)}; "
                        f"{STORE_HINT}") from None
    if not versions or max(versions) != LATEST_VERSION:
        await engine.dispose()
        if not versions and missing_ok:
            return None
        if not versions:
            raise UserError(f"{_shown(url)} holds no recipe-runner state (the daemon creates "
                            f"it at its first start); {STORE_HINT}")
        raise UserError(f"the state store is at schema version {max(versions)}, this "
                        f"recipe-runner reads version {LATEST_VERSION}; start the daemon of "
                        "the matching version once to migrate it")
    return Store(engine)


async def open_store_for_writing(url: str) -> Store:
    """The daemon's store, to change operator state (a switch, a retry): it must exist
    and be migrated already, like for reading."""
    store = await open_store_for_reading(url)
    assert store is not None
    return store


def _no_store_here(url: str, file: Path) -> str:
    return (f"no state store at {file.resolve()} ({_origin(url)}, run in {Path.cwd()}); "
            f"{STORE_HINT}")


def _origin(url: str) -> str:
    """Where the store URL came from, as the operator would find it."""
    if env("STATE") == url:
        return f"RECIPE_RUNNER_STATE={url}"
    if url == DEFAULT_STATE_URL:
        return f"the default {DEFAULT_STATE_URL}: RECIPE_RUNNER_STATE is not set"
    return f"--state {url}"


def _shown(url: str) -> str:
    file = sqlite_file(url)
    return str(file.resolve()) if file is not None else _without_password(url)


def _without_password(url: str) -> str:
    """A PostgreSQL URL as it may be shown: the password, if any, masked."""
    scheme, sep, rest = url.partition("://")
    credentials, at, host = rest.rpartition("@")
    if not at or ":" not in credentials:
        return url
    user = credentials.split(":", 1)[0]
    return f"{scheme}{sep}{user}:***@{host}"


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
    """The connections file, secrets resolved, if one is configured (for commands that
    talk to Dynamics themselves); its first problem is a ``UserError``."""
    if settings.connections is None:
        return None
    try:
        return load_connections(settings.connections)
    except ConfigError as exc:
        first = exc.problems[0] if exc.problems else settings.connections
        raise UserError(f"connections file has problems: {first}") from None


@dataclass
class OperatorConnections:
    """The connections file as operator commands need it: every connection's type, and
    the typed file only when every secret it refers to is available in this shell."""

    types: dict[str, str] | None = None  # None: no connections file
    file: ConnectionsFile | None = None
    missing_secrets: list[str] = field(default_factory=list)  # problems, one per secret


def operator_connections(settings: Settings) -> OperatorConnections:
    """Read the connections file without needing its secrets. Its own problems (not a
    missing secret) are a warning: the commands still work, as the daemon keeps running
    with the last good file."""
    if settings.connections is None:
        return OperatorConnections()
    if not settings.connections.exists():
        raise UserError(f"no connections file at {settings.connections.resolve()}; point "
                        "at it with --connections or RECIPE_RUNNER_CONNECTIONS")
    check = check_connections(settings.connections, secrets_required=False)
    missing = [str(p) for p in check.problems if "the daemon will need it" in p.message]
    if check.errors:
        warn(f"connections file has problems, recipes are listed without checking their "
             f"connections: {check.errors[0]}")
        return OperatorConnections(None, None, missing)
    # With a secret missing, the typed file holds the reference's text in its place: fine
    # for names and types, never to sign in with.
    return OperatorConnections(check.types, None if missing else check.file, missing)


def redactor_for(connections: ConnectionsFile | None) -> Redactor:
    """Masks secret-looking keys, and every secret value of the connections file."""
    return Redactor(secret_values(connections))


def load_operator_recipes(
    settings: Settings, registry: Any, connections: ConnectionsFile | OperatorConnections | None
) -> LoadedRecipes:
    """The recipes as the daemon loads them; a recipe folder that is not there is a
    ``UserError`` saying where it looked."""
    for path in settings.recipes:
        if not path.exists():
            raise UserError(f"no recipes at {path.resolve()}; point at the daemon's recipes "
                            "with --recipes or RECIPE_RUNNER_RECIPES")
    if isinstance(connections, OperatorConnections):
        types = connections.types
    elif connections is not None:
        types = {name: conn.type for name, conn in connections.connections.items()}
    else:
        types = None
    return load_recipes(settings.recipes, registry, types)


def warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)
