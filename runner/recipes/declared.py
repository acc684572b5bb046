"""The name a recipe file declares, read leniently: for files that do not load (an operator
still wants to know which recipe a broken file is). Read like every config file — only a
regular file within the size limit, YAML with bounded nesting and aliases — so a FIFO, a
device or a billion-laughs file named ``*.yaml`` says nothing instead of stalling."""

from __future__ import annotations

from pathlib import Path

from runner.config.files import UnreadableFile, read_regular_text
from runner.config.yaml_source import parse_yaml


def declared_name(file: Path | str) -> str | None:
    """The file's top-level ``name:``, or None when the file cannot say (unreadable, not
    YAML, no name)."""
    try:
        text = read_regular_text(Path(file))
    except (OSError, UnreadableFile):
        return None
    data = parse_yaml(text, str(file)).data
    name = data.get("name") if isinstance(data, dict) else None
    return name if isinstance(name, str) and name else None
