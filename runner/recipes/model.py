"""What a loaded, validated recipe is: a trigger and a tree of steps, each knowing its place
in the file (for error messages) and its path (for job step records and resume)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

OnError = Literal["fail", "continue"]


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 3
    backoff: Literal["exponential", "fixed"] = "exponential"
    delay_s: float = 1.0
    max_delay_s: float = 300.0

    def delay_for(self, attempt: int) -> float:
        """Seconds to wait after failed ``attempt`` (1-based), before jitter."""
        if self.backoff == "fixed":
            return min(self.delay_s, self.max_delay_s)
        return min(self.delay_s * 2 ** (attempt - 1), self.max_delay_s)


@dataclass(frozen=True)
class Step:
    path: str  # e.g. "actions[1]" or "actions[2].actions[0]"; stable across reloads
    where: str  # "recipes/a.yaml:14:5" for messages
    id: str | None
    type: str
    condition: str | None = None  # the step's ``if:`` template


@dataclass(frozen=True)
class ActionStep(Step):
    connection: str | None = None
    params: dict[str, Any] = field(default_factory=dict)  # raw, may hold templates
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    on_error: OnError | tuple[Step, ...] = "fail"


@dataclass(frozen=True)
class ForEachStep(Step):
    items: Any = None  # a template (or literal list)
    item_name: str = "item"
    steps: tuple[Step, ...] = ()
    on_error: OnError | tuple[Step, ...] = "fail"


@dataclass(frozen=True)
class StopStep(Step):
    outcome: Literal["success", "error"] = "success"
    message: str = ""


@dataclass(frozen=True)
class TriggerConfig:
    type: str
    connection: str | None
    params: dict[str, Any]
    poll_interval_s: float
    where: str
    batch_size: int = 1
    batch_wait_s: float = 0.0
    shared: bool = True  # may share its table's feed


@dataclass(frozen=True)
class Recipe:
    name: str
    file: str
    description: str
    enabled: bool
    trigger: TriggerConfig
    steps: tuple[Step, ...]
    concurrency: int = 1
    max_pending: int = 1000
    variables: dict[str, Any] = field(default_factory=dict)
    fingerprint: str = ""  # hash of the file's content, to see what changed on reload
