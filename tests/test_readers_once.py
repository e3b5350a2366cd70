"""Each reader and constant is defined once (issue 9): one box reader, one NO_ERROR, one "first SymPy finding"."""

from __future__ import annotations

import re
from pathlib import Path

from critic.records import NO_ERROR, StepCheck, first_sympy_finding

REPO = Path(__file__).resolve().parents[1]
SOURCES = [p for d in ("critic", "agent", "training", "eval") for p in (REPO / d).rglob("*.py")]


def _definitions(pattern: str) -> list[str]:
    rx = re.compile(pattern, re.MULTILINE)
    return [str(p.relative_to(REPO)) for p in SOURCES if rx.search(p.read_text())]


def test_one_definition_each():
    assert _definitions(r"^NO_ERROR\s*=") == ["critic/steps.py"]
    assert _definitions(r"^def last_boxed\b") == ["critic/boxed.py"]
    assert _definitions(r"^def boxed_spans\b") == ["critic/boxed.py"]
    assert _definitions(r"^def first_sympy_finding\b") == ["critic/records.py"]
    # the SymPy "first finding" rule is not spelled out again anywhere
    assert _definitions(r"c\.is_finding\)?,?\s*default=NO_ERROR") == ["critic/records.py"]


def test_first_sympy_finding():
    checks = [StepCheck(step1=1, verdict="ok"), StepCheck(step1=2, verdict="unchecked"),
              StepCheck(step1=4, verdict="wrong"), StepCheck(step1=3, verdict="wrong")]
    assert first_sympy_finding(checks) == 3
    assert first_sympy_finding(checks[:2]) == NO_ERROR == -1
    assert first_sympy_finding(iter([])) == NO_ERROR
