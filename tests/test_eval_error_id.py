"""Error identification runs: scoring, decoding, resumability, the SymPy baseline, run folders and the CLI.

The FAKE scripted engine only drives control flow here; no model quality is measured.
"""

from __future__ import annotations

import asyncio
import json
import re

import pytest

from critic.data import load_dataset_by_name
from critic.engines.base import EngineDead, Generation
from critic.engines.fake import FakeScriptedEngine
from critic.steps import step1_to_label0
from critic.verify import check_steps
from eval.cli import main
from eval.error_id import ErrorIdConfig, expand_data, load_samples, run_error_id
from eval.metrics import f1
from eval.rundir import RunConfigMismatch


@pytest.fixture
def pb_gsm8k(fixtures_dir):
    return str(fixtures_dir / "processbench_gsm8k.json")


def rows_of(run_dir):
    return [json.loads(line) for line in (run_dir / "predictions.jsonl").read_text().splitlines() if line.strip()]


def label_oracle(data_path):
    """A fake critic that answers each chat with the true label (1-based), except it rejects correct solutions of
    odd-numbered ids: acc_err = 1 and acc_cor < 1, hand-checkable."""
    samples = load_dataset_by_name(data_path)
    by_problem = {s.problem.strip(): s for s in samples}

    def script(chat, sampling, index):
        user = chat[-1]["content"]
        problem = re.search(r"<problem>\n(.*?)\n</problem>", user, re.S).group(1).strip()
        s = by_problem[problem]
        if s.label0 == -1:
            return "**Answer**: \\boxed{1}" if int(s.id.split("-")[-1]) % 2 else "**Answer**: \\boxed{-1}"
        return f"**Answer**: \\boxed{{{s.label0 + 1}}}"

    return script, samples


def test_scores_against_labels_in_both_index_bases(tmp_path, pb_gsm8k):
    script, samples = label_oracle(pb_gsm8k)
    metrics = run_error_id(ErrorIdConfig(critic="fake", data=[pb_gsm8k], window=7), tmp_path / "run",
                           engine=FakeScriptedEngine(script), progress=False)
    correct = [s for s in samples if s.label0 == -1]
    accepted = sum(int(s.id.split("-")[-1]) % 2 == 0 for s in correct)
    m = metrics["processbench_gsm8k"]
    assert m["acc_err"] == 1.0
    assert m["acc_cor"] == pytest.approx(accepted / len(correct))
    assert m["f1"] == pytest.approx(f1(1.0, accepted / len(correct)))
    assert (m["n_err"], m["n_cor"], m["n"]) == (len(samples) - len(correct), len(correct), len(samples))
    for row in rows_of(tmp_path / "run"):
        assert {"id", "subset", "label0", "pred_label0", "pred_step1", "status", "critique"} <= set(row)
        if row["pred_step1"] not in (-1, None):
            assert row["pred_label0"] == step1_to_label0(row["pred_step1"])


def test_processbench_prompt_reads_zero_based(tmp_path, pb_gsm8k):
    engine = FakeScriptedEngine(["The earliest error is in paragraph 0. \\boxed{0}"])
    run_error_id(ErrorIdConfig(critic="fake", data=[pb_gsm8k], prompt="processbench", limit=3), tmp_path / "r",
                 engine=engine, progress=False)
    assert "<paragraph_0>" in engine.calls[0][-1]["content"]
    assert all((r["pred_label0"], r["pred_step1"]) == (0, 1) for r in rows_of(tmp_path / "r"))


def test_maj_at_k_drops_unparsed_votes(tmp_path, pb_gsm8k):
    replies = iter(["no answer here", "still nothing", "**Answer**: \\boxed{-1}"] * 100)
    engine = FakeScriptedEngine(lambda chat, sampling, i: next(replies))
    config = ErrorIdConfig(critic="fake", data=[pb_gsm8k], decoding="maj", k=3, temperature=0.7, limit=4)
    metrics = run_error_id(config, tmp_path / "maj", engine=engine, progress=False)
    rows = rows_of(tmp_path / "maj")
    assert all(r["preds"] == [None, None, -1] and r["pred_label0"] == -1 and r["status"] == "ok" for r in rows)
    assert all(len(r["samples"]) == 3 for r in rows)
    assert metrics["average"]["unparsed"] == pytest.approx(2 / 3)
    # pass@1 over the same samples: only the one readable -1 in three can be right
    replies = iter(["no answer here", "still nothing", "**Answer**: \\boxed{-1}"] * 100)
    config = ErrorIdConfig(critic="fake", data=[pb_gsm8k], decoding="sample", k=3, temperature=0.7, limit=4)
    metrics = run_error_id(config, tmp_path / "pass1", engine=FakeScriptedEngine(lambda c, s, i: next(replies)),
                           progress=False)
    m = metrics["processbench_gsm8k"]
    assert m["n_cor"] > 0 and m["acc_cor"] == pytest.approx(1 / 3) and m["acc_err"] == 0.0


