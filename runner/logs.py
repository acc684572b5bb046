"""structlog set-up: JSON lines when the stream is not a terminal, readable console on a TTY,
secrets masked by a processor before anything is rendered.

Everything the process writes goes through the same renderer, so in JSON mode every line
is one JSON object (journald and ``docker logs`` merge stdout and stderr, and one plain
line breaks ``… | jq``):

* our own ``structlog`` events;
* the standard library's ``logging`` (APScheduler, aiohttp's server log, asyncio's "Task
  exception was never retrieved", ``warnings``) through a ``ProcessorFormatter`` on the
  root logger: ``{"event": "library.log", "logger": "asyncio", "message": …}``;
* exceptions nobody caught (``sys.excepthook``, threads, "Exception ignored in …"):
  ``{"event": "process.uncaught_exception", "exception": "Traceback …"}``.

Exceptions are always a field (``exception``, one JSON string), never raw lines.
"""

from __future__ import annotations

import logging
import sys
import threading
import types
from collections.abc import Callable
from typing import Any, TextIO

import structlog
from structlog.typing import EventDict, Processor

from runner.redact import Redactor

REDACTOR = Redactor()
LIBRARY_EVENT = "library.log"
LIBRARY_FLOOR = logging.WARNING
_HANDLER_MARK = "_recipe_runner_handler"


def _redact(_logger: Any, _name: str, event: EventDict) -> EventDict:
    return REDACTOR.value(event)  # type: ignore[no-any-return]


def _stream(name: str) -> TextIO:
    stream: TextIO = getattr(sys, name)
    return stream


def _library_fields(_logger: Any, _name: str, event: EventDict) -> EventDict:
    """A standard-library record as one of ours: a fixed dotted event, the logger's name,
    its text as ``message`` and any ``extra=`` fields it was given."""
    record: logging.LogRecord | None = event.get("_record")
    event["message"] = event.get("event")
    event["event"] = LIBRARY_EVENT
    if record is not None:
        event["logger"] = record.name
    return event


class _DropSchedulerOverruns(logging.Filter):
    """APScheduler warns "Execution of job … skipped: maximum number of running instances
    reached" each time a poll is still running when the next one is due; the daemon
    reports that itself as ``poll.overran`` (with the recipe), so the text is dropped."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "maximum number of running instances" not in str(record.msg)


class _LineStream:
    """The handler's stream, looked up at each line (a replaced ``sys.stdout`` counts)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def write(self, text: str) -> int:
        return _stream(self.name).write(text)

    def flush(self) -> None:
        _stream(self.name).flush()


def configure_logging(fmt: str = "auto", level: str = "info", to_stderr: bool = False) -> None:
    """Logs to stdout (the daemon) or stderr (commands whose stdout is their output): JSON
    when it is not a terminal, readable console lines when it is. The stream is looked up
    at each line, so a replaced ``sys.stdout``/``sys.stderr`` is honoured."""
    name = "stderr" if to_stderr else "stdout"
    use_json = fmt == "json" or (fmt == "auto" and not _stream(name).isatty())
    level_no = logging.getLevelNamesMapping()[level.upper()]
    renderer: Processor = (
        structlog.processors.JSONRenderer() if use_json else structlog.dev.ConsoleRenderer()
    )
    # JSON: the traceback becomes the ``exception`` field; the console renders it itself.
    exceptions: list[Processor] = [structlog.processors.format_exc_info] if use_json else []
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            *exceptions,
            _redact,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level_no),
        logger_factory=lambda *_args: structlog.WriteLogger(_stream(name)),
        cache_logger_on_first_use=False,
    )
    _route_standard_logging(name, level_no, [*exceptions, _redact, renderer])
    _install_hooks()


def _route_standard_logging(stream: str, level_no: int, tail: list[Processor]) -> None:
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.stdlib.ExtraAdder(),
            _library_fields,
        ],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *tail],
    )
    handler = logging.StreamHandler(_LineStream(stream))  # type: ignore[arg-type]
    handler.setFormatter(formatter)
    setattr(handler, _HANDLER_MARK, True)
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _HANDLER_MARK, False)]:
        root.removeHandler(old)
    root.addHandler(handler)
    # Libraries speak from WARNING on: their INFO/DEBUG ("Added job", every aiosqlite
    # operation) would drown our own debug lines.
    root.setLevel(max(level_no, LIBRARY_FLOOR))
    scheduler = logging.getLogger("apscheduler.scheduler")
    if not any(isinstance(f, _DropSchedulerOverruns) for f in scheduler.filters):
        scheduler.addFilter(_DropSchedulerOverruns())
    logging.captureWarnings(True)


def reset_logging() -> None:
    """Undo :func:`configure_logging` (tests run many commands in one process)."""
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _HANDLER_MARK, False)]:
        root.removeHandler(old)
    logging.captureWarnings(False)
    if _saved_hooks:
        sys.excepthook, sys.unraisablehook, threading.excepthook = _saved_hooks.pop()
    structlog.reset_defaults()


# -- exceptions nobody caught -----------------------------------------------------------


def log_exception(event: str, exc: BaseException, **fields: Any) -> None:
    """One line for an exception: its type and text, and the traceback as a field."""
    structlog.get_logger("recipe-runner").error(
        event, error=f"{type(exc).__name__}: {exc}",
        exc_info=(type(exc), exc, exc.__traceback__), **fields)


def _uncaught(kind: type[BaseException], exc: BaseException,
              tb: types.TracebackType | None) -> None:
    if isinstance(exc, KeyboardInterrupt):
        return
    log_exception("process.uncaught_exception", exc.with_traceback(tb))


def _uncaught_in_thread(args: threading.ExceptHookArgs) -> None:
    if args.exc_value is not None:
        thread = args.thread.name if args.thread else None
        log_exception("process.uncaught_exception", args.exc_value, thread=thread)


def _unraisable(unraisable: Any) -> None:
    exc = unraisable.exc_value
    where = repr(unraisable.object) if unraisable.object is not None else None
    if exc is None:
        return
    log_exception("process.unraisable_exception", exc, where=where,
                  message=unraisable.err_msg or "Exception ignored")


_saved_hooks: list[tuple[Any, Any, Any]] = []  # what was there before the first install


def _install_hooks() -> None:
    if not _saved_hooks:
        _saved_hooks.append((sys.excepthook, sys.unraisablehook, threading.excepthook))
    hooks: tuple[tuple[str, Callable[..., None]], ...] = (
        ("excepthook", _uncaught), ("unraisablehook", _unraisable))
    for attribute, hook in hooks:
        setattr(sys, attribute, hook)
    threading.excepthook = _uncaught_in_thread
