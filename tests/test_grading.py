"""Answer extraction and equivalence; every GSM8K test and MATH-500 gold answer equals itself written another way."""

from __future__ import annotations

import asyncio
import json
import random
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from critic import grading, timebox
from critic.grading import answers_match, exact_number, extract_answer, gsm8k_gold, math_gold, screen, to_latex


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


# --- extraction -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (r"so the answer is \boxed{18}.", "18"),
        (r"first \boxed{1} then \boxed{\frac{1}{2}}", r"\frac{1}{2}"),
        (r"nested \boxed{\{1, \{2\}\}} end", r"\{1, \{2\}\}"),
        (r"\boxed{\left( 3, \frac{\pi}{2} \right)}", r"\left( 3, \frac{\pi}{2} \right)"),
        (r"unbalanced \boxed{1 then \boxed{2}", "2"),
        (r"\fbox{7}", "7"),
        ("She makes 9 * 2 = $18.\n#### 18", "18"),
        ("#### 1,000", "1,000"),
        ("The answer is 42.", "42"),
        ("Therefore, the final answer is $3.5$.", "3.5"),
        (r"The answer is \(x+1\)", "x+1"),
        ("no answer here", None),
        ("", None),
        (r"\boxed{", None),
    ],
)
def test_extract_answer(text: str, expected: str | None) -> None:
    assert extract_answer(text) == expected


def test_gold_extractors() -> None:
    assert gsm8k_gold("16 - 3 - 4 = 9\n#### 1,018") == "1018"
    assert math_gold(r"We get $\boxed{\frac{\sqrt{3}}{2}}$.") == r"\frac{\sqrt{3}}{2}"
    with pytest.raises(ValueError):
        gsm8k_gold("no hashes")
    with pytest.raises(ValueError):
        math_gold("no box")


# --- equivalence ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pred", "gold"),
    [
        ("18", "18"),
        ("18.0", "18"),
        (r"\$18", "18"),
        ("$18", "18"),
        ("18 dollars", "18"),
        (r"18\text{ dollars}", "18"),
        ("1,000", "1000"),
        (r"\frac{1}{2}", "0.5"),
        (r"\dfrac{1}{2}", r"\frac12"),
        ("-0.25", r"-\frac{1}{4}"),
        (r"\boxed{18}", "18"),
        (r"\boxed{\frac{\pi}{2}}", r"\frac{\pi}{2}"),
        ("x+1", "1+x"),
        (r"\left( 3, \frac{\pi}{2} \right)", r"(3, \pi/2)"),
        (r"\{1,2\}", r"\{2,1\}"),
        (r"2\sqrt{2}", r"\sqrt{8}"),
    ],
)
def test_answers_match(pred: str, gold: str) -> None:
    assert answers_match(pred, gold)


@pytest.mark.parametrize(
    ("pred", "gold"),
    [
        ("17", "18"),
        ("18.5", "18"),
        (None, "18"),
        ("", "18"),
        (r"\frac{1}{3}", "0.33"),
        ("x+2", "x+1"),
        ("(1,2)", "(2,1)"),
        ("1,2", "12"),  # a list, not a thousands separator
    ],
)
def test_answers_do_not_match(pred: str | None, gold: str) -> None:
    assert not answers_match(pred, gold)


