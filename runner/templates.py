"""Recipe templates: Jinja2, sandboxed, strict about undefined names, keeping native types.

A value that is exactly one expression (``"{{ trigger.record.revenue }}"``) evaluates to the
expression's own value: a number stays a number, a dict stays a dict, and a string stays a
string even if it looks like a number (``"01234"`` is never turned into ``1234``, a trap of
Jinja's NativeEnvironment). Any other string containing ``{{``/``{%`` renders to a string.
Values without template syntax pass through untouched, so most params cost nothing.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, TemplateError, Undefined, meta
from jinja2.sandbox import ImmutableSandboxedEnvironment

from connectors.errors import RecipeError

__all__ = [
    "TemplateRenderError",
    "check_syntax",
    "has_template",
    "render_value",
    "undeclared_names",
]

_SINGLE_EXPRESSION = re.compile(r"^\s*\{\{(?P<expr>(?:(?!\{\{|\}\}|\{%).)*)\}\}\s*$", re.DOTALL)


class TemplateRenderError(RecipeError):
    """A template failed; the message names where (file:line:col and field) and the expression."""


def odata_quote(value: Any) -> str:
    """Quote a value as an OData string literal: ``O'Bryan`` → ``'O''Bryan'``."""
    if value is None:
        return "null"
    return "'" + str(value).replace("'", "''") + "'"


def odata_guid(value: Any) -> str:
    """A GUID, validated, for use in a key or a filter; raises on anything else."""
    return str(uuid.UUID(str(value)))


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
    "json": _json,
    "datetime": parse_datetime,
    "format_datetime": format_datetime,
    "add_seconds": add_seconds,
}


def _environment() -> ImmutableSandboxedEnvironment:
    env = ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=False)
    env.filters.update(FILTERS)
    env.globals["now"] = _now
    return env


_ENV = _environment()


def has_template(value: str) -> bool:
    return "{{" in value or "{%" in value


@lru_cache(maxsize=4096)
def _compile(source: str) -> Callable[[Mapping[str, Any]], Any]:
    match = _SINGLE_EXPRESSION.match(source)
    if match:
        expression = _ENV.compile_expression(match.group("expr"), undefined_to_none=False)
        return lambda ctx: _defined(expression(**ctx))
    template = _ENV.from_string(source)
    return lambda ctx: template.render(**ctx)


def _defined(value: Any) -> Any:
    if isinstance(value, Undefined):
        str(value)  # StrictUndefined raises UndefinedError naming the missing attribute
    return value


def render_value(value: Any, context: Mapping[str, Any], where: str = "") -> Any:
    """Render every template string inside ``value`` (nested dicts and lists) with ``context``.

    ``where`` names the place for error messages, e.g. ``recipes/a.yaml:14:9: actions[0].url``.
    """
    if isinstance(value, str):
        if not has_template(value):
            return value
        try:
            return _compile(value)(context)
        except TemplateError as exc:
            raise TemplateRenderError(f"{where}: {exc.message or exc} in {value!r}") from None
        except (ValueError, TypeError, ArithmeticError) as exc:
            raise TemplateRenderError(f"{where}: {exc} in {value!r}") from None
    if isinstance(value, dict):
        return {k: render_value(v, context, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [render_value(v, context, f"{where}[{i}]") for i, v in enumerate(value)]
    return value


def check_syntax(value: str) -> str | None:
    """The syntax error of a template string, or ``None``; for validation before running."""
    try:
        _compile(value)
    except TemplateError as exc:
        return str(exc.message or exc)
    return None


def undeclared_names(source: str) -> set[str]:
    """The top-level names a template reads from its context (``trigger``, ``steps`` …),
    leaving out the environment's globals; empty when it does not parse (``check_syntax``
    reports that)."""
    try:
        names = meta.find_undeclared_variables(_ENV.parse(source))
    except TemplateError:
        return set()
    return names - set(_ENV.globals)
