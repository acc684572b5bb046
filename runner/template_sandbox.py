"""The Jinja sandbox recipes render in, with bounds on what one template may cost.

Jinja's sandbox stops templates from reaching Python internals, not from exhausting the
daemon: ``{{ ('x' * 3000000000) | length }}`` allocates 3 GB, ``2 ** 99999999`` computes for
minutes, nested ``range`` loops run for hours. Here:

* **values** a template builds (``*``, ``+``, ``~``, ``%`` formatting, ``format``, padding
  filters) are refused before they exceed ``MAX_VALUE_CHARS``; ``**`` before its result
  exceeds ``MAX_POWER_BITS``; ``range`` yields at most ``MAX_RANGE`` items;
* the **output** of a render is cut off at ``MAX_OUTPUT_CHARS``;
* a render has a **deadline** (``RENDER_TIMEOUT_S``), checked on every call, attribute
  lookup, range step and output chunk (``runner.templates`` also runs long templates off the
  event loop and interrupts them at the deadline).

Each refusal is a :class:`TemplateLimitError`, so the step fails with a message naming the
template, never the daemon.
"""

from __future__ import annotations

import functools
import math
import re
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from jinja2 import nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.exceptions import TemplateError
from jinja2.filters import do_center, do_indent, do_join, do_replace, do_wordwrap
from jinja2.runtime import markup_join, str_join
from jinja2.sandbox import ImmutableSandboxedEnvironment

MAX_VALUE_CHARS = 1_000_000
MAX_OUTPUT_CHARS = 1_000_000
MAX_POWER_BITS = 100_000
MAX_RANGE = 100_000
RENDER_TIMEOUT_S = 2.0  # a render off the event loop (runner.templates.render_params)
INLINE_RENDER_TIMEOUT_S = 0.5  # a render on the loop (conditions, for_each items): short
_BIG_WIDTH = re.compile(r"\d{7,}|\*")  # a width or precision of a million or more, or '*'


class TemplateLimitError(TemplateError):
    """A template went past one of the sandbox's bounds."""


_deadline = threading.local()


