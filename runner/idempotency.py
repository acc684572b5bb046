"""What running a step again does, in words: for the reference and for ``validate``.

Every action declares how it behaves when its step runs a second time (an inline retry after
a lost answer, a job resumed after a crash, an operator's ``jobs retry``):
:data:`connectors.base.Idempotency`. Steps already recorded as done never run again; only
the step that was running can, so this is all a recipe author needs to know.
"""

from __future__ import annotations

from connectors.base import ActionSpec

VERDICTS = {
    "natural": "yes",
    "keyed": "yes, by the step identity",
    "conditional": "only as described",
    "none": "no",
}

GUARANTEE = (
    "A step that finished is recorded before the next step starts and never runs again. "
    "Only the step that was running when the process died, or whose answer was lost, can "
    "run a second time, and then under the same **step identity** (job id, step path, loop "
    "index). Every action below says what that second run does: *yes* (it changes nothing "
    "more), *yes, by the step identity* (the action derives a primary key or an "
    "`Idempotency-Key` from it, so the service recognises the repeat), *only as described*, "
    "or *no* (the effect may happen twice; `validate` says so for each such step)."
)


def verdict_line(spec: ActionSpec) -> str:
    """``Safe to run again: yes — <why>.`` for the reference."""
    note = f" — {spec.idempotency_note}" if spec.idempotency_note else ""
    return f"Safe to run again: **{VERDICTS[spec.idempotency]}**{note}."


def repeat_warning(spec: ActionSpec) -> str | None:
    """The ``validate`` note for a step whose action cannot be made safe to repeat."""
    if spec.idempotency != "none":
        return None
    return (f"{spec.key} is not safe to run twice: {spec.idempotency_note} "
            "(if a second run would hurt, read the record's state in a step before it and "
            "guard it with if:)")
