"""GRPO rewards for the critic: small pure functions with trl's reward signature.

trl calls each reward as ``f(prompts=..., completions=..., completion_ids=..., **dataset_columns)`` and expects one
float per completion. The RL dataset (:func:`training.rl.build_rl_dataset`) carries the columns ``label0`` (0-based
first wrong step, -1 = all correct) and ``num_steps``. Completions are plain strings for a text prompt and
``[{"role": "assistant", "content": ...}]`` for a conversational one; both are accepted.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from critic.parse import parse_critique
from critic.steps import label0_to_step1


def completion_text(completion: str | Sequence[dict[str, Any]]) -> str:
    """The generated text of one completion, plain or conversational (the last message's content)."""
    if isinstance(completion, str):
        return completion
    return str(completion[-1]["content"]) if completion else ""


def first_error_reward(
    completions: Sequence[Any], label0: Sequence[int], num_steps: Sequence[int], **kwargs: Any
) -> list[float]:
    """1.0 when the critique's final answer (1-based, -1 = accepts every step) equals the label in the critic's
    base, else 0.0. An unreadable critique earns 0."""
    rewards = []
    for completion, label, steps in zip(completions, label0, num_steps, strict=True):
        critique = parse_critique(completion_text(completion), int(steps))
        right = critique.status == "ok" and critique.first_wrong_step1 == label0_to_step1(int(label))
        rewards.append(1.0 if right else 0.0)
    return rewards


def format_reward(completions: Sequence[Any], num_steps: Sequence[int], **kwargs: Any) -> list[float]:
    """1.0 when the critique has a readable final answer in range and at least one judged step block, else 0.0.

    Scale it down with ``reward_weights`` (the recipes use 0.1) so it only breaks ties between wrong answers.
    """
    rewards = []
    for completion, steps in zip(completions, num_steps, strict=True):
        critique = parse_critique(completion_text(completion), int(steps))
        rewards.append(1.0 if critique.status == "ok" and critique.verdicts else 0.0)
    return rewards


REWARD_FUNCS = {"first_error": first_error_reward, "format": format_reward}