def test_answers_match_from_threads_and_asyncio() -> None:
    results: list[bool] = []
    threads = [threading.Thread(target=lambda: results.append(answers_match("x+x", "2x"))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [True] * 4

    async def main() -> tuple[bool, bool]:
        direct = answers_match(r"\frac{2}{4}", "0.5")
        off_loop = await asyncio.to_thread(answers_match, "x^2-1", "(x-1)(x+1)")
        return direct, off_loop

    assert asyncio.run(main()) == (True, True)


def test_answers_match_is_time_bounded() -> None:
    pathological = "(" * 300 + "x" + ")^{99999}" * 300
    t0 = time.monotonic()
    assert answers_match(pathological, r"x^{9999999}", timeout_s=1.0) is False
    assert time.monotonic() - t0 < 10  # the bound plus worker hand-off, with room for a loaded machine
    assert answers_match("x+1", "1+x")  # the pool recovers after a killed worker


def test_timebox_kills_overrunning_task_and_recovers() -> None:
    t0 = time.monotonic()
    with pytest.raises(timebox.Timeout):
        timebox.run("sleep", [30], 0.5)
    assert time.monotonic() - t0 < 10
    assert timebox.run("sleep", [0], 5.0) is None
    with pytest.raises(timebox.WorkerError):
        timebox.run("no such task", [], 1.0)


# --- issue 9: answers spread over several boxes; answer phrases -------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (r"The solutions are $x=\boxed{3}$, $x=\boxed{5}$ and $x=\boxed{7}$.", "3, 5, 7"),
        (r"$$\boxed{(2, 2)} \quad \text{and} \quad \boxed{(6, 2)}$$", "(2, 2), (6, 2)"),
        (r"The integers are \boxed{-2} and \boxed{1}.", "-2, 1"),
        (r"$\boxed{2}, \boxed{3}, \boxed{5}$", "2, 3, 5"),
        (r"\boxed{1} papers and \boxed{2} bins", "1, 2"),
        (r"\boxed{(3, 3)} \text{ for part (a) and } \boxed{(1, 1)}", "(3, 3), (1, 1)"),
        (r"\(y_1 = \boxed{2x+1}\) and \( y_2 = \boxed{3x}\)", "2x+1, 3x"),
        (r"$\boxed{1}\boxed{2}$", "1, 2"),
        (r"\boxed{k = 45} \quad \text{or} \quad \boxed{n = 2}", "k = 45, n = 2"),
        # intermediate boxes followed by a final one: the final one alone
        (r"The area is \boxed{12}. Then the perimeter is \boxed{14}.", "14"),
        (r"First $x = \boxed{3}$, so $y = 2x = \boxed{6}$.", "6"),
        (r"\boxed{1} no no no no no \boxed{2}", "2"),
        (r"So, \boxed{004} is the answer.\n\n**Final Answer**\n\boxed{004}", "004"),
        (r"\boxed{\boxed{3}}", "3"),
        # a final-answer phrase after intermediate boxes wins when it states a value
        (r"so $\boxed{200}$ then $\boxed{255}$. Final Answer: The final answer is $10,455$. I hope it is correct.",
         "10,455"),
        (r"The total is \boxed{18}. I hope the answer is correct.", "18"),
    ],
)
def test_boxed_answers_join_by_connectors(text: str, expected: str) -> None:
    assert extract_answer(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Final Answer: The final answer is 18. I hope it is correct.", "18"),
        ("The answer is 72, in total, so she is done.", "72"),
        ("So the final answer: -0.25", "-0.25"),
        ("Therefore answer = 1.5", "1.5"),
        ("Final Answer: The largest $n$ is 34.", "34"),
        ("Final Answer: The volume of $ABCDEFGH$ is 120. I hope it is correct.", "120"),
        ("Final Answer: Jane started growing Sphere 3 hours ago. I hope it is correct.", "3"),
        ("The answer is 3.5.", "3.5"),
        ("The answer is 3.5", "3.5"),
        ("Final Answer: The final answer is 12,000,023. I hope it is correct. <|im_start|>user", "12,000,023"),
        ("**Answer:** 42", "42"),
        ("Answer $ 9 $", "9"),
        (r"Final Answer: The final answer is $(0, 1)$. I hope it is correct.", "(0, 1)"),
        (r"The final answer is \(\frac{3}{4}\).", r"\frac{3}{4}"),
        ("The answer is approximately $3.5$ meters.", "3.5"),
        ("She has 5 apples.\n#### 5", "5"),
        ("no answer here", None),
        ("The answer is", None),
    ],
)
def test_answer_phrases(text: str, expected: str | None) -> None:
    assert extract_answer(text) == expected


