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


def _stream(name: str) -> TextIO:
    stream: TextIO = getattr(sys, name)
    return stream


def configure_logging(fmt: str = "auto", level: str = "info", to_stderr: bool = False) -> None:
    """Logs to stdout (the daemon) or stderr (commands whose stdout is their output): JSON
    when it is not a terminal, readable console lines when it is. The stream is looked up
    at each line, so a replaced ``sys.stdout``/``sys.stderr`` is honoured."""
    name = "stderr" if to_stderr else "stdout"
    use_json = fmt == "json" or (fmt == "auto" and not _stream(name).isatty())
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
        logger_factory=lambda *_args: structlog.WriteLogger(_stream(name)),
        cache_logger_on_first_use=False,
    )
