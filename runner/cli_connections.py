"""``recipe-runner connections list|test|login``: see and fix named connections.

Human output by default, one JSON document per command with ``--json``; exit code 0 when the
command did what it says, 1 otherwise. ``--connections`` / ``RECIPE_RUNNER_CONNECTIONS`` and
``--state`` / ``RECIPE_RUNNER_STATE`` locate the files. Nothing printed ever contains a secret or
a token: errors are the classified messages of ``runner.tokens``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import ssl
import sys
import time
import webbrowser
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import msal
import yaml
from cryptography.fernet import Fernet

from connectors.errors import ConnectorError
from connectors.network import describe
from runner.cli_common import UserError, open_store_for_reading
from runner.config.problems import ConfigError
from runner.connections import (
    ConnectionsFile,
    Dynamics365Connection,
    DynamicsConnectionBase,
    check_connections,
    load_connections,
)
from runner.store import Store
from runner.tokens import CacheStore, ConnectionTokens, SecretKeyError, key_file_for, load_fernet
from runner.tokens.flows import access_token_expiry_s
from runner.tokens.login import login

CONNECTIONS_ENV, STATE_ENV = "RECIPE_RUNNER_CONNECTIONS", "RECIPE_RUNNER_STATE"
OAUTH_TYPES = frozenset({"dynamics365", "dynamics_fo"})
DEFAULT_CONNECTIONS, DEFAULT_STATE = "connections.yaml", "sqlite:///state/recipe-runner.db"
Print = Callable[[str], None]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--connections", help=f"connections file (default ${CONNECTIONS_ENV} "
                        f"or {DEFAULT_CONNECTIONS})")
    common.add_argument("--state", help=f"state store URL (default ${STATE_ENV} or "
                        f"{DEFAULT_STATE})")
    common.add_argument("--json", action="store_true", help="print JSON for scripts")
    sub = parser.add_subparsers(dest="connections_command", required=True)
    sub.add_parser("list", parents=[common], help="name, type, auth, state, token expiry")
    test = sub.add_parser("test", parents=[common], help="get a token and call WhoAmI")
    test.add_argument("name")
    log_in = sub.add_parser("login", parents=[common], help="sign in (authorization code)")
    log_in.add_argument("name")
    log_in.add_argument("--timeout-s", type=float, default=300.0,
                        help="how long to wait for the browser (seconds)")
    log_in.add_argument("--no-browser", action="store_true", help="only print the URL")


def main(args: argparse.Namespace) -> int:
    return asyncio.run(run(args))


def _print(text: str) -> None:
    print(text, flush=True)  # a script reading our output line by line sees it at once


async def run(args: argparse.Namespace, out: Print = _print) -> int:
    """Run one ``connections`` command; the exit code."""
    try:
        if args.connections_command == "list":
            return await _list(args, out)
        command = {"test": _test, "login": _login}[args.connections_command]
        async with _opened(args) as ctx:
            return await command(ctx, args, out)
    except UserError as exc:
        _emit(args, out, {"ok": False, "error": "usage", "message": str(exc)},
              f"error: {exc}")
    except ConfigError as exc:
        _emit(args, out, {"ok": False, "error": "config", "problems": [str(p) for p in
                                                                      exc.problems]},
              str(exc))
    except (SecretKeyError, ValueError, OSError) as exc:
        _emit(args, out, {"ok": False, "error": type(exc).__name__, "message": str(exc)},
              f"error: {exc}")
    return 1


@dataclass
class _Context:
    file: ConnectionsFile
    store: Store
    state_url: str

    def fernet(self, create: bool) -> Fernet | None:
        return load_fernet(key_file_for(self.state_url), create=create)


def _locations(args: argparse.Namespace) -> tuple[Path, str]:
    path = args.connections or os.environ.get(CONNECTIONS_ENV) or DEFAULT_CONNECTIONS
    return Path(path), args.state or os.environ.get(STATE_ENV) or DEFAULT_STATE


@asynccontextmanager
async def _opened(args: argparse.Namespace) -> AsyncIterator[_Context]:
    """For ``test`` and ``login``: the file with its secrets, the store (created on first
    use: a sign-in may well come before the daemon's first start)."""
    path, url = _locations(args)
    file = load_connections(path)
    key_dir = key_file_for(url).parent
    if url.startswith("sqlite"):
        key_dir.mkdir(mode=0o700, parents=True, exist_ok=True)  # the SQLite file's folder
    async with await Store.open(url) as store:
        yield _Context(file, store, url)


def _emit(args: argparse.Namespace, out: Print, document: dict[str, Any], text: str) -> None:
    out(json.dumps(document) if args.json else text)


def _dynamics(ctx: _Context, name: str) -> DynamicsConnectionBase:
    conn = ctx.file.connections.get(name)
    if conn is None:
        known = ", ".join(sorted(ctx.file.connections)) or "none"
        raise ValueError(f"no connection named {name!r} (known: {known})")
    if not isinstance(conn, DynamicsConnectionBase):
        raise ValueError(f"connection {name!r} is of type http: it has no tokens")
    return conn


# -- list ------------------------------------------------------------------------------

async def _list(args: argparse.Namespace, out: Print) -> int:
    """Every connection with its state and token facts. Needs neither the connections'
    secrets (an operator's shell rarely has them) nor writes anything."""
    path, url = _locations(args)
    outlines = connection_outlines(path)
    store = await open_store_for_reading(url)
    assert store is not None
    async with store:
        states = {s.connection: s for s in await store.list_connection_states()}
        fernet = _quiet_fernet(url)
        rows = []
        for outline in outlines:
            row = {**outline, "state": "-", "reason": None, "token_expires_at": None,
                   "last_refresh_at": None}
            name = outline["name"]
            if name in states:
                row["state"], row["reason"] = states[name].state.value, states[name].reason
            if outline["type"] in OAUTH_TYPES:
                await _add_cache_facts(store, fernet, name, outline["auth"], row)
            rows.append(row)
    _emit(args, out, {"connections": rows}, _table(rows))
    return 0


def connection_outlines(path: Path) -> list[dict[str, str]]:
    """Name, type, auth and environment of each connection, read without resolving a
    secret; a file with problems (other than secrets missing here) is a ``ConfigError``."""
    if not path.exists():
        raise UserError(f"no connections file at {path.resolve()}; point at it with "
                        f"--connections or {CONNECTIONS_ENV}")
    check = check_connections(path, secrets_required=False)
    if check.errors:
        raise ConfigError(check.errors)
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    outlines = []
    for name, conn_type in check.types.items():
        fields = raw.get("connections", {}).get(name) or {}
        where = fields.get("base_url") if conn_type == "http" else fields.get("environment")
        outlines.append({"name": name, "type": conn_type,
                         "auth": str(fields.get("auth") or "-"), "environment": str(where or "-")})
    return outlines


def _quiet_fernet(url: str) -> Fernet | None:
    try:
        return load_fernet(key_file_for(url), create=False)
    except SecretKeyError:
        return None


async def _add_cache_facts(store: Store, fernet: Fernet | None, name: str, auth: str,
                           row: dict[str, Any]) -> None:
    stored = await CacheStore(store, fernet, name).load() if fernet else None
    if stored is None and row["state"] == "-" and auth == "authorization_code":
        row["state"] = "never_signed_in"
    if stored is None:
        return
    cache = msal.SerializableTokenCache()
    cache.deserialize(stored.text)
    row["token_expires_at"] = _iso(access_token_expiry_s(cache))
    row["last_refresh_at"] = _iso(stored.updated_at)


def _iso(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="seconds")


def _table(rows: list[dict[str, Any]]) -> str:
    header = ("NAME", "TYPE", "AUTH", "ENVIRONMENT", "STATE", "TOKEN EXPIRES", "LAST REFRESH")
    lines = [header] + [(
        r["name"], r["type"], r["auth"], r["environment"],
        r["state"] + (f": {r['reason']}" if r["reason"] else ""),
        r["token_expires_at"] or "-", r["last_refresh_at"] or "-",
    ) for r in rows]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip()
                     for line in lines)


