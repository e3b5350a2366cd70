"""critic.data: loaders over the fixtures, name resolution, hub errors, bad rows, sampling, dedup, JSONL output."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
import types
from pathlib import Path

import pytest

from critic.data import (
    KNOWN_DATASETS,
    DataUnavailable,
    data_dir,
    load_dataset_by_name,
    load_gsm8k,
    load_math,
    load_mr_gsm8k,
    load_prm800k,
    load_processbench,
    normalize_problem,
)
from critic.io import JsonlWriter, read_done_ids, read_jsonl, write_jsonl
from critic.records import LabeledSolution, Problem

# --------------------------------------------------------------------------------------------- loaders on fixtures


def test_processbench_fixture(fixtures_dir):
    rows = load_processbench(fixtures_dir / "processbench_gsm8k.json")
    assert len(rows) == 25
    assert all(isinstance(r, LabeledSolution) and r.subset == "processbench_gsm8k" for r in rows)
    assert len({r.id for r in rows}) == len(rows)
    assert {r.label0 for r in rows} >= {-1, 0, 1, 2}
    quirky = next(r for r in rows if r.id == "gsm8k-233")
    assert quirky.steps[1].startswith("Step 1:")  # kept exactly as in the file
    assert all(r.final_answer_correct in (True, False) for r in rows)
    assert load_processbench(fixtures_dir / "processbench_gsm8k.json", subset="gsm8k")[0].subset == "gsm8k"


def test_processbench_math_fixture_label_fix(fixtures_dir):
    rows = {r.id: r for r in load_processbench(fixtures_dir / "processbench_math.json")}
    assert rows["math-688"].label0 == 0


def test_mr_gsm8k_fixture(fixtures_dir):
    rows = load_mr_gsm8k(fixtures_dir / "mr_gsm8k.json")
    assert len(rows) == 24
    assert all(r.id.startswith("mr-gsm8k-") and r.subset == "mr-gsm8k" and r.generator is None for r in rows)
    for r in rows:
        assert all(s.startswith(f"Step {i}:") for i, s in enumerate(r.steps, 1))


def test_gsm8k_fixture(fixtures_dir):
    rows = load_gsm8k(fixtures_dir / "gsm8k_test.jsonl")
    assert len(rows) == 30
    assert rows[0] == Problem(id="gsm8k-test-0", problem=rows[0].problem, answer="18", source="gsm8k-test")
    assert rows[0].problem.startswith("Janet")
    assert all(r.answer and "####" not in r.answer for r in rows)


def test_math_fixture(fixtures_dir):
    rows = load_math(fixtures_dir / "math500.jsonl")
    assert len(rows) == 30
    assert rows[0].id == "test/precalculus/807.json"
    assert rows[0].answer == "\\left( 3, \\frac{\\pi}{2} \\right)"
    assert rows[0].source == "math500"


def test_math_answer_from_boxed_solution(tmp_path):
    path = tmp_path / "m.jsonl"
    path.write_text(
        json.dumps({"problem": "p", "solution": "so $\\boxed{\\frac{1}{2}}$.", "idx": 7}) + "\n"
        + json.dumps({"problem": "q", "solution": "x \\boxed{4}"}) + "\n"
    )
    rows = load_math(path)
    assert [(r.id, r.answer) for r in rows] == [("math-7", "\\frac{1}{2}"), ("m-1", "4")]


PRM_EXPECTED = {
    "prm800k_sample-1": -1,
    "prm800k_sample-2": 2,
    "prm800k_sample-3": -1,
    "prm800k_sample-4": 1,
    "prm800k_sample-5": -1,
    "prm800k_sample-9": 1,
    "prm800k_sample-10": -1,
    "prm800k_sample-11": 0,
    "prm800k_sample-12": -1,
}


def test_prm800k_fixture(fixtures_dir):
    rows = {r.id: r for r in load_prm800k(fixtures_dir / "prm800k_sample.jsonl")}
    assert {k: r.label0 for k, r in rows.items()} == PRM_EXPECTED
    # chosen alternative completion
    assert rows["prm800k_sample-3"].steps[1] == "So the divisor count is $(2+1)(1+1) = 6$."
    # several alternatives, none chosen: the -1 one ends the solution
    assert rows["prm800k_sample-4"].steps[-1] == "For $n = 6$ this is $6 \\cdot 180 = 1080$."
    # human completion, string and object forms
    assert rows["prm800k_sample-5"].steps[1].startswith("So the sum is $\\frac{3}{6}")
    assert rows["prm800k_sample-12"].steps[0].startswith("Each of the 6 faces")
    # the unrated step after the error is cut
    assert len(rows["prm800k_sample-9"].steps) == 2
    assert rows["prm800k_sample-1"].answer == "17"
    assert rows["prm800k_sample-1"].final_answer_correct is True


# ------------------------------------------------------------------------------------------------ name resolution


def _fake_data_dir(root: Path, fixtures: Path) -> Path:
    layout = {
        "processbench/gsm8k.json": "processbench_gsm8k.json",
        "processbench/math.json": "processbench_math.json",
        "mr-gsm8k/processed_test.json": "mr_gsm8k.json",
        "gsm8k/test.jsonl": "gsm8k_test.jsonl",
        "math500/test.jsonl": "math500.jsonl",
    }
    for rel, fixture in layout.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(fixtures / fixture, root / rel)
    return root


def test_data_dir_env(tmp_path, monkeypatch):
    monkeypatch.setenv("DEEPCRITIC_DATA", str(tmp_path))
    assert data_dir() == tmp_path
    monkeypatch.setenv("DEEPCRITIC_DATA", str(tmp_path / "missing"))
    assert data_dir() is None


def test_known_names_resolve_in_data_dir(tmp_path, monkeypatch, fixtures_dir):
    monkeypatch.setenv("DEEPCRITIC_DATA", str(_fake_data_dir(tmp_path, fixtures_dir)))
    pb = load_dataset_by_name("processbench-gsm8k")
    assert len(pb) == 25 and pb[0].subset == "gsm8k"
    assert load_processbench("processbench-math")[0].subset == "math"
    assert len(load_dataset_by_name("mr-gsm8k")) == 24
    assert load_dataset_by_name("gsm8k-test")[0].source == "gsm8k-test"
    assert load_gsm8k("gsm8k")[0].id == "gsm8k-test-0"
    assert load_dataset_by_name("math500")[0].source == "math500"


def test_known_name_without_local_file_or_hub(tmp_path, monkeypatch):
    monkeypatch.setenv("DEEPCRITIC_DATA", str(tmp_path))
    with pytest.raises(DataUnavailable, match="DEEPCRITIC_DATA"):
        load_dataset_by_name("mr-gsm8k")
    with pytest.raises(DataUnavailable, match="unknown dataset"):
        load_dataset_by_name("no-such-set")
    with pytest.raises(DataUnavailable, match="no such file"):
        load_gsm8k(str(tmp_path / "nope.jsonl"))


def _fake_datasets(monkeypatch, load):
    module = types.ModuleType("datasets")
    module.load_dataset = load
    monkeypatch.setitem(sys.modules, "datasets", module)


def test_hub_failure_is_one_clear_error(monkeypatch):
    def offline(*args, **kwargs):
        raise ConnectionError("Couldn't reach 'Qwen/ProcessBench' on the Hub (LocalEntryNotFoundError)\nmore detail")

    _fake_datasets(monkeypatch, offline)
    with pytest.raises(DataUnavailable) as err:
        load_processbench("Qwen/ProcessBench", subset="gsm8k")
    message = str(err.value)
    assert "Qwen/ProcessBench" in message and "gsm8k" in message and "local file path" in message
    assert "\n" not in message
    with pytest.raises(ValueError, match="split"):
        load_processbench("Qwen/ProcessBench")


def test_hub_rows_are_loaded(monkeypatch, fixtures_dir):
    rows = json.loads((fixtures_dir / "processbench_gsm8k.json").read_text())
    calls = []

    def fake_load(name, config=None, split=None):
        calls.append((name, config, split))
        return rows

    _fake_datasets(monkeypatch, fake_load)
    got = load_processbench("Qwen/ProcessBench", subset="gsm8k")
    assert calls == [("Qwen/ProcessBench", None, "gsm8k")]
    assert len(got) == 25 and got[0].subset == "gsm8k"


def test_known_name_falls_back_to_hub(tmp_path, monkeypatch, fixtures_dir):
    monkeypatch.setenv("DEEPCRITIC_DATA", str(tmp_path))  # empty: no local copy
    lines = (fixtures_dir / "gsm8k_test.jsonl").read_text().splitlines()
    calls = []

    def fake_load(name, config=None, split=None):
        calls.append((name, config, split))
        return [json.loads(line) for line in lines]

    _fake_datasets(monkeypatch, fake_load)
    assert len(load_dataset_by_name("gsm8k-test")) == 30
    assert calls == [("openai/gsm8k", "main", "test")]


# ------------------------------------------------------------------------------------------------------- bad rows


def _write(path: Path, rows) -> Path:
    path.write_text(json.dumps(rows))
    return path


@pytest.mark.parametrize(
    "bad_row, message",
    [
        ({"id": "x", "problem": "p", "label": 0}, "missing field 'steps'"),
        ({"id": "x", "problem": "p", "steps": ["a"], "label": 3}, "label0"),
        ({"id": "x", "problem": "p", "steps": ["a"], "label": "0"}, "'label'"),
        ({"id": "x", "problem": "p", "steps": ["a", 5], "label": -1}, "string"),
        ({"id": "x", "steps": ["a"], "label": -1}, "'problem'"),
        ("not an object", "JSON object"),
    ],
)
def test_processbench_bad_row_names_file_and_row(tmp_path, bad_row, message):
    good = {"id": "ok", "problem": "p", "steps": ["a", "b"], "label": 1}
    path = _write(tmp_path / "bench.json", [good, bad_row])
    with pytest.raises(ValueError) as err:
        load_processbench(path)
    assert "bench.json" in str(err.value) and "row 2" in str(err.value) and message in str(err.value)


def test_jsonl_bad_line(tmp_path):
    path = tmp_path / "g.jsonl"
    path.write_text('{"question": "q", "answer": "a #### 1"}\n\n{"question": "q", "answer": \n')
    with pytest.raises(ValueError, match=r"g\.jsonl: row 3: invalid JSON"):
        load_gsm8k(path)
    path.write_text('{"question": "q", "answer": "no final"}\n')
    with pytest.raises(ValueError, match=r"g\.jsonl: row 1: .*####"):
        load_gsm8k(path)


def test_not_a_list(tmp_path):
    with pytest.raises(ValueError, match="JSON list"):
        load_processbench(_write(tmp_path / "d.json", {"rows": []}))


def _prm_row(steps, finish="solution"):
    return {"question": {"problem": "p", "ground_truth_answer": "1"},
            "label": {"steps": steps, "finish_reason": finish}}


@pytest.mark.parametrize(
    "steps, message",
    [
        ([{"completions": [{"text": "a", "rating": 2}], "chosen_completion": 0}], "rating"),
        ([{"completions": [{"text": "a", "rating": 1}], "chosen_completion": 3}], "chosen_completion"),
        ([{"completions": [{"rating": 1}], "chosen_completion": 0}], "'text'"),
        (["oops"], "completions"),
    ],
)
def test_prm800k_bad_rows(tmp_path, steps, message):
    path = tmp_path / "prm.jsonl"
    good = _prm_row([{"completions": [{"text": "a", "rating": 1}], "chosen_completion": 0}])
    path.write_text(json.dumps(good) + "\n" + json.dumps(_prm_row(steps)) + "\n")
    with pytest.raises(ValueError) as err:
        load_prm800k(path)
    assert "prm.jsonl: row 2" in str(err.value) and message in str(err.value)


# ------------------------------------------------------------------------------------------------------- sampling


def test_limit_and_seed(fixtures_dir):
    path = str(fixtures_dir / "gsm8k_test.jsonl")
    everything = load_dataset_by_name(path)
    assert [r.id for r in load_dataset_by_name(path, limit=5)] == [r.id for r in everything[:5]]
    a = load_dataset_by_name(path, limit=7, seed=3)
    b = load_dataset_by_name(path, limit=7, seed=3)
    c = load_dataset_by_name(path, limit=7, seed=4)
    assert [r.id for r in a] == [r.id for r in b] != [r.id for r in c]
    order = [r.id for r in everything]
    assert [order.index(r.id) for r in a] == sorted(order.index(r.id) for r in a)
    assert len(load_dataset_by_name(path, limit=100, seed=1)) == 30


@pytest.mark.parametrize(
    "fixture, kind",
    [
        ("processbench_math.json", LabeledSolution),
        ("mr_gsm8k.json", LabeledSolution),
        ("prm800k_sample.jsonl", LabeledSolution),
        ("gsm8k_test.jsonl", Problem),
        ("math500.jsonl", Problem),
    ],
)
def test_format_sniffing(fixtures_dir, fixture, kind):
    rows = load_dataset_by_name(str(fixtures_dir / fixture))
    assert rows and all(isinstance(r, kind) for r in rows)


# -------------------------------------------------------------------------------------------------- contamination


def test_normalize_problem():
    a = "Compute $\\dfrac{1}{2} + \\left(3\\right)$."
    b = "compute  $\\frac{1}{2}+(3)$"
    assert normalize_problem(a) == normalize_problem(b)
    assert normalize_problem("What is 2+3?") != normalize_problem("What is 2+4?")
    assert normalize_problem("Ｘ＝１") == normalize_problem("x=1")


def test_math500_is_inside_math_test(data_dir):
    full = {normalize_problem(p.problem) for p in load_math(data_dir / "math" / "test.jsonl")}
    math500 = load_math(data_dir / "math500" / "test.jsonl")
    assert {p.source for p in math500} == {"math500"}  # named by its folder, not "test"
    assert sum(normalize_problem(p.problem) in full for p in math500) == 500


def test_every_known_name_loads_from_the_data_dir(data_dir, monkeypatch):
    monkeypatch.setenv("DEEPCRITIC_DATA", str(data_dir))
    sizes = {name: len(load_dataset_by_name(name)) for name in KNOWN_DATASETS}
    assert sizes == {
        "processbench-gsm8k": 400,
        "processbench-math": 1000,
        "processbench-olympiadbench": 1000,
        "processbench-omnimath": 1000,
        "mr-gsm8k": 1418,
        "gsm8k-test": 1319,
        "gsm8k-train": 7473,
        "math500": 500,
        "math-test": 5000,
    }
    for name in KNOWN_DATASETS:
        rows = load_dataset_by_name(name)
        assert len({r.id for r in rows}) == len(rows), name


# --------------------------------------------------------------------------------------------------- JSONL output


def test_writer_appends_and_resumes(tmp_path):
    out = tmp_path / "sub" / "out.jsonl"
    with JsonlWriter(out) as w:
        w.write({"id": "a", "x": 1})
        w.write(Problem(id="b", problem="p"))
    assert write_jsonl(out, [{"id": 3}]) == 1
    assert read_done_ids(out) == {"a", "b", "3"}
    assert [r["id"] for r in read_jsonl(out)] == ["a", "b", 3]
    assert read_done_ids(tmp_path / "missing.jsonl") == set()


def test_torn_last_line_is_ignored_then_cut(tmp_path):
    out = tmp_path / "out.jsonl"
    write_jsonl(out, [{"id": "a"}, {"id": "b"}])
    with out.open("a") as f:
        f.write('{"id": "c", "text": "half a ro')  # killed mid-write
    assert read_done_ids(out) == {"a", "b"}
    with JsonlWriter(out) as w:
        w.write({"id": "c"})
    lines = out.read_text().splitlines()
    assert [json.loads(line)["id"] for line in lines] == ["a", "b", "c"]


def test_complete_last_line_without_newline_is_kept(tmp_path):
    out = tmp_path / "out.jsonl"
    out.write_text('{"id": "a"}\n{"id": "b"}')
    with JsonlWriter(out) as w:
        w.write({"id": "c"})
    assert read_done_ids(out) == {"a", "b", "c"}
    assert out.read_text().endswith('{"id": "b"}\n{"id": "c"}\n')


def test_torn_single_line_and_multibyte_tail(tmp_path):
    out = tmp_path / "out.jsonl"
    out.write_bytes('{"id": "\u00e9'.encode()[:-1])  # torn inside a UTF-8 character
    assert read_done_ids(out) == set()
    with JsonlWriter(out) as w:
        w.write({"id": "z"})
    assert out.read_text() == '{"id": "z"}\n'


def test_corrupt_middle_line_is_an_error(tmp_path):
    out = tmp_path / "out.jsonl"
    out.write_text('{"id": "a"}\n{broken\n{"id": "c"}\n')
    with pytest.raises(ValueError, match="row 2"):
        read_done_ids(out)


def test_writer_is_thread_safe(tmp_path):
    out = tmp_path / "out.jsonl"
    with JsonlWriter(out) as w:
        threads = [
            threading.Thread(target=lambda k=k: [w.write({"id": f"{k}-{i}", "pad": "x" * 500}) for i in range(25)])
            for k in range(4)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert len(read_done_ids(out)) == 100


def test_core_text_modules_import_nothing_heavy():
    code = ("import sys, critic.data, critic.prompts, critic.parse; "
            "print(sorted({'torch','vllm','trl','datasets'} & set(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"


# ------------------------------------------------------------------------------------- which tests see the data


def test_tests_without_data_dir_cannot_see_the_benchmark_files():
    """conftest hides the data folder from tests that do not ask for ``data_dir``: a known name must fail here as it
    does on a user's clone (no local file, no hub), whether or not this machine has ../shared/data."""
    root = data_dir()
    assert root is not None and not any(root.iterdir())
    for name in ("gsm8k-train", "processbench-math", "mr-gsm8k"):
        with pytest.raises(DataUnavailable):
            load_dataset_by_name(name)


def test_tests_with_data_dir_see_the_benchmark_files(data_dir):
    import critic.data

    assert critic.data.data_dir() == data_dir  # the code under test resolves the same folder as the fixture
    assert len(load_dataset_by_name("processbench-gsm8k")) == 400
