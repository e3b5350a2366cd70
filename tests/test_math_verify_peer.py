"""Math-Verify's own test cases (tests/fixtures/math_verify_cases.jsonl, built by make_math_verify_cases.py from
huggingface/Math-Verify; see ATTRIBUTION.md) against this grader.

Each case is graded as a peer would: both texts are read with ``extract_answer(text, lenient=True)`` (the whole
text when nothing is read) and compared with ``answers_match``. Agreement must stay >= 95 %; every case where this
grader disagrees on purpose is listed in ``DELIBERATE`` with its reason (the README carries the same list), and a
disagreement outside that list fails the test, as does a listed case that starts agreeing (update the list).
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from critic.grading import answers_match, extract_answer

CASES = Path(__file__).resolve().parent / "fixtures" / "math_verify_cases.jsonl"

# case id -> why this grader answers otherwise than Math-Verify's expected value
DELIBERATE = {
    "test_all.py::test_number_extraction::5":
        "'1000,99' = 1000.99: a comma is never a decimal separator here ('0,5' and '1,22' are lists of roots)",
    "test_all.py::test_number_extraction::6": "'1,22' = 1.22: as above, a comma is no decimal separator",
    "test_all.py::test_number_extraction::7": "'Soucis : 2,74 $ a..' = 2.74: as above (decimal comma in prose)",
    "test_all.py::test_latex_notation::5":
        "inline '$ \\n 9 \\n $' = 9 (Math-Verify expects no match): TeX allows line breaks inside inline maths; only "
        "a blank line ends it",
    "test_all.py::test_latex_notation::6": "inline '\\( \\n 9 \\n \\)' = 9: as above",
    "test_all.py::test_latex_notation::9":
        "'\\frac{1}{2} \\$ = \\frac{10}{9}' vs 10/9: an equation between two numbers is not the value of its right "
        "side (answers_match is symmetric, and taken as the gold it would not accept 10/9)",
    "test_all.py::test_set_rel_assymetry::3":
        "gold 'x \\in [-2,7]' vs '-2 <= x <= 7' (Math-Verify: no match unless allow_set_relation_comp): "
        "answers_match is symmetric, and an interval equals the relation it solves in either order",
    "test_boxed.py::test_boxed::0":
        "'\\boxed{35 cm} ++++++ \\boxed{4}' = {35 cm, 4}: boxes separated by anything but connectors "
        "(',', 'and', 'or', spacing, a short label) are separate results, and the last one is the answer",
    "test_numina_cases.py::test_numina_cases::24":
        "an unclosed '\\boxed{W(n) = 1 \\text{ and } W(n) = -1' states no answer, and W(n) is not W(x)",
    "test_yujianll.py::test_string_extraction::9":
        "'1 - \\frac{1}{\\mathrm{e}}' vs '1 + \\frac{1}{\\mathrm{e}}' expected equal: they differ by 2/e",
}


def _cases() -> list[dict]:
    return [json.loads(line) for line in CASES.read_text().splitlines() if line]


def _grade(case: dict) -> int:
    gold = extract_answer(case["gold"], lenient=True) or case["gold"]
    pred = extract_answer(case["pred"], lenient=True) or case["pred"]
    return int(answers_match(pred, gold, timeout_s=10.0))


def test_math_verify_peer_agreement() -> None:
    cases = _cases()
    assert len(cases) >= 250
    with ThreadPoolExecutor(2) as pool:  # math-verify runs in worker subprocesses: two at a time
        grades = list(pool.map(_grade, cases))
    disagree = {c["id"] for c, g in zip(cases, grades) if g != c["expected"]}
    agreement = 1 - len(disagree) / len(cases)
    print(f"Math-Verify peer suite: {len(cases) - len(disagree)}/{len(cases)} = {agreement:.1%} agree")
    assert sorted(disagree - DELIBERATE.keys()) == []
    assert sorted(DELIBERATE.keys() - disagree) == []
    assert agreement >= 0.95
