"""The SymPy tool: which claims it checks, which it leaves alone, and what evidence it gives."""

from __future__ import annotations

import pytest

from critic.records import StepCheck
from critic.verify import check_step, check_steps

CORRECT = [
    "Janet sells 16 - 3 - 4 = 9 duck eggs a day.",
    "The increase is 80,000*1.5=120,000",
    r"She makes $2 \times 9 = \$18$ every day.",
    "He has 3 x 4 = 12 apples.",
    "She makes 9 * 2 = $<<9*2=18>>18 every day at the farmer's market.",
    "The discount is 20% of 50 = 10 dollars.",
    r"Adding, \(\frac{1}{2}+\frac{1}{3}=\frac{5}{6}\).",
    r"\[ \frac{3}{4} \cdot 8 = 6 \]",
    r"\[ 12 \div 4 = 3 \]",
    r"We get $2^{10} = 1024$.",
    r"So $\sqrt{16} + \sqrt[3]{27} = 7$.",
    r"$\dfrac{6}{4} = 1.5$",
    "Solving 6x = 180 gives x = 30.",
    "2x + 3 = 9, so x = 3.",
    "We have x = 180/6 = 30.",
    "The total is 2(3 + 4) = 14.",
    "That is 5! = 120 arrangements.",
    r"$\binom{5}{2} = 10$",
    r"$\sqrt{8} = 2\sqrt{2}$",
    "2 bags + 4 bags = 6 bags.",
    "180 minutes (before dinner) + 80 minutes (homework) = 260 minutes.",
    r"\[ 2 \text{ months} \times \$12/\text{month} = \$24 \]",
    "0.2 * 100 = 20% of them were there, 0.2 * 100 = 20%.",
    "3 + 4 = 7 and 7 * 2 = 14.",
    "A chain: 2 * 3 + 1 = 6 + 1 = 7.",
    r"\begin{align*} x &= 3 + 4 \\ &= 7 \end{align*}",
    "Steps: 1,000 + 2,500 = 3,500 steps.",
    r"$(-3)^2 = 9$ and $-3^2 = -9$",
    "2 × 3 = 6 and 8 ÷ 2 = 4 and 10 − 7 = 3.",
]

WRONG = [
    ("Janet sells 16 - 3 - 4 = 8 duck eggs a day.", "9"),
    ("The increase is 80,000*1.5=110,000", "120000"),
    (r"She makes $2 \times 9 = \$20$ every day.", "18"),
    ("He has 3 x 4 = 13 apples.", "12"),
    ("She makes 9 * 2 = $<<9*2=19>>19 every day.", "18"),
    ("The discount is 20% of 50 = 15 dollars.", "10"),
    (r"\(\frac{1}{2}+\frac{1}{3}=\frac{2}{5}\)", "5/6"),
    (r"We get $2^{10} = 1000$.", "1024"),
    ("10 / 4 = 2.4", "2.5"),
    (r"$\sqrt{8} = 3\sqrt{2}$", "2*sqrt(2) ≈ 2.828427125"),
    ("2 * 3 + 1 = 6 + 1 = 8.", "7"),
    ("$4.20 + $9.45 + $1.35 = $14.99 in total.", "15"),
]

AMBIGUOUS = [
    "10/3 = 3.33 per person",  # rounded to the decimals shown
    "10/3 = 3 full boxes",  # floor the text may intend
    "1/3 ≈ 0.3",  # approximation
    "That is about 1000 / 3 = 300 each.",  # "about"
    "half of 10 + 4 = 9",  # "half of" belongs to the expression
    "1 hour = 60 minutes",  # a unit conversion, not arithmetic
    "Day 1 = 5 pages",  # a label
    "5 apples - 3 = 2",  # the word cuts the expression
    "1.5 million * 2 = 3 million",  # scale word
    "17 mod 5 = 2",
    r"$\binom{6}{2} = 15$ but $C(6, 2) = 15$",  # function notation we cannot read is skipped, not misread
    "f(3) = 10",
    "3:30 - 2:00 = 1:30",  # times of day
    r"$2\frac{1}{2} = 2.5$",  # a mixed number, not 2 * 1/2
    "- 3 + 4 = 7\n- 5 + 1 = 6",  # list bullets, not minus signs
    "x + y = 10",  # unknowns we cannot bind
    "2x + 3x = 5x = 25",
    "The number of eggs is three times four = twelve.",  # prose numbers
    "If x = 2 then 3x = 6, and if x = 3 then 3x = 9.",  # cases
    "2 hours + 30 minutes = 150 minutes",  # mixed units
    "2 \\times 24 = 48 + 2 = 50",  # a running total, sloppy but not a contradiction
    "The answer is 3 + 4 = 7!",  # factorial or exclamation
    "",
    "No numbers here at all.",
]


@pytest.mark.parametrize("text", CORRECT)
def test_correct_claims_are_ok(text: str) -> None:
    check = check_step(text)
    assert check.verdict == "ok", check
    assert check.evidence and all(e.ok for e in check.evidence)


@pytest.mark.parametrize(("text", "expected"), WRONG)
def test_wrong_claims_are_wrong_with_evidence(text: str, expected: str) -> None:
    check = check_step(text, step1=3)
    assert check.verdict == "wrong", check
    assert check.is_finding and check.step1 == 3
    bad = [e for e in check.evidence if not e.ok]
    assert bad and bad[0].expected == expected


