"""Outbound calls through an HTTP proxy: ``HTTPS_PROXY``/``NO_PROXY`` and a connection's own
``proxy:``, through a real tinyproxy on loopback.

The emulator serves as ``d365.proxy-only.test``, a name only the proxy can resolve: a token
request, a Dataverse call or an http action that went around the proxy would fail on DNS.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from connectors.proxy import Proxy, ProxyConfigError, ProxyPolicy, bypasses
from emulator import RunningEmulator
from tests.d365_support import insert_rows, iso
from tests.daemon_support import DaemonRun, daemon_env
from tests.proxy_support import (
    PROXY_ONLY_HOST,
    ProxiedEmulator,
    environment,
    free_port,
    proxied_emulator,
    running_proxy,
)
from tests.tokens_support import (
    CLIENT_SECRET,
    connection,
    run_cli,
    seed_tenant,
    state_url,
    write_connections,
)

SINK = "/_emulator/webhooks/proxy-sink"
PROXY_PASSWORD = "pr0xy-Pass-w0rd-31"
DEAD_PROXY = f"http://127.0.0.1:{free_port()}"  # nothing listens: using it fails at once


# -- the policy ---------------------------------------------------------------------------

def test_environment_variables_choose_by_scheme_lower_case_first() -> None:
    policy = ProxyPolicy.from_environ({
        "HTTPS_PROXY": "http://upper:3128", "https_proxy": "http://u%40x:p%3Aw@lower:3129",
        "HTTP_PROXY": "plain:8080", "NO_PROXY": "internal.test, 10.0.0.0/8"})

    https = policy.for_url("https://abc.crm.dynamics.com/api/data/v9.2/")
    assert https == Proxy("http://lower:3129", "u@x", "p:w")
    assert policy.for_url("http://hooks.example.com/x") == Proxy("http://plain:8080")
    assert policy.for_url("https://a.internal.test/") is None
    assert policy.for_url("https://10.1.2.3:8443/") is None
    assert "p:w" not in repr(policy)
    assert policy.requests_proxies("https://x.test/") == {"https": "http://u%40x:p%3Aw@lower:3129"}


@pytest.mark.parametrize(("host", "port", "entry", "bypassed"), [
    ("crm.contoso.com", 443, "crm.contoso.com", True),
    ("crm.contoso.com", 443, ".contoso.com", True),
    ("crm.contoso.com", 443, "contoso.com", True),
    ("crm.contoso.com", 443, "*.contoso.com", True),
    ("contoso.com", 443, ".contoso.com", True),
    ("notcontoso.com", 443, "contoso.com", False),
    ("crm.contoso.com", 443, "crm.contoso.com:8443", False),
    ("crm.contoso.com", 8443, "crm.contoso.com:8443", True),
    ("192.168.4.7", 443, "192.168.0.0/16", True),
    ("192.169.4.7", 443, "192.168.0.0/16", False),
    ("::1", 443, "::1", True),
    ("anything.test", 443, "*", True),
])
def test_no_proxy_entries(host: str, port: int, entry: str, bypassed: bool) -> None:
    assert bypasses(host, port, [entry]) is bypassed


def test_a_connection_proxy_replaces_the_environment() -> None:
    policy = ProxyPolicy.explicit("proxy.corp:3128", "svc", "pw", ["direct.test"])
    assert policy.for_url("https://crm.test/") == Proxy("http://proxy.corp:3128", "svc", "pw")
    assert policy.for_url("http://crm.test/") == Proxy("http://proxy.corp:3128", "svc", "pw")
    assert policy.for_url("https://direct.test/") is None
    assert Proxy("http://p:1", "svc", "pw").authorization == "Basic c3ZjOnB3"
    with pytest.raises(ProxyConfigError, match="http://host:port") as caught:
        Proxy.parse("socks5://user:secret@proxy.corp:1080")
    assert "secret" not in str(caught.value)


# -- through a real proxy -----------------------------------------------------------------

def _relay_recipe(sink_url: str) -> dict[str, Any]:
    return {
        "name": "proxied-relay",
        "trigger": {"type": "dynamics365.new_or_updated_record", "connection": "crm",
                    "table": "contacts", "select": ["contactid", "fullname", "modifiedon"],
                    "since": "beginning"},
        "actions": [{"type": "http.request", "connection": "sink", "method": "POST",
                     "url": sink_url, "json": {"id": "{{ trigger.record.contactid }}"}}],
    }


async def _prepare(emu: ProxiedEmulator, folder: Path, **crm: Any) -> list[str]:
    """A tenant (set up directly), connections naming the proxy-only host, one recipe."""
    await seed_tenant(emu.direct)
    sink = {"type": "http", "base_url": emu.behind.base_url, "ca_bundle": str(emu.behind.ca_file)}
    write_connections(folder, {"crm": {**connection(emu.behind), **crm}, "sink": sink})
    (folder / "proxy_password.txt").write_text(PROXY_PASSWORD + "\n")
    (folder / "recipes").mkdir()
    (folder / "state").mkdir()
    recipe = _relay_recipe(SINK)
    (folder / "recipes" / "relay.yaml").write_text(yaml.safe_dump(recipe, sort_keys=False))
    return ["--recipes", str(folder / "recipes"), "--connections",
            str(folder / "connections.yaml"), "--state", state_url(folder)]


async def _run_daemon(args: list[str], **env: str) -> DaemonRun:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "runner.cli", "run", *args, "--burst",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**daemon_env(), **env})
    stdout, stderr = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return DaemonRun(process.returncode, stdout.decode(), stderr.decode())


async def _received(emulator: RunningEmulator) -> list[dict[str, Any]]:
    async with emulator.client_session() as http, http.get(emulator.base_url + SINK) as resp:
        return list((await resp.json())["received"])


async def test_tokens_dataverse_and_http_actions_all_go_through_https_proxy(
    tmp_path: Path
) -> None:
    async with proxied_emulator(tmp_path) as emu, \
            running_proxy(tmp_path, hosts={PROXY_ONLY_HOST: "127.0.0.1"}) as proxy:
        args = await _prepare(emu, tmp_path)
        rows = [{"firstname": f"P{i}", "lastname": "Proxy", "modifiedon": iso(1_700_000_000 + i)}
                for i in range(5)]
        async with emu.direct.client_session() as http:
            ids = await insert_rows(http, emu.direct, "contact", rows)

        with environment(HTTPS_PROXY=None, https_proxy=None):  # the control: no way around
            code, text = await run_cli(tmp_path, "test", "crm")
        assert code != 0 and "DNS lookup failed" in text, text

        run = await _run_daemon(args, HTTPS_PROXY=proxy.url, NO_PROXY="")
        received = await _received(emu.direct)

    assert run.returncode == 0, run.stderr[-3000:]
    finished = [e for e in run.events() if e["event"] == "job.finished"]
    assert sorted(e["outcome"] for e in finished) == ["succeeded"] * 5
    assert sorted(p["id"] for p in received) == sorted(ids)
    tunnels = {target for method, target in proxy.requests() if method == "CONNECT"}
    assert tunnels == {f"{PROXY_ONLY_HOST}:{emu.behind.port}"}
    assert CLIENT_SECRET not in run.stdout + run.stderr


async def test_a_connection_proxy_with_credentials_wins_over_the_environment(
    tmp_path: Path
) -> None:
    async with proxied_emulator(tmp_path) as emu, running_proxy(
            tmp_path, username="recipes", password=PROXY_PASSWORD,
            hosts={PROXY_ONLY_HOST: "127.0.0.1"}) as proxy:
        proxy_setting = {"url": proxy.url, "username": "recipes",
                         "password": "${file:proxy_password.txt}"}
        await _prepare(emu, tmp_path, proxy=proxy_setting)
        with environment(HTTPS_PROXY=DEAD_PROXY, NO_PROXY=None, no_proxy=None):
            code, text = await run_cli(tmp_path, "test", "crm")
            assert code == 0, text
            assert text.startswith("crm: ok") and "UserId" in text

            (tmp_path / "proxy_password.txt").write_text("wrong-password\n")
            bad_code, bad_text = await run_cli(tmp_path, "test", "crm")

    assert len([1 for method, _ in proxy.requests() if method == "CONNECT"]) >= 2
    assert bad_code != 0
    assert "the proxy refused the connection (HTTP 401" in bad_text, bad_text
    assert "check the proxy's username and password" in bad_text
    assert PROXY_PASSWORD not in bad_text and "wrong-password" not in bad_text


async def test_no_proxy_and_a_connection_no_proxy_go_direct(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    await seed_tenant(emulator)
    dead = {"url": DEAD_PROXY}
    write_connections(tmp_path, {
        "env": connection(emulator),
        "listed": connection(emulator, proxy={**dead, "no_proxy": ["localhost"]}),
        "proxied": connection(emulator, proxy=dead),
    })
    with environment(HTTPS_PROXY=DEAD_PROXY, NO_PROXY="127.0.0.1,.example.test,localhost"):
        env_code, env_text = await run_cli(tmp_path, "test", "env")
        listed_code, listed_text = await run_cli(tmp_path, "test", "listed")
        proxied_code, proxied_text = await run_cli(tmp_path, "test", "proxied")

    assert env_code == 0, env_text
    assert listed_code == 0, listed_text
    assert proxied_code != 0
    dead = DEAD_PROXY.removeprefix("http://")
    assert f"proxy {dead} unreachable: connection refused" in proxied_text, proxied_text
    assert os.environ.get("HTTPS_PROXY") is None
