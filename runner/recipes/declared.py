"""The name a recipe file declares, read leniently: for files that do not load (an operator
still wants to know which recipe a broken file is)."""

from __future__ import annotations

from pathlib import Path

import yaml


def declared_name(file: Path | str) -> str | None:
    """The file's top-level ``name:``, or None when the file cannot say (unreadable, not
    YAML, no name)."""
    try:
        data = yaml.safe_load(Path(file).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None
    name = data.get("name") if isinstance(data, dict) else None
    return name if isinstance(name, str) and name else None
