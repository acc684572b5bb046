"""The command line's small courtesies: ``--version``, help without reST markup, defaults and
environment names in ``run --help``, counts in words (``1 event``), steps labelled by their
id, and ``jobs list --json | head`` ending quietly."""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from runner import cli_jobs
from runner.cli import EXIT_BROKEN_PIPE, build_parser, main
from runner.output import counted
from runner.store import NewEvent, Store
from tests.engine_support import Endpoint, make_registry
from tests.test_cli_jobs import relay_recipe, run_relay, state

REST_MARKUP = re.compile(r"``|:class:|:func:|:mod:|:meth:")


def every_parser(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                yield from every_parser(child)


def test_version_is_the_installed_distributions(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out == f"recipe-runner {version('recipe-runner')}\n"


def test_no_help_shows_rest_markup() -> None:
    parsers = list(every_parser(build_parser()))
    assert len(parsers) > 15
    for parser in parsers:
        text = parser.format_help()
        assert not REST_MARKUP.search(text), f"{parser.prog}:\n{text}"


def test_run_help_names_each_default_and_environment_variable() -> None:
    run = next(p for p in every_parser(build_parser()) if p.prog.endswith(" run"))
    text = " ".join(run.format_help().split())
    for name in ("RECIPES", "CONNECTIONS", "STATE", "WORKER_ID", "GRACE_S", "LOG_FORMAT",
                 "LOG_LEVEL", "LISTEN", "STATUS_TOKEN", "SECRET_KEY", "CLAIM_TTL_S",
                 "LEASE_TTL_S", "TOKEN_RECHECK_S", "HEARTBEAT_FILE"):
        assert f"RECIPE_RUNNER_{name}" in text, name
    assert "else sqlite:///state/recipe-runner.db" in text and "else 30" in text


def test_counts_read_as_words() -> None:
    assert [counted(n, "event") for n in (0, 1, 2)] == ["0 events", "1 event", "2 events"]
    assert counted(1, "new job") == "1 new job"


@pytest.fixture
def quiet() -> Iterator[None]:
    with capture_logs():
        yield


async def test_jobs_show_labels_steps_by_their_id(
    tmp_path: Path, endpoint: Endpoint, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch, quiet: None,
) -> None:
    engine = await run_relay(tmp_path, endpoint, [{"id": "a"}])
    await engine.stop(5)
    await engine.store.close()
    (tmp_path / "recipes").mkdir()
    (tmp_path / "recipes" / "relay.yaml").write_text(relay_recipe(endpoint, [{"id": "a"}]))
    monkeypatch.setattr(cli_jobs, "default_registry", make_registry)  # the test trigger
    argv = ["jobs", "list", "--json", *state(tmp_path)]
    assert await asyncio.to_thread(main, argv) == 0
    (job,) = json.loads(capsys.readouterr().out)
    argv = ["jobs", "show", job["id"], "--recipes", str(tmp_path / "recipes"), *state(tmp_path)]
    assert await asyncio.to_thread(main, argv) == 0
    out = capsys.readouterr().out
    assert "  post (actions[0]): succeeded" in out
    assert "  second (actions[1]): succeeded" in out
    assert "  actions[2]: succeeded" in out  # no id: its path


async def test_jobs_list_into_a_closed_pipe_ends_quietly(tmp_path: Path) -> None:
    async with await Store.open(f"sqlite:///{tmp_path / 'state.db'}") as store:
        events = [NewEvent(f"k{i}", {"record": {"id": i, "pad": "x" * 200}})
                  for i in range(2000)]
        await store.commit_poll("bulk", events, {}, 0)
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "runner.cli", "jobs", "list", "--json", "--limit", "2000",
        *state(tmp_path), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    assert process.stdout is not None
    assert (await process.stdout.read(10)).startswith(b"[")
    process.stdout.feed_eof()
    transport = process._transport  # type: ignore[attr-defined]
    transport.get_pipe_transport(1).close()  # what `head` does once it has enough
    stderr = await asyncio.wait_for(process.stderr.read(), 60)  # type: ignore[union-attr]
    code = await process.wait()
    assert stderr.decode() == ""
    assert code == EXIT_BROKEN_PIPE