# -- test ------------------------------------------------------------------------------

async def _test(ctx: _Context, args: argparse.Namespace, out: Print) -> int:
    conn = _dynamics(ctx, args.name)
    fernet = ctx.fernet(create=True)
    assert fernet is not None
    state = await ctx.store.get_connection_state(args.name)
    tokens = ConnectionTokens(args.name, conn, CacheStore(ctx.store, fernet, args.name))
    try:
        await tokens.start(state.state if state else None, announce=False)
        report = await _probe(tokens, conn)
    except ConnectorError as exc:
        document = {"connection": args.name, "ok": False, "error": type(exc).__name__,
                    "code": exc.code, "message": exc.message}
        _emit(args, out, document, f"{args.name}: FAILED: {exc.message}")
        return 1
    finally:
        tokens.close()
    _emit(args, out, {"connection": args.name, "ok": True, **report}, _test_text(args.name,
                                                                               report))
    return 0


async def _probe(tokens: ConnectionTokens, conn: DynamicsConnectionBase) -> dict[str, Any]:
    started = time.perf_counter()
    token = await tokens.access_token()
    report: dict[str, Any] = {"token_ms": _ms_since(started)}
    if not isinstance(conn, Dynamics365Connection):
        return report  # Finance & Operations has no WhoAmI: the token is the test
    started = time.perf_counter()
    status, body = await _who_am_i(conn, token)
    if status == 401:  # a stale token the service rejects: renew once, retry once
        status, body = await _who_am_i(conn, await tokens.on_unauthorized())
    report["latency_ms"] = _ms_since(started)
    if status != 200:
        raise ConnectorError(f"WhoAmI answered HTTP {status}", status=status)
    report.update(user_id=body.get("UserId"), organization_id=body.get("OrganizationId"),
                  business_unit_id=body.get("BusinessUnitId"))
    return report


