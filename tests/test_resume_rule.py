"""The one resume rule of critic.io (per id the last non-error row wins; an id with only error rows keeps its last
error row), pinned for every job kind that resumes: refine batches (agent), eval run folders, the training data
stages, and merges. Each job reads its earlier output through its own code path here, so a job that grew its own
rule (first row wins, last row wins regardless of errors) fails one of these."""

from __future__ import annotations

import asyncio
import json

import pytest

from critic.io import best_rows, merge_jsonl, read_jsonl

# id a: a result, then a failed retry (the result must stay); b: an error, then a successful retry (the retry wins);
# c: two errors (the last one stands); d: two results (the newer one wins).
HISTORY = [
    {"id": "a", "error": None, "value": "a-first"},
    {"id": "b", "error": "boom", "value": None},
    {"id": "c", "error": "bad row 1", "value": None},
    {"id": "d", "error": None, "value": "d-old"},
    {"id": "a", "error": "retry failed", "value": None},
    {"id": "b", "error": None, "value": "b-retried"},
    {"id": "c", "error": "bad row 2", "value": None},
    {"id": "d", "error": None, "value": "d-new"},
]
WINNERS = {"a": "a-first", "b": "b-retried", "c": None, "d": "d-new"}


def _write(path, rows, key="id"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps({key: r["id"], **{k: v for k, v in r.items() if k != "id"}}) + "\n"
                            for r in rows))
    return path


def test_the_rule_itself():
    best = best_rows(HISTORY)
    assert {i: r["value"] for i, r in best.items()} == WINNERS
    assert best["c"]["error"] == "bad row 2"
    assert list(best) == ["a", "b", "c", "d"]  # order of first appearance


def test_refine_batch_resumes_by_the_rule(tmp_path):
    from agent.batch import arefine_batch
    from critic.engines.fake import FakeScriptedEngine

    out = _write(tmp_path / "out.jsonl", HISTORY)
    rows = [{"id": i, "problem": "p", "steps": ["1 + 1 = 2"]} for i in "abcd"]
    engine = FakeScriptedEngine(lambda chat, sampling: "unused")  # FAKE: every id is done, so it must not be called
    summary = asyncio.run(arefine_batch(rows, out, generator=engine, critic=engine, progress=False))
    assert summary.skipped == 4 and summary.done == 0 and engine.calls == []
    assert summary.error_rows == 1  # only c: a's failed retry does not hide its result


def test_eval_run_folders_count_errors_and_merge_by_the_rule(tmp_path):
    from eval.rundir import error_rows

    folder = tmp_path / "run"
    _write(folder / "predictions.jsonl", HISTORY, key="key")
    assert error_rows(folder) == 1
    merged = tmp_path / "merged.jsonl"
    half = len(HISTORY) // 2
    stats = merge_jsonl([_write(tmp_path / "s1.jsonl", HISTORY[:half], key="key"),
                         _write(tmp_path / "s2.jsonl", HISTORY[half:], key="key")], merged)
    assert stats == {"ids": 4, "rows_read": 8, "error_rows": 1}
    assert {r["key"]: r["value"] for r in read_jsonl(merged)} == WINNERS


@pytest.mark.parametrize("retry_errors, expected", [(False, []), (True, ["c"])])
def test_training_stages_resume_by_the_rule(tmp_path, retry_errors, expected):
    from types import SimpleNamespace

    from training.pipeline import RESULTS, ordered_best_rows, process_pending

    _write(tmp_path / RESULTS, HISTORY)
    rows, errors = ordered_best_rows(tmp_path, ["d", "c", "b", "a"])
    assert [r["value"] for r in rows] == ["d-new", "b-retried", "a-first"] and errors == 1

    seen = []

    async def process(engine, item):
        seen.append(item.id)
        return {"id": item.id, "error": None, "value": f"{item.id}-rerun"}

    from critic.engines.fake import FakeScriptedEngine

    items = [SimpleNamespace(id=i) for i in "abcd"]
    engine = FakeScriptedEngine(lambda chat, sampling: "unused")  # FAKE: process() never calls it
    counts = process_pending(items, tmp_path, process, engine, "unused", "test", window=1,
                             retry_errors=retry_errors)
    assert seen == expected and counts["written"] == len(expected)
