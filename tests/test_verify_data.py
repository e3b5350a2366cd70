"""critic.verify over the full benchmark files (``data_dir``): the safety properties the benchmark reports, pinned.

Quality numbers beyond these (acc_err per subset, latency) are measured by ``python -m eval.bench.sympy_tool``."""

from __future__ import annotations

import json

from critic.steps import split_steps
from critic.verify import check_step
from eval.bench.sympy_tool import corrupted_gsm8k

# GSM8K test row 1024 states "$32 - $20 = $300" (it means $320 - $20): a real false equality in the reference
KNOWN_REFERENCE_SLIPS = {1024}


def _gsm8k_answers(data_dir) -> list[str]:
    return [json.loads(line)["answer"] for line in (data_dir / "gsm8k" / "test.jsonl").read_text().splitlines()
            if line.strip()]


def test_corrupted_gsm8k_is_deterministic_and_found(data_dir) -> None:
    answers = _gsm8k_answers(data_dir)
    first, second = corrupted_gsm8k(answers), corrupted_gsm8k(answers)
    assert [(c.index, c.step0, c.changed) for c in first] == [(c.index, c.step0, c.changed) for c in second]
    changed = [c for c in first if c.corrupted is not None]
    assert len(changed) > 1200
    assert all(c.corrupted[c.step0] != c.steps[c.step0] and c.changed != c.original for c in changed)
    found = sum(check_step(c.corrupted[c.step0]).verdict == "wrong" for c in changed)
    assert found / len(changed) >= 0.90
    flagged = {c.index for c in first if any(check_step(s).verdict == "wrong" for s in c.steps)}
    assert flagged <= KNOWN_REFERENCE_SLIPS


def test_math500_reference_solutions_are_almost_never_flagged(data_dir) -> None:
    rows = [json.loads(line) for line in (data_dir / "math500" / "test.jsonl").read_text().splitlines() if line]
    flagged = [r["unique_id"] for r in rows
               if any(check_step(s).verdict == "wrong" for s in split_steps(r["solution"]))]
    assert len(flagged) <= 0.005 * len(rows), flagged


def test_processbench_gsm8k_correct_solutions_are_never_flagged(data_dir) -> None:
    rows = json.loads((data_dir / "processbench" / "gsm8k.json").read_text())
    flagged = [r["id"] for r in rows if r["label"] == -1 and any(check_step(s).verdict == "wrong" for s in r["steps"])]
    assert flagged == []
