"""What the test does to deliveries, and what happened to each one.

A rule (``POST /_emulator/webhooks/deliveries``) matches deliveries by ``message``,
``entity`` and ``url`` (a glob), for the next ``count`` of them (null: until cleared), each
with ``probability`` (default 1; drawn from a seeded generator, so a run repeats):

* ``drop``: the delivery is lost: never sent (the job still completes, as if the network ate
  it);
* ``delay``: sent ``delay_s`` seconds late (wall clock);
* ``duplicate``: sent twice;
* ``reorder``: held back until a later delivery has been sent (at most ``hold_s``).

The log keeps one entry per delivery (and per duplicate), newest 10,000: its status
(``pending``, ``delivered``, ``dropped``, ``failed``, ``retrying``), HTTP status, attempts,
the step, message, table and record. Secrets (``code``, header values) are never kept.
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from itertools import count
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

LOG_CAPACITY = 10_000


class DeliveryRuleSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: Literal["drop", "delay", "duplicate", "reorder"]
    message: str | None = Field(None, examples=["Update"])
    entity: str | None = Field(None, examples=["contact"])
    url: str | None = Field(None, description="glob on the endpoint URL")
    count: int | None = Field(None, ge=1, description="how many deliveries; null: all")
    probability: float = Field(1.0, ge=0, le=1)
    delay_s: float = Field(1.0, ge=0, le=600)
    hold_s: float = Field(5.0, ge=0, le=600)


@dataclass
class DeliveryRule:
    id: int
    spec: DeliveryRuleSpec
    remaining: int | None
    applied: int = 0

    def matches(self, message: str, entity: str, url: str) -> bool:
        spec = self.spec
        return (self.remaining != 0 and spec.message in (None, message)
                and spec.entity in (None, entity)
                and (spec.url is None or fnmatchcase(url, spec.url)))

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, **self.spec.model_dump(exclude_none=True),
                "remaining": self.remaining, "applied": self.applied}


@dataclass
class RuleBook:
    rules: list[DeliveryRule] = field(default_factory=list)
    random: random.Random = field(default_factory=lambda: random.Random(1))
    _ids: count[int] = field(default_factory=lambda: count(1))

    def add(self, spec: DeliveryRuleSpec) -> DeliveryRule:
        rule = DeliveryRule(next(self._ids), spec, spec.count)
        self.rules.append(rule)
        return rule

    def take(self, message: str, entity: str, url: str) -> DeliveryRule | None:
        """The rule for this delivery, if one applies (spending one of its count)."""
        for rule in self.rules:
            if rule.matches(message, entity, url):
                if self.random.random() >= rule.spec.probability:
                    return None
                if rule.remaining is not None:
                    rule.remaining -= 1
                rule.applied += 1
                return rule
        return None


@dataclass
class LogEntry:
    id: int
    delivery: str  # the delivery's id; a duplicate shares it
    step_id: str
    step: str
    endpoint: str
    url: str  # without query string: a WebhookKey code is a secret
    mode: str
    message: str
    entity: str
    record_id: str
    operation_id: str
    correlation_id: str
    time: str
    status: str = "pending"
    http_status: int | None = None
    attempts: int = 0
    error: str | None = None
    rule: int | None = None
    duplicate: bool = False

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class DeliveryLog:
    entries: deque[LogEntry] = field(default_factory=lambda: deque(maxlen=LOG_CAPACITY))
    _ids: count[int] = field(default_factory=lambda: count(1))

    def new_id(self) -> int:
        return next(self._ids)

    def add(self, entry: LogEntry) -> LogEntry:
        self.entries.append(entry)
        return entry

    def find(self, **wanted: str) -> list[LogEntry]:
        return [e for e in self.entries
                if all(str(getattr(e, k)) == v for k, v in wanted.items() if v)]
