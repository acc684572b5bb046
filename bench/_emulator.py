"""The emulator in its own child process, for the benchmarks (so its CPU is not theirs).

``async with emulator_process() as emu`` starts ``python bench/_emulator.py``, which runs the
emulator on a free port, announces ``base_url``, the test CA and a Dataverse bearer token as
one JSON line on stdout, and serves until its stdin closes. Also here: what several
benchmarks share to talk to it (a static token, limits off, chunked row inserts).
"""

from __future__ import annotations

import asyncio
import io
import json
import ssl
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from connectors.dynamics365 import (  # noqa: E402
    DataverseClient,
    RetryPolicy,
    ThrottleSettings,
    api_base_url,
)

INSERT_CHUNK = 50_000
NO_LIMITS = ThrottleSettings(max_concurrent=16, requests_per_s=1000, burst=1000)
BENCH_OID = "00000000-0000-4000-8000-0000000000be"


class StaticToken:
    """A bearer token that never changes (the emulator's, valid for two hours)."""

    def __init__(self, token: str) -> None:
        self._token = token

    async def access_token(self, *, force_refresh: bool = False) -> str:
        return self._token


@dataclass(frozen=True)
class EmulatorProcess:
    """Where the child emulator listens, the CA to trust, and a token for Dataverse."""

    base_url: str
    ca_file: Path
    token: str
    pid: int

    def ssl_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca_file))

    def client_session(self, **kwargs: Any) -> aiohttp.ClientSession:
        """An aiohttp session that trusts the emulator's CA."""
        connector = aiohttp.TCPConnector(ssl=self.ssl_context())
        return aiohttp.ClientSession(connector=connector, **kwargs)

    def dataverse(self, throttle: ThrottleSettings = NO_LIMITS,
                  retry: RetryPolicy | None = None) -> DataverseClient:
        """A Dataverse Web API client with the static token."""
        return DataverseClient.open(api_base_url(self.base_url), StaticToken(self.token),
                                    ca_bundle=self.ca_file, throttle=throttle, retry=retry)


@asynccontextmanager
async def emulator_process(tls_dir: Path | None = None,
                           **config: Any) -> AsyncIterator[EmulatorProcess]:
    """The emulator in a child process (``config``: more ``EmulatorConfig`` fields); it
    stops when the block ends. Without ``tls_dir`` the test CA goes to a temporary folder."""
    temporary = tempfile.TemporaryDirectory() if tls_dir is None else nullcontext(str(tls_dir))
    with temporary as tls:
        child = await asyncio.create_subprocess_exec(
            sys.executable, __file__, tls, json.dumps(config), cwd=str(ROOT),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
        try:
            assert child.stdout is not None
            line = await child.stdout.readline()
            if not line:
                raise RuntimeError(f"the emulator exited at start ({await child.wait()})")
            info = json.loads(line)
            yield EmulatorProcess(info["base_url"], Path(info["ca_file"]), info["token"],
                                  child.pid)
        finally:
            await _stop(child)


async def _stop(child: asyncio.subprocess.Process, timeout_s: float = 30) -> None:
    if child.stdin:
        child.stdin.close()
    try:
        await asyncio.wait_for(child.wait(), timeout_s)
    except TimeoutError:
        child.kill()
        await child.wait()


async def insert_rows(http: aiohttp.ClientSession, base_url: str, table: str, start: int,
                      count: int, make: Callable[[int, int], list[dict[str, Any]]]) -> None:
    """Rows ``make(first, n)`` for ``start`` … ``start + count - 1`` through the control
    route, ``INSERT_CHUNK`` rows a request."""
    for chunk in range(start, start + count, INSERT_CHUNK):
        body = json.dumps({"rows": make(chunk, min(INSERT_CHUNK, start + count - chunk))})
        async with http.post(f"{base_url}/_emulator/dataverse/tables/{table}/rows",
                             data=io.BytesIO(body.encode()),
                             headers={"Content-Type": "application/json"}) as resp:
            resp.raise_for_status()


# -- the child ------------------------------------------------------------------------


async def _serve(tls_dir: Path, overrides: dict[str, Any]) -> None:
    from emulator import EmulatorConfig, running_emulator

    if overrides.get("seed_path"):
        overrides["seed_path"] = Path(overrides["seed_path"])  # JSON carried it as text
    config = EmulatorConfig(port=0, tls_dir=tls_dir, **overrides)
    async with running_emulator(config) as emu:
        token = emu.state.signer.sign({"aud": emu.base_url, "exp": int(time.time()) + 7200,
                                       "oid": BENCH_OID})
        print(json.dumps({"base_url": emu.base_url, "ca_file": str(emu.ca_file),
                          "token": token}), flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


if __name__ == "__main__":
    asyncio.run(_serve(Path(sys.argv[1]), json.loads(sys.argv[2])))
