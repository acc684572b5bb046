"""Helpers for connection types' online checks (``validate --online``): did-you-mean
suggestions and telling a fixed value from a template filled in per event."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from connectors.base import FieldPath, Finding, OnlineUse

__all__ = ["FieldPath", "Finding", "OnlineUse", "did_you_mean", "has_template", "suggestion"]


def did_you_mean(word: str, candidates: Iterable[str]) -> str | None:
    """The candidate closest to ``word`` when close enough to be a likely typo, else None."""
    best, best_ratio = None, 0.6  # difflib's usual cutoff, as the config checks use
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
    """`` (did you mean 'x'?)`` for a likely typo, else ""; append it to a message."""
    match = did_you_mean(word, candidates)
    return f" (did you mean {match!r}?)" if match else ""


def has_template(value: str) -> bool:
    """True for a value with a Jinja expression or statement (filled in per event)."""
    return "{{" in value or "{%" in value
