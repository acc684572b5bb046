"""``recipe-runner connectors list``: every installed connector (entry-point group
``recipe_runner.connectors``), where it comes from, and what it brings, or why it did not
load."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any

from connectors.catalog import GROUP, InstalledConnector, build_registry, installed_connectors

Print = Callable[[str], None]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = sub.add_parser("list", help="installed connectors: package, module, keys")
    listing.add_argument("--json", action="store_true", help="one JSON document")


def describe(item: InstalledConnector) -> dict[str, Any]:
    connector = item.connector
    return {
        "name": item.name, "entry_point": item.target, "distribution": item.distribution,
        "location": item.location, "loaded": item.error is None, "error": item.error,
        "summary": connector.summary if connector else "",
        "connection_types": sorted(t.key for t in connector.connection_types) if connector
        else [],
        "triggers": sorted(t.key for t in connector.triggers) if connector else [],
        "actions": sorted(a.key for a in connector.actions) if connector else [],
    }


def _text(rows: list[dict[str, Any]]) -> str:
    lines = []
    for row in rows:
        state = "" if row["loaded"] else "   FAILED TO LOAD"
        lines.append(f"{row['name']}  {row['distribution']}  ({row['entry_point']}){state}")
        lines.append(f"    from {row['location']}")
        if row["error"]:
            lines.append(f"    error: {row['error']}")
            continue
        for label in ("connection_types", "triggers", "actions"):
            if row[label]:
                lines.append(f"    {label.replace('_', ' ')}: {', '.join(row[label])}")
    return "\n".join(lines)


def run(args: argparse.Namespace, out: Print = print) -> int:
    _, installed = build_registry(installed_connectors())
    rows = [describe(item) for item in installed]
    if args.json:
        out(json.dumps({"group": GROUP, "connectors": rows}, indent=2))
    else:
        out(_text(rows) if rows else f"no connectors installed (entry-point group {GROUP})")
    return 0 if rows and all(row["loaded"] for row in rows) else 1


def main(args: argparse.Namespace) -> int:
    return run(args)
