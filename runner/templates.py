"""Recipe templates: Jinja2, sandboxed and bounded, strict about undefined names, keeping
native types.

A value that is exactly one expression (``"{{ trigger.record.revenue }}"``) evaluates to the
expression's own value: a number stays a number, a dict stays a dict, and a string stays a
string even if it looks like a number (``"01234"`` is never turned into ``1234``, a trap of
Jinja's NativeEnvironment). Any other string containing ``{{``/``{%`` renders to a string.
Values without template syntax pass through untouched, so most params cost nothing.

**Encoded fields.** A params field may declare (``json_schema_extra``, key
``x-template-values``) how each ``{{ }}`` value placed in it is encoded, so record data can
never change the structure of what the field holds:

* ``odata`` / ``odata-fo``: an OData ``$filter`` (Dataverse / F&O); every value becomes an
  OData literal (:func:`connectors.odata.escaping.template_literal`): ``x' or 1 eq 1`` is
  the string ``'x'' or 1 eq 1'``. ``| odata_raw`` inserts text as written (on purpose only).
* ``xml``: FetchXML; every value is XML-escaped. ``| safe`` inserts XML as written.

**Limits** (:mod:`runner.template_sandbox`): values, output and render time are bounded; a
params render that may be long (loops, ``range``, repetition) runs off the event loop
(:func:`render_params`) and is interrupted at its deadline.
"""

from __future__ import annotations

import asyncio
import ctypes
import json
import re
import threading
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from datetime import UTC, datetime, timedelta
from functools import lru_cache, partial
from typing import Any

from jinja2 import StrictUndefined, TemplateError, Undefined, meta
from markupsafe import Markup, escape
from pydantic import BaseModel

from connectors.errors import RecipeError
from connectors.odata.escaping import TEMPLATE_VALUES, ODataLiteral, template_literal
from runner.template_sandbox import (
    INLINE_RENDER_TIMEOUT_S,
    MAX_OUTPUT_CHARS,
    RENDER_TIMEOUT_S,
    BoundedSandbox,
    Deadline,
    TemplateLimitError,
)

__all__ = [
    "TemplateRenderError",
    "check_syntax",
    "field_encodings",
    "has_template",
    "render_params",
    "render_value",
    "undeclared_names",
]

_SINGLE_EXPRESSION = re.compile(r"^\s*\{\{(?P<expr>(?:(?!\{\{|\}\}|\{%).)*)\}\}\s*$", re.DOTALL)
ENCODINGS = ("odata", "odata-fo", "xml")
# Templates that can take long: loops, ranges, repetition, joins. Others render inline.
_MAY_BE_SLOW = re.compile(r"\{%|range|\*|join|replace|format|~")


class TemplateRenderError(RecipeError):
    """A template failed; the message names where (file:line:col and field) and the expression."""


def odata_quote(value: Any) -> ODataLiteral:
    """Quote a value as an OData string literal: ``O'Bryan`` → ``'O''Bryan'``."""
    if value is None:
        return ODataLiteral("null")
    return ODataLiteral("'" + str(value).replace("'", "''") + "'")


def odata_guid(value: Any) -> ODataLiteral:
    """A GUID, validated, for use in a key or a filter; raises on anything else."""
    return ODataLiteral(str(uuid.UUID(str(value))))


def odata_raw(value: Any) -> ODataLiteral:
    """Insert text into a filter as written: only for text the recipe itself controls."""
    return ODataLiteral(str(value))


