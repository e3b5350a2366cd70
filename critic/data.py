"""Loaders for the benchmark and training files (the crash-safe JSONL output helpers live in critic.io and are
re-exported here).

Every loader takes a local file path, one of the known names below (resolved in :func:`data_dir`), or a Hugging Face
hub dataset name (``Qwen/ProcessBench``, ``openai/gsm8k``, ``HuggingFaceH4/MATH-500``) that goes through
``datasets.load_dataset`` (imported lazily; offline, that fails with a one-line :class:`DataUnavailable`).
A malformed row raises ``ValueError`` naming the file and the 1-based row (JSON list element or JSONL line).

PRM800K (``openai/prm800k`` label files) -> one :class:`LabeledSolution` per line:

* the solution takes, per step, the chosen completion; else the human-written one (rated correct); else the only
  completion; else - several alternatives and none chosen, which is how phase 1 ends on an error - the first one
  rated -1.
* ratings 1 and 0 mean correct, -1 wrong, ``null`` unrated: the labelled prefix ends before an unrated step.
* ``label0`` = the first step rated -1. With no -1, the row is all-correct (-1) only when the labeler finished it
  (``finish_reason == "solution"``) and no step was cut off as unrated.
* dropped (their correctness is unknown): rows without a -1 that did not finish (``give_up``, an unrated tail),
  every ``bad_problem`` row, rows with no labelled step. Dropped counts are logged at INFO level.
"""

from __future__ import annotations

import json
import logging
import os
import random
import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from critic.io import JsonlWriter, read_done_ids, read_jsonl, write_jsonl  # noqa: F401  (long jobs' output files)
from critic.parse import last_boxed
from critic.records import NO_ERROR, LabeledSolution, Problem

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[1]


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
    """``$DEEPCRITIC_DATA`` when set (None if it is not a folder), else ``../shared/data`` next to the repo, else None."""
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
        ds = datasets.load_dataset(dataset, config, split=split) if config else datasets.load_dataset(dataset, split=split)
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
        with path.open(encoding="utf-8") as f:
            for lineno, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as e:
                    raise ValueError(f"{path}: row {lineno}: invalid JSON ({e.msg})") from e
                if not isinstance(row, dict):
                    raise ValueError(f"{path}: row {lineno}: expected a JSON object, got {type(row).__name__}")
                yield lineno, row
        return
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: invalid JSON at line {e.lineno} ({e.msg})") from e
    if not isinstance(data, list):
        raise ValueError(f"{path}: expected a JSON list of rows, got {type(data).__name__}")
    for i, row in enumerate(data, 1):
        if not isinstance(row, dict):
            raise ValueError(f"{path}: row {i}: expected a JSON object, got {type(row).__name__}")
        yield i, row


def _source(path_or_name: str | os.PathLike[str], hub_split: str | None = None, hub_config: str | None = None) -> _Source:
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


# ------------------------------------------------------------------------------------------------- step-labelled sets


def _labeled_rows(src: _Source, subset: str, id_prefix: str = "") -> list[LabeledSolution]:
    out: list[LabeledSolution] = []
    for rownum, row in src.rows:
        steps = _field(row, "steps", list, src.where, rownum)
        if not all(isinstance(s, str) for s in steps):
            raise ValueError(f"{src.where}: row {rownum}: every step must be a string")
        label = _field(row, "label", int, src.where, rownum)
        raw_id = row.get("id", rownum - 1)
        row_id = f"{id_prefix}{raw_id}" if isinstance(raw_id, int) and not isinstance(raw_id, bool) else str(raw_id)
        out.append(
            _build(
                LabeledSolution,
                src.where,
                rownum,
                id=row_id,
                problem=_field(row, "problem", str, src.where, rownum),
                steps=steps,
                label0=label,
                generator=row.get("generator") or None,
                final_answer_correct=row.get("final_answer_correct"),
                subset=subset,
            )
        )
    return out


def load_processbench(path_or_name: str | os.PathLike[str], subset: str | None = None) -> list[LabeledSolution]:
    """ProcessBench-format rows (``id, generator, problem, steps, final_answer_correct, label`` 0-based).

    ``path_or_name``: a JSON/JSONL file, a known name (``processbench-math``), or ``Qwen/ProcessBench`` with
    ``subset`` naming the split (gsm8k, math, olympiadbench, omnimath). ``subset`` also tags the records; by default
    the file stem or the split.
    """
    text = os.fspath(path_or_name)
    if text in KNOWN_DATASETS and KNOWN_DATASETS[text][0] == "processbench":
        subset = subset or text.removeprefix("processbench-")
    src = _source(path_or_name, hub_split=subset)
    return _labeled_rows(src, subset or src.stem)


