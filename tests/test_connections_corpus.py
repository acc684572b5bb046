"""Snapshot test: each broken connections file in the corpus gives exactly its expected problems.

`tests/corpus/connections/NN-name.yaml` is checked and its problems, one per line, must equal
`NN-name.expected`. `UPDATE_SNAPSHOTS=1` rewrites the expected files; then review the diff.
"""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import pytest

from runner.connections import check_connections

CORPUS = Path(__file__).parent / "corpus" / "connections"
ENVIRON = {
    "D365_TENANT_ID": "tenant-guid",
    "D365_CLIENT_ID": "client-guid",
    "D365_CLIENT_SECRET": "s3cret-from-env",
    "HOOK_KEY": "hook-key-value",
}
TODAY = date(2027, 4, 25)
CASES = sorted(CORPUS.glob("*.yaml"))


def test_corpus_has_at_least_fifteen_broken_files() -> None:
    broken = [p for p in CASES if _expected_lines(p) and "warning:" not in _expected_lines(p)[0]]
    assert len(broken) >= 15


def _expected_lines(case: Path) -> list[str]:
    return case.with_suffix(".expected").read_text(encoding="utf-8").splitlines()


@pytest.mark.parametrize("case", CASES, ids=[p.stem for p in CASES])
def test_corpus_file_reports_exactly_the_expected_problems(case: Path) -> None:
    check = check_connections(case, display_name=case.name, environ=ENVIRON, today=TODAY)
    lines = [str(p) for p in check.problems]

    if os.environ.get("UPDATE_SNAPSHOTS") == "1":
        case.with_suffix(".expected").write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert lines == _expected_lines(case)
    assert (check.file is None) == any(p.is_error for p in check.problems)
    assert not any(value in "\n".join(lines) for value in ENVIRON.values())
