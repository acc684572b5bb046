"""Load YAML into plain data plus the line and column of every key and value.

PyYAML's `compose` gives a node tree whose nodes carry marks; we walk it once to record, for each
field path such as `("connections", "crm", "tenant_id")`, where its key and its value start. The
data itself is built by PyYAML's safe constructor from the same tree, so anchors, aliases and
`<<` merge keys behave exactly as in `yaml.safe_load`. An aliased value points at its anchor (the
place to edit). Duplicate keys and syntax errors become problems, not exceptions.

Hostile files are problems too, never a crash or a stall: nesting deeper than `MAX_NESTING`
(which would exhaust Python's stack), aliases that would expand to more than
`MAX_EXPANDED_VALUES` values ("billion laughs": a few hundred bytes that expand to billions of
strings in whatever walks the data), an alias of its own anchor (recursive data), and files
that are not regular files or exceed `MAX_CONFIG_BYTES` (see `runner.config.files`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from runner.config.files import MAX_CONFIG_BYTES, UnreadableFile, read_regular_text
from runner.config.problems import FieldPath, Problem, Severity

MERGE_TAG = "tag:yaml.org,2002:merge"
MAX_NESTING = 64  # mappings and lists inside each other; real files stay under 15
MAX_EXPANDED_VALUES = 100_000  # values once every alias is expanded
Anchor = Literal["key", "value", "parent"]


@dataclass(frozen=True)
class Position:
    """1-based line and column in the file."""

    line: int
    column: int


@dataclass(frozen=True)
class FieldPosition:
    """Where a field's key and value start; the root and list items have no key."""

    key: Position | None
    value: Position


@dataclass
class YamlSource:
    """A YAML file as plain data, the positions of its fields, and the problems found reading it.

    `data` is None when the file is empty or unreadable; check `problems` first.
    """

    file: str  # the name problems print, e.g. "connections.yaml"
    data: Any = None
    positions: dict[FieldPath, FieldPosition] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    def position(self, path: FieldPath, at: Anchor = "value") -> Position | None:
        """Where to point for `path`: its value, its key, or ("parent") its parent's key.

        A path that is not in the file (a missing field) falls back to the nearest ancestor's key,
        which is where the field would have to be added.
        """
        if at == "parent":
            return self._nearest_key(path[:-1])
        found = self.positions.get(path)
        if found is None:
            return self._nearest_key(path[:-1])
        if at == "key" and found.key is not None:
            return found.key
        return found.value

    def _nearest_key(self, path: FieldPath) -> Position | None:
        for end in range(len(path), -1, -1):
            found = self.positions.get(path[:end])
            if found is not None:
                return found.key or found.value
        return None

    def problem(
        self,
        path: FieldPath,
        message: str,
        *,
        at: Anchor = "value",
        context: str | None = None,
        severity: Severity = "error",
    ) -> Problem:
        """A problem about `path`, positioned per `position(path, at)`."""
        pos = self.position(path, at)
        return Problem(
            file=self.file,
            line=pos.line if pos else None,
            column=pos.column if pos else None,
            path=path,
            message=message,
            context=context,
            severity=severity,
        )


def load_yaml(path: Path, display_name: str | None = None,
              max_bytes: int = MAX_CONFIG_BYTES) -> YamlSource:
    """Read and parse `path`; never raises for bad content, a missing file or a file that is
    not a regular file of at most `max_bytes`."""
    name = display_name or str(path)
    try:
        text = read_regular_text(path, max_bytes)
    except UnreadableFile as exc:
        return YamlSource(name, problems=[Problem(name, None, None, (), f"cannot read: {exc}")])
    return parse_yaml(text, name)


class _TooDeep(yaml.MarkedYAMLError):
    """Nesting beyond `MAX_NESTING`, raised while composing (before Python's stack runs out)."""