def test_config_consistency_is_checked():
    with pytest.raises(ValueError, match="greedy"):
        ErrorIdConfig(decoding="greedy", k=4)
    with pytest.raises(ValueError, match="temperature"):
        ErrorIdConfig(decoding="maj", k=4, temperature=0.0)
    assert ErrorIdConfig(decoding="maj", k=4).temperature == 0.7  # the 'ours' preset's sampling temperature
    with pytest.raises(ValueError, match="SymPy"):
        ErrorIdConfig(critic="sympy", decoding="maj", k=2, temperature=0.5)
    assert expand_data(["processbench", "mr-gsm8k", "processbench-gsm8k"]) == [
        "processbench-gsm8k", "processbench-math", "processbench-olympiadbench", "processbench-omnimath", "mr-gsm8k"]


def dying_engine(after_calls: int):
    """A FAKE engine that answers ``after_calls`` requests, then reports its engine dead (EngineDead), like a vLLM
    engine core killed mid-run."""
    state = {"calls": 0}

    class Dying(FakeScriptedEngine):
        async def agenerate(self, chat, sampling):
            state["calls"] += 1
            if state["calls"] > after_calls:
                raise EngineDead("engine core died (scripted)")
            await asyncio.sleep(0)  # other requests interleave, as in a real engine
            return await super().agenerate(chat, sampling)

    return Dying(["**Answer**: \\boxed{-1}"])


def test_engine_death_stops_the_run_and_a_rerun_resumes(tmp_path, pb_gsm8k):
    config = ErrorIdConfig(critic="fake", data=[pb_gsm8k], window=4)
    out = tmp_path / "run"
    with pytest.raises(EngineDead, match="scripted"):
        run_error_id(config, out, engine=dying_engine(after_calls=8), progress=False)
    written = rows_of(out)
    assert 1 <= len(written) <= 8  # only answers that came back before the death; nothing in flight is written
    assert all(r["error"] is None and r["status"] != "error" for r in written)
    assert not (out / "metrics.json").exists()
    # a kill in the middle of a write leaves a torn last line; the writer cuts it off on resume
    with (out / "predictions.jsonl").open("a") as f:
        f.write('{"key": "processbench_gsm8k/torn", "id": "to')

    second = FakeScriptedEngine(["**Answer**: \\boxed{-1}"])
    metrics = run_error_id(config.model_copy(update={"window": 5}), out, engine=second, progress=False)
    rows = rows_of(out)
    keys = [r["key"] for r in rows]
    assert len(keys) == len(set(keys)) == 25
    assert len(second.calls) == 25 - len(written)  # only what was left
    assert metrics["average"]["n"] == 25 and metrics["average"]["errors"] == 0

    third = FakeScriptedEngine(["unused"])
    run_error_id(config, out, engine=third, progress=False)  # everything done: no engine call at all
    assert third.calls == []


def test_refused_solutions_are_final_error_rows_and_retry_errors_reruns_them(tmp_path, pb_gsm8k):
    config = ErrorIdConfig(critic="fake", data=[pb_gsm8k], decoding="maj", k=2, temperature=0.7, limit=6)
    refused = {s.problem.strip() for _, s in load_samples(config)[:3]}

    class Refusing(FakeScriptedEngine):
        async def agenerate(self, chat, sampling):
            problem = re.search(r"<problem>\n(.*?)\n</problem>", chat[-1]["content"], re.S).group(1).strip()
            if problem in refused:
                self.calls.append(chat)
                return [Generation.rejected("prompt is longer than the model allows (scripted)")] * sampling.n
            return await super().agenerate(chat, sampling)

    out = tmp_path / "run"
    metrics = run_error_id(config, out, engine=Refusing(["**Answer**: \\boxed{-1}"]), progress=False)
    errors = [r for r in rows_of(out) if r["error"] is not None]
    assert len(errors) == 3 and all("longer than the model allows" in r["error"] for r in errors)
    assert all(r["status"] == "error" and r["preds"] == [None, None] and not r["correct"] for r in errors)
    assert metrics["average"]["errors"] == 3 and metrics["average"]["n"] == 6

    again = FakeScriptedEngine(["**Answer**: \\boxed{-1}"])
    run_error_id(config, out, engine=again, progress=False)
    assert again.calls == []  # error rows are final: a plain rerun does not touch them
    metrics = run_error_id(config, out, engine=again, progress=False, retry_errors=True)
    assert len(again.calls) == 3 and metrics["average"]["errors"] == 0  # only the error rows ran again
    assert len(rows_of(out)) == 9  # appended; the newer result wins over the error row


