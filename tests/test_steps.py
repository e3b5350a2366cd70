"""critic.steps: index conversion (the only one), numbering, joining, splitting - on fixtures and every benchmark
row."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from critic.data import load_mr_gsm8k, load_processbench
from critic.steps import (
    join_steps,
    label0_to_step1,
    number_steps,
    split_steps,
    starts_with_step_prefix,
    step1_to_label0,
    strip_step_prefix,
)

BENCHMARK_FILES = [
    "processbench/gsm8k.json",
    "processbench/math.json",
    "processbench/olympiadbench.json",
    "processbench/omnimath.json",
    "mr-gsm8k/processed_test.json",
]


def test_label_conversion_examples():
    assert label0_to_step1(-1) == -1
    assert label0_to_step1(0) == 1
    assert label0_to_step1(4) == 5
    assert step1_to_label0(-1) == -1
    assert step1_to_label0(1) == 0
    assert step1_to_label0(5) == 4


@pytest.mark.parametrize("bad", [-2, -7])
def test_label0_rejects_below_minus_one(bad):
    with pytest.raises(ValueError):
        label0_to_step1(bad)


@pytest.mark.parametrize("bad", [0, -2])
def test_step1_rejects_zero_and_below_minus_one(bad):
    with pytest.raises(ValueError):
        step1_to_label0(bad)


@given(st.integers(min_value=-1, max_value=10**6))
def test_label_round_trip_any(label0):
    assert step1_to_label0(label0_to_step1(label0)) == label0


def test_starts_with_prefix_is_about_the_start_not_containment():
    assert starts_with_step_prefix("Step 2: add them", 2)
    assert starts_with_step_prefix("**Step 2:** add them", 2)
    assert not starts_with_step_prefix("Step 1: add them", 2)
    assert not starts_with_step_prefix("We now do Step 2: add them", 2)


def test_number_steps_adds_prefix_once():
    assert number_steps(["a", "Step 2: b", "Step 2: c"]) == ["Step 1: a", "Step 2: b", "Step 3: Step 2: c"]
    assert number_steps(["  padded  "]) == ["Step 1: padded"]


def test_join_steps_blank_line_separated():
    assert join_steps(["x = 1", "y = 2"]) == "Step 1: x = 1\n\nStep 2: y = 2"
    assert join_steps([]) == ""


def test_strip_step_prefix():
    assert strip_step_prefix("Step 3: compute") == "compute"
    assert strip_step_prefix("### Step 3. compute") == "compute"
    assert strip_step_prefix("no prefix") == "no prefix"


def test_split_steps_markers_and_paragraphs():
    text = "Let me think.\nStep 1: a = 2\nStep 2: b = 3\n\nso b = 3\nStep 3: done"
    assert split_steps(text) == ["a = 2", "b = 3\n\nso b = 3", "done"]
    assert split_steps("first para\n\nsecond para\n  \nthird") == ["first para", "second para", "third"]
    assert split_steps("   ") == []


def test_split_inverts_join_for_plain_steps():
    steps = ["Compute 2 + 2 = 4.", "Then 4 * 3 = 12.\nSo the total is 12.", "The answer is \\boxed{12}."]
    assert split_steps(join_steps(steps)) == steps


def test_fixture_rows_round_trip(fixtures_dir):
    rows = load_processbench(fixtures_dir / "processbench_gsm8k.json") + load_mr_gsm8k(fixtures_dir / "mr_gsm8k.json")
    for row in rows:
        assert step1_to_label0(label0_to_step1(row.label0)) == row.label0


def _doubled(numbered: str, step1: int) -> bool:
    return re.match(rf"\s*Step\s*{step1}\s*[:.)]\s*(?:\*\*)?\s*Step\s*{step1}\s*[:.)]", numbered,
                    re.IGNORECASE) is not None


@pytest.mark.parametrize("relpath", BENCHMARK_FILES)
def test_every_benchmark_row_round_trips_and_numbers_cleanly(data_dir, relpath):
    path = data_dir / relpath
    rows = load_mr_gsm8k(path) if relpath.startswith("mr-gsm8k") else load_processbench(path)
    assert rows
    mismatches, doubled = [], []
    for row in rows:
        step1 = label0_to_step1(row.label0)
        if step1_to_label0(step1) != row.label0 or (row.label0 >= 0) != (step1 >= 1):
            mismatches.append(row.id)
        numbered = number_steps(row.steps)
        assert len(numbered) == len(row.steps)
        for i, (text, original) in enumerate(zip(numbered, row.steps), 1):
            if _doubled(text, i):
                doubled.append((row.id, i))
            # The original text is always kept in full after the prefix (numbering never rewrites a step).
            assert text.endswith(original.strip())
    assert mismatches == []
    assert doubled == []


def test_mr_gsm8k_steps_are_kept_verbatim(data_dir):
    for row in load_mr_gsm8k(data_dir / "mr-gsm8k" / "processed_test.json"):
        assert number_steps(row.steps) == [s.strip() for s in row.steps], row.id


def test_split_steps_survives_decoration_runs():
    # Runs in a child process so a catastrophic regex cannot hang the suite (re does not yield to signals); the
    # limit is a hang guard, far above the milliseconds the call needs.
    code = (
        "from critic.steps import split_steps, strip_step_prefix\n"
        "for t in ['*' * 5000 + 'x', '#' * 5000, ' ' * 50000 + 'x', ('**' + '_' * 40) * 100]:\n"
        "    split_steps(t); strip_step_prefix(t)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=20)


# --- issue 9: step markers of every common shape, a lone prefilled marker, no doubled headings ------------------


@pytest.mark.parametrize(
    "marker",
    ["Step {i}:", "**Step {i}**:", "**Step {i}:**", "## Step {i}\n", "### Step {i}:", "Step {i} -", "Step {i}.",
     "Step {i} \u2014", "__Step {i}__:", "> **Step {i}**:", "STEP {i}:"],
)
def test_split_steps_reads_every_marker_shape(marker):
    bodies = ["Add 3 and 4 to get 7.", "Multiply 7 by 2 to get 14.", "So the answer is \\boxed{14}."]
    for sep in ("\n\n", "\n"):
        text = "Let me solve this.\n" + sep.join(marker.format(i=i) + " " + b for i, b in enumerate(bodies, 1))
        assert split_steps(text) == bodies, (marker, sep)


def test_split_steps_issue_cases():
    assert split_steps("Step 1: a = 2\n\n**Step 2**: b = 3\n\n**Step 3**: done") == ["a = 2", "b = 3", "done"]
    assert split_steps("**Step 1**: a\n**Step 2**: b") == ["a", "b"]
    assert split_steps("## Step 1\nRead.\n\n## Step 2\nSolve.\n\n## Step 3\nCheck.") == ["Read.", "Solve.", "Check."]
    assert split_steps("Step 1 - read\nStep 2 - solve") == ["read", "solve"]
    assert split_steps("### Step 1: Read\nWe read.\n### Step 2: Solve\nx = 1") == ["Read\nWe read.", "Solve\nx = 1"]


@pytest.mark.parametrize(
    "text, steps",
    [
        # a prefilled "Step 1:" the generator did not continue numbering: the rest splits by blank lines
        ("Step 1: Compute x = 2.\n\nThen y = 2x = 4.\n\nSo the answer is \\boxed{4}.",
         ["Compute x = 2.", "Then y = 2x = 4.", "So the answer is \\boxed{4}."]),
        ("Step 1:\nCompute x = 2.\n\nThen y = 4.", ["Compute x = 2.", "Then y = 4."]),
        ("Chatter first.\n\n**Step 1**: a\n\nb\n\nc", ["a", "b", "c"]),
        # the heading repeated right after the prefilled label is dropped once, its text kept once
        ("Step 1: ## Step 1 Understand the problem\n\nWe need x.", ["Understand the problem", "We need x."]),
        ("Step 1: Step 1: read\n\nsolve", ["read", "solve"]),
        ("Step 1:\n## Step 1: Understand\nWe read.\n\n## Step 2: Solve\nx = 1",
         ["Understand\nWe read.", "Solve\nx = 1"]),
    ],
)
def test_one_marker_keeps_the_blank_line_fallback(text, steps):
    assert split_steps(text) == steps
    assert all(not _doubled(s, i) for i, s in enumerate(number_steps(split_steps(text)), 1))


@pytest.mark.parametrize(
    "text",
    ["Step 2-3 are alike.\n\nNext paragraph.", "Step 2.5 is a decimal.\n\nNext paragraph.",
     "Step 2 is where we add.\n\nNext paragraph."],
)
def test_words_that_are_not_markers(text):
    assert split_steps(text) == [p for p in text.split("\n\n")]


def test_strip_step_prefix_heading_shapes():
    assert strip_step_prefix("**Step 2**: add") == "add"
    assert strip_step_prefix("## Step 2\nadd") == "add"
    assert strip_step_prefix("Step 2 - add") == "add"
    assert strip_step_prefix("Step 2: Step 2: add") == "add"
    assert strip_step_prefix("Step 2: Step 3: add") == "Step 3: add"  # a different number is content
    assert starts_with_step_prefix("**Step 2**: add", 2)
    assert starts_with_step_prefix("## Step 2\nadd", 2)
    assert not starts_with_step_prefix("Step 2-3 are alike", 2)


def test_new_step_regexes_survive_decoration_runs():
    code = (
        "from critic.steps import split_steps, strip_step_prefix\n"
        "for t in ['Step 1' + ' ' * 50000 + 'x', '**Step 1' + '*' * 50000, ('Step 1 ' + '_' * 30) * 2000,\n"
        "          'Step 1:' + ' Step 1' * 10000, '\\n'.join(['Step 1 -'] * 20000), '#' * 30000 + ' Step 1\\n' * 100,\n"
        "          ('\\n' + ' ' * 40) * 3000]:\n"
        "    split_steps(t); strip_step_prefix(t)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=30)
