"""A real HTTP proxy on loopback for the proxy tests: Debian's tinyproxy, started per test.

``proxy_only_hosts`` gives the proxy its own ``/etc/hosts`` (a private mount namespace, made
with ``unshare``): names in it resolve for the proxy and for nothing else on the machine, so a
request that reaches such a name has gone through the proxy. The emulator then serves under
such a name (``public_host``) with a certificate that names it too.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import re
import shutil
import signal
import socket
import subprocess
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from emulator import EmulatorConfig, RunningEmulator, running_emulator
from tests.tools_support import missing, tool

PROXY_ONLY_HOST = "d365.proxy-only.test"  # resolves inside the proxy's namespace only
_REQUEST = re.compile(r"Request \(file descriptor \d+\): (?P<method>[A-Z]+) (?P<target>\S+)")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class RunningProxy:
    url: str  # http://127.0.0.1:PORT (no credentials)
    log_path: Path
    username: str | None = None
    password: str | None = None

    def requests(self) -> list[tuple[str, str]]:
        """(method, target) of every request the proxy received: ``CONNECT host:port`` for
        https, the absolute URL for http."""
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return [(m["method"], m["target"]) for m in _REQUEST.finditer(text)]

    def url_with(self, username: str, password: str) -> str:
        return self.url.replace("http://", f"http://{username}:{password}@")


def _config(port: int, username: str | None, password: str | None) -> str:
    lines = [f"Port {port}", "Listen 127.0.0.1", "Timeout 60", "LogLevel Connect",
             "MaxClients 100", "DisableViaHeader Yes"]
    if os.geteuid() == 0:  # tinyproxy drops root; nogroup is Debian's
        lines += ["User nobody", "Group nogroup"]
    if username is not None:
        lines.append(f"BasicAuth {username} {password}")
    return "\n".join(lines) + "\n"


def _can_unshare() -> bool:
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "--mount", "--propagation", "private", "true"],
                           capture_output=True, check=False)
    return probe.returncode == 0


@asynccontextmanager
async def running_proxy(folder: Path, *, username: str | None = None,
                        password: str | None = None,
                        hosts: dict[str, str] | None = None) -> AsyncIterator[RunningProxy]:
    """tinyproxy on a free loopback port; ``hosts``: names only it resolves (needs root and
    ``unshare``; the test skips, or fails under REQUIRE_TOOLS=1, without them)."""
    binary = tool("tinyproxy", "tinyproxy", "/usr/bin", "/usr/sbin")
    port = free_port()
    conf = folder / "tinyproxy.conf"
    conf.write_text(_config(port, username, password))
    log_path = folder / "tinyproxy.log"
    command = [binary, "-d", "-c", str(conf)]
    if hosts:
        if not _can_unshare():
            missing("a proxy-only host name needs root and unshare (a private /etc/hosts)")
        hosts_file = folder / "proxy-hosts"
        hosts_file.write_text("127.0.0.1 localhost\n" + "".join(
            f"{address} {name}\n" for name, address in hosts.items()))
        hosts_file.chmod(0o644)
        command = ["unshare", "--mount", "--propagation", "private", "sh", "-c",
                   'mount --bind "$0" /etc/hosts && exec "$@"', str(hosts_file), *command]
    with log_path.open("wb") as log:
        process = await asyncio.create_subprocess_exec(
            *command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        await _listening(port, process, log_path)
        yield RunningProxy(f"http://127.0.0.1:{port}", log_path, username, password)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), 5)
        except TimeoutError:
            os.killpg(process.pid, signal.SIGKILL)
            await process.wait()


async def _listening(port: int, process: asyncio.subprocess.Process, log_path: Path) -> None:
    for _ in range(100):
        if process.returncode is not None:
            text = await asyncio.to_thread(log_path.read_text, errors="replace")
            raise AssertionError(f"tinyproxy exited: {text}")
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.05)
            continue
        writer.close()
        await writer.wait_closed()
        return
    raise AssertionError("tinyproxy did not start listening within 5 s")


# -- an emulator reachable only through the proxy --------------------------------------------

def write_tls_dir(directory: Path, *names: str) -> None:
    """A CA and a server certificate for localhost and ``names`` in ``directory``, as the
    emulator's own ``ensure_tls_files`` would make (it adopts existing files)."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "proxy test CA")])
    now = datetime.now(UTC)
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=30))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False,
                                       False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()),
                         critical=False)
          .sign(ca_key, hashes.SHA256()))
    alt = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
           *(x509.DNSName(n) for n in names)]
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
            .issuer_name(ca_name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName(alt), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                           critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    (directory / "ca.pem").write_bytes(ca.public_bytes(pem))
    (directory / "server.pem").write_bytes(cert.public_bytes(pem))
    (directory / "server-key.pem").write_bytes(key.private_bytes(
        pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))


@dataclass
class ProxiedEmulator:
    """``behind``: the emulator as recipes see it (``https://d365.proxy-only.test:PORT``,
    reachable only through the proxy); ``direct``: the same server as the test's own helpers
    reach it (``https://localhost:PORT``)."""

    behind: RunningEmulator
    direct: RunningEmulator


@asynccontextmanager
async def proxied_emulator(folder: Path) -> AsyncIterator[ProxiedEmulator]:
    tls_dir = folder / "tls"
    write_tls_dir(tls_dir, PROXY_ONLY_HOST)
    config = EmulatorConfig(port=0, tls_dir=tls_dir, public_host=PROXY_ONLY_HOST)
    async with running_emulator(config) as emu:
        direct = replace(emu, base_url=emu.base_url.replace(PROXY_ONLY_HOST, "localhost"))
        yield ProxiedEmulator(emu, direct)


@contextmanager
def environment(**values: str | None) -> Iterator[None]:
    """Set (or, with None, remove) environment variables for the block."""
    saved = {name: os.environ.get(name) for name in values}
    try:
        for name, value in values.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
