"""Network failures say where (``host:port``) and why (refused, DNS, TLS verification,
timeout), for the connectors (aiohttp) and the identity provider (msal over requests) alike;
an unreachable authority makes ``/readyz`` degraded, naming the connection and the cause."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import aiohttp
import pytest
import requests
from aiohttp.client_reqrep import ConnectionKey

from connectors.network import describe
from emulator import RunningEmulator
from runner import cli_connections
from tests.daemon_support import wait_for
from tests.ops_support import contacts_recipe, running_daemon, write_files
from tests.tokens_support import cli_args, connection, free_port, seed_tenant


async def aiohttp_failure(url: str, **session: object) -> BaseException:
    async with aiohttp.ClientSession(**session) as http:  # type: ignore[arg-type]
        try:
            async with http.get(url):
                pass
        except Exception as exc:
            return exc
    raise AssertionError(f"{url} answered")


async def requests_failure(url: str, **options: object) -> BaseException:
    """In a thread, as msal runs it (the emulator shares this test's event loop)."""
    def get() -> BaseException:
        try:
            requests.get(url, **options)  # type: ignore[arg-type]
        except requests.RequestException as exc:
            return exc
        raise AssertionError(f"{url} answered")
    return await asyncio.to_thread(get)


async def test_refused_names_host_port_for_both_clients() -> None:
    port = free_port()
    url = f"https://127.0.0.1:{port}/token"
    expected = f"127.0.0.1:{port}: connection refused (nothing listens there)"
    assert describe(await aiohttp_failure(url)) == expected
    assert describe(await requests_failure(url, timeout=5)) == expected


async def test_untrusted_certificate_says_tls_and_how_to_fix_it(
    emulator: RunningEmulator,
) -> None:
    url = f"{emulator.base_url}/_emulator/health"  # its test CA is not in the default store
    port = emulator.port
    for failure in (await aiohttp_failure(url), await requests_failure(url, timeout=5)):
        text = describe(failure)
        assert text.startswith(f"localhost:{port}: TLS certificate not trusted ("), text
        assert text.endswith("set ca_bundle to the CA's PEM file)")


async def test_timeout_names_the_address_it_waited_for(emulator: RunningEmulator) -> None:
    async with emulator.client_session() as http, http.post(
            f"{emulator.base_url}/_emulator/latency", json={"path": "/slow", "ms": 2000}):
        pass
    url = f"{emulator.base_url}/slow"
    slow = await aiohttp_failure(url, timeout=aiohttp.ClientTimeout(total=0.3),
                                 connector=aiohttp.TCPConnector(ssl=emulator.client_ssl()))
    assert describe(slow, url) == f"localhost:{emulator.port}: timed out"
    waited = await requests_failure(url, timeout=0.3, verify=str(emulator.ca_file))
    assert describe(waited) == f"localhost:{emulator.port}: timed out"


def test_dns_failure_is_named_as_such() -> None:
    key = ConnectionKey("login.example.invalid", 443, True, True, None, None, None)
    lookup = socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    failure = aiohttp.ClientConnectorDNSError(key, lookup)
    assert describe(failure) == ("login.example.invalid:443: DNS lookup failed "
                                 "(Name or service not known)")


@pytest.mark.parametrize("where", ["authority_host", "environment"])
async def test_connections_test_names_the_unreachable_address(
    emulator: RunningEmulator, tmp_path: Path, where: str, capsys: pytest.CaptureFixture[str]
) -> None:
    await seed_tenant(emulator)
    closed = f"localhost:{free_port()}"
    write_files(tmp_path, {"crm": connection(emulator, **{where: closed})}, [])
    code = await cli_connections.run(cli_args(tmp_path, "test", "crm"))
    out = capsys.readouterr().out
    assert code == 1
    assert f"{closed}: connection refused" in out, out
    assert "ClientConnectorError" not in out and "ConnectionError" not in out


async def test_unreachable_authority_makes_readyz_degraded_with_the_cause(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    closed = f"localhost:{free_port()}"
    write_files(tmp_path, {"crm": connection(emulator, authority_host=closed),
                           "unused": connection(emulator, authority_host=closed)},
                [contacts_recipe("far", "crm")])
    async with running_daemon(tmp_path) as ops:
        await wait_for(ops.logs, lambda e: e["event"] == "token.unavailable")
        status, ready = await ops.get_json("/readyz")

    assert status == 200 and ready["status"] == "degraded"
    assert list(ready["unreachable_connections"]) == ["crm"]  # "unused" is no recipe's
    assert ready["unreachable_connections"]["crm"] == (
        f"connection crm: identity provider unreachable at {closed}: connection refused "
        "(nothing listens there)")
