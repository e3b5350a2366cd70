"""The run folder every evaluation writes: exact config, resumable JSONL rows, metrics, report.

A folder belongs to one configuration. Rerunning with the same configuration resumes (rows already written are
kept and skipped; error rows too, unless ``retry_errors``); rerunning with a different one is refused, so a folder's
rows never mix two settings. A run holds its folder (:func:`critic.io.hold`, ``run.lock``) for its whole life, so
a second run on the same folder is refused at once. Rows follow the resume rule of :mod:`critic.io`.

Shards: a config with ``shard: i/N`` runs only the items of that shard into its own folder; :func:`merge_runs`
joins the folders of all N shards into one with the rows of every item once and recomputes the metrics of the whole
from those rows - the same function over the same rows as an unsharded run.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, TypeAdapter

from critic.data import KNOWN_DATASETS
from critic.io import (
    atomic_write_json,
    atomic_write_jsonl,
    best_rows,
    check_shard_cover,
    count_error_rows,
    hold,
    read_jsonl,
    read_keyed_rows,
    row_key,
)

Result = TypeVar("Result", bound=BaseModel)
T = TypeVar("T")

CONFIG = "config.json"
METRICS = "metrics.json"
# config.json keys a run derives rather than reads: the prompt record (templates' sha256, first rendered prompt).
PROMPTS_KEY = "prompts"
# Config keys that never change results: a resumed run may change them, shards may differ in them.
RUN_ONLY_KEYS = ("name", "batch_size", "window", "concurrency", "engine_args")
# The module that owns each kind of run (its Config class and finish()).
KINDS = {"error-id": "eval.error_id", "refine": "eval.refine_success", "tts": "eval.tts"}


class RunConfigMismatch(ValueError):
    """The run folder holds rows from another configuration."""


def _differences(old: dict, new: dict, ignore: Iterable[str]) -> list[str]:
    skip = set(ignore)
    return sorted(k for k in set(old) | set(new) if k not in skip and old.get(k) != new.get(k))


def with_defaults(saved: Mapping[str, Any], config_type: type[BaseModel]) -> dict:
    """A saved config.json with every field it lacks filled with that field's current default (JSON form), so a run
    folder written before a key was added compares equal to a run of the same settings today. Keys the folder has
    are kept as they are; required fields it lacks stay missing."""
    filled = dict(saved)
    for name, field in config_type.model_fields.items():
        if name not in filled and not field.is_required():
            default = field.get_default(call_default_factory=True)
            filled[name] = TypeAdapter(field.annotation).dump_python(default, mode="json")
    return filled


def prepare(out_dir: str | Path, config: BaseModel, ignore: Iterable[str] = (),
            prompts: Mapping | None = None) -> Path:
    """Create ``out_dir`` and write ``config.json``; refuse a folder whose config differs (except ``ignore`` keys,
    which do not change results - e.g. the in-flight window).

    ``prompts`` (each prompt's template path and sha256, system message and first rendered chat) is recorded under
    ``"prompts"`` and compared like the config: a changed template or wording is a different run.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / CONFIG
    new = config.model_dump(mode="json")
    if prompts is not None:
        new[PROMPTS_KEY] = json.loads(json.dumps(prompts))  # as it reads back
    if path.is_file():
        diff = _differences(with_defaults(json.loads(path.read_text()), type(config)), new, ignore)
        if diff:
            raise RunConfigMismatch(
                f"{out_dir} already holds a run with different settings ({', '.join(diff)}); use another -o folder"
            )
    atomic_write_json(path, new)
    return out_dir


def read_config(out_dir: str | Path) -> dict:
    """A run folder's config.json (the config plus its prompt record)."""
    return json.loads((Path(out_dir) / CONFIG).read_text())


@contextmanager
def open_run(out_dir: str | Path, config: BaseModel, ignore: Iterable[str] = RUN_ONLY_KEYS,
             prompts: Mapping | None = None) -> Iterator[Path]:
    """Hold ``out_dir`` against a second run (:func:`critic.io.hold`) and :func:`prepare` it, for the block."""
    out_dir = Path(out_dir)
    with hold(out_dir, folder=True):  # creates the folder; one line (OutputUnwritable) when it cannot
        yield prepare(out_dir, config, ignore, prompts)


def data_label(name: str) -> str:
    """How a data set is named in keys and tables: a known name as is, a file by its stem."""
    return name if name in KNOWN_DATASETS else Path(name).stem


def keyed_items(items: Iterable[tuple[str, str, T]]) -> dict[str, T]:
    """``{key: item}`` of ``(key, data name, item)`` triples over the data sets of a run (their ids are unique
    within each set: critic.data refuses repeats). A data set named twice counts once; two data sets that give one
    key (``a/test.jsonl`` and ``b/test.jsonl`` both label their rows ``test/...``) are a ValueError, one line: rows
    keyed alike would silently replace each other."""
    out: dict[str, T] = {}
    source: dict[str, str] = {}
    for key, name, item in items:
        held = source.setdefault(key, name)
        if held != name:
            raise ValueError(f"data sets {held} and {name} both give key {key!r}; rename one file so their labels "
                             "differ")
        out.setdefault(key, item)
    return out


def load_problem_sets(names: Sequence[str], limit: int | None, seed: int | None) -> dict[str, tuple[str, Any]]:
    """``{key: (data label, Problem)}`` over problem sets with gold answers (GSM8K / MATH format), key =
    ``label/problem-id`` (:func:`keyed_items`: unique across sets); ``limit`` / ``seed`` per set as in
    :func:`critic.data.load_dataset_by_name`. ValueError for a set without gold answers."""
    from critic.data import load_dataset_by_name
    from critic.records import Problem

    def items():
        for name in names:
            for p in load_dataset_by_name(name, limit=limit, seed=seed):
                if not isinstance(p, Problem) or not p.answer:
                    raise ValueError(f"{name} is not a problem set with gold answers (GSM8K / MATH format)")
                label = data_label(name)
                yield f"{label}/{p.id}", name, (label, p)

    return keyed_items(items())


def error_rows(out_dir: str | Path) -> int:
    """Error rows (after the resume rule) across the folder's JSONL outputs: what decides exit code 1."""
    total = 0
    for path in sorted(Path(out_dir).glob("*.jsonl")):
        rows = read_jsonl(path)
        total += count_error_rows(best_rows(rows, row_key(rows)))
    return total


# ------------------------------------------------------------------------------------------------------- merging


def run_kind(folder: str | Path) -> str:
    """The ``kind`` in a run folder's config.json (ValueError when it is not an eval run folder)."""
    path = Path(folder) / CONFIG
    if not path.is_file():
        raise ValueError(f"{folder} is not a run folder (no {CONFIG})")
    kind = json.loads(path.read_text()).get("kind")
    if kind not in KINDS:
        raise ValueError(f"{folder}: unknown run kind {kind!r} (expected one of {', '.join(KINDS)})")
    return kind


def merge_runs(inputs: Sequence[str | Path], out_dir: str | Path) -> dict:
    """Join run folders of one configuration (e.g. its shards) into ``out_dir`` and recompute the whole's metrics.

    The folders must be every shard of one run, or unsharded runs (:func:`critic.io.check_shard_cover`; ValueError
    otherwise). Every JSONL file of the inputs is joined by name with the resume rule (one row per key); the configs
    must agree on everything but ``shard`` and the keys that do not change results; the merged config has no shard.
    Returns ``{"kind", "files": {name: ids}, "error_rows", "metrics"}``.
    """
    folders = [Path(p) for p in inputs]
    kinds = {run_kind(f) for f in folders}
    if len(kinds) != 1:
        raise ValueError(f"cannot merge runs of different kinds: {', '.join(sorted(kinds))}")
    kind = kinds.pop()
    module = importlib.import_module(KINDS[kind])
    configs = [with_defaults(json.loads((f / CONFIG).read_text()), module.CONFIG_TYPE) for f in folders]
    for folder, other in zip(folders[1:], configs[1:]):
        diff = _differences(configs[0], other, (*RUN_ONLY_KEYS, "shard"))
        if diff:
            raise RunConfigMismatch(f"{folders[0]} and {folder} ran different settings ({', '.join(diff)})")
    check_shard_cover([(f, c.get("shard")) for f, c in zip(folders, configs)])
    fields = {k: v for k, v in configs[0].items() if k != PROMPTS_KEY}  # the prompt record is derived, not a field
    merged_config = module.CONFIG_TYPE.model_validate(fields | {"shard": None})
    out_dir = Path(out_dir)
    names = sorted({p.name for f in folders for p in f.glob("*.jsonl")})
    # Every file read (strictly: a bad line or a row without its key is an error) before the output is touched.
    merged = {}
    for name in names:
        key, rows = read_keyed_rows([f / name for f in folders])
        merged[name] = best_rows(rows, key)
    files: dict[str, int] = {}
    with open_run(out_dir, merged_config, prompts=configs[0].get(PROMPTS_KEY)) as out_dir:
        for name, best in merged.items():
            atomic_write_jsonl(out_dir / name, best.values())
            files[name] = len(best)
        metrics = module.finish(merged_config, out_dir)
    return {"kind": kind, "files": files, "error_rows": error_rows(out_dir), "metrics": metrics.model_dump(mode="json")}


def finish_with(out_dir: Path, metrics: Result, report: Callable[[Path, dict, dict], Any]) -> Result:
    """Write ``metrics.json`` (``metrics.model_dump(mode="json")``) and the report of a run (from the folder's
    config.json, prompt record included); returns ``metrics``."""
    written = metrics.model_dump(mode="json")
    atomic_write_json(out_dir / METRICS, written)
    report(out_dir, written, read_config(out_dir))
    return metrics
