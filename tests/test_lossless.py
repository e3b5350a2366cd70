"""No silent row loss: merge refuses what it cannot join (bad lines, rows without an id, missing shards), inputs keyed
by id refuse duplicate ids and empty inputs - each as one usage-error line (exit 2), with the output left untouched.
Control flow only: the error-id runs use the SymPy critic on small fixtures; no model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent.cli import main
from critic.io import merge_jsonl, read_jsonl, write_jsonl

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures"


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines))
    return path


# ---------------------------------------------------------------------------------------------- 1. merge input


GOOD = '{"id": "a", "error": null}'


@pytest.mark.parametrize(("lines", "bad_row", "problem"), [
    ([GOOD, "not json"], 2, "invalid JSON"),  # also a torn last line: finish the shard first
    (["not json", GOOD], 1, "invalid JSON"),
    ([GOOD, "[1, 2]"], 2, "not a JSON object"),
    ([GOOD, '{"problem": "x"}'], 2, "no 'id' field"),
    ([GOOD, '{"id": null, "error": null}'], 2, "no 'id' field"),
    (['{"key": "s/1"}', '{"id": "s/2"}'], 2, "no 'key' field"),  # eval rows are keyed by "key"
])
def test_merge_refuses_rows_it_would_drop(tmp_path, capsys, lines, bad_row, problem):
    good = write_lines(tmp_path / "good.jsonl", ['{"key": "z"}' if "'key'" in problem else '{"id": "z"}'])
    bad = write_lines(tmp_path / "bad.jsonl", lines)
    out = write_lines(tmp_path / "m.jsonl", ["old"])
    assert main(["merge", "-o", str(out), str(good), str(bad)]) == 2
    line = one_line(capsys.readouterr().err)
    assert f"bad.jsonl: row {bad_row}" in line and problem in line, line
    assert out.read_text() == "old\n"  # not replaced
    assert main(["merge", "-o", str(tmp_path / "new.jsonl"), str(bad)]) == 2
    assert not (tmp_path / "new.jsonl").exists()


def test_merge_jsonl_still_joins_good_rows(tmp_path):
    one = write_jsonl(tmp_path / "1.jsonl", [{"id": "a", "error": None}]) and tmp_path / "1.jsonl"
    write_lines(tmp_path / "2.jsonl", ["", '{"id": "b", "error": null}', ""])  # blank lines are not rows
    assert merge_jsonl([one, tmp_path / "2.jsonl"], tmp_path / "m.jsonl") == {"ids": 2, "rows_read": 2,
                                                                              "error_rows": 0}
    with pytest.raises(ValueError, match=r"2\.jsonl: row 1: invalid JSON"):
        merge_jsonl([one, write_lines(tmp_path / "2.jsonl", ["{"])], tmp_path / "m.jsonl")


def _error_id_run(tmp_path: Path, name: str, *extra: str) -> Path:
    from eval.cli import main as eval_main

    out = tmp_path / name
    assert eval_main(["error-id", "--critic", "sympy", "--data", str(FIXTURES / "processbench_gsm8k.json"),
                      "--no-progress", "--name", "x", "-o", str(out), *extra]) in (0, 1)
    return out


@pytest.mark.parametrize("bad_line", ["not json", '{"pred_label0": 1}'])
def test_merge_of_eval_run_folders_refuses_bad_rows(tmp_path, capsys, bad_line):
    parts = [_error_id_run(tmp_path, f"part{i}", "--shard", f"{i}/2") for i in (1, 2)]
    with (parts[1] / "predictions.jsonl").open("a") as f:
        f.write(bad_line + "\n")
    capsys.readouterr()
    assert main(["merge", "-o", str(tmp_path / "merged"), *map(str, parts)]) == 2
    line = one_line(capsys.readouterr().err)
    assert "part2/predictions.jsonl: row" in line, line
    assert not (tmp_path / "merged" / "predictions.jsonl").exists()
    assert not (tmp_path / "merged" / "config.json").exists()


@pytest.mark.parametrize("bad_line", ["not json", '{"label0": 1}'])
def test_merge_of_training_folders_refuses_bad_rows(tmp_path, bad_line):
    from test_training_pipeline import mc_config, mc_script, write_problems

    from critic.engines.fake import FakeScriptedEngine
    from training.mc_labels import run_mc_labels
    from training.pipeline import merge_runs

    write_problems(tmp_path / "problems.jsonl")
    for i in (1, 2):
        run_mc_labels(mc_config(tmp_path, output_dir=str(tmp_path / f"mc{i}"), shard=f"{i}/2"),
                      engine=FakeScriptedEngine(mc_script()))
    with (tmp_path / "mc2" / "results.jsonl").open("a") as f:
        f.write(bad_line + "\n")
    with pytest.raises(ValueError, match=r"mc2/results\.jsonl: row \d+: "):
        merge_runs([tmp_path / "mc1", tmp_path / "mc2"], tmp_path / "merged")
    assert not (tmp_path / "merged").exists()
