"""Round one of recipe validation: the envelope every recipe and step shares.

Keys not listed here are the connector's params, checked in round two against the
trigger's or action's own params model.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from connectors.durations import Duration

NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]*$"


class RetryModel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    attempts: int = Field(3, ge=1, le=100, description="Tries in all, the first included.")
    backoff: Literal["exponential", "fixed"] = "exponential"
    delay: Duration = Field(1.0, description="Wait after the first failure.")
    max_delay: Duration = Field(300.0, description="Longest wait between tries.")


class TriggerEnvelope(BaseModel):
    model_config = ConfigDict(extra="allow")

    type: str = Field(description="Trigger type, e.g. dynamics365.new_or_updated_record.")
    connection: str | None = Field(None, description="Name of a connection in connections.yaml.")
    poll_interval: Duration = Field(30.0, description="How often the trigger is polled.")
    batch_size: int = Field(
        1, ge=1, le=5000,
        description="Records per job (1: one job per record). A batch job's trigger.record is "
                    "{records, keys, kinds}; batches fill across pages and polls, and a "
                    "record that already has a job is never batched again.")
    shared: bool = Field(
        True, description="Share one read of the table with the other recipes watching it "
                          "through the same connection (a table feed); false: this recipe "
                          "queries the table on its own.")
    batch_wait: Duration = Field(
        0.0, description="How long a batch smaller than batch_size may wait for more "
                         "records (0: it becomes a job at the end of the poll).")


STEP_KEYS = frozenset({"id", "type", "connection", "if", "retry", "on_error"})


class StepEnvelope(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)

    id: str | None = Field(None, pattern=NAME_PATTERN, description="Name for steps.<id>.")
    type: str = Field(description="Action type (e.g. http.request), for_each or stop.")
    connection: str | None = None
    condition: str | bool | None = Field(
        None, alias="if",
        description="Run the step only when this expression is true: bare "
                    "(trigger.record.revenue > 1000000) or in {{ }}; true/false as YAML "
                    "booleans. Reads the same names as templates.")
    retry: RetryModel | None = None
    on_error: Any = Field("fail", description="fail, continue, or a list of handler steps.")

    @field_validator("on_error")
    @classmethod
    def _on_error(cls, value: Any) -> Any:
        if value in ("fail", "continue") or isinstance(value, list):
            return value
        raise ValueError("must be 'fail', 'continue' or a list of handler steps")


class RecipeEnvelope(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=NAME_PATTERN, description="Unique recipe name.")
    description: str = Field("", description="What the recipe does, for people.")
    enabled: bool = Field(True, description="false: loaded and checked, but never polled "
                          "(an operator's `recipes enable/disable` overrides it).")
    trigger: dict[str, Any] = Field(description="What starts a job: a `type` and its params.")
    concurrency: int = Field(1, ge=1, le=256, description="Jobs of this recipe at once.")
    max_pending: int = Field(1000, ge=1, description="Stop polling above this many pending jobs.")
    variables: dict[str, Any] = Field(default_factory=dict,
                                      description="Constants for templates, seen as `vars`.")
    actions: list[Any] = Field(min_length=1, description="The steps, in order.")


class ForEachParams(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    items: Any = Field(description="A list, usually a template such as {{ trigger.record.lines }}.")
    item_name: str = Field("item", alias="as", pattern=r"^[a-z_][a-z0-9_]*$",
                           description="The name of the current item in templates.")
    actions: list[Any] = Field(min_length=1, description="The steps to run for each item.")


class StopParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    outcome: Literal["success", "error"] = Field(
        "success", description="success: the job succeeded; error: the job failed.")
    message: str = Field("", description="Why it stopped (a template), logged and stored.")
