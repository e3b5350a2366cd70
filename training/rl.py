"""Reinforcement learning of the critic with GRPO (``deepcritic train rl --config <recipe>.yaml``).

Prompts are critic prompts (:func:`critic.prompts.critic_messages`) over step-labelled solutions: Monte-Carlo labels
(``mc-label``'s ``labels.jsonl``) or PRM800K rows. Rewards are the small pure functions of :mod:`training.rewards`
(``first_error``: 1 when the critique's final answer equals the label in the critic's 1-based convention; ``format``:
a readable critique), weighted by ``reward_weights``. Rollouts use vLLM when ``use_vllm: true`` (GPU recipes:
``vllm_mode: colocate``, or ``server`` with ``trl vllm-serve`` on a separate GPU), plain ``generate`` otherwise.

Resumes from the newest ``checkpoint-N`` in ``output_dir`` and saves model + tokenizer there at the end, loadable by
the critic engines. ``model_name_or_path: embedded`` trains the embedded SmolLM2 (typically start from an SFT folder).

    deepcritic train rl --config training/recipes/cpu-smoke-rl.yaml --output_dir runs/rl-smoke
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from trl import GRPOConfig, ModelConfig, ScriptArguments

from critic.embedded import resolve_embedded
from training.inputs import load_labeled_solutions
from training.rewards import REWARD_FUNCS
from training.strict_trl import StrictTrlParser, run_stage
from training.trainer import model_init_kwargs, train_and_save

if TYPE_CHECKING:
    from datasets import Dataset
    from transformers import TrainerCallback
    from trl import GRPOTrainer

    from critic.prompts import CriticPrompt
    from critic.records import LabeledSolution

logger = logging.getLogger(__name__)


@dataclass
class RLScriptArguments(ScriptArguments):
    """Where the step-labelled solutions come from, and which rewards to use."""

    dataset_name: str | None = field(
        default=None,
        metadata={"help": "A JSONL of step-labelled solutions: mc-label's labels.jsonl or PRM800K rows."},
    )
    reward_funcs: list[str] = field(
        default_factory=lambda: ["first_error", "format"],
        metadata={"help": f"Rewards, in the order of `reward_weights`; choose from {sorted(REWARD_FUNCS)}."},
    )
    max_train_samples: int | None = field(default=None, metadata={"help": "Use only the first N solutions."})
    prompt_template: str | None = field(
        default=None,
        metadata={"help": "Critic template file ({problem}, {tagged_response}; str.format). Default: our wording. "
                  "Use the template the SFT data was built with."},
    )
    system_prompt: str | None = field(
        default=None, metadata={"help": "Critic system message; 'none' = none (the chat template decides)."}
    )
    step_tagging: str = field(
        default="startswith", metadata={"help": "'Step i: ' prefix rule: startswith (ours) or contains (DeepCritic)."}
    )

    def __post_init__(self) -> None:
        unknown = [name for name in self.reward_funcs if name not in REWARD_FUNCS]
        if unknown:
            raise ValueError(f"unknown reward_funcs {unknown}; choose from {sorted(REWARD_FUNCS)}")


def make_parser() -> StrictTrlParser:
    return StrictTrlParser((RLScriptArguments, GRPOConfig, ModelConfig), prog="deepcritic train rl",
                           description="GRPO of a critic with trl. --config RECIPE.yaml takes any field below; flags "
                                       "override it (training/recipes/README.md).")


def build_rl_dataset(solutions: list[LabeledSolution], prompt: CriticPrompt | None = None) -> Dataset:
    """One GRPO prompt per solution: the critic chat (``prompt``, default our wording), with ``label0`` and
    ``num_steps`` for the rewards."""
    from datasets import Dataset

    from critic.prompts import CriticPrompt

    build = (prompt or CriticPrompt()).messages
    return Dataset.from_list(
        [
            {
                "id": s.id,
                "prompt": build(s.problem, s.steps),
                "label0": s.label0,
                "num_steps": len(s.steps),
            }
            for s in solutions
        ]
    )


def build_trainer(
    script_args: RLScriptArguments,
    training_args: GRPOConfig,
    model_args: ModelConfig,
    callbacks: list[TrainerCallback] | None = None,
) -> GRPOTrainer:
    """The GRPOTrainer for these arguments (prompts built, rewards chosen, model path resolved)."""
    from trl import GRPOTrainer, get_peft_config

    if not script_args.dataset_name:
        raise ValueError("dataset_name is required (a JSONL of step-labelled solutions)")
    if training_args.reward_weights is not None and len(training_args.reward_weights) != len(script_args.reward_funcs):
        raise ValueError(
            f"reward_weights {training_args.reward_weights} must match reward_funcs {script_args.reward_funcs}"
        )
    model_path = resolve_embedded(model_args.model_name_or_path)
    training_args.model_init_kwargs = model_init_kwargs(model_args, training_args)

    solutions = load_labeled_solutions(script_args.dataset_name, script_args.max_train_samples)
    if not solutions:
        raise ValueError(f"{script_args.dataset_name}: no step-labelled solutions")
    from critic.prompts import CriticPrompt

    prompt = CriticPrompt.from_settings("deliberate", script_args.prompt_template, script_args.system_prompt,
                                        script_args.step_tagging)  # type: ignore[arg-type]
    dataset = build_rl_dataset(solutions, prompt)
    logger.info("GRPO on %d solutions from %s, model %s", len(dataset), script_args.dataset_name, model_path)

    return GRPOTrainer(
        model=model_path,
        reward_funcs=[REWARD_FUNCS[name] for name in script_args.reward_funcs],
        args=training_args,
        train_dataset=dataset,
        peft_config=get_peft_config(model_args),
        callbacks=callbacks,
    )


def main(script_args: RLScriptArguments, training_args: GRPOConfig, model_args: ModelConfig) -> Path:
    """Train (resuming from the last checkpoint) and save model + tokenizer; returns the saved folder."""
    return train_and_save(build_trainer(script_args, training_args, model_args), training_args)


def cli(argv: list[str]) -> int:
    return run_stage("rl", make_parser(), main, argv)
