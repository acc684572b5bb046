"""Problems: what is wrong with a configuration file, where, and how bad.

Validation never stops at the first mistake. It collects `Problem`s, one per mistake, each pointing
at a line and column, and raises `ConfigError` once with all of them (as Home Assistant and Benthos
lints do). A problem prints like a compiler message::

    connections.yaml:14:9: connections.crm.tenant_id: field required (dynamics365)

Messages never contain secret values: they name the field, variable or file instead.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

Severity = Literal["error", "warning"]
MAX_SEGMENT_CHARS = 60  # a hostile 100 KB key is shown cut, not as a 100 KB line
PathSegment = str | int
FieldPath = tuple[PathSegment, ...]


def format_path(path: Sequence[object]) -> str:
    """`("actions", 1, "table")` -> `actions[1].table`; an empty path gives `""`."""
    text = ""
    for segment in path:
        if isinstance(segment, int) and not isinstance(segment, bool):
            text += f"[{segment}]"
        else:
            name = str(segment)
            name = name if len(name) <= MAX_SEGMENT_CHARS else name[:MAX_SEGMENT_CHARS] + "…"
            text += f".{name}" if text else name
    return text


@dataclass(frozen=True)
class Problem:
    """One mistake in one file. `line` and `column` are 1-based; None when unknown."""

    file: str
    line: int | None
    column: int | None
    path: FieldPath
    message: str
    context: str | None = None  # e.g. the connector or action type the field belongs to
    severity: Severity = "error"

    @property
    def is_error(self) -> bool:
        return self.severity == "error"

    def __str__(self) -> str:
        parts = [self.file]
        if self.line is not None:
            parts.append(str(self.line))
            if self.column is not None:
                parts.append(str(self.column))
        text = ":".join(parts) + ": "
        if self.severity == "warning":
            text += "warning: "
        if self.path:
            text += f"{format_path(self.path)}: "
        text += self.message
        if self.context:
            text += f" ({self.context})"
        return text


def did_you_mean(word: str, candidates: Iterable[str]) -> str | None:
    """The candidate closest to `word` when it is close enough to be a likely typo, else None."""
    best, best_ratio = None, 0.6  # difflib's usual cutoff
    matcher = difflib.SequenceMatcher(b=word.lower())
    for candidate in candidates:
        if not isinstance(candidate, str):
            continue
        matcher.set_seq1(candidate.lower())
        ratio = matcher.ratio()
        if ratio > best_ratio:  # strictly: on a tie the earlier candidate wins
            best, best_ratio = candidate, ratio
    return best


def suggestion(word: str, candidates: Iterable[str]) -> str:
    """` (did you mean 'x'?)` for a likely typo, else an empty string; append to a message."""
    match = did_you_mean(word, candidates)
    return f" (did you mean {match!r}?)" if match else ""


def sort_problems(problems: Iterable[Problem]) -> list[Problem]:
    """File order: by file, then line and column (unknown positions first), errors before warnings
    at the same spot."""
    return sorted(problems, key=_sort_key)


def _sort_key(p: Problem) -> tuple[str, int, int, bool, str]:
    return (p.file, p.line or 0, p.column or 0, p.severity != "error", format_path(p.path))


class ConfigError(Exception):
    """A configuration file (or several) cannot be used; carries every problem found, in order."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems: tuple[Problem, ...] = tuple(sort_problems(problems))
        super().__init__("\n".join(str(p) for p in self.problems))

    @property
    def errors(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.is_error)

    @property
    def warnings(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if not p.is_error)
