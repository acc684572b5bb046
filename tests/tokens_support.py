"""Shared by the token-manager and ``connections`` CLI tests: an emulator tenant, a
connections file pointing at it, and a manager over a SQLite state store."""

from __future__ import annotations

import argparse
import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import yaml

from emulator import RunningEmulator
from emulator.directory import DEFAULT_TENANT
from emulator.identity.testing import add_app, add_user, auto_sign_in, follow_authorize
from runner import cli_connections
from runner.connections import ConnectionsFile, load_connections
from runner.store import Store
from runner.tokens import TokenManager, TokenSettings, key_file_for, load_fernet

CLIENT_ID = "77777777-7777-4777-8777-777777777777"
PUBLIC_CLIENT_ID = "88888888-8888-4888-8888-888888888888"
CLIENT_SECRET = "s3cret-client-Value-9d2f"
USERNAME, PASSWORD = "ada@emulator.test", "p4ss-Word-Lovelace-77"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def seed_tenant(emulator: RunningEmulator, redirect_uri: str | None = None,
                      **user: Any) -> dict[str, Any]:
    """A confidential app (with ``redirect_uri`` registered) and one user; the user."""
    redirects = [redirect_uri] if redirect_uri else []
    await add_app(emulator, client_id=CLIENT_ID, client_secret=CLIENT_SECRET,
                  redirect_uris=redirects)
    return await add_user(emulator, username=USERNAME, password=PASSWORD, **user)


def connection(emulator: RunningEmulator, auth: str = "client_credentials", *,
               on_premise: bool = False, **extra: Any) -> dict[str, Any]:
    """A dynamics365 connection to the emulator; secrets are ``${file:…}`` references."""
    host = emulator.base_url.removeprefix("https://")
    conn: dict[str, Any] = {
        "type": "dynamics365", "auth": auth, "environment": host, "client_id": CLIENT_ID,
        "client_secret": "${file:client_secret.txt}", "ca_bundle": str(emulator.ca_file),
    }
    if on_premise:
        conn.update(account_type="on_premise", ad_domain=host)
    else:
        conn.update(tenant_id=DEFAULT_TENANT, authority_host=host)
    if auth == "password":
        conn.update(username=USERNAME, password="${file:password.txt}")
    conn.update(extra)
    return {k: v for k, v in conn.items() if v is not None}


def write_connections(folder: Path, connections: dict[str, dict[str, Any]],
                      profiles: dict[str, Any] | None = None,
                      client_secret: str = CLIENT_SECRET) -> Path:
    """``connections.yaml`` (and the secret files it references) in ``folder``."""
    (folder / "client_secret.txt").write_text(client_secret + "\n")
    (folder / "password.txt").write_text(PASSWORD + "\n")
    doc: dict[str, Any] = {"connections": connections}
    if profiles:
        doc["oauth_profiles"] = profiles
    path = folder / "connections.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def state_url(folder: Path) -> str:
    return f"sqlite:///{folder / 'state' / 'recipe-runner.db'}"


@asynccontextmanager
async def token_manager(emulator: RunningEmulator, folder: Path,
                        file: ConnectionsFile | None = None,
                        **settings: Any) -> AsyncIterator[TokenManager]:
    """A started manager over ``folder``'s connections file and state, on the emulator clock."""
    (folder / "state").mkdir(exist_ok=True)
    file = file or load_connections(folder / "connections.yaml")
    fernet = load_fernet(key_file_for(state_url(folder)))
    assert fernet is not None
    async with await Store.open(state_url(folder)) as store:
        manager = TokenManager(file, store, fernet,
                               clock=emulator.state.clock.time,
                               settings=TokenSettings(**settings))
        await manager.start()
        try:
            yield manager
        finally:
            manager.close()


async def token_requests(emulator: RunningEmulator) -> list[dict[str, Any]]:
    """The token-endpoint requests the emulator has seen (Entra and AD FS)."""
    found = []
    for glob in ("*/oauth2/v2.0/token", "/adfs/oauth2/token*"):
        async with emulator.client_session() as http, http.get(
            f"{emulator.base_url}/_emulator/requests", params={"path": glob}
        ) as resp:
            found += (await resp.json())["requests"]
    return found


def cli_args(folder: Path, *argv: str) -> argparse.Namespace:
    """Parsed ``recipe-runner connections <argv>`` for ``folder``'s files."""
    parser = argparse.ArgumentParser(prog="recipe-runner connections")
    cli_connections.add_arguments(parser)
    return parser.parse_args([argv[0], "--connections", str(folder / "connections.yaml"),
                              "--state", state_url(folder), *argv[1:]])


async def run_cli(folder: Path, *argv: str) -> tuple[int, str]:
    """``recipe-runner connections <argv>`` in-process; the exit code and what it printed."""
    lines: list[str] = []
    args = cli_args(folder, *argv)
    code = await cli_connections.run(args, out=lines.append)
    return code, "\n".join(lines)


async def login_with_browser(emulator: RunningEmulator, folder: Path, name: str,
                             printed: list[str] | None = None) -> int:
    """Run ``connections login NAME`` and play the browser: GET the printed URL (the
    emulator signs the auto-sign-in user in) and submit its form_post page to the CLI's
    loopback listener. The exit code."""
    printed = [] if printed is None else printed
    urls: asyncio.Queue[str] = asyncio.Queue()

    def out(text: str) -> None:
        printed.append(text)
        last = text.splitlines()[-1]
        if last.startswith("https://"):
            urls.put_nowait(last)

    args = cli_args(folder, "login", name, "--no-browser", "--timeout-s", "20")
    task = asyncio.create_task(cli_connections.run(args, out=out))
    try:
        url = await asyncio.wait_for(urls.get(), 20)
        fields = await asyncio.to_thread(follow_authorize, url, str(emulator.ca_file))
        redirect_uri = parse_qs(urlsplit(url).query)["redirect_uri"][0]
        async with emulator.client_session() as http, http.post(redirect_uri,
                                                                data=fields) as resp:
            assert resp.status == 200, await resp.text()
            assert "Signed in" in await resp.text()
        return await asyncio.wait_for(task, 20)
    finally:
        task.cancel()


async def browser_user(emulator: RunningEmulator) -> dict[str, Any]:
    """A tenant whose user passes the browser step by themselves (auto sign-in), and an
    ``authorization_code`` connection to it (with its loopback redirect registered)."""
    redirect = f"http://localhost:{free_port()}/callback"
    await seed_tenant(emulator, redirect)
    await auto_sign_in(emulator, USERNAME)
    return connection(emulator, "authorization_code", redirect_uri=redirect)


async def signed_in(emulator: RunningEmulator, folder: Path) -> None:
    """Connection ``crm`` in ``folder``, signed in through ``connections login``."""
    write_connections(folder, {"crm": await browser_user(emulator)})
    assert await login_with_browser(emulator, folder, "crm") == 0
