"""critic.prompts: what each prompt must contain, the refine prefix, the trained format and refinement feedback."""

from __future__ import annotations

import pytest

from critic.data import load_mr_gsm8k, load_processbench
from critic.engines.base import is_continuation
from critic.parse import parse_critique, parse_step_judgement
from critic.prompts import (
    SOLVE_PREFIX,
    critic_messages,
    critique_body,
    deep_verification_messages,
    feedback_for_refinement,
    format_critique,
    initial_step_critique_messages,
    merge_critique_messages,
    processbench_messages,
    refine_messages,
    refine_prefix,
    solve_messages,
)
from critic.records import Critique, Evidence, StepVerdict
from critic.steps import join_steps, split_steps

PROBLEM = "Tom has 3 boxes of 4 apples and eats 2. How many apples are left?"
STEPS = ["There are 3 * 4 = 12 apples.", "After eating 2, 12 - 2 = 11 apples are left.", "The answer is \\boxed{11}."]


def _roles(chat):
    return [m["role"] for m in chat]


def test_critic_prompt_has_numbered_steps_in_tagged_blocks():
    chat = critic_messages(PROBLEM, STEPS)
    assert _roles(chat) == ["system", "user"]
    user = chat[1]["content"]
    assert f"<problem>\n{PROBLEM}\n</problem>" in user
    assert f"<solution>\n{join_steps(STEPS)}\n</solution>" in user
    for i, step in enumerate(STEPS, 1):
        assert f"Step {i}: {step}" in user
    for needle in ("**Critique of Step i**", "**Judgement**: \\boxed{1}", "\\boxed{-1}", "**Answer**: \\boxed{k}"):
        assert needle in user
    assert "tool_notes" not in user


def test_critic_prompt_tool_notes_only_when_given():
    user = critic_messages(PROBLEM, STEPS, tool_notes="Step 2: 12 - 2 = 10, not 11")[1]["content"]
    assert "<tool_notes>\nStep 2: 12 - 2 = 10, not 11\n</tool_notes>" in user
    assert "tool_notes" not in critic_messages(PROBLEM, STEPS, tool_notes="  ")[1]["content"]


def test_critic_prompt_on_prefixed_steps_does_not_double(fixtures_dir):
    for row in load_mr_gsm8k(fixtures_dir / "mr_gsm8k.json"):
        user = critic_messages(row.problem, row.steps)[1]["content"]
        for i in range(1, len(row.steps) + 1):
            assert f"Step {i}: Step {i}" not in user
            assert f"Step {i}:" in user


def test_processbench_prompt_zero_based_paragraphs():
    chat = processbench_messages(PROBLEM, STEPS)
    assert _roles(chat) == ["user"]
    user = chat[0]["content"]
    for i, step in enumerate(STEPS):
        assert f"<paragraph_{i}>\n{step}\n</paragraph_{i}>" in user
    assert "<paragraph_3>" not in user
    assert "Step 1:" not in user
    assert "\\boxed{-1}" in user


def test_solve_prompt_ends_with_step_one_prefix():
    chat = solve_messages(PROBLEM)
    assert _roles(chat) == ["system", "user", "assistant"]
    assert chat[-1]["content"] == SOLVE_PREFIX == "Step 1:"
    assert is_continuation(chat)
    assert PROBLEM in chat[1]["content"] and "Step i:" in chat[1]["content"]


@pytest.mark.parametrize("k", [0, 1, 2])
def test_refine_prefix_is_the_kept_steps_byte_for_byte(k):
    kept = STEPS[:k]
    chat = refine_messages(PROBLEM, kept, "Step 2 subtracts wrongly.", rejected_step=STEPS[1])
    assert _roles(chat) == ["system", "user", "assistant"]
    prefix = chat[-1]["content"]
    assert prefix == refine_prefix(kept)
    assert prefix.startswith(join_steps(kept))
    assert prefix.endswith(f"Step {k + 1}:")
    assert prefix == (join_steps(kept) + "\n\n" if kept else "") + f"Step {k + 1}:"
    user = chat[1]["content"]
    assert "Step 2 subtracts wrongly." in user and f"Step {k + 1}" in user and STEPS[1] in user
    # The agent prepends the prefix to the continuation and splits: the kept steps come back unchanged.
    assert split_steps(prefix + " 12 - 2 = 10 apples.")[:k] == kept


def test_refine_prefix_on_benchmark_fixture_rows(fixtures_dir):
    rows = load_processbench(fixtures_dir / "processbench_gsm8k.json") + load_mr_gsm8k(fixtures_dir / "mr_gsm8k.json")
    for row in rows:
        for k in range(len(row.steps)):
            prefix = refine_messages(row.problem, row.steps[:k], "feedback")[-1]["content"]
            critic_solution = join_steps(row.steps)
            # The kept part is exactly what the critic was shown for those steps.
            assert critic_solution.startswith(prefix[: len(join_steps(row.steps[:k]))])
            assert prefix.endswith(f"Step {k + 1}:")


