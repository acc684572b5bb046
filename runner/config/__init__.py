"""Configuration foundations shared by the connections file and recipe files.

* `yaml_source`: YAML -> plain data + (line, column) of every field; duplicate keys, syntax errors.
* `problems`: `Problem` (printed `file:line:col: path: message (context)`), `ConfigError`,
  `did_you_mean`.
* `pydantic_problems`: a pydantic `ValidationError` -> positioned problems.
* `secrets`: `${env:NAME}` / `${file:/path}` references, literal-secret warnings.
"""

from __future__ import annotations

from runner.config.problems import (
    ConfigError,
    FieldPath,
    Problem,
    Severity,
    did_you_mean,
    format_path,
    sort_problems,
    suggestion,
)
from runner.config.pydantic_problems import allowed_keys, problems_from_validation_error
from runner.config.secrets import (
    ResolvedData,
    SecretReferenceError,
    is_reference,
    literal_secret_problems,
    resolve_reference,
    resolve_references,
    secret_fields,
)
from runner.config.yaml_source import (
    FieldPosition,
    Position,
    YamlSource,
    load_yaml,
    parse_yaml,
)

__all__ = [
    "ConfigError",
    "FieldPath",
    "FieldPosition",
    "Position",
    "Problem",
    "ResolvedData",
    "SecretReferenceError",
    "Severity",
    "YamlSource",
    "allowed_keys",
    "did_you_mean",
    "format_path",
    "is_reference",
    "literal_secret_problems",
    "load_yaml",
    "parse_yaml",
    "problems_from_validation_error",
    "resolve_reference",
    "resolve_references",
    "secret_fields",
    "sort_problems",
    "suggestion",
]
