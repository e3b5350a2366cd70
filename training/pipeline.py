"""The data stages (``mc-label``, ``seed``): their config base, and the streamed, resumable, shardable loop over
items with its run folder (``config.json``, ``results.jsonl`` under the resume rule of :mod:`critic.io`) and the merge
of shard folders."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from pydantic import Field

from critic.configs import StrictConfig, read_mapping
from critic.io import ShardSpec

logger = logging.getLogger(__name__)

Config = TypeVar("Config", bound="PipelineConfig")


class PipelineConfig(StrictConfig):
    """Base of the data-pipeline configs (seed synthesis, Monte-Carlo labels): unknown keys are errors
    (:func:`critic.configs.config_error_line` names the nearest valid key)."""

    shard: ShardSpec = Field(None, description="i/N: only the items of shard i of N (stable hash of the id); merge "
                                                "the N output folders with `deepcritic merge`")
    window: int | None = Field(None, ge=1, description="sequences in flight on the engine (default: sized for the "
                                                       "engine); does not change results")
    engine_args: dict[str, dict[str, Any]] = Field(default_factory=dict, description="engine options per role, e.g. "
                                                   "{teacher: {tensor_parallel_size: 4}}")

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


# Config fields that never change results: shards of one job may differ in them (and in their output folder).
RUN_ONLY_FIELDS = ("output_dir", "shard", "window", "engine_args")
CONFIG = "config.json"
RESULTS = "results.jsonl"


def process_pending(
    items: Sequence[Any],
    out_dir: Path,
    process: Callable[[Any, Any], Awaitable[dict]],
    engine: Any,
    engine_spec: str,
    stage: str,
    *,
    engine_args: dict[str, Any] | None = None,
    window: int | None = None,
    per_item: int = 1,
    retry_errors: bool = False,
) -> dict[str, int]:
    """Run ``await process(engine, item)`` for the items (each with an ``.id``) not yet in ``out_dir/results.jsonl``
    and append every result row the moment its item is done (critic.jobs.stream: flushed, fsynced, a window of
    sequences sized for the engine, items served oldest first). An item's own failure is an error row
    ``{"id", "error"}`` (rerun with ``retry_errors``); EngineDead stops the run with the items in flight unwritten. The
    engine is built from ``engine_spec`` (with ``engine_args``) only when work is left. ``per_item``: sequences an
    item keeps in flight at a time, to size how many items run at once. Returns ``{"written", "errors"}``."""
    from critic.io import JsonlWriter, done_ids, read_best_rows
    from critic.jobs import WindowedEngine, error_text, item_workers, run_sync, stream

    results_path = out_dir / RESULTS
    done = done_ids(read_best_rows(results_path), retry_errors)
    todo = [item for item in items if item.id not in done]
    logger.info("%s: %d items, %d already done, %d to go", stage, len(items), len(items) - len(todo), len(todo))
    if not todo:
        return {"written": 0, "errors": 0}
    if engine is None:
        from critic.engines import get_engine

        engine = get_engine(engine_spec, **(engine_args or {}))
    view = WindowedEngine(engine, window)
    with JsonlWriter(results_path) as writer:
        counts = run_sync(stream(todo, lambda item: process(view, item), writer,
                                 workers=item_workers(view.window.capacity, per_item),
                                 error_row=lambda item, exc: {"id": item.id, "error": error_text(exc)}))
    logger.info("%s: wrote %d rows (%d error rows) in %.1f s", stage, counts.written, counts.errors, counts.seconds)
    return {"written": counts.written, "errors": counts.errors}


def write_run_config(out_dir: Path, stage: str, cfg: PipelineConfig) -> None:
    """``config.json`` of a stage's output folder: what ``deepcritic merge`` checks and rebuilds the outputs with."""
    from critic.io import atomic_write_json

    atomic_write_json(out_dir / CONFIG, {"kind": stage, **cfg.model_dump(mode="json")})


def ordered_best_rows(out_dir: Path, ordered_ids: Sequence[str]) -> tuple[list[dict], int]:
    """(rows of ``results.jsonl`` in ``ordered_ids`` order that are not error rows, how many ids are error rows) under
    the resume rule of critic.io (per id the last non-error row wins)."""
    from critic.io import is_error_row, read_best_rows

    best = read_best_rows(out_dir / RESULTS)
    rows = [best[i] for i in ordered_ids if i in best]
    return [r for r in rows if not is_error_row(r)], sum(is_error_row(r) for r in rows)


def merge_runs(inputs: Sequence[str | os.PathLike[str]], out: str | os.PathLike[str]) -> dict:
    """Join the output folders of one stage's shards into ``out`` and rebuild its outputs (labels and stats for
    mc-label; the dataset and stats for seed) for the whole. The configs must agree on everything but
    :data:`RUN_ONLY_FIELDS`, and be every shard of one run or unsharded runs (:func:`critic.io.check_shard_cover`).
    Returns the rebuilt stats."""
    import importlib

    from critic.io import atomic_write_jsonl, best_rows, check_shard_cover, hold, read_keyed_rows

    folders = [Path(p) for p in inputs]
    configs = []
    for folder in folders:
        if not (folder / CONFIG).is_file():
            raise ValueError(f"{folder} is not a training output folder (no {CONFIG})")
        configs.append(json.loads((folder / CONFIG).read_text()))
    kinds = {c.get("kind") for c in configs}
    stages = {"mc-label": "training.mc_labels", "seed": "training.seed"}
    if len(kinds) != 1 or not kinds <= set(stages):
        raise ValueError(f"cannot merge these folders: stages {sorted(map(str, kinds))}")
    for folder, other in zip(folders[1:], configs[1:]):
        diff = sorted(k for k in set(configs[0]) | set(other)
                      if k not in RUN_ONLY_FIELDS and configs[0].get(k) != other.get(k))
        if diff:
            raise ValueError(f"{folders[0]} and {folder} ran different settings ({', '.join(diff)})")
    check_shard_cover([(f, c.get("shard")) for f, c in zip(folders, configs)])
    kind = kinds.pop()
    module = importlib.import_module(stages[kind])
    fields = {k: v for k, v in configs[0].items() if k != "kind"}
    cfg = module.CONFIG_TYPE.model_validate(fields | {"output_dir": str(out), "shard": None})
    # Read strictly (a bad line or a row without an id is an error) before the output is touched.
    merged = best_rows(read_keyed_rows([folder / RESULTS for folder in folders], "id")[1])
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with hold(out, folder=True):
        atomic_write_jsonl(out / RESULTS, merged.values())
        write_run_config(out, kind, cfg)
        return module.rebuild(cfg, folders, list(merged))
