"""Every long job through its CLI: exit codes 0 / 1 / 2 / 3, one writer per output, engine options, shards + merge.

Engines here are FAKE scripted engines (control flow only; the real embedded engine runs the same paths in
tests/test_longjobs_embedded.py). The SymPy critic of error-id is a real critic and needs no model.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import agent.solve
from agent.cli import main
from critic.engines.base import EngineDead, Generation
from critic.engines.fake import FakeScriptedEngine
from critic.io import read_jsonl
from critic.prompts import format_critique
from critic.records import StepVerdict

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures"


def accept_all(chat, sampling, index) -> str:
    """Generator: a right continuation; critic: every step correct."""
    if chat[-1]["role"] == "assistant":
        return " 2 + 3 = 5.\n\nStep 2: \\boxed{5}."
    n = int(chat[-1]["content"].split("The solution has ")[1].split(" steps")[0])
    return format_critique([StepVerdict(step1=i, verdict="correct", text="fine") for i in range(1, n + 1)], -1)


class Scripted(FakeScriptedEngine):
    """FAKE engine: refuses prompts containing REFUSE (the row's own fault); after ``die_after`` requests reports its
    engine dead (EngineDead), like a killed vLLM engine core. Requests stay in flight a moment."""

    def __init__(self, die_after: int | None = None) -> None:
        super().__init__(accept_all, name="fake")
        self.die_after, self.requests = die_after, 0

    async def agenerate(self, chat, sampling):
        self.requests += 1
        if self.die_after is not None and self.requests > self.die_after:
            raise EngineDead("engine core process was killed by signal 9 (scripted)")
        await asyncio.sleep(0.002)
        if any("REFUSE" in m["content"] for m in chat):
            self.calls.append(chat)
            return [Generation.rejected("prompt of 9000 tokens is longer than max_model_len 4096")] * sampling.n
        return await super().agenerate(chat, sampling)


@pytest.fixture
def engines(monkeypatch):
    """Spec ``fake`` -> the current scripted engine (swap it by assigning ``engines["fake"]``)."""
    table = {"fake": Scripted()}
    real = agent.solve.resolve_engine
    monkeypatch.setattr(agent.solve, "resolve_engine",
                        lambda spec, **kw: table[spec] if spec in table else real(spec, **kw))
    return table


def refine_rows(path: Path, n: int, refuse: tuple[int, ...] = ()) -> Path:
    rows = [{"id": f"r{i}", "problem": f"What is 2 + 3? {'REFUSE' if i in refuse else ''} ({i})",
             "steps": ["2 + 3 = 5.", "\\boxed{5}"], "answer": "5"} for i in range(n)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


# ------------------------------------------------------------------------------------------------- exit codes


def test_refine_exit_codes(engines, tmp_path, capsys):
    src, out = refine_rows(tmp_path / "in.jsonl", 30, refuse=(4, 17)), tmp_path / "out.jsonl"
    argv = ["refine", str(src), "-o", str(out), "--generator", "fake", "--no-progress", "--sympy", "off"]

    engines["fake"] = Scripted(die_after=12)  # 3: the engine dies part way
    assert main(argv + ["--concurrency", "4"]) == 3
    err = one_line(capsys.readouterr().err)
    assert err.startswith("deepcritic: engine failure:") and "killed by signal 9" in err and "rerun" in err
    written = read_jsonl(out)
    assert 0 < len(written) <= 12  # one request per row: at most the 12 answered before the death
    assert not any("EngineDead" in (r["error"] or "") for r in written)  # never an engine failure as a row

    engines["fake"] = Scripted()  # the rerun resumes: 1, because two rows are refused by the engine
    assert main(argv) == 1
    printed = capsys.readouterr().out
    assert "2 of 30 rows" in printed and "--retry-errors" in printed
    rows = read_jsonl(out)
    assert sorted(r["id"] for r in rows) == sorted(f"r{i}" for i in range(30))  # every id exactly once
    errors = {r["id"]: r["error"] for r in rows if r["error"]}
    assert set(errors) == {"r4", "r17"} and all("longer than max_model_len" in e for e in errors.values())

    engines["fake"] = again = Scripted()
    assert main(argv) == 1 and again.requests == 0  # error rows are final: nothing reruns
    assert main(argv + ["--retry-errors"]) == 1 and again.requests == 2  # only the two error rows ran again
    capsys.readouterr()

    assert main(argv + ["--shard", "3/2"]) == 2  # usage
    assert "shard" in one_line(capsys.readouterr().err)
    assert main(["refine", str(refine_rows(tmp_path / "ok.jsonl", 5)), "-o", str(tmp_path / "ok-out.jsonl"),
                 "--generator", "fake", "--no-progress"]) == 0


def test_eval_error_id_exit_codes(monkeypatch, tmp_path, capsys):
    import eval.error_id
    from eval.cli import main as eval_main

    data = str(FIXTURES / "processbench_gsm8k.json")
    engine = {"current": Scripted(die_after=5)}
    monkeypatch.setattr(eval.error_id, "critic_engine", lambda config: engine["current"])
    argv = ["error-id", "--critic", "fake", "--data", data, "--limit", "12", "-o", str(tmp_path / "run"),
            "--no-progress"]
    assert eval_main(argv) == 3
    assert one_line(capsys.readouterr().err).startswith("deepcritic eval: engine failure:")
    assert not (tmp_path / "run" / "metrics.json").exists()
    engine["current"] = Scripted()
    assert eval_main(argv) == 0
    rows = read_jsonl(tmp_path / "run" / "predictions.jsonl")
    assert len(rows) == len({r["key"] for r in rows}) == 12
    assert eval_main(argv[:-3] + ["--decoding", "greedy", "-k", "2"] + argv[-3:]) == 2  # usage


def test_train_exit_codes(monkeypatch, tmp_path, capsys):
    import critic.engines
    from training.cli import main as train_main

    problems = tmp_path / "problems.jsonl"
    problems.write_text("".join(json.dumps({"problem": f"What is {i} + 2?", "answer": str(i + 2),
                                            "unique_id": f"p{i}"}) + "\n" for i in range(8)))
    engine = {"current": Scripted(die_after=3)}
    monkeypatch.setattr(critic.engines, "get_engine", lambda spec, **kw: engine["current"])
    argv = ["mc-label", "--problems", str(problems), "--output_dir", str(tmp_path / "mc"), "--generator", "fake",
            "--num_solutions", "2", "--rollouts", "2", "--high_min", "1", "--decontaminate", "false"]
    assert train_main(argv) == 3
    assert one_line(capsys.readouterr().err).startswith("deepcritic train mc-label: engine failure:")
    engine["current"] = Scripted()
    assert train_main(argv) == 0
    stats = json.loads((tmp_path / "mc" / "stats.json").read_text())
    assert stats["problems_done"] == 8 and stats["errors"] == 0
    assert train_main(argv + ["--shard", "0/3"]) == 2


# ----------------------------------------------------------------------------------------------- one writer

HOLD = "import sys, time\nfrom critic.io import hold\nwith hold(sys.argv[1], folder=sys.argv[2] == 'dir'):\n" \
       "    print('held', flush=True)\n    time.sleep(120)\n"


@pytest.fixture
def held(tmp_path):
    procs = []

    def start(target: Path, kind: str) -> subprocess.Popen:
        proc = subprocess.Popen([sys.executable, "-c", HOLD, str(target), kind], stdout=subprocess.PIPE, text=True,
                                env=dict(os.environ, PYTHONPATH=str(REPO)))
        assert proc.stdout.readline().strip() == "held"
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        proc.kill()
        proc.wait()


def test_a_second_concurrent_run_is_refused_at_once(engines, held, tmp_path, capsys):
    src, out = refine_rows(tmp_path / "in.jsonl", 4), tmp_path / "out.jsonl"
    holder = held(out, "file")
    engines["fake"] = probe = Scripted()
    assert main(["refine", str(src), "-o", str(out), "--generator", "fake", "--no-progress"]) == 2
    err = one_line(capsys.readouterr().err)
    assert f"pid {holder.pid}" in err and os.uname().nodename in err and probe.requests == 0
    assert not out.exists()

    from eval.cli import main as eval_main

    run = tmp_path / "run"
    holder = held(run, "dir")
    assert eval_main(["error-id", "--critic", "sympy", "--data", str(FIXTURES / "processbench_gsm8k.json"),
                      "-o", str(run), "--no-progress"]) == 2
    assert f"pid {holder.pid}" in one_line(capsys.readouterr().err)
    assert not (run / "predictions.jsonl").exists()


# -------------------------------------------------------------------------------------------- engine options


def test_an_unknown_engine_option_is_one_line(tmp_path, capsys):
    pytest.importorskip("vllm")
    from eval.cli import main as eval_main
    from training.cli import main as train_main

    src = refine_rows(tmp_path / "in.jsonl", 2)
    assert main(["refine", str(src), "-o", str(tmp_path / "o.jsonl"), "--critic", "vllm:embedded",
                 "--critic-args", "tensor_paralel_size=2"]) == 2
    err = one_line(capsys.readouterr().err)
    assert "unknown vLLM engine option 'tensor_paralel_size'" in err and "'tensor_parallel_size'" in err
    assert eval_main(["error-id", "--critic", "vllm:embedded", "--critic-args", '{"max_num_seqz": 8}',
                      "-o", str(tmp_path / "run")]) == 2
    assert "'max_num_seqz'" in one_line(capsys.readouterr().err)
    assert eval_main(["refine", "--generator", "openai:http://127.0.0.1:9/v1", "--generator-args",
                      "max_concurency=8", "-o", str(tmp_path / "run2")]) == 2
    assert "unknown OpenAI engine option 'max_concurency'" in one_line(capsys.readouterr().err)
    config = tmp_path / "seed.yaml"
    config.write_text("input: x.jsonl\noutput_dir: out\nteacher: vllm:embedded\n"
                      "engine_args: {teacher: {gpu_memory_utilisation: 0.5}}\n")
    assert train_main(["seed", "--config", str(config)]) == 2
    assert "'gpu_memory_utilisation'" in one_line(capsys.readouterr().err)
    assert eval_main(["refine", "--generator", "vllm:embedded", "--critic", "vllm:embedded", "--generator-args",
                      "max_model_len=2048", "--critic-args", "max_model_len=4096", "-o", str(tmp_path / "r3")]) == 2
    assert "one engine per spec" in one_line(capsys.readouterr().err)


def test_engine_options_reach_the_engine_per_role(engines, monkeypatch, tmp_path):
    import critic.engines

    seen = {}

    def build(spec, **options):
        seen[spec] = options
        return engines["fake"]

    monkeypatch.setattr(critic.engines, "get_engine", build)
    monkeypatch.setattr(agent.solve, "resolve_engine", build)
    src = refine_rows(tmp_path / "in.jsonl", 2)
    assert main(["refine", str(src), "-o", str(tmp_path / "o.jsonl"), "--generator", "openai:http://g/v1",
                 "--critic", "openai:http://c/v1", "--generator-args", "max_concurrency=3",
                 "--critic-args", '{"timeout_s": 30, "max_retries": 1}', "--no-progress"]) == 0
    assert seen == {"openai:http://g/v1": {"max_concurrency": 3}, "openai:http://c/v1": {"timeout_s": 30,
                                                                                          "max_retries": 1}}


# --------------------------------------------------------------------------------------------- shards + merge


def test_error_id_shards_merged_equal_an_unsharded_run(tmp_path, capsys):
    from eval.cli import main as eval_main

    data = [str(FIXTURES / "processbench_gsm8k.json"), str(FIXTURES / "processbench_math.json")]
    common = ["error-id", "--critic", "sympy", "--data", data[0], "--data", data[1], "--no-progress", "--name", "x"]
    assert eval_main(common + ["-o", str(tmp_path / "whole")]) == 0
    for i in (1, 2, 3):
        assert eval_main(common + ["--shard", f"{i}/3", "-o", str(tmp_path / f"part{i}")]) == 0
    parts = [read_jsonl(tmp_path / f"part{i}" / "predictions.jsonl") for i in (1, 2, 3)]
    assert all(parts) and len({r["key"] for p in parts for r in p}) == sum(len(p) for p in parts)
    capsys.readouterr()
    assert main(["merge", "-o", str(tmp_path / "merged")] + [str(tmp_path / f"part{i}") for i in (1, 2, 3)]) == 0
    assert "metrics recomputed" in capsys.readouterr().out
    merged = {r["key"]: r for r in read_jsonl(tmp_path / "merged" / "predictions.jsonl")}
    whole = {r["key"]: r for r in read_jsonl(tmp_path / "whole" / "predictions.jsonl")}
    assert merged.keys() == whole.keys() and len(merged) == sum(len(p) for p in parts)  # every key exactly once
    assert all(merged[k]["pred_label0"] == whole[k]["pred_label0"] for k in whole)
    merged_metrics = json.loads((tmp_path / "merged" / "metrics.json").read_text())
    assert merged_metrics == json.loads((tmp_path / "whole" / "metrics.json").read_text())
    assert json.loads((tmp_path / "merged" / "config.json").read_text())["shard"] is None
    assert (tmp_path / "merged" / "report.md").is_file()
    # shards of different settings do not merge
    assert eval_main(common + ["--limit", "3", "--shard", "1/3", "-o", str(tmp_path / "other")]) == 0
    assert main(["merge", "-o", str(tmp_path / "bad"), str(tmp_path / "part1"), str(tmp_path / "other")]) == 2
    assert "limit" in one_line(capsys.readouterr().err)


def test_refine_shards_merged_give_every_id_once(engines, tmp_path, capsys):
    src = refine_rows(tmp_path / "in.jsonl", 40, refuse=(7,))
    parts = []
    for i in (1, 2, 3, 4):
        parts.append(tmp_path / f"part{i}.jsonl")
        code = main(["refine", str(src), "-o", str(parts[-1]), "--generator", "fake", "--shard", f"{i}/4",
                     "--no-progress"])
        assert code == (1 if "r7" in {r["id"] for r in read_jsonl(parts[-1])} else 0)
    assert all(read_jsonl(p) for p in parts)
    assert main(["merge", "-o", str(tmp_path / "all.jsonl")] + [str(p) for p in parts]) == 1  # r7 is an error row
    ids = [r["id"] for r in read_jsonl(tmp_path / "all.jsonl")]
    assert sorted(ids) == sorted(f"r{i}" for i in range(40))
    assert "40 ids, 1 error rows" in capsys.readouterr().out


def test_training_shards_merged_equal_an_unsharded_run(tmp_path):
    from test_training_pipeline import PRM_FIXTURE, mc_config, mc_script, seed_config, teacher_script, write_problems

    from training.inputs import load_labeled_solutions
    from training.mc_labels import run_mc_labels
    from training.pipeline import merge_runs
    from training.seed import run_seed

    write_problems(tmp_path / "problems.jsonl")
    run_mc_labels(mc_config(tmp_path, output_dir=str(tmp_path / "mc")), engine=FakeScriptedEngine(mc_script()))
    for i in (1, 2):
        run_mc_labels(mc_config(tmp_path, output_dir=str(tmp_path / f"mc{i}"), shard=f"{i}/2"),
                      engine=FakeScriptedEngine(mc_script()))
    stats = merge_runs([tmp_path / "mc1", tmp_path / "mc2"], tmp_path / "mc-merged")
    assert read_jsonl(tmp_path / "mc-merged" / "labels.jsonl") == read_jsonl(tmp_path / "mc" / "labels.jsonl")
    whole = json.loads((tmp_path / "mc" / "stats.json").read_text())
    assert stats == whole

    solutions = load_labeled_solutions(PRM_FIXTURE)
    run_seed(seed_config(tmp_path, output_dir=str(tmp_path / "seed"), max_easy_correct=1),
             engine=FakeScriptedEngine(teacher_script(solutions)))
    for i in (1, 2, 3):
        run_seed(seed_config(tmp_path, output_dir=str(tmp_path / f"seed{i}"), max_easy_correct=1, shard=f"{i}/3"),
                 engine=FakeScriptedEngine(teacher_script(solutions)))
    assert main(["merge", "-o", str(tmp_path / "seed-merged")] + [str(tmp_path / f"seed{i}") for i in (1, 2, 3)]) == 0
    assert read_jsonl(tmp_path / "seed-merged" / "train.jsonl") == read_jsonl(tmp_path / "seed" / "train.jsonl")
    ids = [r["id"] for r in read_jsonl(tmp_path / "seed-merged" / "results.jsonl")]
    assert sorted(ids) == sorted(s.id for s in solutions)