class _BoundedLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing nesting deeper than `MAX_NESTING` as it composes."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self._depth = 0

    def compose_node(self, parent: Node | None, index: object) -> Node | None:
        self._depth += 1
        try:
            if self._depth > MAX_NESTING:
                mark = self.peek_event().start_mark
                raise _TooDeep(problem=f"nested deeper than {MAX_NESTING} levels",
                               problem_mark=mark)
            return super().compose_node(parent, index)  # type: ignore[no-any-return]
        finally:
            self._depth -= 1


def parse_yaml(text: str, file: str) -> YamlSource:
    """Parse YAML text; syntax errors, duplicate keys and hostile shapes are problems."""
    source = YamlSource(file)
    if len(text) > MAX_CONFIG_BYTES:
        limit = f"{MAX_CONFIG_BYTES // 1024} KiB"
        source.problems.append(Problem(file, None, None, (), f"larger than the {limit} limit"))
        return source
    try:
        loader = _BoundedLoader(text)  # the reader checks every character here
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        column = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
        message = f"YAML syntax error: character {exc.character!r} is not allowed in YAML"
        source.problems.append(Problem(file, line, column, (), message))
        return source
    try:
        node = loader.get_single_node()
        if node is None:
            return source
        shape = _shape_problem(node, file)
        if shape is not None:
            source.problems.append(shape)
            return source
        source.problems.extend(_duplicate_key_problems(node, file))
        source.data = loader.construct_document(node)
    except _TooDeep as exc:
        pos = _mark_position(exc.problem_mark)  # type: ignore[arg-type]
        source.problems.append(Problem(file, pos.line, pos.column, (), str(exc.problem)))
        return source
    except yaml.MarkedYAMLError as exc:
        source.problems.append(_syntax_problem(exc, text, file))
        return source
    except yaml.YAMLError as exc:  # unmarked: rare (e.g. a reader error)
        source.problems.append(Problem(file, None, None, (), f"YAML error: {exc}"))
        return source
    except ValueError as exc:  # a scalar Python cannot convert, e.g. a 5,000-digit integer
        reason = str(exc).split(";")[0][:200]
        source.problems.append(Problem(file, None, None, (), f"YAML value cannot be read: "
                                                             f"{reason}"))
        return source
    finally:
        loader.dispose()
    # After construction merge keys are flattened in place, so the walk matches `data`.
    _record_positions(node, (), None, source.positions, set())
    return source


class _Recursive(Exception):
    def __init__(self, node: Node) -> None:
        self.node = node


def _shape_problem(root: Node, file: str) -> Problem | None:
    """A recursive alias, or aliases expanding beyond `MAX_EXPANDED_VALUES`; else None."""
    try:
        expanded = _expanded_size(root, {}, set())
    except _Recursive as exc:
        pos = _mark_position(exc.node.start_mark)
        return Problem(file, pos.line, pos.column, (),
                       "an alias refers to a value that contains it (recursive data)")
    if expanded <= MAX_EXPANDED_VALUES:
        return None
    pos = _mark_position(_first_alias_mark(root) or root.start_mark)
    return Problem(file, pos.line, pos.column, (),
                   f"aliases expand to more than {MAX_EXPANDED_VALUES:,} values "
                   "(a 'billion laughs' file?); write the values out or use fewer aliases")


def _expanded_size(node: Node, sizes: dict[int, int], active: set[int]) -> int:
    """How many values `node` stands for once every alias is expanded (each shared node is
    counted once per reference, but computed once: linear in the file's size)."""
    if id(node) in sizes:
        return sizes[id(node)]
    if id(node) in active:
        raise _Recursive(node)
    active.add(id(node))
    total = 1
    if isinstance(node, MappingNode):
        for key, value in node.value:
            total += _expanded_size(key, sizes, active) + _expanded_size(value, sizes, active)
    elif isinstance(node, SequenceNode):
        for item in node.value:
            total += _expanded_size(item, sizes, active)
    active.discard(id(node))
    sizes[id(node)] = min(total, MAX_EXPANDED_VALUES + 1)  # capped: no huge integers
    return sizes[id(node)]