def parse_datetime(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def format_datetime(value: Any, fmt: str = "%Y-%m-%dT%H:%M:%SZ") -> str:
    return parse_datetime(value).astimezone(UTC).strftime(fmt)


def add_seconds(value: Any, seconds: float) -> datetime:
    return parse_datetime(value) + timedelta(seconds=seconds)


def _json(value: Any) -> str:
    return json.dumps(value, default=str, separators=(",", ":"))


def _now() -> datetime:
    return datetime.now(UTC)


FILTERS: dict[str, Callable[..., Any]] = {
    "odata_quote": odata_quote,
    "odata_guid": odata_guid,
    "odata_raw": odata_raw,
    "json": _json,
    "datetime": parse_datetime,
    "format_datetime": format_datetime,
    "add_seconds": add_seconds,
}


def _environment(encoding: str | None) -> BoundedSandbox:
    options: dict[str, Any] = {"undefined": StrictUndefined, "autoescape": False}
    if encoding in ("odata", "odata-fo"):
        options["finalize"] = partial(_odata_output, encoding)
    elif encoding == "xml":
        options["finalize"] = _xml_output
    env = BoundedSandbox(**options)
    env.filters.update(FILTERS)
    env.globals["now"] = _now
    return env


def _odata_output(dialect: str, value: Any) -> str:
    if isinstance(value, Undefined):
        str(value)  # StrictUndefined raises, naming the missing attribute
    return template_literal(value, dialect)


_XML_WHITESPACE = str.maketrans({"\n": "&#10;", "\r": "&#13;", "\t": "&#9;"})


def _xml_output(value: Any) -> str:
    """XML-escaped text, safe in element text and in attribute values (where a raw line
    break would be normalised to a space); ``| safe`` output (Markup) passes as written."""
    if isinstance(value, Undefined):
        str(value)  # StrictUndefined raises, naming the missing attribute
    if isinstance(value, Markup):
        return str(value)
    return str(escape(str(value))).translate(_XML_WHITESPACE)


_ENVS = {encoding: _environment(encoding) for encoding in (None, *ENCODINGS)}


def has_template(value: str) -> bool:
    return "{{" in value or "{%" in value


@lru_cache(maxsize=4096)
def _compile(source: str, encoding: str | None = None) -> Callable[[Mapping[str, Any]], Any]:
    env = _ENVS[encoding]
    match = _SINGLE_EXPRESSION.match(source) if encoding is None else None
    if match:
        expression = env.compile_expression(match.group("expr"), undefined_to_none=False)
        return lambda ctx: _defined(expression(**ctx))
    template = env.from_string(source)
    return lambda ctx: _bounded_output(template.generate(**ctx))


def _defined(value: Any) -> Any:
    if isinstance(value, Undefined):
        str(value)  # StrictUndefined raises UndefinedError naming the missing attribute
    return value


def _bounded_output(chunks: Any) -> str:
    parts, total = [], 0
    for chunk in chunks:
        total += len(chunk)
        if total > MAX_OUTPUT_CHARS:
            raise TemplateLimitError(f"the output is over the {MAX_OUTPUT_CHARS:,} limit")
        parts.append(chunk)
    return "".join(parts)


def render_value(value: Any, context: Mapping[str, Any], where: str = "",
                 encoding: str | None = None) -> Any:
    """Render every template string inside ``value`` (nested dicts and lists) with ``context``.

    ``where`` names the place for error messages, e.g. ``recipes/a.yaml:14:9: actions[0].url``;
    ``encoding`` (one of ``ENCODINGS``) encodes each ``{{ }}`` value of a string template.
    It runs where it is called (on the event loop: conditions, ``for_each`` items), so its
    deadline is short (``INLINE_RENDER_TIMEOUT_S``) unless an outer one stands.
    """
    with Deadline(INLINE_RENDER_TIMEOUT_S):
        return _render(value, context, where, encoding)


def _render(value: Any, context: Mapping[str, Any], where: str, encoding: str | None) -> Any:
    if isinstance(value, str):
        if not has_template(value):
            return value
        return _render_one(value, context, where, encoding)
    if isinstance(value, dict):
        return {k: _render(v, context, f"{where}.{k}", encoding) for k, v in value.items()}
    if isinstance(value, list):
        return [_render(v, context, f"{where}[{i}]", encoding) for i, v in enumerate(value)]
    return value


def _render_one(source: str, context: Mapping[str, Any], where: str,
                encoding: str | None) -> Any:
    try:
        return _compile(source, encoding)(context)
    except TemplateError as exc:
        raise TemplateRenderError(f"{where}: {exc.message or exc} in {_shown(source)}") from None
    except (ValueError, TypeError, ArithmeticError) as exc:
        raise TemplateRenderError(f"{where}: {exc} in {_shown(source)}") from None
    except MemoryError:
        raise TemplateRenderError(f"{where}: the template needs too much memory in "
                                  f"{_shown(source)}") from None
    except RecursionError:
        raise TemplateRenderError(f"{where}: the template nests too deeply in "
                                  f"{_shown(source)}") from None


def _shown(source: str) -> str:
    return repr(source if len(source) <= 300 else source[:300] + "…")


# -- params: encoded fields, rendered off the loop when they may be long ------------------------


@lru_cache(maxsize=256)
def field_encodings(model: type[BaseModel]) -> dict[str, str]:
    """Param name (and alias) → the encoding its template values get, from the fields'
    ``json_schema_extra`` (``x-template-values``)."""
    found: dict[str, str] = {}
    for name, info in model.model_fields.items():
        extra = info.json_schema_extra
        encoding = extra.get(TEMPLATE_VALUES) if isinstance(extra, dict) else None
        if isinstance(encoding, str) and encoding in ENCODINGS:
            found[name] = encoding
            if info.alias:
                found[info.alias] = encoding
    return found


def _render_params_now(params: Any, context: Mapping[str, Any], where: str,
                       encodings: dict[str, str], timeout_s: float) -> Any:
    with Deadline(timeout_s):
        if not isinstance(params, dict):
            return _render(params, context, where, None)
        return {key: _render(value, context, f"{where}.{key}", encodings.get(key))
                for key, value in params.items()}


def _may_be_slow(value: Any) -> bool:
    if isinstance(value, str):
        return has_template(value) and (len(value) > 2000 or bool(_MAY_BE_SLOW.search(value)))
    if isinstance(value, dict):
        return any(_may_be_slow(v) for v in value.values())
    if isinstance(value, list):
        return any(_may_be_slow(v) for v in value)
    return False


async def render_params(params: Any, context: Mapping[str, Any], where: str,
                        model: type[BaseModel] | None = None) -> Any:
    """A step's params rendered, each field with its declared encoding (``model``'s field
    metadata). A render that may be long runs in a thread of its own, so the event loop
    keeps answering, and is interrupted if it outlives its deadline."""
    encodings = field_encodings(model) if model is not None else {}
    if not _may_be_slow(params):
        return _render_params_now(params, context, where, encodings, INLINE_RENDER_TIMEOUT_S)
    return await _off_loop(partial(_render_params_now, params, context, where, encodings,
                                   RENDER_TIMEOUT_S), where)


async def _off_loop(work: Callable[[], Any], where: str) -> Any:
    future: Future[Any] = Future()
    thread = threading.Thread(target=_run_into, args=(work, future), daemon=True,
                              name="template-render")
    thread.start()
    try:
        return await asyncio.wait_for(asyncio.wrap_future(future), RENDER_TIMEOUT_S + 1.0)
    except TimeoutError:
        _interrupt(thread)
        raise TemplateRenderError(f"{where}: the template took longer than "
                                  f"{RENDER_TIMEOUT_S:g}s") from None


def _run_into(work: Callable[[], Any], future: Future[Any]) -> None:
    try:
        future.set_result(work())
    except BaseException as exc:  # delivered to the awaiting step, whatever it is
        if not future.done():
            future.set_exception(exc)


def _interrupt(thread: threading.Thread) -> None:
    """Raise in ``thread`` at its next bytecode: a pure-Python loop that never reaches a
    deadline check (an empty loop over a long string) still ends."""
    if thread.ident is not None and thread.is_alive():
        ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread.ident),
                                                   ctypes.py_object(TemplateLimitError))


def check_syntax(value: str, encoding: str | None = None) -> str | None:
    """The syntax error of a template string, or ``None``; for validation before running."""
    try:
        _compile(value, encoding)
    except TemplateError as exc:
        return str(exc.message or exc)
    except (RecursionError, MemoryError):
        return "the template nests too deeply"
    return None


def undeclared_names(source: str) -> set[str]:
    """The top-level names a template reads from its context (``trigger``, ``steps`` …),
    leaving out the environment's globals; empty when it does not parse (``check_syntax``
    reports that)."""
    env = _ENVS[None]
    try:
        names = meta.find_undeclared_variables(env.parse(source))
    except (TemplateError, RecursionError, MemoryError):
        return set()
    return names - set(env.globals)
