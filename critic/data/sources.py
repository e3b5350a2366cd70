"""Where benchmark and training rows come from: the known data set names, ``$DEEPCRITIC_DATA``, local files (read
with :mod:`critic.io`), and hub datasets (``datasets``, imported lazily); plus the one-line row errors every loader
raises (``ValueError`` naming the file and the 1-based row)."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from critic.io import iter_jsonl, read_rows_file

REPO_ROOT = Path(__file__).resolve().parents[2]


class DataUnavailable(FileNotFoundError):
    """A data set could not be found locally or loaded from the hub (one clear line)."""


# name -> (format, path under data_dir(), hub fallback (dataset, config, split) or None)
KNOWN_DATASETS: dict[str, tuple[str, str, tuple[str, str | None, str] | None]] = {
    "processbench-gsm8k": ("processbench", "processbench/gsm8k.json", ("Qwen/ProcessBench", None, "gsm8k")),
    "processbench-math": ("processbench", "processbench/math.json", ("Qwen/ProcessBench", None, "math")),
    "processbench-olympiadbench": (
        "processbench",
        "processbench/olympiadbench.json",
        ("Qwen/ProcessBench", None, "olympiadbench"),
    ),
    "processbench-omnimath": ("processbench", "processbench/omnimath.json", ("Qwen/ProcessBench", None, "omnimath")),
    "mr-gsm8k": ("mr-gsm8k", "mr-gsm8k/processed_test.json", None),
    "gsm8k-test": ("gsm8k", "gsm8k/test.jsonl", ("openai/gsm8k", "main", "test")),
    "gsm8k-train": ("gsm8k", "gsm8k/train.jsonl", ("openai/gsm8k", "main", "train")),
    "math500": ("math", "math500/test.jsonl", ("HuggingFaceH4/MATH-500", None, "test")),
    "math-test": ("math", "math/test.jsonl", None),
}
PROCESSBENCH_SUBSETS = ("gsm8k", "math", "olympiadbench", "omnimath")

Row = dict[str, Any]
_SPLIT_STEMS = {"test", "train", "validation", "dev", "processed_test"}

# ----------------------------------------------------------------------------------------------------------- sources


def data_dir() -> Path | None:
    """``$DEEPCRITIC_DATA`` when set (None if it is not a folder), else ``../shared/data`` next to the repo, else
    None."""
    env = os.environ.get("DEEPCRITIC_DATA")
    candidate = Path(env).expanduser() if env else REPO_ROOT.parent / "shared" / "data"
    return candidate if candidate.is_dir() else None


def _known_path(name: str) -> Path | None:
    root = data_dir()
    if root is None:
        return None
    path = root / KNOWN_DATASETS[name][1]
    return path if path.is_file() else None


def _looks_like_hub_name(name: str) -> bool:
    return bool(re.fullmatch(r"[\w.-]+/[\w.-]+", name)) and Path(name).suffix.lower() not in {".json", ".jsonl"}


def _hub_rows(dataset: str, config: str | None, split: str) -> Iterator[tuple[int, Row]]:
    where = f"hub dataset {dataset!r}" + (f" config {config!r}" if config else "") + f" split {split!r}"
    try:
        import datasets
    except ImportError as e:
        raise DataUnavailable(f"cannot load {where}: the `datasets` package is not installed ({e})") from e
    try:
        ds = (datasets.load_dataset(dataset, config, split=split) if config
              else datasets.load_dataset(dataset, split=split))
    except Exception as e:  # any hub, network or cache failure becomes one clear line
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        raise DataUnavailable(
            f"cannot load {where} from the Hugging Face hub ({type(e).__name__}: {first}); offline or without the hub, "
            "pass a local file path, or a known name with DEEPCRITIC_DATA pointing at a data folder"
        ) from e
    for i, row in enumerate(ds, 1):
        yield i, dict(row)


@dataclass
class _Source:
    """Where rows come from: a local file or a hub split. ``where`` names it in error messages; ``stem`` is the
    default subset/source tag."""

    where: str
    rows: Iterable[tuple[int, Row]]
    stem: str


def _file_rows(path: Path) -> Iterator[tuple[int, Row]]:
    if path.suffix.lower() == ".jsonl":
        return iter_jsonl(path)  # streamed: PRM800K files are large
    return enumerate(read_rows_file(path), 1)


def _source(path_or_name: str | os.PathLike[str], hub_split: str | None = None,
            hub_config: str | None = None) -> _Source:
    """Resolve a local path, a known name or a hub name. ``hub_split`` / ``hub_config`` apply to hub names."""
    text = os.fspath(path_or_name)
    path = Path(text).expanduser()
    if path.is_file():
        # "math500/test.jsonl" is named by its folder, "processbench/gsm8k.json" by its file.
        stem = path.parent.name if path.stem in _SPLIT_STEMS and path.parent.name else path.stem
        return _Source(str(path), _file_rows(path), stem)
    if text in KNOWN_DATASETS:
        local = _known_path(text)
        if local is not None:
            return _Source(str(local), _file_rows(local), text)
        hub = KNOWN_DATASETS[text][2]
        if hub is None:
            raise DataUnavailable(
                f"dataset {text!r} needs the local file {KNOWN_DATASETS[text][1]!r}: set DEEPCRITIC_DATA to a folder "
                "that holds it"
            )
        dataset, config, split = hub
        return _Source(f"{dataset}:{split}", _hub_rows(dataset, config, split), text)
    if _looks_like_hub_name(text) and not path.exists():
        if hub_split is None:
            raise ValueError(f"hub dataset {text!r}: name the split to load")
        return _Source(f"{text}:{hub_split}", _hub_rows(text, hub_config, hub_split), hub_split)
    raise DataUnavailable(
        f"no such file or dataset: {text!r} (known names: {', '.join(KNOWN_DATASETS)}; or a file path; or a hub name "
        "like Qwen/ProcessBench)"
    )


def _build(model: type[BaseModel], where: str, rownum: int, **fields: Any) -> Any:
    try:
        return model(**fields)
    except ValidationError as e:
        problems = "; ".join(f"{'.'.join(map(str, err['loc'])) or 'row'}: {err['msg']}" for err in e.errors())
        raise ValueError(f"{where}: row {rownum}: {problems}") from e


def _field(row: Row, key: str, kind: type | tuple[type, ...], where: str, rownum: int) -> Any:
    if key not in row:
        raise ValueError(f"{where}: row {rownum}: missing field {key!r}")
    value = row[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ValueError(f"{where}: row {rownum}: field {key!r} has type {type(value).__name__}")
    return value
