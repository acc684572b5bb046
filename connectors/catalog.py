"""Every installed connector, found through the ``recipe_runner.connectors`` entry-point group.

The built-in connectors are registered there by recipe-runner's own package metadata, exactly
as a third-party package registers its own (docs/connectors.md):

.. code-block:: toml

    [project.entry-points."recipe_runner.connectors"]
    acme = "acme_connector:CONNECTOR"

An entry point names a :class:`connectors.base.Connector` (or a function returning one). A
connector that fails to load, or that registers a key another one already has, is left out
and reported (``connectors.plugin_failed``, and ``recipe-runner connectors list``); the
others still load.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from importlib.metadata import EntryPoint, distributions
from pathlib import Path

import structlog

from connectors.base import Connector, Registry

GROUP = "recipe_runner.connectors"
log = structlog.get_logger(__name__)


class NoConnectorsError(RuntimeError):
    """Not even the built-in connectors are installed (package metadata missing)."""


@dataclass(frozen=True)
class InstalledConnector:
    """One entry point of the group: what it is, where it comes from, and what it gave."""

    name: str  # the entry point's name
    target: str  # module:attribute
    distribution: str  # the installed package that declares it, e.g. "recipe-runner 0.1.0"
    location: str  # the folder of the module the entry point names
    connector: Connector | None
    error: str | None = None  # why it is not loaded

    @property
    def loaded(self) -> bool:
        return self.connector is not None and self.error is None


def _distribution(entry: EntryPoint) -> tuple[str, str]:
    dist = entry.dist
    if dist is None:
        return "unknown", ""
    location = str(dist.locate_file("")) if hasattr(dist, "locate_file") else ""
    return f"{dist.metadata['Name']} {dist.version}", location


def _load(entry: EntryPoint) -> InstalledConnector:
    distribution, location = _distribution(entry)
    try:
        value = entry.load()
        connector = value() if isinstance(value, Callable) and not isinstance(  # type: ignore[arg-type]
            value, Connector) else value
        if not isinstance(connector, Connector):
            raise TypeError(f"{entry.value} is a {type(connector).__name__}, not a "
                            "connectors.base.Connector")
    except Exception as exc:  # a broken plugin must not take the others down
        return InstalledConnector(entry.name, entry.value, distribution, location, None,
                                  f"{type(exc).__name__}: {exc}")
    module = sys.modules.get(entry.module)
    where = getattr(module, "__file__", None)
    return InstalledConnector(entry.name, entry.value, distribution,
                              str(Path(where).parent) if where else location, connector)


def installed_connectors() -> list[InstalledConnector]:
    """Every entry point of the group, loaded (or with the reason it could not be)."""
    return [_load(entry) for entry in sorted(_group_entries(), key=lambda e: e.name)]


def _group_entries() -> list[EntryPoint]:
    """The group's entry points across every distribution on the path. Unlike
    ``entry_points(group=…)``, which reads only the first copy of each distribution name,
    a stale ``*.egg-info`` left in a checkout cannot hide the installed metadata."""
    found: dict[str, EntryPoint] = {}
    for dist in distributions():
        for entry in dist.entry_points.select(group=GROUP):
            found.setdefault(entry.name, entry)
    return list(found.values())


def build_registry(installed: list[InstalledConnector]) -> tuple[Registry,
                                                                 list[InstalledConnector]]:
    """A registry of the loaded connectors; the list with clashes marked as errors."""
    registry, result = Registry(), []
    for item in installed:
        if item.loaded:
            assert item.connector is not None
            try:
                _add_all_or_nothing(registry, item.connector, f"{item.name} ({item.distribution})")
            except ValueError as exc:
                item = InstalledConnector(item.name, item.target, item.distribution,
                                          item.location, item.connector, str(exc))
        if item.error:
            log.error("connectors.plugin_failed", connector=item.name, target=item.target,
                      distribution=item.distribution, error=item.error)
        result.append(item)
    return registry, result


def _add_all_or_nothing(registry: Registry, connector: Connector, origin: str) -> None:
    trial = Registry()
    trial.actions, trial.triggers = dict(registry.actions), dict(registry.triggers)
    trial.connection_types, trial.origins = dict(registry.connection_types), dict(registry.origins)
    trial.add_connector(connector, origin)  # raises before touching ``registry``
    registry.add_connector(connector, origin)


@cache
def default_registry() -> Registry:
    """Every trigger, action and connection type of the installed connectors."""
    installed = installed_connectors()
    if not installed:
        raise NoConnectorsError(
            f"no connectors are installed (no '{GROUP}' entry points): install recipe-runner "
            "with pip (`make venv`, or `pip install -e .` in a checkout) so its package "
            "metadata exists")
    return build_registry(installed)[0]