def load_mr_gsm8k(path_or_name: str | os.PathLike[str] = "mr-gsm8k") -> list[LabeledSolution]:
    """MR-GSM8K as processed by DeepCritic (ProcessBench schema; steps already start with ``Step i:``, kept as is).

    Integer ids become ``mr-gsm8k-<id>``.
    """
    src = _source(path_or_name, hub_split="test")
    return _labeled_rows(src, "mr-gsm8k", id_prefix="mr-gsm8k-")


_PRM_RATINGS = (1, 0, -1, None)


def _prm_step(step: Any, where: str, rownum: int, index: int) -> tuple[str, int | None] | None:
    """(text, rating) of the step the labelled trajectory took, or None when no step was taken here."""
    at = f"{where}: row {rownum}: label.steps[{index}]"
    if not isinstance(step, dict) or not isinstance(step.get("completions"), list):
        raise ValueError(f"{at}: expected an object with a 'completions' list")
    completions = step["completions"]
    for j, c in enumerate(completions):
        if not isinstance(c, dict) or not isinstance(c.get("text"), str):
            raise ValueError(f"{at}.completions[{j}]: expected an object with a 'text' string")
        if isinstance(c.get("rating"), bool) or c.get("rating") not in _PRM_RATINGS:
            raise ValueError(f"{at}.completions[{j}]: rating must be 1, 0, -1 or null, got {c.get('rating')!r}")
    chosen = step.get("chosen_completion")
    if chosen is not None:
        if isinstance(chosen, bool) or not isinstance(chosen, int) or not 0 <= chosen < len(completions):
            raise ValueError(f"{at}: chosen_completion {chosen!r} is not an index into {len(completions)} completions")
        return completions[chosen]["text"], completions[chosen]["rating"]
    human = step.get("human_completion")
    if human is not None:
        text = human.get("text") if isinstance(human, dict) else human
        if not isinstance(text, str):
            raise ValueError(f"{at}: human_completion must be a string or an object with 'text'")
        return text, 1  # labelers wrote their own step only as a correct one
    if len(completions) == 1:
        return completions[0]["text"], completions[0]["rating"]
    wrong = [c for c in completions if c["rating"] == -1]
    return (wrong[0]["text"], -1) if wrong else None


def load_prm800k(path: str | os.PathLike[str]) -> list[LabeledSolution]:
    """PRM800K label file (openai/prm800k JSONL schema) -> step-labelled solutions; rules in the module docstring."""
    src = _source(path)
    out: list[LabeledSolution] = []
    dropped: dict[str, int] = {}
    for rownum, row in src.rows:
        question = _field(row, "question", dict, src.where, rownum)
        label = _field(row, "label", dict, src.where, rownum)
        problem = _field(question, "problem", str, src.where, rownum)
        raw_steps = _field(label, "steps", list, src.where, rownum)
        finish = label.get("finish_reason")
        steps: list[str] = []
        first_wrong: int | None = None
        cut = False
        for index, raw in enumerate(raw_steps):
            taken = _prm_step(raw, src.where, rownum, index)
            if taken is None or taken[1] is None:
                cut = True
                break
            text, rating = taken
            if rating == -1 and first_wrong is None:
                first_wrong = len(steps)
            steps.append(text)
        if finish == "bad_problem" or not steps:
            reason = "bad_problem" if finish == "bad_problem" else "no labelled step"
        elif first_wrong is not None:
            reason = ""
        elif finish == "solution" and not cut:
            first_wrong = NO_ERROR
            reason = ""
        else:
            reason = f"no error found and not finished ({finish}{', unrated tail' if cut else ''})"
        if reason:
            dropped[reason] = dropped.get(reason, 0) + 1
            continue
        answer = question.get("ground_truth_answer")
        out.append(
            _build(
                LabeledSolution,
                src.where,
                rownum,
                id=f"{src.stem}-{rownum}",
                problem=problem,
                steps=steps,
                answer=answer if isinstance(answer, str) else None,
                label0=first_wrong,
                subset=src.stem,
                final_answer_correct=True if first_wrong == NO_ERROR else None,
            )
        )
    if dropped:
        log.info("%s: kept %d rows, dropped %s", src.where, len(out), dropped)
    return out


# ----------------------------------------------------------------------------------------------------- problem sets


def load_gsm8k(path_or_name: str | os.PathLike[str] = "gsm8k-test", split: str = "test") -> list[Problem]:
    """GSM8K JSONL (``question``, ``answer`` with the final answer after ``#### ``).

    ``path_or_name``: a file, ``gsm8k-test`` / ``gsm8k-train`` / ``gsm8k`` (``split`` picks), or ``openai/gsm8k``.
    Ids are ``gsm8k-<split>-<0-based row>``.
    """
    text = os.fspath(path_or_name)
    if text == "gsm8k":
        text = f"gsm8k-{split}"
    src = _source(text, hub_split=split, hub_config="main")
    out: list[Problem] = []
    for index, (rownum, row) in enumerate(src.rows):
        answer_field = _field(row, "answer", str, src.where, rownum)
        if "####" not in answer_field:
            raise ValueError(f"{src.where}: row {rownum}: answer has no '#### ' final answer")
        out.append(
            _build(
                Problem,
                src.where,
                rownum,
                id=f"gsm8k-{split}-{index}",
                problem=_field(row, "question", str, src.where, rownum),
                answer=answer_field.rsplit("####", 1)[1].strip(),
                source=f"gsm8k-{split}",
            )
        )
    return out


