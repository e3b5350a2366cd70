"""The loaders: ProcessBench, MR-GSM8K and PRM800K (step-labelled solutions), GSM8K and MATH (problems with gold
answers), and :func:`load_dataset_by_name` over all of them (see :mod:`critic.data` for the PRM800K rules)."""

from __future__ import annotations

import logging
import os
import random
from pathlib import Path
from typing import Any

from critic.data.sources import (
    KNOWN_DATASETS,
    DataUnavailable,
    _build,
    _field,
    _file_rows,
    _Source,
    _source,
)
from critic.grading import gsm8k_gold, math_gold
from critic.io import check_input_ids
from critic.records import NO_ERROR, LabeledSolution, Problem

log = logging.getLogger("critic.data")


# ------------------------------------------------------------------------------------------------- step-labelled sets


def _checked(records: list, rownums: list[int], where: str) -> list:
    """``records`` (each with ``.id``, read from rows ``rownums``), after refusing an empty set or a repeated id
    (every job keys its rows by id: a duplicate would silently vanish)."""
    check_input_ids(zip(rownums, (r.id for r in records), strict=True), where)
    return records


def _labeled_rows(src: _Source, subset: str, id_prefix: str = "") -> list[LabeledSolution]:
    out: list[LabeledSolution] = []
    rownums: list[int] = []
    for rownum, row in src.rows:
        rownums.append(rownum)
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
    return _checked(out, rownums, src.where)


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
    rownums: list[int] = []
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
        rownums.append(rownum)
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
    if not out and dropped:
        raise ValueError(f"{src.where}: no usable rows (dropped {dropped})")
    return _checked(out, rownums, src.where)


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
    rownums: list[int] = []
    for index, (rownum, row) in enumerate(src.rows):
        rownums.append(rownum)
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
                answer=gsm8k_gold(answer_field),
                source=f"gsm8k-{split}",
            )
        )
    return _checked(out, rownums, src.where)


def load_math(path_or_name: str | os.PathLike[str] = "math500") -> list[Problem]:
    """MATH-format JSONL (``problem``, ``solution``, optional ``answer``; else the last ``\\boxed{}`` of the solution).

    Ids: ``unique_id`` when present (MATH-500), else ``math-<idx>``, else ``<source>-<0-based row>``.
    """
    text = os.fspath(path_or_name)
    src = _source(text, hub_split="test")
    source = text if text in KNOWN_DATASETS else src.stem
    out: list[Problem] = []
    rownums: list[int] = []
    for index, (rownum, row) in enumerate(src.rows):
        rownums.append(rownum)
        problem = _field(row, "problem", str, src.where, rownum)
        answer = row.get("answer")
        if not isinstance(answer, str) or not answer.strip():
            try:
                answer = math_gold(_field(row, "solution", str, src.where, rownum))
            except ValueError:
                raise ValueError(f"{src.where}: row {rownum}: no 'answer' field "
                                 "and no \\boxed{} in the solution") from None
        if isinstance(row.get("unique_id"), str):
            row_id = row["unique_id"]
        elif isinstance(row.get("idx"), int):
            row_id = f"math-{row['idx']}"
        else:
            row_id = f"{source}-{index}"
        out.append(_build(Problem, src.where, rownum, id=row_id, problem=problem, answer=answer.strip(), source=source))
    return _checked(out, rownums, src.where)


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
    if kind is None and not path.exists() and (path.suffix or "/" in name):  # meant as a file
        raise DataUnavailable(f"no such file: {name}")
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
