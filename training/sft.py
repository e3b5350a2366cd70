"""Supervised fine-tuning of the critic on seed critiques (``deepcritic train sft --config <recipe>.yaml``).

Loss on the critique only: each ``messages`` row (system, user = critic prompt, assistant = critique) becomes a
conversational prompt/completion pair, for which trl masks the prompt tokens out of the loss. This works with any
chat template - SmolLM2's has no ``{% generation %}`` markers, so ``assistant_only_loss`` is not available for it -
and the completion ends with the template's end-of-turn token, so the model learns to stop. No packing.

The run resumes from the newest ``checkpoint-N`` in ``output_dir`` unless ``resume_from_checkpoint`` says otherwise,
and ends by saving model + tokenizer to ``output_dir``: a folder the critic engines load directly
(``vllm:<output_dir>``, ``hf:<output_dir>``). ``model_name_or_path: embedded`` trains the embedded SmolLM2.

    deepcritic train sft --config training/recipes/cpu-smoke-sft.yaml --output_dir runs/sft-smoke
    accelerate launch --config_file training/recipes/accelerate/zero3.yaml -m training.cli sft \\
        --config training/recipes/qwen2.5-7b-sft.yaml
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from trl import ModelConfig, ScriptArguments, SFTConfig

from critic.configs import ConfigError
from critic.embedded import resolve_embedded
from training.inputs import resolve_path
from training.strict_trl import StrictTrlParser, run_stage
from training.trainer import model_init_kwargs, train_and_save

if TYPE_CHECKING:
    from datasets import Dataset
    from transformers import TrainerCallback
    from trl import SFTTrainer

logger = logging.getLogger(__name__)


@dataclass
class SFTScriptArguments(ScriptArguments):
    """Where the critique data comes from (plus trl's common script arguments)."""

    dataset_name: str | None = field(
        default=None,
        metadata={
            "help": "A seed-synthesis output folder (its dataset/), a save_to_disk folder, a JSONL/JSON file of "
            "`messages` rows, or a hub dataset name."
        },
    )
    max_train_samples: int | None = field(default=None, metadata={"help": "Use only the first N rows."})


def make_parser() -> StrictTrlParser:
    return StrictTrlParser((SFTScriptArguments, SFTConfig, ModelConfig), prog="deepcritic train sft",
                           description="SFT of a critic with trl. --config RECIPE.yaml takes any field below; flags "
                                       "override it (training/recipes/README.md).")


def load_messages_dataset(name: str, split: str = "train") -> Dataset:
    """Rows with a ``messages`` column: a seed output folder, a ``save_to_disk`` folder, a JSON(L) file or the hub."""
    from datasets import load_dataset, load_from_disk

    path = resolve_path(name)
    if path.is_dir():
        folder = path / "dataset" if (path / "dataset").is_dir() else path
        loaded = load_from_disk(str(folder))
        return loaded[split] if hasattr(loaded, "keys") else loaded
    if path.is_file():
        dataset = load_dataset("json", data_files=str(path), split="train")
        if "messages" not in dataset.column_names and "reference_critiques" in dataset.column_names:
            return _reference_dataset(dataset)
        return dataset
    if path.suffix.lower() in (".json", ".jsonl"):  # a file name that is not there, not a hub id
        raise ConfigError(f"no such file: {name}")
    return load_dataset(name, split=split)


def _reference_dataset(rows: Dataset) -> Dataset:
    """Step-labelled rows carrying their own per-step critiques (``reference_critiques``, e.g. the bundled smoke
    data) -> ``messages`` in the trained format, exactly as seed synthesis renders its merged critiques."""
    from datasets import Dataset

    from critic.records import LabeledSolution
    from training.seed import sft_messages

    examples = []
    for row in rows:
        solution = LabeledSolution.model_validate(row)
        examples.append({"id": solution.id, "messages": sft_messages(solution, row["reference_critiques"])})
    return Dataset.from_list(examples)


def to_prompt_completion(dataset: Dataset) -> Dataset:
    """``messages`` -> conversational ``prompt`` (all but the last turn) + ``completion`` (the assistant critique)."""
    if "messages" not in dataset.column_names:
        raise ValueError(f"the SFT dataset needs a `messages` column, found {dataset.column_names}")

    def split(row: dict) -> dict:
        messages = row["messages"]
        if not messages or messages[-1]["role"] != "assistant":
            raise ValueError("every `messages` row must end with the assistant critique")
        return {"prompt": messages[:-1], "completion": messages[-1:]}

    return dataset.map(split, remove_columns=dataset.column_names)


def build_trainer(
    script_args: SFTScriptArguments,
    training_args: SFTConfig,
    model_args: ModelConfig,
    callbacks: list[TrainerCallback] | None = None,
) -> SFTTrainer:
    """The SFTTrainer for these arguments (data loaded and converted, model path resolved)."""
    from trl import SFTTrainer, get_peft_config

    if not script_args.dataset_name:
        raise ValueError("dataset_name is required (the seed output folder or a messages dataset)")
    model_path = resolve_embedded(model_args.model_name_or_path)
    training_args.model_init_kwargs = model_init_kwargs(model_args, training_args)

    dataset = load_messages_dataset(script_args.dataset_name, script_args.dataset_train_split)
    if script_args.max_train_samples is not None:
        dataset = dataset.select(range(min(script_args.max_train_samples, len(dataset))))
    dataset = to_prompt_completion(dataset)
    logger.info("SFT on %d critiques from %s, model %s", len(dataset), script_args.dataset_name, model_path)

    return SFTTrainer(
        model=model_path,
        args=training_args,
        train_dataset=dataset,
        peft_config=get_peft_config(model_args),
        callbacks=callbacks,
    )


def main(script_args: SFTScriptArguments, training_args: SFTConfig, model_args: ModelConfig) -> Path:
    """Train (resuming from the last checkpoint) and save model + tokenizer; returns the saved folder."""
    return train_and_save(build_trainer(script_args, training_args, model_args), training_args)


def cli(argv: list[str]) -> int:
    return run_stage("sft", make_parser(), main, argv)
