"""The critique corpus (tests/fixtures/critique_corpus.jsonl): every text reads to its constructed truth, and no cut of
a well-formed critique before its Answer line reads as a final verdict."""

from __future__ import annotations

import importlib.util
import json
from collections import Counter
from pathlib import Path

import pytest

from critic.parse import parse_critique, parse_processbench

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def _rows() -> list[dict]:
    return [json.loads(line) for line in (FIXTURES / "critique_corpus.jsonl").read_text().splitlines() if line]


def _reading(row: dict) -> dict:
    parse = parse_critique if row["format"] == "deliberate" else parse_processbench
    c = parse(row["text"], row["num_steps"], row["finish_reason"])
    return {"status": c.status, "first_wrong_step1": c.first_wrong_step1,
            "verdicts": [[v.step1, v.verdict] for v in c.verdicts]}


def test_corpus_is_what_its_script_builds():
    spec = importlib.util.spec_from_file_location("make_critique_corpus", FIXTURES / "make_critique_corpus.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.build() == _rows()


def test_corpus_covers_the_variants():
    rows = _rows()
    assert len(rows) >= 150
    kinds = Counter(r["id"].rsplit("-", 1)[0] for r in rows)
    assert kinds["deliberate"] >= 150 and kinds["cut"] >= 50 and kinds["processbench"] >= 20
    texts = [r["text"] for r in rows if r["format"] == "deliberate"]
    for marker in ("#### The correctness of Step", "**Judgement**:\n", "\\[\n\\boxed", "$$\\boxed",
                   "Judgement: \\boxed", "## Answer\n", "Note: the solution's final answer", "The answer is: \\boxed",
                   "\n**Answer**: \\boxed"):
        assert sum(marker in t for t in texts) >= 5, marker
    statuses = Counter(r["expected"]["status"] for r in rows)
    assert statuses["ok"] and statuses["truncated"] and statuses["unparsed"]
    assert any(r["expected"]["first_wrong_step1"] == -1 for r in rows)


@pytest.mark.parametrize("row", _rows(), ids=lambda r: r["id"])
def test_corpus_reads_right(row):
    assert _reading(row) == row["expected"]


def test_no_cut_before_the_answer_line_is_ok():
    """Cutting a well-formed critique at any character before its Answer line never yields ``ok`` (every character
    for the first 60 texts, every 5th for the rest; the reading does not depend on ``finish_reason``)."""
    full = [r for r in _rows() if "cut_from" in r]
    assert len(full) >= 150
    for n, row in enumerate(full):
        step = 1 if n < 60 else 5
        for k in range(0, row["cut_from"], step):
            c = parse_critique(row["text"][:k], row["num_steps"], "length")
            assert c.status == "truncated", (row["id"], k, row["text"][max(0, k - 80):k])
            assert c.first_wrong_step1 is None
