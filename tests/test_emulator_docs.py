"""docs/emulator.md, tested as written: every control route is documented with an example,
``GET /_emulator/`` lists them, and the walkthrough (a recipe's step meets a 429, a 503 and
a revoked token) does what the page says, run from the page's own files and commands."""

from __future__ import annotations

import asyncio
import contextlib
import re
import shlex
from pathlib import Path
from typing import Any

import yaml
from structlog.contextvars import merge_contextvars
from structlog.testing import capture_logs

from emulator import RunningEmulator
from emulator.control_index import control_routes
from emulator.seed import DEMO_SEED, apply_seed, load_seed_file
from runner.cli import main as cli_main
from runner.daemon import Daemon
from runner.settings import Settings
from tests.d365_support import control, request_log
from tests.daemon_support import finished, until, wait_for
from tests.tokens_support import free_port, login_with_browser, state_url

DOC = Path(__file__).resolve().parents[1] / "docs" / "emulator.md"
_BLOCK = re.compile(r"^```(?P<info>[^\n]*)\n(?P<body>.*?)^```", re.M | re.S)


def blocks(info: str) -> list[str]:
    return [m["body"] for m in _BLOCK.finditer(DOC.read_text()) if m["info"].strip() == info]


def commands(script: str) -> list[str]:
    """The commands of a shell block: a newline inside quotes or after ``\\`` continues one."""
    found, current, quote = [], [], ""
    for char in script.replace("\\\n", " "):
        if char in "'\"" and quote in ("", char):
            quote = "" if quote else char
        if char == "\n" and not quote:
            found.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    return [c for c in [*found, "".join(current).strip()] if c]


def curl_calls(script: str, base_url: str) -> list[tuple[str, str, Any]]:
    """(method, URL, JSON body) of each ``curl`` command on the control plane ($EMU)."""
    calls = []
    for command in commands(script):
        if not command.startswith("curl "):
            continue
        words = shlex.split(command.replace("$EMU", base_url))
        url = next((w for w in words if w.startswith(base_url)), None)
        if url is None:
            continue  # a Web API call ($API), not the control plane
        method = words[words.index("-X") + 1] if "-X" in words else "GET"
        body = yaml.safe_load(words[words.index("-d") + 1]) if "-d" in words else None
        calls.append((method, url, body))
    return calls


async def run_block(emulator: RunningEmulator, info: str) -> None:
    (script,) = blocks(info)
    for method, url, body in curl_calls(script, emulator.base_url):
        await control(emulator, method, url.removeprefix(emulator.base_url), body)


def _route_pattern(path: str) -> re.Pattern[str]:
    """``/x/{name}/rows`` -> a regex matching ``/x/orders/rows`` (and an optional end slash)."""
    literal = re.escape(path).replace(r"\{", "{").replace(r"\}", "}").rstrip("/")
    return re.compile(re.sub(r"{[^}]+}", r"[^\\s\"'?/]+", literal) + r"/?(?:[\s\"'?]|$)")


async def test_every_control_route_is_listed_and_documented_with_an_example(
        emulator: RunningEmulator) -> None:
    listed = await control(emulator, "GET", "/_emulator/")
    documented = curl_calls("\n".join(blocks("sh")), "https://emu")
    assert listed["docs"] == "docs/emulator.md"
    assert listed["services"]["finance_operations"] == f"{emulator.base_url}/data/"
    routes = {(r["method"], r["path"]) for r in listed["routes"]}
    assert routes == set(control_routes(emulator.app))
    for method, path in routes:
        assert next(r["description"] for r in listed["routes"]
                    if (r["method"], r["path"]) == (method, path)), (method, path)
        pattern = _route_pattern(path)
        assert any(m == method and pattern.match(u.removeprefix("https://emu") + " ")
                   for m, u, _ in documented), f"no curl example for {method} {path}"


def test_emulator_help_points_at_the_docs(capsys: Any) -> None:
    with contextlib.suppress(SystemExit):
        cli_main(["emulator", "--help"])
    assert "docs/emulator.md" in capsys.readouterr().out


