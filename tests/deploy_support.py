"""Reading the project's ``Dockerfile`` and systemd unit as data, so tests run what they say."""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = PROJECT_ROOT / "Dockerfile"
UNIT = PROJECT_ROOT / "deploy" / "recipe-runner.service"
ENV_EXAMPLE = PROJECT_ROOT / "deploy" / "recipe-runner.env.example"


@dataclass(frozen=True)
class Instruction:
    keyword: str  # upper case: FROM, RUN, ENV, …
    args: str
    stage: int  # 0 for the first FROM


def parse_dockerfile(text: str) -> list[Instruction]:
    """Instructions with continuation lines joined and comments dropped."""
    instructions: list[Instruction] = []
    stage, pending = -1, ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        pending = f"{pending} {line[:-1]}" if line.endswith("\\") else f"{pending} {line}"
        if line.endswith("\\"):
            continue
        keyword, _, args = pending.strip().partition(" ")
        pending = ""
        if keyword.upper() == "FROM":
            stage += 1
        instructions.append(Instruction(keyword.upper(), " ".join(args.split()), stage))
    return instructions


def stage_of(instructions: list[Instruction], stage: int) -> list[Instruction]:
    return [i for i in instructions if i.stage == stage]


def env_of(instructions: list[Instruction]) -> dict[str, str]:
    """``ENV A=1 B=2`` instructions → a dict (``$VAR`` left as written)."""
    env: dict[str, str] = {}
    for instruction in instructions:
        if instruction.keyword == "ENV":
            for pair in shlex.split(instruction.args):
                key, _, value = pair.partition("=")
                env[key] = value
    return env


def exec_form(instructions: list[Instruction], keyword: str) -> list[str]:
    """The JSON argv of the last ``keyword`` (ENTRYPOINT, CMD, or HEALTHCHECK's CMD)."""
    args = [i.args for i in instructions if i.keyword == keyword][-1]
    if keyword == "HEALTHCHECK":
        args = args.split(" CMD ", 1)[1]
    argv = json.loads(args)
    assert isinstance(argv, list), f"{keyword} must use the exec (JSON) form"
    return [str(a) for a in argv]


def last(instructions: list[Instruction], keyword: str) -> str:
    return [i.args for i in instructions if i.keyword == keyword][-1]


def unit_entries(text: str) -> dict[str, dict[str, list[str]]]:
    """A systemd unit → {section: {key: [values, in order]}}."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        key, _, value = line.partition("=")
        current.setdefault(key.strip(), []).append(value.strip())
    return sections
