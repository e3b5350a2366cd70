"""No silent row loss: merge refuses what it cannot join (bad lines, rows without an id, missing shards), inputs keyed
by id refuse duplicate ids and empty inputs - each as one usage-error line (exit 2), with the output left untouched.
Control flow only: the error-id runs use the SymPy critic on small fixtures; no model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent.cli import main
from critic.io import merge_jsonl, write_jsonl

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


# ------------------------------------------------------------------------------------ 2. duplicate ids in inputs


UNREACHABLE = "openai:http://127.0.0.1:9/v1"  # any engine work would fail with exit 3, not 2


def refine_input(path: Path, ids: list) -> Path:
    rows = [{"problem": f"What is {i} + 1?", "steps": [f"{i} + 1 = {i + 1}."]} for i in range(len(ids))]
    for row, row_id in zip(rows, ids):
        if row_id is not None:
            row["id"] = row_id
    return write_lines(path, [json.dumps(r) for r in rows])


@pytest.mark.parametrize(("ids", "dup", "rows"), [
    ([f"r{i}" for i in range(9)] + ["r3"], "r3", (4, 10)),
    (["a", "a"], "a", (1, 2)),
    ([1, None, "1"], "1", (1, 3)),  # ids compare as text, as the output rows key them
])
def test_refine_refuses_duplicate_ids_before_any_work(tmp_path, capsys, ids, dup, rows):
    src = refine_input(tmp_path / "in.jsonl", ids)
    out = tmp_path / "out.jsonl"
    assert main(["refine", str(src), "-o", str(out), "--generator", UNREACHABLE, "--no-progress"]) == 2
    line = one_line(capsys.readouterr().err)
    assert f"id {dup!r} is on rows {rows[0]} and {rows[1]}" in line and "in.jsonl" in line, line
    assert not out.exists()
    # with --limit or --shard the whole input is still checked
    assert main(["refine", str(src), "-o", str(out), "--generator", UNREACHABLE, "--no-progress", "--limit", "1",
                 "--shard", "1/2"]) == 2


def test_refine_batch_refuses_duplicates_in_given_rows(tmp_path):
    from agent.batch import refine_batch

    with pytest.raises(ValueError, match=r"the input rows: id 'x' is on rows 1 and 3"):
        refine_batch([{"id": "x", "problem": "p"}, {"problem": "q"}, {"id": "x", "problem": "r"}],
                     tmp_path / "o.jsonl", generator=UNREACHABLE)


def _processbench(path: Path, ids: list) -> Path:
    rows = [{"id": i, "problem": "p", "steps": ["s"], "label": -1} for i in ids]
    path.write_text(json.dumps(rows))
    return path


@pytest.mark.parametrize(("loader", "make", "message"), [
    ("processbench", lambda p: _processbench(p / "pb.json", ["a", "b", "a"]), "id 'a' is on rows 1 and 3"),
    ("mr-gsm8k", lambda p: _processbench(p / "mr.json", [7, 8, 7]), "id 'mr-gsm8k-7' is on rows 1 and 3"),
    ("math", lambda p: write_lines(p / "m.jsonl", [json.dumps({"problem": "p", "answer": "1", "unique_id": u})
                                                   for u in ("u1", "u2", "u2")]), "id 'u2' is on rows 2 and 3"),
    ("math", lambda p: write_lines(p / "m.jsonl", [json.dumps({"problem": "p", "answer": "1", "idx": 5}), "",
                                                   json.dumps({"problem": "q", "answer": "2", "idx": 5})]),
     "id 'math-5' is on rows 1 and 3"),  # JSONL rows are numbered by line
])
def test_data_loaders_refuse_duplicate_ids(tmp_path, loader, make, message):
    from critic.data import load_dataset_by_name, load_math, load_mr_gsm8k, load_processbench

    path = make(tmp_path)
    direct = {"processbench": load_processbench, "mr-gsm8k": load_mr_gsm8k, "math": load_math}[loader]
    with pytest.raises(ValueError, match=message):
        direct(str(path))
    if loader != "mr-gsm8k":  # mr-gsm8k is sniffed as processbench format from a file path: its own ids
        with pytest.raises(ValueError, match=message):
            load_dataset_by_name(str(path), limit=1)


def test_eval_loads_refuse_duplicate_ids(tmp_path, capsys):
    from eval.cli import main as eval_main

    data = _processbench(tmp_path / "pb.json", ["a", "b", "b"])
    assert eval_main(["error-id", "--critic", "sympy", "--data", str(data), "--no-progress",
                      "-o", str(tmp_path / "run")]) == 2
    assert "id 'b' is on rows 2 and 3" in one_line(capsys.readouterr().err)
    assert not (tmp_path / "run" / "predictions.jsonl").exists()


def test_refine_eval_initial_solutions_refuse_duplicate_ids(tmp_path):
    from eval.refine_success import RefineConfig, load_initial, load_problems

    problem = {"problem": "p", "answer": "1", "unique_id": "u"}
    problems_file = write_lines(tmp_path / "math.jsonl", [json.dumps(problem)])
    initial = write_lines(tmp_path / "initial.jsonl", [json.dumps({"id": "u", "steps": ["a"]}),
                                                       json.dumps({"id": "u", "steps": ["b"]})])
    config = RefineConfig(data=[str(problems_file)], initial=str(initial), generator="fake", critic="fake")
    with pytest.raises(ValueError, match="id 'u' is on rows 1 and 2"):
        load_initial(config, load_problems(config), tmp_path / "initial-out.jsonl")
    assert not (tmp_path / "initial-out.jsonl").exists()


def test_training_inputs_refuse_duplicate_ids(tmp_path):
    from training.inputs import load_labeled_solutions
    from training.mc_labels import load_problems

    row = {"id": "s1", "problem": "p", "steps": ["a"], "label0": -1}
    labeled = write_lines(tmp_path / "labels.jsonl", [json.dumps(row), json.dumps(row | {"id": "s2"}), json.dumps(row)])
    with pytest.raises(ValueError, match="labels.jsonl: id 's1' is on rows 1 and 3"):
        load_labeled_solutions(labeled)
    problems = write_lines(tmp_path / "problems.jsonl", [json.dumps({"problem": f"p{i}", "answer": "1", "unique_id": u})
                                                         for i, u in enumerate(["x", "y", "x"])])
    with pytest.raises(ValueError, match="id 'x' is on rows 1 and 3"):
        load_problems(str(problems))


def test_real_benchmarks_have_unique_ids(data_dir):
    from critic.data import KNOWN_DATASETS, load_dataset_by_name

    for name, (_, relative, _) in KNOWN_DATASETS.items():
        if not (data_dir / relative).is_file():
            continue
        rows = load_dataset_by_name(name)  # refuses a repeated id
        assert rows and len({r.id for r in rows}) == len(rows), name


# ------------------------------------------------------------------------------ 3. merge of part of the shards


@pytest.mark.parametrize(("runs", "message"), [
    ([("1/2",)], "shard 2/2 missing; pass every shard folder"),
    ([("2/4",), ("4/4",)], "shards 1/4, 3/4 missing"),
    ([("1/2",), ("2/2",), ("1/2",)], "shard 1/2 is given twice"),
    ([("1/2",), ("1/3",)], "is shard 1/2 but"),
    ([("1/2",), ("2/2",), ()], "is not sharded"),
])
def test_merge_of_eval_shards_needs_every_shard_once(tmp_path, capsys, runs, message):
    folders = [_error_id_run(tmp_path, f"run{n}", *(["--shard", spec[0]] if spec else []))
               for n, spec in enumerate(runs)]
    capsys.readouterr()
    assert main(["merge", "-o", str(tmp_path / "merged"), *map(str, folders)]) == 2
    assert message in one_line(capsys.readouterr().err)
    assert not (tmp_path / "merged").exists()


def test_merge_of_whole_eval_runs_still_joins(tmp_path, capsys):
    folders = [_error_id_run(tmp_path, f"run{n}") for n in (1, 2)]
    assert main(["merge", "-o", str(tmp_path / "merged"), *map(str, folders)]) in (0, 1)
    assert (tmp_path / "merged" / "metrics.json").is_file()


def test_merge_of_training_shards_needs_every_shard_once(tmp_path):
    from test_training_pipeline import mc_config, mc_script, write_problems

    from critic.engines.fake import FakeScriptedEngine
    from training.mc_labels import run_mc_labels
    from training.pipeline import merge_runs

    write_problems(tmp_path / "problems.jsonl")
    for name, shard in [("mc1", "1/3"), ("mc3", "3/3"), ("whole", None)]:
        run_mc_labels(mc_config(tmp_path, output_dir=str(tmp_path / name), shard=shard),
                      engine=FakeScriptedEngine(mc_script()))  # FAKE engine: control flow only
    with pytest.raises(ValueError, match="shard 2/3 missing"):
        merge_runs([tmp_path / "mc1", tmp_path / "mc3"], tmp_path / "merged")
    with pytest.raises(ValueError, match="is not sharded"):
        merge_runs([tmp_path / "mc1", tmp_path / "whole"], tmp_path / "merged")
    assert not (tmp_path / "merged").exists()


# ------------------------------------------------------------------------------------------- 4. empty inputs


@pytest.mark.parametrize(("name", "text"), [("empty.jsonl", ""), ("blank.jsonl", "\n  \n"), ("empty.json", "[]")])
def test_refine_refuses_an_empty_input(tmp_path, capsys, name, text):
    src = tmp_path / name
    src.write_text(text)
    out = tmp_path / "out.jsonl"
    assert main(["refine", str(src), "-o", str(out), "--generator", UNREACHABLE, "--no-progress"]) == 2
    assert f"{name}: no rows" in one_line(capsys.readouterr().err)
    assert not out.exists()


def test_refine_shard_without_rows_still_leaves_its_output(tmp_path, capsys):
    from critic.io import shard_of

    row_id = "only"
    empty_shard = next(i for i in (1, 2) if shard_of(row_id, 2) != i - 1)
    src = refine_input(tmp_path / "in.jsonl", [row_id])
    out = tmp_path / "out.jsonl"
    assert main(["refine", str(src), "-o", str(out), "--generator", UNREACHABLE, "--no-progress", "--shard",
                 f"{empty_shard}/2"]) == 0
    assert "wrote 0 rows" in capsys.readouterr().out and out.is_file() and out.read_text() == ""


@pytest.mark.parametrize(("name", "text"), [("pb.json", "[]"), ("m.jsonl", ""), ("m.jsonl", "\n\n")])
def test_eval_refuses_an_empty_data_file(tmp_path, capsys, name, text):
    from critic.data import load_math, load_processbench
    from eval.cli import main as eval_main

    data = tmp_path / name
    data.write_text(text)
    with pytest.raises(ValueError, match="no rows"):
        (load_processbench if name.endswith(".json") else load_math)(str(data))
    assert eval_main(["error-id", "--critic", "sympy", "--data", str(data), "--no-progress",
                      "-o", str(tmp_path / "run")]) == 2
    assert f"{name}: no rows" in one_line(capsys.readouterr().err)


def test_training_inputs_refuse_empty_files(tmp_path):
    from training.inputs import load_labeled_solutions
    from training.mc_labels import load_problems

    empty = write_lines(tmp_path / "empty.jsonl", [])
    with pytest.raises(ValueError, match="empty.jsonl: no rows"):
        load_labeled_solutions(empty)
    with pytest.raises(ValueError, match="empty.jsonl: no rows"):
        load_problems(str(empty))
    prm_all_dropped = write_lines(tmp_path / "prm.jsonl", [json.dumps(
        {"question": {"problem": "p"}, "label": {"steps": [], "finish_reason": "bad_problem"}})])
    with pytest.raises(ValueError, match="no usable rows"):
        load_labeled_solutions(prm_all_dropped)


def test_eval_data_sets_that_share_keys_are_refused(tmp_path, capsys):
    from eval.cli import main as eval_main
    from eval.refine_success import RefineConfig, load_problems
    from eval.tts import TtsConfig, _problems

    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    one, two = _processbench(tmp_path / "a" / "pb.json", ["x"]), _processbench(tmp_path / "b" / "pb.json", ["x", "y"])
    assert eval_main(["error-id", "--critic", "sympy", "--data", str(one), "--data", str(two), "--no-progress",
                      "-o", str(tmp_path / "run")]) == 2
    assert "both give key 'pb/x'" in one_line(capsys.readouterr().err)
    maths = [write_lines(tmp_path / d / "test.jsonl", [json.dumps({"problem": "p", "answer": "1", "unique_id": "u"})])
             for d in ("a", "b")]
    for config_type, load in ((RefineConfig, load_problems), (TtsConfig, _problems)):
        with pytest.raises(ValueError, match="both give key 'test/u'"):
            load(config_type(data=[str(m) for m in maths], generator="fake", critic="fake"))
        assert len(load(config_type(data=[str(maths[0])] * 2, generator="fake", critic="fake"))) == 1  # named twice
