"""Daemon settings: command-line options first, then ``RECIPE_RUNNER_*`` environment
variables, then defaults (so a container is configured by environment alone)."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field
from pathlib import Path

ENV_PREFIX = "RECIPE_RUNNER_"
DEFAULT_STATE_URL = "sqlite:///state/recipe-runner.db"


def env(name: str, default: str | None = None) -> str | None:
    return os.environ.get(ENV_PREFIX + name, default)


@dataclass(frozen=True)
class Settings:
    recipes: list[Path] = field(default_factory=lambda: [Path("recipes")])
    connections: Path | None = None
    state_url: str = DEFAULT_STATE_URL
    worker_id: str = field(default_factory=socket.gethostname)
    claim_ttl_s: float = 60.0
    # Replicas on one PostgreSQL: a recipe's lease (and a replica's heartbeat) lapses this
    # long after its last renewal; renewals run every quarter of it.
    lease_ttl_s: float = 15.0
    grace_s: float = 30.0
    reload_check_s: float = 2.0
    log_format: str = "auto"  # auto | json | console
    log_level: str = "info"
    burst: bool = False  # poll every recipe once, run every job, exit
    listen: str = "127.0.0.1:9464"  # health, metrics, status page, webhooks; "off" disables
    token_recheck_s: float = 60.0  # how often a connection that needs a person is retried
    # Bearer token for the status page and /metrics (open on loopback when unset); required
    # to listen beyond loopback. Never shown.
    status_token: str | None = field(default=None, repr=False)
    # touched from the event loop (runner.heartbeat_file); None: beside the state store
    heartbeat_file: str | None = None
    # Real-time triggers: the https URL at which Dataverse reaches this listener (directly,
    # or through a reverse proxy that terminates TLS), e.g. https://hooks.example.com.
    public_url: str | None = None
    tls_cert: str | None = None  # the listener serves https with this certificate (PEM) …
    tls_key: str | None = None  # … and its private key

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        values: dict[str, object] = {}
        if env("RECIPES"):
            values["recipes"] = [Path(p) for p in (env("RECIPES") or "").split(os.pathsep)]
        if env("CONNECTIONS"):
            values["connections"] = Path(env("CONNECTIONS") or "")
        elif Path("connections.yaml").exists():
            values["connections"] = Path("connections.yaml")
        for key, name, kind in (
            ("state_url", "STATE", str), ("worker_id", "WORKER_ID", str),
            ("claim_ttl_s", "CLAIM_TTL_S", float), ("grace_s", "GRACE_S", float),
            ("lease_ttl_s", "LEASE_TTL_S", float),
            ("log_format", "LOG_FORMAT", str), ("log_level", "LOG_LEVEL", str),
            ("listen", "LISTEN", str), ("status_token", "STATUS_TOKEN", str),
            ("token_recheck_s", "TOKEN_RECHECK_S", float),
            ("heartbeat_file", "HEARTBEAT_FILE", str),
            ("public_url", "PUBLIC_URL", str), ("tls_cert", "TLS_CERT", str),
            ("tls_key", "TLS_KEY", str),
        ):
            raw = env(name)
            if raw:
                values[key] = kind(raw)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]
