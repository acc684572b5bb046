"""A step's ``if:`` and the names templates may read.

``if:`` is one expression, written bare (``trigger.record.revenue > 1000000``, as in GitHub
Actions or Ansible) or in ``{{ }}``; both mean the same. ``true``/``false`` are YAML booleans.
A string with text around a template (``"{{ a }} and {{ b }}"``) would render to a non-empty
string, true whatever it says, so it is refused.

A template reads ``trigger``, ``steps``, ``vars`` (also ``variables``) and ``job``; inside a
``for_each``, its ``as`` name (``item`` by default); inside an ``on_error`` handler, ``error``;
and the globals (``now()``, ``range`` …). Any other top-level name is a typo caught by
``validate``.
"""

from __future__ import annotations

import re

from runner.config import suggestion
from runner.templates import has_template

CONTEXT_NAMES = ("trigger", "steps", "vars", "variables", "job")
_ONE_EXPRESSION = re.compile(r"^\s*\{\{(?P<expr>(?:(?!\{\{|\}\}|\{%).)*)\}\}\s*$", re.DOTALL)


def condition_template(value: str | bool | None) -> tuple[str | None, str | None]:
    """(the template the engine renders, None for "always"; a problem, or None)."""
    if value is None or value is True:
        return None, None
    if value is False:
        return "{{ false }}", None
    if not isinstance(value, str):
        return None, "must be an expression or true/false"
    match = _ONE_EXPRESSION.match(value)
    if match:
        expression = match.group("expr").strip()
    elif has_template(value):
        shape = "a {% %} block" if "{%" in value else "text around a template"
        return None, ("must be one expression, e.g. trigger.record.revenue > 1000000 or "
                      f"'{{{{ trigger.record.revenue > 1000000 }}}}', not {shape} (that "
                      "renders to a string, which is always true)")
    else:
        expression = value.strip()
    if not expression:
        return None, "is empty; write an expression, or remove it"
    return "{{ " + expression + " }}", None


def unknown_names_message(names: set[str], known: tuple[str, ...]) -> str:
    """``unknown name 'trigge' (did you mean 'trigger'?); …`` for ``validate``."""
    parts = [f"unknown name {name!r}" + suggestion(name, known) for name in sorted(names)]
    return "; ".join(parts) + f" in template (a template reads {', '.join(known)})"