class Deadline:
    """``with Deadline(seconds):`` bounds the renders inside it (per thread)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._previous: tuple[float, float] | None = None

    def __enter__(self) -> Deadline:
        self._previous = getattr(_deadline, "at", None)
        if self._previous is None:  # an outer deadline stands
            _deadline.at = (time.monotonic() + self.seconds, self.seconds)
        return self

    def __exit__(self, *_exc: object) -> None:
        _deadline.at = self._previous


def check_deadline() -> None:
    found = getattr(_deadline, "at", None)
    if found is not None and time.monotonic() > found[0]:
        raise TemplateLimitError(f"the template took longer than {found[1]:g}s")


def _check_size(size: int, what: str) -> None:
    if size > MAX_VALUE_CHARS:
        raise TemplateLimitError(f"{what} would be {size:,} long, over the "
                                 f"{MAX_VALUE_CHARS:,} limit")


def _sized(value: Any) -> int | None:
    """A value's size for the bounds: characters of a string; for a list, its items plus the
    characters of its string items (``[big] * n`` would otherwise pass as n small items)."""
    if isinstance(value, str | bytes):
        return len(value)
    if isinstance(value, list | tuple):
        return len(value) + sum(len(item) for item in value if isinstance(item, str | bytes))
    return None


def _repeat_size(left: Any, right: Any) -> int | None:
    for seq, count in ((left, right), (right, left)):
        if _sized(seq) is not None and isinstance(count, int) and not isinstance(count, bool):
            return (_sized(seq) or 0) * max(count, 0)
    return None


def _power_bits(base: Any, exponent: Any) -> float:
    if not (isinstance(base, int | float) and isinstance(exponent, int | float)):
        return 0.0
    if abs(base) <= 1 or exponent <= 0:
        return 0.0
    return float(exponent) * math.log2(abs(base))


def _check_format(spec: str) -> None:
    if _BIG_WIDTH.search(spec):
        raise TemplateLimitError("a format width of a million or more (or '*') is not allowed")


def bounded_range(*args: int) -> Iterator[int]:
    span = range(*args)
    if len(span) > MAX_RANGE:
        raise TemplateLimitError(f"range() of {len(span):,} items, over the {MAX_RANGE:,} limit")
    for index, value in enumerate(span):
        if index % 256 == 0:
            check_deadline()
        yield value


def _bounded(filter_: Callable[..., str], width_arg: int) -> Callable[..., str]:
    """A padding filter (``center``, ``indent``, ``wordwrap``) refusing huge widths."""

    def bounded(*args: Any, **kwargs: Any) -> str:
        width = args[width_arg] if len(args) > width_arg else kwargs.get("width", 0)
        if isinstance(width, int) and width > MAX_VALUE_CHARS:
            raise TemplateLimitError(f"a width of {width:,} is over the limit")
        return filter_(*args, **kwargs)

    return bounded


@functools.wraps(do_join)
def _do_join(eval_ctx: Any, value: Any, d: str = "", attribute: Any = None) -> str:
    items = list(value) if not isinstance(value, str) else [value]
    sizes = [len(i) if isinstance(i, str) else 16 for i in items]
    _check_size(sum(sizes) + len(str(d)) * max(len(items) - 1, 0), "a joined value")
    return do_join(eval_ctx, items, d, attribute)


@functools.wraps(do_replace)
def _do_replace(eval_ctx: Any, s: str, old: str, new: str, count: int | None = None) -> str:
    text, old, new = str(s), str(old), str(new)
    hits = text.count(old) if old else len(text) + 1
    if count is not None:
        hits = min(hits, max(count, 0))
    _check_size(len(text) + hits * max(len(new) - len(old), 0), "a replaced value")
    return do_replace(eval_ctx, s, old, new, count)


def _do_format(value: str, *args: Any, **kwargs: Any) -> str:
    _check_format(str(value))
    return str(value) % (kwargs or args)


class _BoundedCodeGenerator(CodeGenerator):
    """Compiles ``a ~ b`` through the environment, so concatenation is bounded too."""

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        self.write("environment.bounded_concat((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")


class BoundedSandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox with the bounds described in the module docstring."""

    code_generator_class = _BoundedCodeGenerator
    intercepted_binops = frozenset({"*", "+", "**", "%"})

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.globals["range"] = bounded_range
        self.filters.update(center=_bounded(do_center, 1), indent=_bounded(do_indent, 1),
                            wordwrap=_bounded(do_wordwrap, 2), format=_do_format,
                            join=_do_join, replace=_do_replace)

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        check_deadline()
        if operator == "*":
            size = _repeat_size(left, right)
            if size is not None:
                _check_size(size, "a repeated value")
        elif operator == "+" and _sized(left) is not None and _sized(right) is not None:
            _check_size((_sized(left) or 0) + (_sized(right) or 0), "a joined value")
        elif operator == "**" and _power_bits(left, right) > MAX_POWER_BITS:
            raise TemplateLimitError(f"a power of over {MAX_POWER_BITS:,} bits is not allowed")
        elif operator == "%" and isinstance(left, str):
            _check_format(left)
        return super().call_binop(context, operator, left, right)

    def bounded_concat(self, parts: tuple[Any, ...]) -> str:
        join = markup_join if self.autoescape else str_join
        texts = [part if isinstance(part, str) else str(part) for part in parts]
        _check_size(sum(len(t) for t in texts), "a joined value")
        return join(parts)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        check_deadline()
        return super().call(__context, __obj, *args, **kwargs)

    def getattr(self, obj: Any, attribute: str) -> Any:
        check_deadline()
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        check_deadline()
        return super().getitem(obj, argument)

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        wrapped = super().wrap_str_format(value)
        if wrapped is not None:
            _check_format(str(value.__self__))
        return wrapped
