"""``recipe-runner jobs list|show|retry``: what the daemon did, and a second chance for
failed jobs.

``list`` and ``show`` only read the state store. ``show`` masks secrets again (secret-looking
keys, and every secret of the connections file when there is one) although the engine
recorded step inputs already redacted. ``retry`` makes failed jobs pending; they resume at
the step that failed, after the steps that had completed.
"""

from __future__ import annotations

import argparse
import re
from typing import Any

from connectors.catalog import default_registry
from runner.cli_common import (
    EXIT_OK,
    UserError,
    add_recipe_options,
    add_state_options,
    load_operator_recipes,
    open_store_for_reading,
    open_store_for_writing,
    operator_connections,
    redactor_for,
    run_command,
    settings_from,
)
from runner.output import (
    counted,
    human_time,
    indented,
    iso_time,
    one_line,
    pretty_json,
    print_json,
    table,
)
from runner.recipes import Step
from runner.redact import Redactor
from runner.settings import Settings
from runner.store import Job, JobDetail, JobStatus, StepRecord, Store

DEFAULT_LIMIT = 50
LOOP_INDEX = re.compile(r"\]\[\d+\]")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="jobs_command", required=True)
    listing = sub.add_parser("list", help="newest jobs first")
    add_state_options(listing)
    listing.add_argument("--recipe", help="only this recipe's jobs")
    listing.add_argument("--status", choices=[s.value for s in JobStatus])
    listing.add_argument("--limit", type=int, default=DEFAULT_LIMIT,
                         help=f"at most N jobs (default {DEFAULT_LIMIT})")
    show = sub.add_parser("show", help="one job: trigger payload and every step")
    add_state_options(show)
    add_recipe_options(show)  # the recipe's step ids label its steps; its secrets are masked
    show.add_argument("job_id", metavar="ID")
    retry = sub.add_parser("retry", help="failed jobs become pending (resume at the failed step)")
    add_state_options(retry)
    retry.add_argument("job_id", metavar="ID", nargs="?")
    retry.add_argument("--failed", action="store_true", help="every failed job")
    retry.add_argument("--recipe", help="with --failed: only this recipe's failed jobs")


def main(args: argparse.Namespace) -> int:
    command = {"list": list_jobs, "show": show_job, "retry": retry_jobs}[args.jobs_command]
    return run_command(command(args))


# -- list ----------------------------------------------------------------------------


async def list_jobs(args: argparse.Namespace) -> int:
    if args.limit < 1:
        raise UserError("--limit must be at least 1")
    store = await open_store_for_reading(settings_from(args).state_url)
    assert store is not None
    async with store:
        status = JobStatus(args.status) if args.status else None
        found = await store.list_jobs(args.recipe, status, args.limit)
    if args.json:
        print_json([job_summary(job) for job in found])
    elif found:
        print(table(["id", "recipe", "status", "attempts", "created", "finished", "error"],
                    [_row(job) for job in found]))
    else:
        print("no jobs")
    return EXIT_OK


def _row(job: Job) -> list[object]:
    return [job.id, job.recipe, job.status.value, job.attempts, human_time(job.created_at),
            human_time(job.finished_at), one_line(job.error)]


def job_summary(job: Job) -> dict[str, Any]:
    return {
        "id": job.id,
        "recipe": job.recipe,
        "status": job.status.value,
        "attempts": job.attempts,
        "event_key": job.event_key,
        "created_at": iso_time(job.created_at),
        "finished_at": iso_time(job.finished_at),
        "error": job.error,
    }


# -- show ----------------------------------------------------------------------------