@pytest.mark.parametrize("text", AMBIGUOUS)
def test_ambiguous_claims_are_never_wrong(text: str) -> None:
    check = check_step(text)
    assert check.verdict != "wrong", check
    assert not any(not e.ok for e in check.evidence)


def test_evidence_content() -> None:
    check = check_step("Janet sells 16 - 3 - 4 = 8 duck eggs.")
    (ev,) = check.evidence
    assert ev.claim == "16 - 3 - 4 = 8"
    assert ev.expected == "9"
    assert ev.stated == "8"
    assert ev.ok is False


def test_fraction_and_decimal_evidence_formats() -> None:
    (ev,) = check_step(r"\(\frac{1}{2}+\frac{1}{3}=\frac{2}{5}\)").evidence
    assert (ev.expected, ev.stated) == ("5/6", r"\frac{2}{5}")
    (ev,) = check_step("10 / 4 = 2.4").evidence
    assert (ev.expected, ev.stated) == ("2.5", "2.4")


def test_linear_equation_evidence() -> None:
    check = check_step("Solving 6x = 180 we get x = 20.")
    assert check.verdict == "wrong"
    (ev,) = check.evidence
    assert ev.expected == "x = 30" and ev.stated == "x = 20"
    assert "6x = 180" in ev.claim


def test_ok_needs_every_claim_to_check_out() -> None:
    assert check_step("3 + 4 = 7 and 10/3 = 3.33").verdict == "unchecked"  # one claim checks, one is rounded
    assert check_step("3 + 4 = 7 and 2 + 2 = 5").verdict == "wrong"


def test_percent_reads_either_way() -> None:
    assert check_step("100% - 20% = 80%").verdict == "ok"
    assert check_step("100 - 20% = 80").verdict == "ok"
    assert check_step("50 * 20% = 10").verdict == "ok"
    assert check_step("50 * 20% = 15").verdict == "wrong"


def test_check_steps_one_per_step_one_based() -> None:
    steps = [
        "Janet's ducks lay 16 eggs per day.",
        "She uses 3 + 4 = 7 eggs.",
        "She sells 16 - 7 = 8 eggs.",
        "She makes 9 * 2 = $18.",
    ]
    checks = check_steps("Janet's ducks ...", steps)
    assert [c.step1 for c in checks] == [1, 2, 3, 4]
    assert [c.verdict for c in checks] == ["unchecked", "ok", "wrong", "ok"]
    assert all(isinstance(c, StepCheck) for c in checks)
    first_wrong = next(c.step1 for c in checks if c.is_finding)
    assert first_wrong == 3


def test_check_steps_empty() -> None:
    assert check_steps("p", []) == []


def test_non_string_and_oversized_input_are_unchecked() -> None:
    assert check_step(None).verdict == "unchecked"  # type: ignore[arg-type]
    assert check_step("1 + 1 = 3 " * 5000).verdict == "unchecked"


# ---------------------------------------------------------------------------------------------------------------
# The hard per-solution bound: check_steps runs in a critic.timebox worker


MIXED_STEPS = [
    "Janet sells 16 - 3 - 4 = 8 duck eggs a day.",
    r"So \(\sqrt{8} = 3\sqrt{2}\).",
    r"Expanding, we get \((x+1)(x^2-x+1) = x^3 - 1\).",
    "No numbers here.",
    "3 + 4 = 7",
]


def test_check_steps_in_the_worker_equals_the_in_process_checks() -> None:
    in_worker = check_steps("p", MIXED_STEPS)
    in_process = [check_step(text, i + 1) for i, text in enumerate(MIXED_STEPS)]
    assert in_worker == in_process
    assert [c.verdict for c in in_worker] == ["wrong", "wrong", "wrong", "unchecked", "ok"]


def test_check_steps_past_its_bound_kills_the_worker_and_keeps_the_rational_checks(monkeypatch) -> None:
    import critic.verify as verify

    # a solution that takes the worker far longer than its (shrunk) bound: 300 steps of SymPy work
    slow = [r"\(\sin 20^\circ \cos 40^\circ \tan 50^\circ = \frac{\sqrt{3}}{8} = \sqrt[3]{7} - 1\)"] * 300
    monkeypatch.setattr(verify, "solution_bound_s", lambda n: 0.05)
    checks = check_steps("p", MIXED_STEPS + slow)
    # the rational path still finds the arithmetic slip; what needs SymPy is left unchecked, never guessed
    assert [c.verdict for c in checks[:5]] == ["wrong", "unchecked", "unchecked", "unchecked", "ok"]
    assert len(checks) == 305 and {c.verdict for c in checks[5:]} == {"unchecked"}
    monkeypatch.undo()
    assert check_steps("p", MIXED_STEPS[1:2])[0].verdict == "wrong"  # the pool replaced the killed worker


def test_check_steps_accepts_odd_inputs() -> None:
    assert check_steps("p", []) == []
    assert [c.verdict for c in check_steps(None, [None, "1 + 1 = 2"])] == ["unchecked", "ok"]  # type: ignore[list-item]