async def _who_am_i(conn: Dynamics365Connection, token: str) -> tuple[int, dict[str, Any]]:
    context = ssl.create_default_context(cafile=str(conn.ca_bundle) if conn.ca_bundle else None)
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json",
               "OData-MaxVersion": "4.0", "OData-Version": "4.0"}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context),
                                     middlewares=(conn.proxy_policy.aiohttp_middleware(),)) \
            as http:
        try:
            async with http.get(f"{conn.api_base_url}WhoAmI", headers=headers) as resp:
                body = await resp.json(content_type=None) if resp.status == 200 else {}
                return resp.status, body
        except (aiohttp.ClientError, TimeoutError) as exc:
            where = describe(exc, f"{conn.api_base_url}WhoAmI")
            raise ConnectorError(f"WhoAmI failed: cannot reach Dataverse at {where}") from None


def _ms_since(started: float) -> int:
    return round((time.perf_counter() - started) * 1000)


def _test_text(name: str, report: dict[str, Any]) -> str:
    if "user_id" not in report:
        return f"{name}: ok (token in {report['token_ms']} ms)"
    return (f"{name}: ok\n  UserId          {report['user_id']}\n"
            f"  OrganizationId  {report['organization_id']}\n"
            f"  BusinessUnitId  {report['business_unit_id']}\n"
            f"  latency         {report['latency_ms']} ms (token {report['token_ms']} ms)")


# -- login -----------------------------------------------------------------------------

async def _login(ctx: _Context, args: argparse.Namespace, out: Print) -> int:
    conn = _dynamics(ctx, args.name)
    fernet = ctx.fernet(create=True)
    assert fernet is not None

    def show_url(url: str) -> None:
        _emit(args, out, {"connection": args.name, "open": url},
              f"Open this URL in a browser to sign in to {args.name}:\n{url}")
        if not args.no_browser and _has_display():
            webbrowser.open(url)

    try:
        signed_in = await login(args.name, conn, CacheStore(ctx.store, fernet, args.name),
                                show_url=show_url, timeout_s=args.timeout_s)
    except (ConnectorError, TimeoutError) as exc:
        message = getattr(exc, "message", None) or "no sign-in arrived before the timeout"
        _emit(args, out, {"connection": args.name, "ok": False, "message": message},
              f"{args.name}: login FAILED: {message}")
        return 1
    who = signed_in.username or "the user"
    _emit(args, out, {"connection": args.name, "ok": True, "username": signed_in.username},
          f"{args.name}: signed in as {who}; state ok")
    return 0


def _has_display() -> bool:
    return sys.platform in ("darwin", "win32") or bool(
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def cli(argv: list[str] | None = None) -> int:
    """``python -m runner.cli_connections …``: the same commands without the top-level CLI."""
    parser = argparse.ArgumentParser(prog="recipe-runner connections", description=__doc__)
    add_arguments(parser)
    return main(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(cli())
