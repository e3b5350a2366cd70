"""Answer extraction and equivalence; every GSM8K test and MATH-500 gold answer equals itself written another way."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction
from pathlib import Path

import pytest

from critic import timebox
from critic._safe_math import format_value, parse_plain_number
from critic.grading import answers_match, extract_answer, gsm8k_gold, math_gold


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


# --- every gold answer, written another way ---------------------------------------------------------------------


def _numeric_variants(gold: str) -> list[str]:
    value = parse_plain_number(gold)
    if value is None:
        return []
    out = [format_value(value), f"{value.numerator}/{value.denominator}" if value.denominator != 1 else
           f"{value.numerator}.0"]
    if value.denominator == 1 and abs(value) >= 1000:
        out.append(f"{value.numerator:,}")
    return out


def test_every_gsm8k_gold_equals_itself_written_another_way(data_dir: Path) -> None:
    rows = _rows(data_dir / "gsm8k" / "test.jsonl")
    assert len(rows) == 1319
    t0 = time.monotonic()
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
    elapsed = time.monotonic() - t0
    print(f"gsm8k: {len(rows)} golds x 11 forms in {elapsed:.2f} s")
    assert not failures, failures[:20]


def test_every_math500_gold_equals_itself_written_another_way(data_dir: Path) -> None:
    rows = _rows(data_dir / "math500" / "test.jsonl")
    assert len(rows) == 500
    t0 = time.monotonic()
    failures = []
    for row in rows:
        gold = row["answer"]
        boxed = math_gold(row["solution"])
        forms = [boxed, rf"\boxed{{{gold}}}", f"${gold}$", f"The final answer is $\\boxed{{{gold}}}$.",
                 gold.replace(r"\frac", r"\dfrac").replace(",", ", ")] + _numeric_variants(gold)
        for form in forms:
            pred = extract_answer(form) if form.startswith("The final") else form
            if not answers_match(pred, gold):
                failures.append((gold, form))
        value = parse_plain_number(gold)
        if value is not None and answers_match(format_value(value + 1), gold):
            failures.append((gold, "value + 1 matched"))
    fast = time.monotonic() - t0

    # the symbolic path itself, for every gold: math-verify in the worker pool (two threads, two workers)
    def symbolic(gold: str) -> bool:
        return timebox.run("math_verify_match", [gold.replace(r"\frac", r"\dfrac"), gold], 10.0)

    t1 = time.monotonic()
    with ThreadPoolExecutor(2) as pool:
        verdicts = list(pool.map(symbolic, [row["answer"] for row in rows]))
    failures += [(row["answer"], "math-verify") for row, ok in zip(rows, verdicts) if ok is not True]
    print(f"math500: fast path {fast:.2f} s, math-verify on all {len(rows)} golds {time.monotonic() - t1:.2f} s")
    assert not failures, failures[:20]
