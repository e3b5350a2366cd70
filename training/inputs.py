"""Where the training jobs' inputs come from: paths relative to the bundled recipes, and step-labelled solutions
(``mc-label`` output or PRM800K rows)."""

from __future__ import annotations

import os
from pathlib import Path

from critic.records import LabeledSolution

PACKAGE_DIR = Path(__file__).resolve().parent
RECIPES_DIR = PACKAGE_DIR / "recipes"


def resolve_path(path: str | os.PathLike[str]) -> Path:
    """A path as given when it exists, else relative to the ``training`` package (so recipes can name their bundled
    data as ``recipes/data/...`` from any working directory)."""
    given = Path(path).expanduser()
    if given.exists() or given.is_absolute():
        return given
    bundled = PACKAGE_DIR / given
    return bundled if bundled.exists() else given


def load_labeled_solutions(path: str | os.PathLike[str], limit: int | None = None) -> list[LabeledSolution]:
    """Step-labelled solutions from a JSONL file: rows of :class:`LabeledSolution` (what ``mc-label`` writes; extra
    keys are ignored) or PRM800K rows (read by :func:`critic.data.load_prm800k`), told apart by the first row.
    ValueError (one line) for an empty file, a repeated id (:func:`critic.io.check_input_ids`) or a bad row."""
    from critic.io import check_input_ids, iter_jsonl

    path = resolve_path(path)
    rows_in = iter_jsonl(path)
    first = next(rows_in, None)
    if first is None:
        raise ValueError(f"{path}: no rows")
    if "label0" not in first[1]:
        from critic.data import load_prm800k

        rows = load_prm800k(str(path))  # ids checked there
        return rows if limit is None else rows[:limit]
    numbered = [(first[0], LabeledSolution.model_validate(first[1]))]
    for number, row in rows_in:
        if limit is not None and len(numbered) >= limit:
            break
        numbered.append((number, LabeledSolution.model_validate(row)))
    check_input_ids(((number, s.id) for number, s in numbered), str(path))  # jobs key solutions by id
    return [s for _, s in numbered]