def _files(emulator: RunningEmulator, folder: Path, port: int) -> None:
    host = emulator.base_url.removeprefix("https://")
    (connections,) = blocks("yaml connections.yaml")
    (folder / "connections.yaml").write_text(
        connections.replace("localhost:8443", host)
        .replace("~/.local/state/recipe-runner/emulator-tls/ca.pem", str(emulator.ca_file))
        .replace("localhost:8765", f"localhost:{port}"))
    (recipe,) = blocks("yaml recipes/call-new-contacts.yaml")
    (folder / "recipes").mkdir()
    (folder / "recipes" / "call-new-contacts.yaml").write_text(recipe)
    (folder / "state").mkdir()


async def _first_poll(emulator: RunningEmulator) -> None:
    """Wait for the trigger's first poll, then a second more: a new_record trigger starts
    from its first poll, so a contact of that very second is before it. A person typing the
    next command is slower than this."""
    for _ in range(200):
        if await request_log(emulator, "/api/data/*/contacts"):
            await asyncio.sleep(1.1)
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the daemon never polled contacts")


async def _task_posts(emulator: RunningEmulator) -> list[int]:
    return [r["status"] for r in await request_log(emulator, "/api/data/*/tasks")
            if r["method"] == "POST"]


async def test_walkthrough_429_then_503_then_revoked_token(
        emulator: RunningEmulator, tmp_path: Path) -> None:
    apply_seed(emulator.state, load_seed_file(DEMO_SEED))
    port = free_port()  # the demo app's loopback redirect, on a port free here
    await control(emulator, "POST", "/_emulator/identity/apps", {
        "client_id": "11111111-1111-4111-8111-111111111111",
        "client_secret": "demo-client-secret",
        "redirect_uris": [f"http://localhost:{port}/callback"]})
    _files(emulator, tmp_path, port)
    await run_block(emulator, "sh step=sign-in")
    assert await login_with_browser(emulator, tmp_path, "crm") == 0
    settings = Settings(recipes=[tmp_path / "recipes"], connections=tmp_path / "connections.yaml",
                        state_url=state_url(tmp_path), listen="off", worker_id="docs",
                        grace_s=2, token_recheck_s=0.3)
    with capture_logs(processors=[merge_contextvars]) as logs:
        daemon = Daemon(settings)
        task = asyncio.create_task(daemon.run())
        await _first_poll(emulator)

        await run_block(emulator, "sh step=throttled")
        await until(lambda: len(finished(logs)) == 1, logs)
        assert await _task_posts(emulator) == [429, 201]

        await run_block(emulator, "sh step=unavailable")
        await until(lambda: len(finished(logs)) == 2, logs)
        assert await _task_posts(emulator) == [429, 201, 503, 503, 201]

        await run_block(emulator, "sh step=revoked")
        invalid = await wait_for(logs, lambda e: e["event"] == "connection.invalid")
        await wait_for(logs, lambda e: e["event"] == "recipes.paused")
        assert len(finished(logs)) == 2

        assert await login_with_browser(emulator, tmp_path, "crm") == 0
        await wait_for(logs, lambda e: e["event"] == "recipes.resumed")
        await until(lambda: len(finished(logs)) == 3, logs)
        daemon.request_stop()
        assert await asyncio.wait_for(task, 10) == 0
    assert {e["outcome"] for e in finished(logs)} == {"succeeded"}
    assert invalid["code"] == "AADSTS50173"
    assert invalid["fix"] == "run `recipe-runner connections login crm`"
    subjects = sorted(e.get("subject", "") for e in logs if e["event"] == "job.finished")
    assert len(subjects) == 3


def test_banner_names_every_service_and_the_docs(emulator: RunningEmulator) -> None:
    from emulator.cli import describe

    banner = describe(emulator)
    for line in (f"Dataverse Web API:   {emulator.base_url}/api/data/v9.2/",
                 f"F&O OData:           {emulator.base_url}/data/",
                 f"control plane:       {emulator.base_url}/_emulator/  (docs/emulator.md)"):
        assert line in banner
