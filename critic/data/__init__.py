"""Loaders for the benchmark and training files (:mod:`critic.data.loaders`), where their rows come from
(:mod:`critic.data.sources`) and problem-text normalisation (:mod:`critic.data.normalise`). Output files of long jobs
are :mod:`critic.io`'s.

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

from critic.data.loaders import (
    load_dataset_by_name,
    load_gsm8k,
    load_math,
    load_mr_gsm8k,
    load_prm800k,
    load_processbench,
)
from critic.data.normalise import normalize_problem
from critic.data.sources import KNOWN_DATASETS, PROCESSBENCH_SUBSETS, DataUnavailable, data_dir

__all__ = [
    "KNOWN_DATASETS",
    "PROCESSBENCH_SUBSETS",
    "DataUnavailable",
    "data_dir",
    "load_dataset_by_name",
    "load_gsm8k",
    "load_math",
    "load_mr_gsm8k",
    "load_prm800k",
    "load_processbench",
    "normalize_problem",
]
