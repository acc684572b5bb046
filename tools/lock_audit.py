"""Known vulnerabilities in the locked packages, counted honestly.

pip-audit reports "No known vulnerabilities found" even when it could not look a single
package up (every one "not found on PyPI … could not be audited", as where the vulnerability
database cannot be reached). So this counts what was actually audited:

* some vulnerability found                 → ``vulnerable`` (exit 1), each one listed;
* every locked package audited, none found → ``clean`` (exit 0);
* none or only some could be audited       → ``not audited`` (exit 3), with how many and
  pip-audit's reason: never reported as clean;
* pip-audit missing or failing without a report → ``broken`` (exit 4).

``python -m tools.lock_audit requirements/runtime.lock …`` (``make audit``).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

EXIT = {"clean": 0, "vulnerable": 1, "not audited": 3, "broken": 4}
TIMEOUT_S = 300


@dataclass
class AuditResult:
    outcome: str  # clean | vulnerable | not audited | broken
    locked: int = 0
    audited: int = 0
    vulnerabilities: list[str] = field(default_factory=list)
    reason: str = ""

    def summary(self) -> str:
        if self.outcome == "broken":
            return f"AUDIT BROKEN: {self.reason}"
        if self.outcome == "vulnerable":
            found = "\n  ".join(self.vulnerabilities)
            return (f"VULNERABLE: {len(self.vulnerabilities)} known vulnerabilities in "
                    f"{self.audited} audited packages:\n  {found}")
        if self.outcome == "not audited":
            return (f"NOT AUDITED: {self.audited} of {self.locked} locked packages could be "
                    f"checked ({self.reason}); this is not a clean result")
        return f"clean: {self.audited} of {self.locked} locked packages audited, none vulnerable"


def pip_audit_command() -> list[str] | None:
    found = shutil.which("pip-audit") or _beside_python("pip-audit")
    return [found] if found else None


def _beside_python(name: str) -> str | None:
    candidate = Path(sys.executable).with_name(name)
    return str(candidate) if candidate.exists() else None


def audit(lock: Path, timeout_s: float = TIMEOUT_S) -> AuditResult:
    """pip-audit over one hash-pinned lock file, without installing anything."""
    command = pip_audit_command()
    if command is None:
        return AuditResult("broken", reason="pip-audit is not installed (it is in the test "
                                            "extras: make venv)")
    with tempfile.TemporaryDirectory() as folder:
        report = Path(folder) / "report.json"
        argv = [*command, "-r", str(lock), "--require-hashes", "--disable-pip",
                "--progress-spinner", "off", "-f", "json", "-o", str(report)]
        try:
            run = subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s,
                                 check=False)
        except subprocess.TimeoutExpired:
            return AuditResult("not audited", reason=f"pip-audit gave no answer in "
                                                     f"{timeout_s:.0f} s")
        if not report.exists():
            tail = (run.stderr or run.stdout).strip().splitlines()[-3:]
            return AuditResult("broken", reason=f"pip-audit exited {run.returncode} without "
                                                f"a report: {' | '.join(tail)}")
        return judge(json.loads(report.read_text()))


def judge(report: dict[str, object]) -> AuditResult:
    """The outcome of a pip-audit JSON report."""
    deps = [d for d in report.get("dependencies", []) if isinstance(d, dict)]  # type: ignore[union-attr]
    skipped = [d for d in deps if d.get("skip_reason")]
    audited = [d for d in deps if not d.get("skip_reason")]
    found = [f"{d['name']} {d.get('version', '?')}: {v.get('id')} (fix: "
             f"{', '.join(v.get('fix_versions') or []) or 'none yet'})"
             for d in audited for v in d.get("vulns") or []]
    result = AuditResult("clean", locked=len(deps), audited=len(audited), vulnerabilities=found)
    if found:
        result.outcome = "vulnerable"
    elif skipped or not deps:
        result.outcome = "not audited"
        result.reason = str(skipped[0]["skip_reason"]) if skipped else "the lock lists nothing"
    return result


def main(argv: list[str]) -> int:
    worst = 0
    for lock in argv or ["requirements/runtime.lock"]:
        result = audit(Path(lock))
        print(f"{lock}: {result.summary()}")
        worst = max(worst, EXIT[result.outcome])
    return worst


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
