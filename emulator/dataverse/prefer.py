"""The ``Prefer`` request header: representation, page size, annotations, change tracking."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from fnmatch import fnmatchcase

MAX_PAGE_SIZE = 5000

FORMATTED = "OData.Community.Display.V1.FormattedValue"
LOOKUP_LOGICAL_NAME = "Microsoft.Dynamics.CRM.lookuplogicalname"
ASSOCIATED_NAVIGATION = "Microsoft.Dynamics.CRM.associatednavigationproperty"
TOTAL_COUNT = "Microsoft.Dynamics.CRM.totalrecordcount"
TOTAL_COUNT_EXCEEDED = "Microsoft.Dynamics.CRM.totalrecordcountlimitexceeded"


@dataclass(frozen=True)
class Preferences:
    values: dict[str, str] = field(default_factory=dict)  # lower-cased name -> raw value

    @property
    def return_representation(self) -> bool:
        return self.values.get("return") == "representation"

    @property
    def max_page_size(self) -> int | None:
        """The asked page size, capped at 5,000; None when absent or not a positive number."""
        raw = self.values.get("odata.maxpagesize", "")
        if not raw.isdigit() or int(raw) == 0:
            return None
        return min(int(raw), MAX_PAGE_SIZE)

    @property
    def annotation_patterns(self) -> tuple[str, ...]:
        raw = self.values.get("odata.include-annotations", "").strip('"')
        return tuple(p.strip() for p in raw.split(",") if p.strip())

    def wants(self, annotation: str) -> bool:
        return any(fnmatchcase(annotation, p) for p in self.annotation_patterns)

    @property
    def track_changes(self) -> bool:
        return "odata.track-changes" in self.values

    @property
    def continue_on_error(self) -> bool:
        return "odata.continue-on-error" in self.values


def parse_prefer(headers: Iterable[str]) -> Preferences:
    values: dict[str, str] = {}
    for header in headers:
        for item in _split_outside_double_quotes(header):
            name, _, value = item.strip().partition("=")
            if name.strip():
                values[name.strip().lower()] = value.strip()
    return Preferences(values)


def _split_outside_double_quotes(text: str) -> list[str]:
    parts, current, quoted = [], [], False
    for char in text:
        if char == '"':
            quoted = not quoted
        if char == "," and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts
