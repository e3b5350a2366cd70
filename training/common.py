"""Shared plumbing of the training scripts: YAML configs, paths, step-labelled input, checkpoints."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

from critic.configs import ConfigError, StrictConfig, read_mapping
from critic.records import LabeledSolution

logger = logging.getLogger(__name__)

PACKAGE_DIR = Path(__file__).resolve().parent
RECIPES_DIR = PACKAGE_DIR / "recipes"

Config = TypeVar("Config", bound="PipelineConfig")


class PipelineConfig(StrictConfig):
    """Base of the data-pipeline configs (seed synthesis, Monte-Carlo labels): unknown keys are errors
    (:func:`critic.configs.config_error_line` names the nearest valid key)."""

    @classmethod
    def from_yaml(cls: type[Config], path: str | os.PathLike[str] | None, **overrides: object) -> Config:
        """Load from a YAML mapping (``None`` = defaults only); non-None ``overrides`` win over the file.
        Raises ConfigError for an unreadable file, pydantic's ValidationError for bad values or unknown keys."""
        values: dict[str, object] = read_mapping(path) if path is not None else {}
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls.model_validate(values)

    def check_files(self) -> None:
        """Read every file the config names besides its data (templates, system prompts) so that a bad one fails
        before any work, in one line (TemplateError). Configs that name such files override this."""


def resolve_path(path: str | os.PathLike[str]) -> Path:
    """A path as given when it exists, else relative to the ``training`` package (so recipes can name their bundled
    data as ``recipes/data/...`` from any working directory)."""
    given = Path(path).expanduser()
    if given.exists() or given.is_absolute():
        return given
    bundled = PACKAGE_DIR / given
    return bundled if bundled.exists() else given


def resolve_model_path(name: str) -> str:
    """``embedded`` -> the converted embedded model folder; anything else unchanged (a folder or hub id)."""
    if name == "embedded":
        from critic.embedded import embedded_model_dir

        return str(embedded_model_dir())
    return name


def load_labeled_solutions(path: str | os.PathLike[str], limit: int | None = None) -> list[LabeledSolution]:
    """Step-labelled solutions from a JSONL file: rows of :class:`LabeledSolution` (what ``mc-label`` writes; extra
    keys are ignored) or PRM800K rows (read by :func:`critic.data.load_prm800k`), told apart by the first row."""
    path = resolve_path(path)
    with open(path) as handle:
        first = next((line for line in handle if line.strip()), None)
    if first is None:
        return []
    if "label0" in json.loads(first):
        rows = []
        with open(path) as handle:
            for line in handle:
                if line.strip():
                    rows.append(LabeledSolution.model_validate(json.loads(line)))
                    if limit is not None and len(rows) >= limit:
                        break
    else:
        from critic.data import load_prm800k

        rows = load_prm800k(str(path))
    return rows if limit is None else rows[:limit]


def last_checkpoint(output_dir: str | os.PathLike[str]) -> str | None:
    """The newest ``checkpoint-N`` folder in ``output_dir``, or None (resume point of SFT and RL)."""
    if not os.path.isdir(output_dir):
        return None
    from transformers.trainer_utils import get_last_checkpoint

    return get_last_checkpoint(str(output_dir))


def process_pending(
    items: Sequence[Any],
    results_path: Path,
    batch_size: int,
    process: Callable[[Any, list[Any]], Iterable[dict]],
    engine: Any,
    engine_spec: str,
    stage: str,
) -> None:
    """Run ``process(engine, batch)`` over the items (each with an ``.id``) not yet in ``results_path``,
    ``batch_size`` at a time, appending every result row as it comes (flushed and fsynced): a killed run resumes where
    it stopped and nothing is done twice. The engine is built from ``engine_spec`` only when work is left."""
    from critic.data import JsonlWriter, read_done_ids

    done = read_done_ids(results_path)
    todo = [item for item in items if item.id not in done]
    logger.info("%s: %d items, %d already done, %d to go", stage, len(items), len(items) - len(todo), len(todo))
    if not todo:
        return
    if engine is None:
        from critic.engines import get_engine

        engine = get_engine(engine_spec)
    with JsonlWriter(results_path) as writer:
        for start in range(0, len(todo), batch_size):
            for row in process(engine, todo[start : start + batch_size]):
                writer.write(row)


def model_init_kwargs(model_args: Any, training_args: Any) -> dict[str, Any]:
    """What trl passes to ``from_pretrained``: the ModelConfig's loading options, then any explicit
    ``model_init_kwargs`` of the training config on top."""
    return {
        "revision": model_args.model_revision,
        "trust_remote_code": training_args.trust_remote_code,
        "attn_implementation": model_args.attn_implementation,
        "dtype": model_args.dtype,
        **(training_args.model_init_kwargs or {}),
    }


def train_and_save(trainer: Any, training_args: Any) -> Path:
    """Train, resuming from the given or newest checkpoint in ``output_dir``, then save model + tokenizer and
    ``trainer_state.json`` (the loss / reward log) there; returns that folder, which the engines load directly.

    A checkpoint written with ``save_only_model: true`` has no optimizer state: found on a rerun it is refused
    (ConfigError, one line) instead of half-resumed."""
    checkpoint = training_args.resume_from_checkpoint or last_checkpoint(training_args.output_dir)
    if checkpoint and not training_args.resume_from_checkpoint and getattr(training_args, "save_only_model", False):
        raise ConfigError(f"{checkpoint} holds weights only (save_only_model: true) and cannot resume training: move "
                          "it away to start over, or train on from it with --model_name_or_path")
    if checkpoint:
        logger.info("resuming from %s", checkpoint)
    trainer.train(resume_from_checkpoint=checkpoint)

    trainer.model.config.use_cache = True  # training turns the KV cache off; inference wants it back
    trainer.save_model(training_args.output_dir)
    trainer.save_state()
    trainer.end()
    return Path(training_args.output_dir)


def write_json(path: Path, value: object) -> None:
    """Write JSON atomically (temporary sibling + rename): a killed run never leaves half a stats file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(value, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)
