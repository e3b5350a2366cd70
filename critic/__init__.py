"""deepcritic core: records, steps, prompts, parsing, engines, the SymPy tool and answer grading.

Importing ``critic`` never imports torch, vLLM or trl; engines load them when one is built.
"""

from critic.records import (
    NO_ERROR,
    Critique,
    Evidence,
    LabeledSolution,
    Problem,
    Solution,
    StepCheck,
    StepVerdict,
)
from critic.steps import join_steps, label0_to_step1, number_steps, split_steps, step1_to_label0

__all__ = [
    "NO_ERROR",
    "Critique",
    "Evidence",
    "LabeledSolution",
    "Problem",
    "Solution",
    "StepCheck",
    "StepVerdict",
    "join_steps",
    "label0_to_step1",
    "number_steps",
    "split_steps",
    "step1_to_label0",
]