def _first_alias_mark(root: Node) -> yaml.Mark | None:
    """Where the first alias is used: a node reached twice is an anchored node."""
    seen: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            return None
        seen.add(id(node))
        children: list[Node] = []
        if isinstance(node, MappingNode):
            children = [n for pair in node.value for n in pair]
        elif isinstance(node, SequenceNode):
            children = list(node.value)
        for child in children:
            if id(child) in seen:
                return child.start_mark
        stack.extend(reversed(children))
    return None


def _mark_position(mark: yaml.Mark) -> Position:
    return Position(mark.line + 1, mark.column + 1)


FLOW_REFERENCE_HINT = ' (inside [ ] or { }, quote references: "${env:NAME}")'


def _syntax_problem(exc: yaml.MarkedYAMLError, text: str, file: str) -> Problem:
    mark = exc.problem_mark or exc.context_mark
    message = exc.problem or "invalid YAML"
    if exc.context:
        message = f"{exc.context}, {message}"
    if mark is None:
        return Problem(file, None, None, (), f"YAML syntax error: {message}")
    lines = text.splitlines()
    if "flow" in message and mark.line < len(lines) and "${" in lines[mark.line]:
        # `{x: ${env:A}}` is the one mistake secret references invite: `{` ends a plain scalar.
        message += FLOW_REFERENCE_HINT
    return Problem(file, mark.line + 1, mark.column + 1, (), f"YAML syntax error: {message}")


def _scalar_key(node: Node) -> object:
    return node.value if isinstance(node, ScalarNode) else f"<{node.id}>"


def _iter_mappings(node: Node, seen: set[int]) -> Iterator[MappingNode]:
    if id(node) in seen:
        return
    seen.add(id(node))
    if isinstance(node, MappingNode):
        yield node
        for key, value in node.value:
            yield from _iter_mappings(key, seen)
            yield from _iter_mappings(value, seen)
    elif isinstance(node, SequenceNode):
        for item in node.value:
            yield from _iter_mappings(item, seen)


def _duplicate_key_problems(root: Node, file: str) -> list[Problem]:
    """Keys repeated in one mapping (before merge keys are applied, so overrides are fine)."""
    problems = []
    for mapping in _iter_mappings(root, set()):
        first_lines: dict[tuple[str, object], int] = {}
        for key, _ in mapping.value:
            if key.tag == MERGE_TAG:
                continue
            ident = (key.tag, _scalar_key(key))
            if ident in first_lines:
                pos = _mark_position(key.start_mark)
                message = f"duplicate key {key.value!r} (first at line {first_lines[ident]})"
                problems.append(Problem(file, pos.line, pos.column, (), message))
            else:
                first_lines[ident] = key.start_mark.line + 1
    return problems


def _key_segment(key: Node) -> str | int:
    # Paths use the key's text: `1:` and `"1":` both become "1", like most config readers show it.
    return str(key.value) if isinstance(key, ScalarNode) else f"<{key.tag}>"


def _record_positions(
    node: Node,
    path: FieldPath,
    key: Position | None,
    out: dict[FieldPath, FieldPosition],
    active: set[int],
) -> None:
    out[path] = FieldPosition(key, _mark_position(node.start_mark))
    if id(node) in active:  # a recursive alias: stop rather than loop forever
        return
    active.add(id(node))
    if isinstance(node, MappingNode):
        for key_node, value_node in node.value:
            key_pos = _mark_position(key_node.start_mark)
            _record_positions(value_node, (*path, _key_segment(key_node)), key_pos, out, active)
    elif isinstance(node, SequenceNode):
        for index, item in enumerate(node.value):
            _record_positions(item, (*path, index), None, out, active)
    active.discard(id(node))
