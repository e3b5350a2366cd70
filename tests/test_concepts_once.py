"""Concepts defined once and used everywhere: the greedy-repeat rule of every engine (Sampling), answer grading of a
whole text, the embedded-model name, and the gold answers of GSM8K and MATH rows (the loaders use the graders' rule)."""

from __future__ import annotations

import json

import pytest

from critic.data import load_gsm8k, load_math
from critic.embedded import resolve_embedded
from critic.engines.base import Sampling
from critic.grading import grade_text, gsm8k_gold, math_gold


@pytest.mark.parametrize("n, temperature, distinct, copies", [
    (1, 0.0, 1, 1), (4, 0.0, 1, 4), (4, 0.7, 4, 1), (1, 1.0, 1, 1),
])
def test_greedy_samples_are_decoded_once_and_repeated(n, temperature, distinct, copies):
    sampling = Sampling(n=n, temperature=temperature)
    assert (sampling.distinct, sampling.copies) == (distinct, copies)
    assert sampling.distinct * sampling.copies == n
    assert sampling.greedy == (temperature == 0)


def test_no_engine_repeats_the_greedy_rule_itself():
    from pathlib import Path

    import critic.engines as engines

    for path in Path(engines.__file__).parent.glob("*.py"):
        if path.name != "base.py":  # where Sampling defines it
            assert "temperature == 0" not in path.read_text(), path.name


@pytest.mark.parametrize("text, gold, expected", [
    ("Step 1: 2 + 3 = 5. The answer is \\boxed{5}.", "5", ("5", True)),
    ("so the total is \\boxed{\\frac{1}{2}}", "0.5", ("\\frac{1}{2}", True)),
    ("The answer is \\boxed{7}.", "5", ("7", False)),
    ("no answer here at all", "5", (None, False)),
    ("The answer is \\boxed{5}.", None, ("5", False)),
])
def test_grade_text(text, gold, expected):
    assert grade_text(text, gold) == expected


def test_only_the_embedded_name_is_resolved():
    assert resolve_embedded("Qwen/Qwen2.5-7B-Instruct") == "Qwen/Qwen2.5-7B-Instruct"
    assert resolve_embedded("./runs/sft") == "./runs/sft"


def test_math_rows_without_an_answer_use_the_graders_gold_rule(tmp_path):
    solution = "The roots are $\\boxed{2}$ and $\\boxed{3}$."
    path = tmp_path / "m.jsonl"
    path.write_text(json.dumps({"problem": "roots?", "solution": solution}) + "\n")
    assert load_math(path)[0].answer == math_gold(solution) == "2, 3"  # both boxes, not only the last


def test_gsm8k_rows_use_the_graders_gold_rule(tmp_path):
    path = tmp_path / "train.jsonl"
    path.write_text(json.dumps({"question": "how many?", "answer": "1000 + 18 = 1018\n#### 1,018"}) + "\n")
    assert load_gsm8k(path, split="train")[0].answer == gsm8k_gold("#### 1,018") == "1018"
