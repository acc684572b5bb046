"""Settings of one emulator instance."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class EmulatorConfig:
    host: str = "127.0.0.1"
    port: int = 8443  # 0 picks a free port
    tls: bool = True
    tls_dir: Path = field(default_factory=lambda: default_tls_dir())
    db_path: str = ":memory:"
    seed_path: Path | None = None
    log_requests: bool = False
    public_host: str = "localhost"  # host name in URLs the emulator hands out
    # Port in the URLs it hands out, when a proxy or port forward serves it on another one
    # (443: URLs without a port, as Microsoft's); None: the port it listens on.
    public_port: int | None = None
    webhook_keep_last: int = 10_000  # bodies each webhook sink keeps (the oldest go first)
    # PEM file of the CA that webhook receivers' certificates chain to (outbound https).
    webhook_ca_file: Path | None = None


def default_tls_dir() -> Path:
    from os import environ

    base = environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "recipe-runner" / "emulator-tls"