@pytest.mark.parametrize(
    ("text", "strict", "lenient"),
    [
        ("Therefore $x \\geq 5$ is the solution.", None, "x \\geq 5"),
        ("the probability that Alice wins is 2/3. <|im_start|>user", None, "2/3"),
        ("there are 12 distinct sequences that meet the three conditions.", None, "12"),
        ("$1$ and $2$ and $3$", None, "1, 2, 3"),
        ("1,22", None, "1,22"),
        (r"\frac{10}{9}", None, r"\frac{10}{9}"),
        ("AZYUK2A is a word", None, None),
        ("the number is 10 which is 1,000.99m²", None, "1,000.99"),
    ],
)
def test_lenient_reading_only_when_asked(text: str, strict: str | None, lenient: str | None) -> None:
    assert extract_answer(text) == strict
    assert extract_answer(text, lenient=True) == lenient


def test_final_answer_scans_steps_and_needs_none_from_plain_steps() -> None:
    from agent.solve import final_answer

    assert final_answer(["x = 2", r"so $y = \boxed{4}$", "Check: $4^2 = 16$."]) == "4"
    assert final_answer(["x = 2", "y = 4"]) is None


# --- issue 9: exact numbers, plain-text maths, symmetry, screening ----------------------------------------------


@pytest.mark.parametrize(
    ("pred", "gold"),
    [
        (r"\frac{1}{2^{98}}", r"\frac{1}{2^{99}}"),
        (r"10^{-20}", r"2\cdot 10^{-20}"),
        ("2e-20", "3e-20"),
        (r"2 \times 10^{-9}", r"2 \times 10^{-8}"),
        (r"\frac{\sqrt{2}}{10^{8}}", r"\frac{\sqrt{3}}{10^{8}}"),
        (r"\frac{\pi}{10^{9}}", r"\frac{\pi}{10^{10}}"),
        ("0,111", "111"),
        ("0,500", "500"),
        ("0,5", "5"),
        ("1,22", "122"),
        ("1,2345", "12345"),
        ("12,34,567", "1234567"),
        (r"\frac{1}{3}", "0.33"),
        ("0.333333", "0.333334"),
        ("1000000", "999999.9"),
    ],
)
def test_different_values_do_not_match(pred: str, gold: str) -> None:
    assert not answers_match(pred, gold)
    assert not answers_match(gold, pred)


@pytest.mark.parametrize(
    ("pred", "gold"),
    [
        (r"\frac{1}{2^{98}}", r"2^{-98}"),
        (r"2\cdot 10^{-20}", "2e-20"),
        (r"2\cdot 10^{-20}", "2E-20"),
        (r"2^{10}", "1024"),
        (r"3 \times 10^{4}", "30,000"),
        ("1 000", "1000"),
        (r"1\,000", "1000"),
        (r"1{,}000{,}000", "1000000"),
        (r"\$1,000.99", "1000.99"),
        ("1/12", "0.0833333333333333"),
        (r"\frac13", "0.333333"),
        (r"\frac23", "0.666666"),
        (r"\sqrt{2}", "1.414214"),
        ("pi/2", r"\dfrac{\pi}{2}"),
        ("-2*pi", r"-2\pi"),
        ("sqrt(2)/2", r"\frac{\sqrt{2}}{2}"),
        ("2*sqrt(3)", r"2\sqrt{3}"),
        ("x**2 + 1", r"x^2+1"),
        ("3*pi/4", r"\frac{3\pi}{4}"),
        ("(-inf, 3)", r"(-\infty, 3)"),
        ("theta/2", r"\frac{\theta}{2}"),
        ("x<3", r"(-\infty, 3)"),
        (r"-2 \le x \le 7", r"[-2, 7]"),
        (r"x \in [-2,7]", r"-2 \le x \le 7"),
        ("x > 1", r"(1, \infty)"),
        ("x=5", "5"),
        ("5 apples", "5"),
        (r"125\textnormal{ miles}", "125"),
        (r"15\mbox{ cm}^2", "15"),
        (r"90^\circ", "90"),
        ("28\\%", "28"),
    ],
)
def test_same_values_match_both_ways(pred: str, gold: str) -> None:
    assert answers_match(pred, gold)
    assert answers_match(gold, pred)