def test_teacher_prompts():
    initial = initial_step_critique_messages(PROBLEM, STEPS, 2)
    assert _roles(initial) == ["system", "user"]
    user = initial[1]["content"]
    assert "Step 1: " + STEPS[0] in user and "Step 2: " + STEPS[1] in user and STEPS[2] not in user
    assert "Step 2" in user and "\\boxed{-1}" in user

    deep = deep_verification_messages(PROBLEM, STEPS, 2, "INITIAL CRITIQUE TEXT")[1]["content"]
    assert "INITIAL CRITIQUE TEXT" in deep and "different method" in deep

    merged = merge_critique_messages(PROBLEM, STEPS, 2, "INITIAL", "DEEP")[1]["content"]
    assert "INITIAL" in merged and "DEEP" in merged and "Step 2" in merged

    first = initial_step_critique_messages(PROBLEM, STEPS, 1)[1]["content"]
    assert "this is the first step" in first
    for bad in (0, 4):
        with pytest.raises(ValueError):
            initial_step_critique_messages(PROBLEM, STEPS, bad)


def _v(step1, verdict, text="checked"):
    return StepVerdict(step1=step1, verdict=verdict, text=text)


def test_format_critique_layout_and_parse_back():
    text = format_critique([_v(1, "correct", "3 * 4 = 12, and 12 / 4 = 3."), _v(2, "wrong", "12 - 2 = 10.")], 2)
    assert text == (
        "**Critique of Step 1**\n3 * 4 = 12, and 12 / 4 = 3.\n\n**Judgement**: \\boxed{1}\n\n"
        "**Critique of Step 2**\n12 - 2 = 10.\n\n**Judgement**: \\boxed{-1}\n\n**Answer**: \\boxed{2}"
    )
    parsed = parse_critique(text, 3)
    assert parsed.first_wrong_step1 == 2
    assert format_critique(parsed.verdicts, 2) == text
    all_ok = format_critique([_v(1, "correct"), _v(2, "correct"), _v(3, "correct")], -1)
    assert all_ok.endswith("**Answer**: \\boxed{-1}") and parse_critique(all_ok, 3).accepts


def test_format_critique_strips_teacher_heading_and_judgement():
    teacher = "**Critique of Step 1**\nI recompute 3 * 4 = 12.\nIt holds.\n\n**Judgement**: \\boxed{1}"
    assert critique_body(teacher) == "I recompute 3 * 4 = 12.\nIt holds."
    assert parse_step_judgement(teacher) == "correct"
    text = format_critique([_v(1, "correct", teacher)], -1)
    assert text.count("Critique of Step 1") == 1 and text.count("Judgement") == 1


@pytest.mark.parametrize(
    "verdicts, first",
    [
        ([_v(1, "correct"), _v(2, "wrong")], -1),  # -1 but a wrong verdict
        ([_v(1, "correct"), _v(2, "correct")], 2),  # answer 2 but step 2 judged correct
        ([_v(1, "wrong"), _v(2, "wrong")], 1),  # continues past the first wrong step
        ([_v(2, "correct")], -1),  # does not start at step 1
        ([_v(1, "correct"), _v(3, "wrong")], 3),  # skips a step
    ],
)
def test_format_critique_rejects_inconsistent_input(verdicts, first):
    with pytest.raises(ValueError):
        format_critique(verdicts, first)


def test_feedback_for_refinement():
    critique = Critique(
        status="ok",
        first_wrong_step1=2,
        verdicts=[_v(1, "correct", "fine"), _v(2, "wrong", "12 - 2 is 10"), _v(3, "correct", "later")],
    )
    evidence = [Evidence(claim="12 - 2 = 11", expected="10", stated="11", ok=False)]
    text = feedback_for_refinement(critique, 2, evidence)
    assert "**Critique of Step 1**" in text and "12 - 2 is 10" in text and "later" not in text
    assert "`12 - 2 = 11` is false: the exact value is 10, not 11." in text
    assert "\\boxed{-1}" in text


def test_feedback_when_sympy_vetoes_an_earlier_step():
    critique = Critique(status="ok", first_wrong_step1=-1, verdicts=[_v(1, "correct", "fine"), _v(2, "correct", "ok")])
    evidence = [Evidence(claim="12 - 2 = 11", expected="10", stated="11", ok=False)]
    text = feedback_for_refinement(critique, 2, evidence)
    assert "Step 2 contains an error." in text and "**Critique of Step 2**" not in text
    assert "is false" in text
    unreadable = Critique(status="unparsed", raw="???")
    assert feedback_for_refinement(unreadable, 1) == "Step 1 contains an error."
