"""Loading a seed file (YAML): apps, users, custom tables and rows.

The document is handed to every feature module that has ``apply_seed(state, doc)``;
each takes the sections it owns (``apps``/``users``/``token_settings`` for identity,
``tables``/``rows`` for Dataverse, ...).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from emulator.app import feature_modules
from emulator.state import EmulatorState

DEMO_SEED = Path(__file__).with_name("seeds") / "demo.yaml"


class SeedError(Exception):
    pass


def load_seed_file(path: Path) -> dict[str, Any]:
    try:
        doc = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise SeedError(f"{path}: cannot read the seed file: {exc}") from exc
    if not isinstance(doc, dict):
        raise SeedError(f"{path}: a seed file is a mapping of sections (apps, users, tables, rows)")
    return doc


def apply_seed(state: EmulatorState, doc: dict[str, Any]) -> None:
    for module in feature_modules():
        apply = getattr(module, "apply_seed", None)
        if apply is not None:
            apply(state, doc)