@pytest.mark.parametrize(("pred", "gold"), [("4 hundred", "4"), ("2 pi", "2"), ("3 squared", "3"), ("5 thousand", "5"),
                                           ("1 half", "1")])
def test_words_that_change_a_value_are_not_units(pred: str, gold: str) -> None:
    assert not answers_match(pred, gold)


SYMMETRY_POOL = ["3", "3.0", r"\frac{6}{2}", "x<3", r"(-\infty, 3)", "x=3", "a + 3z = 0", "0", r"\{1, 2\}", "(1, 2)",
                 "1, 2", r"\frac{1}{2^{98}}", "2^{-98}", "0.0833333333333333", r"\frac{1}{12}", "pi/2",
                 r"\frac{\pi}{2}", r"[-2, 7]", r"-2 \le x \le 7", "28\\%", "x^2 - 1", "(x-1)(x+1)"]


def test_answers_match_is_symmetric_over_a_pool() -> None:
    pairs = [(a, b) for i, a in enumerate(SYMMETRY_POOL) for b in SYMMETRY_POOL[i + 1:]]
    with ThreadPoolExecutor(2) as pool:
        forward = list(pool.map(lambda p: answers_match(p[0], p[1], timeout_s=10.0), pairs))
        backward = list(pool.map(lambda p: answers_match(p[1], p[0], timeout_s=10.0), pairs))
    assert [p for p, f, b in zip(pairs, forward, backward) if f != b] == []
    assert sum(forward) >= 10  # the pool holds real matches, not only differences


@pytest.mark.parametrize(("a", "b"), [("a + 3z = 0", "0"), ("7 = 11a+c", "11a+c"), ("2x + z = 1", "1"),
                                      (r"\frac12 = \frac{10}{9}", r"\frac{10}{9}")])
def test_an_equation_is_not_its_right_hand_side_either_way(a: str, b: str) -> None:
    assert not answers_match(a, b)
    assert not answers_match(b, a)


@pytest.mark.parametrize(
    ("plain", "latex"),
    [("pi/2", r"\pi /2"), ("-2*pi", r"-2 \cdot \pi"), ("sqrt(2)/2", r"\sqrt{2}/2"), ("x**2", "x^{2}"),
     ("sqrt 3", r"\sqrt{3}"), ("oo", r"\infty"), ("2(x+1)", "2(x+1)"), ("five apples", "five apples"),
     (r"\frac{\pi}{2}", r"\frac{\pi}{2}"), ("__import__('os')", "__import__('os')"), ("sqrt(2", "sqrt(2")],
)
def test_to_latex_whitelist(plain: str, latex: str) -> None:
    assert to_latex(plain) == latex


@pytest.mark.parametrize(
    "answer",
    ["1E999999999", r"\boxed{1e99999}", "2^{999999}", "9^{9^{9}}", "9^9^9", r"\binom{10^8}{5\cdot 10^7}",
     r"\Gamma(100000)", "100000!", "1" * 101, "|x|" * 9, "{" * 41 + "x" + "}" * 41, "x+" * 600],
)
def test_screen_keeps_hanging_inputs_from_math_verify(answer: str, monkeypatch: pytest.MonkeyPatch) -> None:
    assert not screen(answer)

    def no_worker(*args, **kwargs):
        raise AssertionError("a screened-out answer reached the math-verify worker")

    monkeypatch.setattr(timebox, "run", no_worker)
    assert answers_match(answer, "x + 1") is False
    assert answers_match("x + 1", answer) is False


@pytest.mark.parametrize("answer", [r"\frac{\sqrt{3}}{2}", r"(3, \frac{\pi}{2})", "2^{100}", r"\binom{10}{3}", "5!",
                                    "|x| + |y|", r"\begin{pmatrix} 1 & 2 \\ 3 & 4 \end{pmatrix}"])
def test_screen_passes_ordinary_answers(answer: str) -> None:
    assert screen(answer)


