"""GRPO rewards: the critic answers 1-based (or -1), labels are 0-based (or -1)."""

from __future__ import annotations

import pytest

from training.rewards import REWARD_FUNCS, completion_text, first_error_reward, format_reward


def critique(*verdicts: int, answer: int) -> str:
    """A critique in the trained format: one judged block per step, then the final answer."""
    blocks = [
        f"**Critique of Step {i}**\nChecked it twice.\n**Judgement**: \\boxed{{{v}}}" for i, v in enumerate(verdicts, 1)
    ]
    return "\n\n".join(blocks + [f"**Answer**: \\boxed{{{answer}}}"])


def as_chat(text: str) -> list[dict[str, str]]:
    return [{"role": "assistant", "content": text}]


def test_right_index_earns_one():
    # label0 = 1 (second step) <-> the critic's "Step 2"
    assert first_error_reward([critique(1, -1, answer=2)], label0=[1], num_steps=[4]) == [1.0]


def test_wrong_index_earns_zero():
    assert first_error_reward([critique(-1, answer=1)], label0=[1], num_steps=[4]) == [0.0]


@pytest.mark.parametrize(
    ("answer", "label0", "expected"),
    [
        (-1, -1, 1.0),  # accepts all, all correct
        (-1, 2, 0.0),  # accepts all, but step 3 is wrong
        (3, -1, 0.0),  # flags step 3, but all correct
    ],
)
def test_all_correct_cases(answer, label0, expected):
    text = critique(1, 1, 1, answer=answer) if answer == -1 else critique(1, 1, -1, answer=answer)
    assert first_error_reward([text], label0=[label0], num_steps=[3]) == [expected]


def test_off_by_one_between_bases():
    # The 1-based prediction k matches label0 k-1 only, never label0 k.
    text = critique(1, -1, answer=2)
    assert first_error_reward([text, text, text], label0=[1, 2, 0], num_steps=[3, 3, 3]) == [1.0, 0.0, 0.0]
    # A "Step 1" answer matches label0 0: the index 0 is never a valid critic answer.
    assert first_error_reward([critique(-1, answer=1)], label0=[0], num_steps=[3]) == [1.0]
    assert first_error_reward([critique(-1, answer=0)], label0=[0], num_steps=[3]) == [0.0]


@pytest.mark.parametrize(
    "text",
    [
        "",
        "The solution looks fine to me.",
        "**Critique of Step 1**\nok\n**Judgement**: \\boxed{-1}",  # cut off after a judgement: no final answer
        critique(1, answer=7),  # index beyond the steps
        "**Answer**: \\boxed{two}",
    ],
)
def test_unparsed_output_earns_zero(text):
    assert first_error_reward([text], label0=[-1], num_steps=[3]) == [0.0]
    assert first_error_reward([text], label0=[0], num_steps=[3]) == [0.0]
    assert format_reward([text], num_steps=[3]) == [0.0]


def test_conversational_and_plain_completions_agree():
    texts = [critique(1, -1, answer=2), critique(1, 1, answer=-1), "no answer"]
    labels, steps = [1, -1, 1], [2, 2, 2]
    plain = first_error_reward(texts, label0=labels, num_steps=steps)
    chats = first_error_reward([as_chat(t) for t in texts], label0=labels, num_steps=steps)
    assert plain == chats == [1.0, 1.0, 0.0]
    assert completion_text(as_chat("x")) == "x"
    assert completion_text([]) == ""


def test_format_reward_needs_a_judged_step_and_an_answer():
    assert format_reward([critique(1, -1, answer=2)], num_steps=[3]) == [1.0]
    assert format_reward(["**Answer**: \\boxed{2}"], num_steps=[3]) == [0.0]  # an answer without any judged step


def test_rewards_accept_trl_extra_columns_and_registry():
    # trl passes prompts, completion_ids, trainer_state and every dataset column as keywords
    kwargs = {"prompts": ["p"], "completion_ids": [[1]], "trainer_state": None, "id": ["x"]}
    assert first_error_reward([critique(-1, answer=1)], label0=[0], num_steps=[1], **kwargs) == [1.0]
    assert format_reward([critique(-1, answer=1)], num_steps=[1], label0=[0], **kwargs) == [1.0]
    assert set(REWARD_FUNCS) == {"first_error", "format"}


def test_lengths_must_match():
    with pytest.raises(ValueError):
        first_error_reward(["a", "b"], label0=[0], num_steps=[1, 1])
