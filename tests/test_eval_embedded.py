"""`deepcritic eval error-id` and `eval refine` on the REAL embedded model through vLLM (slow).

SmolLM2-135M does not critique math; these tests check that real runs go end to end, respect their token bounds,
and leave outputs that parse and plot. Data: the ProcessBench GSM8K and GSM8K test fixtures (they need no data dir).
"""

from __future__ import annotations

import json

import pytest

from agent.cli import main as deepcritic
from critic.io import read_jsonl

pytestmark = pytest.mark.slow

MAX_TOKENS = 64


@pytest.fixture(scope="module")
def engine():
    pytest.importorskip("vllm")
    from critic.engines import get_engine

    return get_engine("vllm:embedded")  # built once; the CLI runs below get this same cached engine


def assert_png(path):
    from PIL import Image

    with Image.open(path) as image:
        assert image.format == "PNG" and image.size[0] > 100 and image.size[1] > 100


def test_error_id_on_processbench_gsm8k(engine, fixtures_dir, tmp_path, capsys):
    out = tmp_path / "error-id"
    argv = ["eval", "error-id", "--critic", "vllm:embedded", "--data", str(fixtures_dir / "processbench_gsm8k.json"),
            "--limit", "20", "--max-tokens", str(MAX_TOKENS), "-o", str(out), "--no-progress"]
    assert deepcritic(argv) == 0
    assert "| processbench_gsm8k |" in capsys.readouterr().out
    rows = read_jsonl(out / "predictions.jsonl")
    assert len(rows) == 20 and len({r["key"] for r in rows}) == 20
    for row in rows:
        assert row["status"] in ("ok", "unparsed", "truncated")
        assert 0 < row["tokens"] <= MAX_TOKENS
        assert (row["pred_label0"] is None) == (row["status"] != "ok")
        if row["status"] == "truncated":
            assert row["tokens"] == MAX_TOKENS
    metrics = json.loads((out / "metrics.json").read_text())
    m = metrics["processbench_gsm8k"]
    assert m["n"] == 20 and m["n_err"] + m["n_cor"] == 20 and 0 <= m["f1"] <= 1
    assert m["tokens"] == sum(r["tokens"] for r in rows)
    assert json.loads((out / "config.json").read_text())["critic"] == "vllm:embedded"
    assert "| **average (macro)** |" in (out / "report.md").read_text()
    assert_png(out / "f1.png")


def test_refine_on_gsm8k_test(engine, fixtures_dir, tmp_path, capsys):
    out = tmp_path / "refine"
    argv = ["eval", "refine", "--generator", "vllm:embedded", "--critic", "vllm:embedded",
            "--data", str(fixtures_dir / "gsm8k_test.jsonl"), "--limit", "10", "--max-tokens", str(MAX_TOKENS),
            "--critic-max-tokens", str(MAX_TOKENS), "--max-rounds", "2", "-o", str(out), "--no-progress"]
    assert deepcritic(argv) == 0
    assert "wrong→correct" in capsys.readouterr().out
    metrics = json.loads((out / "metrics.json").read_text())
    [(data, variants)] = metrics.items()
    m = variants["critic"]
    assert m["n"] == 10
    assert m["correct_after"] == m["correct_before"] + m["wrong_to_correct"] - m["correct_to_wrong"]
    assert 0 <= m["mean_rounds"] <= 2 and m["tokens"] <= 10 * 2 * 2 * MAX_TOKENS
    assert len(read_jsonl(out / "initial.jsonl")) == 10
    refined = read_jsonl(out / "refined-critic.jsonl")
    assert len(refined) + m["errors"] == 10
    assert_png(out / "refine.png")
    # the trace viewer reads the real refine rows
    assert deepcritic(["view", str(out / "refined-critic.jsonl"), "-o", str(tmp_path / "view.html")]) == 0
    assert "Round 1" in (tmp_path / "view.html").read_text()
