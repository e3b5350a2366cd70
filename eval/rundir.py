"""The run folder every evaluation writes: exact config, resumable JSONL rows, metrics, report.

A folder belongs to one configuration. Rerunning with the same configuration resumes (rows already written are
kept and skipped); rerunning with a different one is refused, so a folder's rows never mix two settings.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

from pydantic import BaseModel

from critic.data import KNOWN_DATASETS, read_jsonl

CONFIG = "config.json"
METRICS = "metrics.json"
# config.json keys a run derives rather than reads: the prompt record (templates' sha256, first rendered prompt).
PROMPTS_KEY = "prompts"


class RunConfigMismatch(ValueError):
    """The run folder holds rows from another configuration."""


def prepare(out_dir: str | Path, config: BaseModel, ignore: Iterable[str] = (),
            prompts: Mapping | None = None) -> Path:
    """Create ``out_dir`` and write ``config.json``; refuse a folder whose config differs (except ``ignore`` keys,
    which do not change results - e.g. batch size).

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
        old = json.loads(path.read_text())
        skip = set(ignore)
        diff = sorted(k for k in set(old) | set(new) if k not in skip and old.get(k) != new.get(k))
        if diff:
            raise RunConfigMismatch(
                f"{out_dir} already holds a run with different settings ({', '.join(diff)}); use another -o folder"
            )
    path.write_text(json.dumps(new, indent=2) + "\n")
    return out_dir


def read_config(out_dir: str | Path) -> dict:
    """A run folder's config.json (the config plus its prompt record)."""
    return json.loads((Path(out_dir) / CONFIG).read_text())


def write_json(path: Path, data: Mapping) -> Path:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    tmp.replace(path)  # atomic: a reader never sees half a metrics file
    return path


def latest_rows(path: Path, key: str = "key") -> dict[str, dict]:
    """The last row written for each key (a resumed run never duplicates; be robust if something else did)."""
    return {str(row[key]): row for row in read_jsonl(path) if key in row}


def data_label(name: str) -> str:
    """How a data set is named in keys and tables: a known name as is, a file by its stem."""
    return name if name in KNOWN_DATASETS else Path(name).stem


def chunks(items: list, size: int) -> Iterator[list]:
    for i in range(0, len(items), max(1, size)):
        yield items[i : i + size]