def load_math(path_or_name: str | os.PathLike[str] = "math500") -> list[Problem]:
    """MATH-format JSONL (``problem``, ``solution``, optional ``answer``; else the last ``\\boxed{}`` of the solution).

    Ids: ``unique_id`` when present (MATH-500), else ``math-<idx>``, else ``<source>-<0-based row>``.
    """
    text = os.fspath(path_or_name)
    src = _source(text, hub_split="test")
    source = text if text in KNOWN_DATASETS else src.stem
    out: list[Problem] = []
    for index, (rownum, row) in enumerate(src.rows):
        problem = _field(row, "problem", str, src.where, rownum)
        answer = row.get("answer")
        if not isinstance(answer, str) or not answer.strip():
            answer = last_boxed(_field(row, "solution", str, src.where, rownum))
            if answer is None:
                raise ValueError(f"{src.where}: row {rownum}: no 'answer' field and no \\boxed{{}} in the solution")
        if isinstance(row.get("unique_id"), str):
            row_id = row["unique_id"]
        elif isinstance(row.get("idx"), int):
            row_id = f"math-{row['idx']}"
        else:
            row_id = f"{source}-{index}"
        out.append(_build(Problem, src.where, rownum, id=row_id, problem=problem, answer=answer.strip(), source=source))
    return out


def _sniff(path: Path) -> str:
    """The format of a local file, from its first row."""
    first = next(iter(_file_rows(path)), None)
    if first is None:
        raise ValueError(f"{path}: no rows")
    row = first[1]
    if isinstance(row.get("question"), dict) and isinstance(row.get("label"), dict):
        return "prm800k"
    if "steps" in row and "label" in row:
        return "processbench"
    if "question" in row and "answer" in row:
        return "gsm8k"
    if "problem" in row:
        return "math"
    raise ValueError(f"{path}: cannot tell the format from the first row's fields {sorted(row)}")


def load_dataset_by_name(
    name: str, limit: int | None = None, seed: int | None = None
) -> list[LabeledSolution] | list[Problem]:
    """Load a known name (see ``KNOWN_DATASETS``) or a file path (format detected from its first row).

    ``limit`` keeps that many rows: the first ones without ``seed``, a seeded random sample with one; either way in
    file order, so the same arguments always give the same list.
    """
    path = Path(name).expanduser()
    kind = KNOWN_DATASETS[name][0] if name in KNOWN_DATASETS else _sniff(path) if path.is_file() else None
    if kind is None:
        raise DataUnavailable(f"unknown dataset {name!r}: use one of {', '.join(KNOWN_DATASETS)} or a file path")
    loaders = {
        "processbench": load_processbench,
        "mr-gsm8k": load_mr_gsm8k,
        "prm800k": load_prm800k,
        "math": load_math,
    }
    if kind == "gsm8k":
        split = name.removeprefix("gsm8k-") if name in KNOWN_DATASETS else "train" if "train" in path.stem else "test"
        rows: list[Any] = load_gsm8k(name, split=split)
    else:
        rows = loaders[kind](name)
    return _sample(rows, limit, seed)


def _sample(rows: list[Any], limit: int | None, seed: int | None) -> list[Any]:
    if limit is None or limit >= len(rows):
        return rows
    if limit < 0:
        raise ValueError(f"limit must be >= 0, got {limit}")
    if seed is None:
        return rows[:limit]
    keep = sorted(random.Random(seed).sample(range(len(rows)), limit))
    return [rows[i] for i in keep]


# ------------------------------------------------------------------------------------------------- contamination


_LATEX_NOISE = re.compile(r"\\(?:left|right|displaystyle|!|,|;|:| |quad|qquad)(?![a-zA-Z])")


def normalize_problem(text: str) -> str:
    """Problem text reduced for duplicate detection: Unicode-normalised, case-folded, LaTeX spacing and sizing
    commands and every character except letters, digits and operators removed (``\\dfrac`` counts as ``\\frac``)."""
    s = unicodedata.normalize("NFKC", text).casefold()
    s = re.sub(r"\\[dt]frac\b", r"\\frac", s)
    s = _LATEX_NOISE.sub("", s)
    return re.sub(r"[^\w+\-*/=<>^%]|_", "", s)