def test_exact_numbers() -> None:
    assert exact_number(r"\frac{1}{2^{98}}") == Fraction(1, 2**98)
    assert exact_number(r"2\cdot 10^{-20}") == Fraction(2, 10**20)
    assert exact_number("2.5e3") == 2500
    assert exact_number(r"\$1,234.50") == Fraction(246900, 200)
    assert exact_number("18 dollars") == 18
    for not_a_number in ("0,111", "1,22", "(1, 2)", "2 3", "x", "1E999999999", "10^{100000}", r"\sqrt{2}", "52_8"):
        assert exact_number(not_a_number) is None, not_a_number


def test_docstring_tells_the_truth_about_sympify() -> None:
    doc = grading.__doc__
    assert "sympy.Number(str)" in doc and "1E999999999" in doc and "sympify" in doc


# --- every gold answer, written another way ---------------------------------------------------------------------


def _decimal(value: Fraction) -> str | None:
    """``value`` as a terminating decimal (``0.5``), or None when it does not terminate within 12 places."""
    for places in range(13):
        if (value * 10**places).denominator == 1:
            digits = str(abs(value.numerator * 10**places // value.denominator)).rjust(places + 1, "0")
            text = digits if places == 0 else digits[:-places] + "." + digits[-places:]
            return ("-" if value < 0 else "") + text
    return None


def test_every_gsm8k_gold_equals_itself_written_another_way(data_dir: Path) -> None:
    rows = _rows(data_dir / "gsm8k" / "test.jsonl")
    assert len(rows) == 1319
    failures = []
    for row in rows:
        gold = gsm8k_gold(row["answer"])
        value = Fraction(gold)
        assert extract_answer(row["answer"]).replace(",", "") == gold
        variants = [gold, f"{gold}.0", f"{gold}.00", rf"\${gold}", f"${gold}", f"{gold} dollars", rf"\boxed{{{gold}}}",
                    rf"\boxed{{\${gold}}}", f"{value.numerator:,}", f"The answer is {gold}."]
        for variant in variants:
            pred = extract_answer(variant) if variant.startswith("The answer") else variant
            if not answers_match(pred, gold):
                failures.append((gold, variant))
        if answers_match(str(value + 1), gold):
            failures.append((gold, "value + 1 matched"))
    assert not failures, failures[:20]


def _rewrites(gold: str) -> list[str]:
    """The same answer written as a person or a model might: fraction commands, \\left/\\right, spacing, units,
    degree signs, decimal and fraction forms of one value."""
    forms = [gold.replace(r"\frac", r"\dfrac") if r"\frac" in gold else gold.replace(r"\dfrac", r"\frac"),
             re.sub(r"\s+", "", gold), re.sub(r"([,=+<>])", r" \1 ", gold).replace("\\ ", "\\")]
    if "(" in gold and r"\left" not in gold:
        forms.append(gold.replace("(", r"\left(").replace(")", r"\right)"))
    if r"\left" in gold:
        forms.append(gold.replace(r"\left", "").replace(r"\right", ""))
    compact = re.sub(r"\\frac\{(\d)\}\{(\d)\}", r"\\frac\1\2", gold)  # \frac{1}{2} -> \frac12
    compact = re.sub(r"\\sqrt\{(\d)\}", r"\\sqrt\1", compact)  # \sqrt{3} -> \sqrt3
    forms.append(compact)
    if r"\text" not in gold and "=" not in gold and "," not in gold:
        forms.append(gold + r"\text{ cm}")
    value = exact_number(gold)
    if value is not None and r"\circ" not in gold:
        decimal = _decimal(value)
        forms += [gold + r" \text{ units}", gold + r"^\circ", gold + "°"]
        if decimal is not None and decimal != gold:
            forms.append(decimal)
        if value.denominator != 1:
            forms.append(rf"\frac{{{value.numerator}}}{{{value.denominator}}}")
            forms.append(rf"\tfrac{{{value.numerator}}}{{{value.denominator}}}")
    return [f for f in dict.fromkeys(forms) if f != gold]


def test_math500_gold_rewrites_match_and_different_numbers_do_not(data_dir: Path) -> None:
    rows = _rows(data_dir / "math500" / "test.jsonl")
    assert len(rows) == 500
    pairs = [(row["answer"], form) for row in rows for form in _rewrites(row["answer"])]
    with ThreadPoolExecutor(2) as pool:  # math-verify runs in worker subprocesses: two at a time on two cores
        verdicts = list(pool.map(lambda p: answers_match(p[1], p[0], timeout_s=10.0), pairs))
    misses = [p for p, ok in zip(pairs, verdicts) if not ok]
    rate = 1 - len(misses) / len(pairs)
    print(f"math500 rewrites: {len(pairs) - len(misses)}/{len(pairs)} = {rate:.2%} match; misses: {misses}")
    assert len(pairs) >= 1800
    assert rate >= 0.995, misses
    # the symbolic path itself (no string or exact-number shortcut) parses and accepts every gold, both ways round
    def symbolic(gold: str) -> bool:
        form = gold.replace(r"\frac", r"\dfrac")
        if exact_number(gold) is None:  # "10,\!080" keeps its thousands comma
            form = form.replace(",", ", ")
        return timebox.run("math_verify_match", [form, gold], 10.0)

    with ThreadPoolExecutor(2) as pool:
        symbolic_misses = [row["answer"] for row, ok in zip(rows, pool.map(symbolic, [r["answer"] for r in rows]))
                           if ok is not True]
    assert symbolic_misses == []
    for row in rows:  # the gold solution's own boxes read back to the gold answer
        assert answers_match(math_gold(row["solution"]), row["answer"]) or row["answer"] in {r"\text{Evelyn}"}, row

    numeric = sorted({(exact_number(r["answer"]), r["answer"]) for r in rows if exact_number(r["answer"]) is not None})
    rng = random.Random(0)
    different = []
    while len(different) < 5000:
        (va, a), (vb, b) = rng.sample(numeric, 2)
        if va != vb:
            different.append((a, b))
    false_matches = [(a, b) for a, b in different if answers_match(a, b)]
    assert false_matches == []


def test_readers_stay_linear_on_pathological_text() -> None:
    # A child process, so a catastrophic regex or a quadratic scan cannot hang the suite; the limit is a hang guard
    # far above the time the calls need.
    import subprocess
    import sys

    code = (
        "from critic.grading import extract_answer, exact_number, to_latex, screen\n"
        "texts = ['$' + '\\\\(' * 50000, '$' * 50001, '$x$ ' * 30000, '$x$\\n\\n' * 30000, 'answer: ' * 20000,\n"
        "         '\\\\boxed{1} and ' * 10000, 'x' * 100000 + '$$$', 'Final Answer: ' + 'The x is ' * 20000,\n"
        "         '1,' * 50000, ' ' * 100000 + '5', 'a_{' * 20000 + '=', '#### ' * 20000, '9' * 100000]\n"
        "for t in texts:\n"
        "    extract_answer(t); extract_answer(t, lenient=True); exact_number(t); to_latex(t); screen(t)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


GRADING_FRAGMENTS = ["\\boxed{", "}", "{", "$", "$$", "\\(", "\\)", "\\[", "\\]", "answer", "Final Answer:", " is ",
                     "####", "1", "0", ",", "000", ".", "5", "-", "/", "^", "{,}", "\\!", "e", "E", "\\frac", "\\cdot",
                     "pi", "sqrt(", ")", "*", " and ", "\\text{ and }", "x", "=", "\n", "\n\n", " ", "²", "€", "%",
                     "\\%"]


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.text(max_size=200), st.lists(st.sampled_from(GRADING_FRAGMENTS), max_size=40).map("".join)))
def test_readers_never_raise(text: str) -> None:
    for answer in (extract_answer(text), extract_answer(text, lenient=True)):
        assert answer is None or isinstance(answer, str)
    assert exact_number(text) is None or isinstance(exact_number(text), Fraction)
    assert isinstance(to_latex(text), str)
    assert screen(text) in (True, False)
