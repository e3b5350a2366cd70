"""The SFT and RL trainers' shared steps: trl's model-loading options, resuming from the newest checkpoint, and
saving the trained model where the engines load it."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from critic.configs import ConfigError

logger = logging.getLogger(__name__)


def last_checkpoint(output_dir: str | os.PathLike[str]) -> str | None:
    """The newest ``checkpoint-N`` folder in ``output_dir``, or None (resume point of SFT and RL)."""
    if not os.path.isdir(output_dir):
        return None
    from transformers.trainer_utils import get_last_checkpoint

    return get_last_checkpoint(str(output_dir))


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
