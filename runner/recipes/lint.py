"""Checks ``validate`` adds beyond the params models: things that are valid but unsafe or
that cannot work as written.

* A template **inside quotes in a filter** (``lastname eq '{{ x }}'``): every ``{{ }}``
  value in a filter already becomes a quoted, escaped OData literal, so the quotes around it
  break the filter (and, written that way by hand, are what lets a record rewrite it).
* A template in a **trigger's** params: trigger params are not rendered (there is no record
  yet), so the text would go to the service as written.
* An ``http.webhook`` with **``auth: none``**: anyone who can reach the listener can start
  the recipe.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from pydantic import BaseModel

from runner.config import FieldPath, Problem, YamlSource
from runner.templates import field_encodings, has_template

_TEMPLATE = re.compile(r"\{\{.*?\}\}|\{%.*?%\}", re.DOTALL)
AUTH_NONE_WARNING = ("auth: none lets anyone who can reach the listener start this recipe; "
                     "use auth: token or hmac_sha256 with secret_env")


def lint_params(source: YamlSource, model: type[BaseModel], params: Mapping[str, Any],
                path: FieldPath, kind: str, *, trigger: bool) -> list[Problem]:
    """The problems above for one trigger's or step's params."""
    problems: list[Problem] = []
    encodings = field_encodings(model)
    for key, value in params.items():
        if not isinstance(value, str) or not has_template(value):
            continue
        where = (*path, key)
        if trigger:
            problems.append(source.problem(
                where, "trigger params are not templates (there is no record yet): this "
                "would be sent as written", context=kind))
        elif encodings.get(key, "").startswith("odata"):
            problems.extend(source.problem(where, message, context=kind)
                            for message in quoted_templates(value))
    if kind == "http.webhook" and params.get("auth") == "none":
        problems.append(source.problem((*path, "auth"), AUTH_NONE_WARNING, context=kind,
                                       severity="warning"))
    return problems


def quoted_templates(filter_text: str) -> Iterator[str]:
    """A message for each template standing inside an OData string literal's quotes."""
    inside = False
    for text, is_template in _iter_parts(filter_text):
        if is_template:
            if inside and "odata_raw" not in text:
                yield (f"{text.strip()} is inside quotes; a filter's {{{{ }}}} values are "
                       "quoted and escaped already: remove the quotes around it")
            continue
        for char in text:
            if char == "'":
                inside = not inside  # '' (an escaped quote) toggles twice


def _iter_parts(text: str) -> Iterator[tuple[str, bool]]:
    position = 0
    for match in _TEMPLATE.finditer(text):
        yield text[position:match.start()], False
        yield match.group(), True
        position = match.end()
    yield text[position:], False
