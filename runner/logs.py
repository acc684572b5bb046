"""structlog set-up: JSON lines when stdout is not a terminal, readable console on a TTY,
secrets masked by a processor before anything is rendered."""

from __future__ import annotations

import logging
import sys
from typing import Any, TextIO

import structlog

from runner.redact import Redactor

REDACTOR = Redactor()


def _redact(_logger: Any, _name: str, event: dict[str, Any]) -> dict[str, Any]:
    return REDACTOR.value(event)


def configure_logging(fmt: str = "auto", level: str = "info", stream: TextIO | None = None) -> None:
    """Logs to ``stream`` (stdout for the daemon; stderr for commands whose stdout is their
    output): JSON when it is not a terminal, readable console lines when it is."""
    stream = stream or sys.stdout
    use_json = fmt == "json" or (fmt == "auto" and not stream.isatty())
    renderer: Any = (
        structlog.processors.JSONRenderer() if use_json else structlog.dev.ConsoleRenderer()
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _redact,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[level.upper()]
        ),
        logger_factory=structlog.WriteLoggerFactory(stream),
        cache_logger_on_first_use=False,
    )