def test_run_folder_refuses_other_settings(tmp_path, pb_gsm8k):
    run_error_id(ErrorIdConfig(critic="fake", data=[pb_gsm8k], limit=2), tmp_path / "r",
                 engine=FakeScriptedEngine(["\\boxed{-1}"]), progress=False)
    with pytest.raises(RunConfigMismatch, match="prompt"):
        run_error_id(ErrorIdConfig(critic="fake", data=[pb_gsm8k], limit=2, prompt="processbench"), tmp_path / "r",
                     engine=FakeScriptedEngine(["\\boxed{-1}"]), progress=False)


def test_sympy_baseline_over_fixtures(tmp_path, fixtures_dir):
    data = [str(fixtures_dir / name) for name in ("processbench_gsm8k.json", "processbench_math.json",
                                                  "mr_gsm8k.json", "prm800k_sample.jsonl")]
    metrics = run_error_id(ErrorIdConfig(critic="sympy", data=data), tmp_path / "sympy", progress=False)
    rows = rows_of(tmp_path / "sympy")
    assert {r["subset"] for r in rows} == set(metrics) - {"average"}
    assert len(metrics) == 5  # four files + the average
    by_key = {r["key"]: r for r in rows}
    for name in data:
        for s in load_dataset_by_name(name):
            expected = min((c.step1 for c in check_steps(s.problem, s.steps) if c.is_finding), default=-1)
            row = by_key[f"{s.subset}/{s.id}"]
            assert row["pred_step1"] == expected
            assert row["status"] == "ok" and row["tokens"] == 0
            assert "SymPy checked" in row["critique"]
    for name in ("config.json", "metrics.json", "report.md", "f1.png"):
        assert (tmp_path / "sympy" / name).is_file()
    assert json.loads((tmp_path / "sympy" / "config.json").read_text())["critic"] == "sympy"


def test_cli_error_id_and_report(tmp_path, pb_gsm8k, capsys):
    out = tmp_path / "cli"
    assert main(["error-id", "--critic", "sympy", "--data", pb_gsm8k, "--limit", "6", "-o", str(out),
                 "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "| subset | acc_err |" in printed and "average" in printed
    assert len(rows_of(out)) == 6
    assert main(["error-id", "--critic", "sympy", "--data", pb_gsm8k, "--limit", "6", "-o", str(out),
                 "--no-progress"]) == 0  # resumed: nothing to do, same result

    other = tmp_path / "cli2"
    assert main(["error-id", "--critic", "sympy", "--data", pb_gsm8k, "--limit", "4", "-o", str(other),
                 "--no-progress", "--name", "four"]) == 0
    assert main(["report", str(out), str(other), "-o", str(tmp_path / "cmp")]) == 0
    assert (tmp_path / "cmp" / "compare.png").stat().st_size > 0
    assert "| four |" in (tmp_path / "cmp" / "report.md").read_text()
    assert main(["report", str(out)]) == 0

    assert main(["error-id", "--critic", "sympy", "--decoding", "greedy", "-k", "3", "--data", pb_gsm8k,
                 "-o", str(tmp_path / "bad")]) == 2
    assert "greedy decoding means k=1" in capsys.readouterr().err
    assert main(["error-id", "--data", "no-such-set", "--critic", "sympy", "-o", str(tmp_path / "bad2")]) == 2
    assert main(["report", str(out), str(other)]) == 2  # several runs need -o


def test_cli_reads_a_yaml_config(tmp_path, pb_gsm8k):
    (tmp_path / "run.yaml").write_text(f"critic: sympy\ndata: [{pb_gsm8k}]\nlimit: 3\n")
    assert main(["error-id", "--config", str(tmp_path / "run.yaml"), "-o", str(tmp_path / "y"), "--no-progress"]) == 0
    assert len(rows_of(tmp_path / "y")) == 3