async def show_job(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    redactor = redactor_for(operator_connections(settings).file)
    store = await open_store_for_reading(settings.state_url)
    assert store is not None
    async with store:
        detail = await store.get_job(args.job_id)
    if detail is None:
        raise UserError(f"no job with id {args.job_id!r} (see `recipe-runner jobs list`)")
    document = job_document(detail, redactor, step_ids(settings, detail.job.recipe))
    if args.json:
        print_json(document)
    else:
        print(_describe(document))
    return EXIT_OK


def step_ids(settings: Settings, recipe: str) -> dict[str, str]:
    """Step path → the step's ``id`` in the recipe's current file (empty when the recipe
    cannot be read from here: the steps are then shown by path only)."""
    try:
        loaded = load_operator_recipes(settings, default_registry(), None)
    except UserError:
        return {}
    found = loaded.recipes.get(recipe)
    ids: dict[str, str] = {}

    def walk(steps: tuple[Step, ...]) -> None:
        for step in steps:
            if step.id:
                ids[step.path] = step.id
            walk(getattr(step, "steps", ()))
            handlers = getattr(step, "on_error", None)
            if isinstance(handlers, tuple):
                walk(handlers)

    walk(found.steps if found else ())
    return ids


def _step_id(path: str, ids: dict[str, str]) -> str | None:
    """The id of the step at ``path`` (loop indices, ``[2]`` after a ``for_each``, ignored)."""
    return ids.get(LOOP_INDEX.sub("]", path))


def job_document(detail: JobDetail, redactor: Redactor,
                 ids: dict[str, str] | None = None) -> dict[str, Any]:
    """The job and its steps as JSON, with every secret masked."""
    job = detail.job
    document = {
        **job_summary(job),
        "updated_at": iso_time(job.updated_at),
        "next_run_at": iso_time(job.next_run_at) if job.status is JobStatus.PENDING else None,
        "claimed_by": job.claimed_by,
        "replay": job.replay,
        "payload": job.payload,
        "steps": [_step_document(step, _step_id(step.path, ids or {}))
                  for step in detail.steps],
    }
    masked: dict[str, Any] = redactor.value(document)
    return masked


def _step_document(step: StepRecord, step_id: str | None = None) -> dict[str, Any]:
    duration_ms = None
    # The engine records most steps once they finished: start == finish says "unknown".
    if step.finished_at is not None and step.finished_at > step.started_at:
        duration_ms = round((step.finished_at - step.started_at) * 1000, 1)
    return {
        "id": step_id,
        "path": step.path,
        "status": step.status.value,
        "attempts": step.attempts,
        "started_at": iso_time(step.started_at),
        "finished_at": iso_time(step.finished_at),
        "duration_ms": duration_ms,
        "input": step.input,
        "output": step.output,
        "error": step.error,
    }


def _describe(document: dict[str, Any]) -> str:
    lines = [
        f"job       {document['id']}",
        f"recipe    {document['recipe']}",
        f"status    {document['status']} (attempts {document['attempts']})",
        f"event     {document['event_key']}",
        f"created   {document['created_at']}",
        f"finished  {document['finished_at'] or '-'}",
    ]
    if document["error"]:
        lines.append(f"error     {document['error']}")
    lines += ["trigger payload:", indented(pretty_json(document["payload"]))]
    lines.append(f"steps ({len(document['steps'])}):" if document["steps"] else "steps: none")
    for step in document["steps"]:
        lines.extend(_describe_step(step))
    return "\n".join(lines)


def _describe_step(step: dict[str, Any]) -> list[str]:
    took = f", took {step['duration_ms']} ms" if step["duration_ms"] is not None else ""
    when = step["finished_at"] or step["started_at"]
    label = f"{step['id']} ({step['path']})" if step["id"] else step["path"]
    lines = [f"  {label}: {step['status']} (attempts {step['attempts']}, "
             f"recorded {when}{took})"]
    for key in ("input", "output"):
        if step[key] is not None:
            lines += [f"    {key}:", indented(pretty_json(step[key]), "      ")]
    if step["error"]:
        lines.append(f"    error: {step['error']}")
    return lines


# -- retry ---------------------------------------------------------------------------


async def retry_jobs(args: argparse.Namespace) -> int:
    if args.failed == (args.job_id is not None):
        raise UserError("give either a job ID or --failed")
    if args.recipe and not args.failed:
        raise UserError("--recipe goes with --failed")
    store = await open_store_for_writing(settings_from(args).state_url)
    async with store:
        if args.failed:
            count = await store.retry_failed(args.recipe)
        else:
            count = await _retry_one(store, args.job_id)
    if args.json:
        print_json({"retried": count})
    else:
        print(f"{counted(count, 'failed job')} set to pending")
    return EXIT_OK


async def _retry_one(store: Store, job_id: str) -> int:
    detail = await store.get_job(job_id)
    if detail is None:
        raise UserError(f"no job with id {job_id!r} (see `recipe-runner jobs list`)")
    if detail.job.status is not JobStatus.FAILED:
        raise UserError(f"job {job_id} is {detail.job.status.value}; only failed jobs are retried")
    return await store.retry_failed(job_id=job_id)
