"""Monte-Carlo labels and seed synthesis: control flow, the first-error rule, kill-and-resume.

These use FakeScriptedEngine (a scripted engine, no model): they test what the pipelines do with generations, not
what a model writes. The real embedded model runs the same pipelines in tests/test_training_e2e.py.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from critic.engines.base import EngineDead, Sampling
from critic.engines.fake import FakeScriptedEngine
from critic.parse import parse_critique
from critic.records import NO_ERROR
from critic.steps import label0_to_step1
from training.inputs import load_labeled_solutions
from training.mc_labels import MCLabelConfig, first_error_label, run_mc_labels
from training.seed import SeedConfig, run_seed, steps_to_critique

THIS_FILE = Path(__file__).resolve()
REPO = THIS_FILE.parents[1]

# --------------------------------------------------------------------------------------------- the first-error rule


@pytest.mark.parametrize(
    ("counts", "right", "expected"),
    [
        ([8, 8, 0, 0], False, (2, "first_low_prefix")),
        ([0, 0, 0], False, (0, "first_low_prefix")),  # step 1 already wrong
        ([8, 5, 4, 0], False, (3, "first_low_prefix")),  # every earlier prefix at least high_min
        ([8, 3, 0], False, (None, "ambiguous_prefix")),  # 3 is neither high nor low
        ([8, 8, 8], False, (None, "no_low_prefix")),
        ([8, 4, 8], True, (NO_ERROR, "right")),
        ([8, 0, 8], True, (None, "right_with_low_prefix")),  # right by luck after a dead prefix
        ([8, 2, 8], True, (None, "right_with_low_prefix")),
    ],
)
def test_first_error_rule(counts, right, expected):
    assert first_error_label(counts, right, high_min=4, low_max=0) == expected


def test_first_error_rule_is_configurable():
    assert first_error_label([8, 3, 0], False, high_min=3, low_max=0) == (2, "first_low_prefix")
    assert first_error_label([8, 1, 0], False, high_min=4, low_max=1) == (1, "first_low_prefix")


def test_rule_settings_are_validated():
    with pytest.raises(ValueError, match="low_max < high_min <= rollouts"):
        MCLabelConfig(output_dir="x", rollouts=4, high_min=5)
    with pytest.raises(ValueError, match="low_max < high_min"):
        MCLabelConfig(output_dir="x", high_min=2, low_max=2)


# ---------------------------------------------------------------------------------------------- Monte-Carlo labels

# Toy problems "What is a + b?": the scripted generator alternates a right and a wrong first step; continuations
# after a step carry its arithmetic on, so a prefix with a wrong step never recovers.
PROBLEMS = [(f"toy-{i}", f"What is {i} + {i + 2}?", str(2 * i + 2)) for i in range(1, 7)]
DUPLICATE_OF_EVAL = "  JANET’S ducks lay 16 eggs per day. She eats three for breakfast every morning and bakes"


def write_problems(path: Path, with_eval_duplicate: bool = True) -> Path:
    rows = [{"problem": text, "answer": answer, "unique_id": pid} for pid, text, answer in PROBLEMS]
    if with_eval_duplicate:  # same text as gsm8k test row 0 up to case and spacing
        first = json.loads((REPO / "tests/fixtures/gsm8k_test.jsonl").read_text().splitlines()[0])
        rows.insert(2, {"problem": first["question"].upper(), "answer": "18", "unique_id": "dup-of-gsm8k-test"})
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def mc_script(delay: float = 0.0):
    """Scripted generator; the k-th sample of a chat depends only on the chat (so reruns reproduce it)."""
    seen: Counter[str] = Counter()

    def script(chat, sampling: Sampling, index: int) -> str:
        time.sleep(delay)
        key = json.dumps(chat)
        k = seen[key]
        seen[key] += 1
        prefix = chat[-1]["content"]
        a, b = map(int, re.search(r"What is (\d+) \+ (\d+)", chat[1]["content"]).groups())
        if prefix == "Step 1:":  # a fresh solution: samples alternate right / wrong
            total = a + b if k % 2 == 0 else a + b + 1
            return f" Add the numbers: {a} + {b} = {total}.\n\nStep 2: So the answer is \\boxed{{{total}}}."
        carried = int(re.findall(r"= (\d+)", prefix)[-1])
        return f" So the answer is \\boxed{{{carried}}}."

    return script


def mc_config(tmp_path: Path, **overrides) -> MCLabelConfig:
    values = dict(
        problems=str(tmp_path / "problems.jsonl"),
        output_dir=str(tmp_path / "mc"),
        generator="fake",
        num_solutions=4,
        rollouts=4,
        high_min=3,
        low_max=0,
        window=8,
        eval_sets=[str(REPO / "tests/fixtures/gsm8k_test.jsonl"), "no-such-eval-set"],
    )
    return MCLabelConfig(**(values | overrides))


def read_rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_mc_labels_from_scripted_rollouts(tmp_path):
    write_problems(tmp_path / "problems.jsonl")
    engine = counting(FakeScriptedEngine(mc_script()))
    stats = run_mc_labels(mc_config(tmp_path), engine=engine)
    assert engine.peak_sequences <= 8  # the window (in sequences: a request for n samples takes n)

    labels = read_rows(tmp_path / "mc/labels.jsonl")
    # per problem: one right solution (-1) and one distinct wrong one (error in step 1); duplicates dropped
    assert len(labels) == 2 * len(PROBLEMS)
    assert Counter(r["label0"] for r in labels) == {NO_ERROR: 6, 0: 6}
    wrong = next(r for r in labels if r["label0"] == 0)
    assert wrong["mc_right_counts"] == [0, 0] and wrong["final_answer_correct"] is False
    right = next(r for r in labels if r["label0"] == NO_ERROR)
    assert right["mc_right_counts"] == [4, 4] and right["steps"][0].startswith("Add the numbers")
    # the rows load back as step-labelled input for seed synthesis and RL
    assert len(load_labeled_solutions(tmp_path / "mc/labels.jsonl")) == 12

    assert stats["contamination"]["overlap"] == 1
    assert stats["contamination"]["overlap_ids"] == ["dup-of-gsm8k-test"]
    assert stats["contamination"]["missing"] == ["no-such-eval-set"]
    assert stats["problems"] == 6 and stats["problem_status"] == {"labelled": 6}
    assert stats["solutions_dropped"] == {"duplicate": 12}
    assert stats == json.loads((tmp_path / "mc/stats.json").read_text())
    # the decontaminated problem never reached the engine
    assert not any("JANET" in chat[1]["content"] for chat in engine.calls)
    # one solve request per problem (n samples each); requests stream, no lockstep chunks
    assert engine.generate_calls == 0
    rollout_chats = [c for c in engine.calls if c[-1]["content"] != "Step 1:"]
    assert len(rollout_chats) == 2 * len(PROBLEMS)  # one proper prefix per selected solution


def test_mc_labels_require_mixed(tmp_path):
    write_problems(tmp_path / "problems.jsonl", with_eval_duplicate=False)

    def always_wrong(chat, sampling, index):
        fresh = chat[-1]["content"] == "Step 1:"
        return " 1 + 1 = 3.\n\nStep 2: So the answer is \\boxed{3}." if fresh else " \\boxed{3}"

    stats = run_mc_labels(mc_config(tmp_path, limit=2), engine=FakeScriptedEngine(always_wrong))
    assert stats["problem_status"] == {"not_mixed": 2} and stats["labelled"] == 0

    relaxed = mc_config(tmp_path, limit=2, require_mixed=False, output_dir=str(tmp_path / "relaxed"))
    stats = run_mc_labels(relaxed, engine=FakeScriptedEngine(always_wrong))
    assert stats["labelled"] == 2 and stats["labelled_with_error"] == 2


def counting(engine: FakeScriptedEngine) -> FakeScriptedEngine:
    """Record the sequences in flight (agenerate) and any lockstep generate() call."""
    import asyncio

    agenerate, generate = engine.agenerate, engine.generate
    engine.generate_calls, engine.peak_sequences = 0, 0
    state = {"in_flight": 0}

    async def counted(chat, sampling):
        state["in_flight"] += sampling.n
        engine.peak_sequences = max(engine.peak_sequences, state["in_flight"])
        try:
            await asyncio.sleep(0.001)  # stay in flight a moment, as a real request does
            return await agenerate(chat, sampling)
        finally:
            state["in_flight"] -= sampling.n

    def lockstep(chats, sampling):
        engine.generate_calls += 1
        return generate(chats, sampling)

    engine.agenerate, engine.generate = counted, lockstep
    return engine


def dying(engine: FakeScriptedEngine, after_calls: int) -> FakeScriptedEngine:
    """The engine reports itself dead (EngineDead) after ``after_calls`` requests, like a killed vLLM engine core."""
    agenerate = engine.agenerate
    state = {"calls": 0}

    async def limited(chat, sampling):
        state["calls"] += 1
        if state["calls"] > after_calls:
            raise EngineDead("engine core died (scripted)")
        return await agenerate(chat, sampling)

    engine.agenerate = limited
    return engine


def test_mc_labels_resume_after_interruption_matches_a_clean_run(tmp_path):
    write_problems(tmp_path / "problems.jsonl")
    clean = mc_config(tmp_path, output_dir=str(tmp_path / "clean"))
    run_mc_labels(clean, engine=FakeScriptedEngine(mc_script()))

    cfg = mc_config(tmp_path, window=4)
    with pytest.raises(EngineDead):
        run_mc_labels(cfg, engine=dying(FakeScriptedEngine(mc_script()), after_calls=9))
    written = read_rows(tmp_path / "mc/results.jsonl")
    assert 1 <= len(written) < 6 and all(r["error"] is None for r in written)  # never an error row for a dead engine
    assert not (tmp_path / "mc/labels.jsonl").exists()
    second = FakeScriptedEngine(mc_script())
    run_mc_labels(cfg, engine=second)
    finished = {r["id"] for r in written}
    asked = {re.search(r"What is (\d+) \+", c[1]["content"]).group(1) for c in second.calls}
    assert not {pid.split("-")[1] for pid in finished} & asked  # finished problems are not redone
    assert read_rows(tmp_path / "mc/labels.jsonl") == read_rows(tmp_path / "clean/labels.jsonl")
    ids = [r["id"] for r in read_rows(tmp_path / "mc/results.jsonl")]
    assert sorted(ids) == sorted(set(ids)) and len(ids) == 6


# ---------------------------------------------------------------------------------------------- seed synthesis

PRM_FIXTURE = REPO / "tests/fixtures/prm800k_sample.jsonl"


def _verdict_box(verdict: str) -> str:
    return "\\boxed{1}" if verdict == "correct" else "\\boxed{-1}"


def teacher_script(solutions, initial_wrong_on=(), deep_never_agrees=(), delay: float = 0.0):
    """Scripted teacher: knows every step's label; the initial critique errs on the steps in ``initial_wrong_on``
    ((solution index, step1) pairs), the in-depth one never agrees for the solutions in ``deep_never_agrees``."""
    truth: dict[tuple[str, str], tuple[str, int, str]] = {}
    for index, s in enumerate(solutions):
        for step1, expected in steps_to_critique(s):
            truth[(s.problem, s.steps[step1 - 1].strip())] = (expected, index, str(step1))

    def flip(verdict: str) -> str:
        return "wrong" if verdict == "correct" else "correct"

    def script(chat, sampling, call_index):
        time.sleep(delay)
        user = chat[1]["content"]
        problem = re.search(r"<problem>\n(.*?)\n</problem>", user, re.S).group(1)
        step = re.search(r"<current_step>\nStep \d+: (.*?)\n</current_step>", user, re.S).group(1)
        expected, index, step1 = truth[(problem, step.strip())]
        if "<in_depth_critique>" in user:
            stage, verdict = "merged", expected
        elif "<initial_critique>" in user:
            stage, verdict = "deep", flip(expected) if index in deep_never_agrees else expected
        else:
            stage, verdict = "initial", flip(expected) if (index, int(step1)) in initial_wrong_on else expected
        return f"The {stage} check of step {step1} of solution {index}.\n**Judgement**: {_verdict_box(verdict)}"

    return script


def seed_config(tmp_path: Path, **overrides) -> SeedConfig:
    values = dict(input=str(PRM_FIXTURE), output_dir=str(tmp_path / "seed"), teacher="fake", deep_samples=2)
    return SeedConfig(**(values | overrides))


def test_seed_keeps_agreeing_critiques_in_the_trained_format(tmp_path):
    solutions = load_labeled_solutions(PRM_FIXTURE)
    with_error = [i for i, s in enumerate(solutions) if s.has_error]
    all_correct = [i for i, s in enumerate(solutions) if not s.has_error]
    assert len(with_error) >= 2 and len(all_correct) >= 3
    corrected, dropped = all_correct[0], with_error[0]
    script = teacher_script(solutions, initial_wrong_on={(corrected, 1)}, deep_never_agrees={dropped})
    engine = FakeScriptedEngine(script)
    stats = run_seed(seed_config(tmp_path, window=16), engine=engine)

    assert stats["solutions"] == len(solutions)
    assert stats["outcome"] == {"agreed": len(solutions) - 1, "deep_disagrees": 1}
    assert stats["examples"] == len(solutions) - 1 and stats["examples_needed_correction"] == 1

    train = read_rows(tmp_path / "seed/train.jsonl")
    assert [r["id"] for r in train] == [s.id for i, s in enumerate(solutions) if i != dropped]
    by_id = {s.id: s for s in solutions}
    for row in train:
        solution = by_id[row["id"]]
        system, user, assistant = row["messages"]
        assert (system["role"], user["role"], assistant["role"]) == ("system", "user", "assistant")
        critique = parse_critique(assistant["content"], len(solution.steps))
        assert critique.status == "ok"
        assert critique.first_wrong_step1 == label0_to_step1(solution.label0)
        # the critique stops at the first wrong step, and carries the merged reasoning, not the stage labels
        assert [v.step1 for v in critique.verdicts] == [s for s, _ in steps_to_critique(solution)]
        assert all(v.text.startswith("The merged check") for v in critique.verdicts)

    # the HF dataset on disk holds the same rows
    from datasets import load_from_disk

    dataset = load_from_disk(str(tmp_path / "seed/dataset"))
    assert dataset["id"] == [r["id"] for r in train]
    assert dataset[0]["messages"] == train[0]["messages"]
    # merging was skipped for the solution whose in-depth checks never agreed
    merge_chats = [c for c in engine.calls if "<in_depth_critique>" in c[1]["content"]]
    merged_problems = {re.search(r"<problem>\n(.*?)\n", c[1]["content"], re.S).group(1) for c in merge_chats}
    assert solutions[dropped].problem not in merged_problems


def test_seed_caps_easy_all_correct_solutions(tmp_path):
    solutions = load_labeled_solutions(PRM_FIXTURE)
    all_correct = [i for i, s in enumerate(solutions) if not s.has_error]
    corrected = all_correct[-1]
    engine = FakeScriptedEngine(teacher_script(solutions, initial_wrong_on={(corrected, 1)}))
    stats = run_seed(seed_config(tmp_path, max_easy_correct=1), engine=engine)
    easy = len(all_correct) - 1
    assert stats["capped_easy_correct"] == easy - 1
    assert stats["examples_all_correct"] == 2  # one easy (the cap) + the corrected one
    kept_ids = [r["id"] for r in read_rows(tmp_path / "seed/train.jsonl")]
    assert solutions[corrected].id in kept_ids and solutions[all_correct[0]].id in kept_ids


def test_seed_keep_disagreeing_is_explicit(tmp_path):
    solutions = load_labeled_solutions(PRM_FIXTURE)
    engine = FakeScriptedEngine(teacher_script(solutions, deep_never_agrees={0}))
    stats = run_seed(seed_config(tmp_path, keep_disagreeing=True), engine=engine)
    assert stats["examples"] == len(solutions) and stats["examples_disagreeing"] == 1
    assert stats["outcome"]["kept_disagreeing"] == 1
    row = read_rows(tmp_path / "seed/train.jsonl")[0]
    assert row["agreed"] is False  # marked, and the verdicts follow the label
    critique = parse_critique(row["messages"][-1]["content"], len(solutions[0].steps))
    assert critique.first_wrong_step1 == label0_to_step1(solutions[0].label0)


def test_seed_resume_after_interruption_matches_a_clean_run(tmp_path):
    solutions = load_labeled_solutions(PRM_FIXTURE)
    clean_engine = FakeScriptedEngine(teacher_script(solutions))
    run_seed(seed_config(tmp_path, output_dir=str(tmp_path / "clean")), engine=clean_engine)
    cfg = seed_config(tmp_path, window=4)
    with pytest.raises(EngineDead):  # dies half way through the requests of a clean run
        half = len(clean_engine.calls) // 2
        run_seed(cfg, engine=dying(FakeScriptedEngine(teacher_script(solutions)), after_calls=half))
    written = read_rows(tmp_path / "seed/results.jsonl")
    assert 1 <= len(written) < len(solutions) and all(r["error"] is None for r in written)
    run_seed(cfg, engine=FakeScriptedEngine(teacher_script(solutions)))
    assert read_rows(tmp_path / "seed/train.jsonl") == read_rows(tmp_path / "clean/train.jsonl")
    ids = [r["id"] for r in read_rows(tmp_path / "seed/results.jsonl")]
    assert len(ids) == len(set(ids)) == len(solutions)


# ------------------------------------------------------------------------------------ a real SIGKILL, then resume

_KILL_DRIVER = """
import importlib.util, sys
spec = importlib.util.spec_from_file_location("pipeline_tests", sys.argv[1])
tests = importlib.util.module_from_spec(spec)
spec.loader.exec_module(tests)
tests.run_slowly(sys.argv[2], sys.argv[3])
"""


def run_slowly(kind: str, tmp: str) -> None:
    """Entry point of the subprocess that gets killed: the pipeline with a slow scripted engine."""
    from critic.engines.fake import FakeScriptedEngine

    tmp_path = Path(tmp)
    if kind == "mc":
        run_mc_labels(mc_config(tmp_path, window=1), engine=FakeScriptedEngine(mc_script(delay=0.05)))
    else:
        solutions = load_labeled_solutions(PRM_FIXTURE)
        run_seed(seed_config(tmp_path, window=1), engine=FakeScriptedEngine(teacher_script(solutions, delay=0.05)))


def kill_after_rows(kind: str, tmp_path: Path, results: Path, rows: int) -> None:
    env = os.environ | {"PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-c", _KILL_DRIVER, str(THIS_FILE), kind, str(tmp_path)], env=env)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            if results.is_file() and len(results.read_text().splitlines()) >= rows:
                break
            time.sleep(0.02)
        assert proc.poll() is None, "the pipeline finished before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()


def test_mc_labels_survive_sigkill(tmp_path):
    write_problems(tmp_path / "problems.jsonl")
    results = tmp_path / "mc/results.jsonl"
    kill_after_rows("mc", tmp_path, results, rows=2)
    written_before = len(read_rows(results))
    assert 2 <= written_before < 6
    run_mc_labels(mc_config(tmp_path, window=1), engine=FakeScriptedEngine(mc_script()))
    ids = [r["id"] for r in read_rows(results)]
    assert len(ids) == len(set(ids)) == 6
    clean = mc_config(tmp_path, output_dir=str(tmp_path / "clean"))
    run_mc_labels(clean, engine=FakeScriptedEngine(mc_script()))
    assert read_rows(tmp_path / "mc/labels.jsonl") == read_rows(tmp_path / "clean/labels.jsonl")


def test_seed_survives_sigkill(tmp_path):
    solutions = load_labeled_solutions(PRM_FIXTURE)
    results = tmp_path / "seed/results.jsonl"
    kill_after_rows("seed", tmp_path, results, rows=3)
    assert 3 <= len(read_rows(results)) < len(solutions)
    run_seed(seed_config(tmp_path, window=1), engine=FakeScriptedEngine(teacher_script(solutions)))
    ids = [r["id"] for r in read_rows(results)]
    assert len(ids) == len(set(ids)) == len(solutions)
    run_seed(seed_config(tmp_path, output_dir=str(tmp_path / "clean")),
             engine=FakeScriptedEngine(teacher_script(solutions)))
    assert read_rows(tmp_path / "seed/train.jsonl") == read_rows(tmp_path / "clean/train.jsonl")


# ---------------------------------------------------------------------------------------------- resume points


def test_trainers_resume_from_the_newest_checkpoint(tmp_path):
    from training.trainer import last_checkpoint

    assert last_checkpoint(tmp_path / "missing") is None
    assert last_checkpoint(tmp_path) is None
    for step in (2, 10, 9):
        (tmp_path / f"checkpoint-{step}").mkdir()
    (tmp_path / "checkpoint-99.txt").write_text("not a folder")
    assert last_checkpoint(tmp_path) == str(tmp_path / "checkpoint-10")


# ------------------------------------------------------------------------- reference settings and templates as data


def test_seed_reference_settings_reach_the_engine(tmp_path):
    solutions = load_labeled_solutions(PRM_FIXTURE)
    engine = FakeScriptedEngine(teacher_script(solutions))
    cfg = seed_config(tmp_path, teacher_context="whole", deep_samples=3, deep_temperature=1.0, temperature=0.7,
                      top_p=0.9, max_tokens=55, merge_max_tokens=77, seed=42)
    run_seed(cfg, engine=engine)
    stages = {"initial": set(), "deep": set(), "merge": set()}
    for chat, sampling in zip(engine.calls, engine.samplings):
        user = chat[1]["content"]
        stage = "merge" if "<in_depth_critique>" in user else "deep" if "<initial_critique>" in user else "initial"
        stages[stage].add((sampling.n, sampling.temperature, sampling.top_p, sampling.max_tokens, sampling.seed))
        # the teacher sees the whole solution, every step of it, whichever step it judges
        solution = next(s for s in solutions if f"<problem>\n{s.problem.strip()}\n</problem>" in user)
        assert all(step.strip() in user for step in solution.steps)
    assert stages == {"initial": {(1, 0.7, 0.9, 55, 42)}, "deep": {(3, 1.0, 0.9, 55, 42)},
                      "merge": {(1, 0.7, 0.9, 77, 42)}}


def test_seed_random_easy_cap_is_seeded(tmp_path):
    solutions = load_labeled_solutions(PRM_FIXTURE)
    easy = [s.id for s in solutions if not s.has_error]

    def kept_easy(seed: int, name: str) -> list[str]:
        cfg = seed_config(tmp_path, output_dir=str(tmp_path / name), max_easy_correct=1, easy_cap="random", seed=seed)
        stats = run_seed(cfg, engine=FakeScriptedEngine(teacher_script(solutions)))
        assert stats["capped_easy_correct"] == len(easy) - 1
        return [r["id"] for r in read_rows(tmp_path / name / "train.jsonl") if r["id"] in easy]

    first = kept_easy(0, "a")
    assert len(first) == 1 and kept_easy(0, "b") == first  # same seed, same choice
    assert len({kept_easy(seed, f"s{seed}")[0] for seed in range(1, 8)} | set(first)) > 1  # the seed matters


def test_one_solution_per_problem_after_a_seeded_shuffle():
    from critic.records import LabeledSolution
    from training.seed import one_per_problem

    rows = [LabeledSolution(id=f"{p}-{k}", problem=p, steps=["x"], label0=-1) for p in "abc" for k in range(3)]
    kept = one_per_problem(rows, seed=42)
    assert sorted(s.problem for s in kept) == ["a", "b", "c"]
    assert [s.id for s in one_per_problem(rows, seed=42)] == [s.id for s in kept]
    assert {tuple(s.id for s in one_per_problem(rows, seed=k)) for k in range(10)} != {tuple(s.id for s in kept)}


def test_seed_templates_reach_the_teacher_and_the_sft_examples(tmp_path):
    solutions = load_labeled_solutions(PRM_FIXTURE)[:3]
    by_problem = {s.problem: s for s in solutions}
    (tmp_path / "initial.txt").write_text("P:{problem}\nS:{solution}\nJ:{step_index}")
    (tmp_path / "deep.txt").write_text("D:{original_critique}\nP:{problem}\nS:{solution}\nJ:{step_index}")
    (tmp_path / "merge.txt").write_text("M:{example1}\n{original_critique}\n{critique_of_original_critique}")
    (tmp_path / "ex1.txt").write_text("an example {with braces}")
    (tmp_path / "critic.txt").write_text("Q {problem}\nA {tagged_response}\n\\boxed{{}}")

    def script(chat, sampling, index):
        assert len(chat) == 1 and chat[0]["role"] == "user"  # teacher_system_prompt: none
        user = chat[0]["content"]
        if user.startswith("M:"):  # the merge echoes the in-depth critique, which ends the template
            assert user.startswith("M:an example {with braces}\n")
            return user.rsplit("\n", 2)[-2] + "\n" + user.rsplit("\n", 1)[-1]
        problem = re.search(r"P:(.*?)\nS:", user, re.S).group(1)
        step1 = int(re.search(r"J:(\d+)$", user).group(1))
        expected = dict(steps_to_critique(by_problem[problem]))[step1]
        return f"checked\n**Judgement**: {_verdict_box(expected)}"

    cfg = seed_config(tmp_path, input=str(tmp_path / "in.jsonl"),
                      teacher_initial_template=str(tmp_path / "initial.txt"),
                      teacher_deep_template=str(tmp_path / "deep.txt"), merge_examples=[str(tmp_path / "ex1.txt")],
                      teacher_merge_template=str(tmp_path / "merge.txt"), teacher_system_prompt="none",
                      critic_template=str(tmp_path / "critic.txt"), critic_system_prompt="none",
                      critic_step_tagging="contains")
    (tmp_path / "in.jsonl").write_text("".join(s.model_dump_json() + "\n" for s in solutions))
    stats = run_seed(cfg, engine=FakeScriptedEngine(script))
    assert stats["examples"] == len(solutions)
    from critic.steps import join_steps

    for row in read_rows(tmp_path / "seed/train.jsonl"):
        s = next(x for x in solutions if x.id == row["id"])
        user, assistant = row["messages"]
        assert user == {"role": "user", "content": f"Q {s.problem}\nA {join_steps(s.steps, 'contains')}\n\\boxed{{}}"}
        assert parse_critique(assistant["content"], len(s.steps)).first_wrong_step1 == label0_to_step1(s.label0)
    assert stats["prompts"]["teacher"]["initial"]["sha256"]


def test_mc_label_generator_template_system_file_and_rollout_length_reach_the_engine(tmp_path):
    write_problems(tmp_path / "problems.jsonl", with_eval_duplicate=False)
    (tmp_path / "gen.txt").write_text("Problem: {problem}")
    (tmp_path / "system.txt").write_text("Reason step by step; box the answer.\n")
    engine = FakeScriptedEngine(mc_script())
    cfg = mc_config(tmp_path, generator_template=str(tmp_path / "gen.txt"), rollout_max_tokens=4096,
                    generator_system_prompt_file=str(tmp_path / "system.txt"), limit=2)
    run_mc_labels(cfg, engine=engine)
    assert all(c[0] == {"role": "system", "content": "Reason step by step; box the answer.\n"} for c in engine.calls)
    assert all(c[1]["content"].startswith("Problem: What is ") for c in engine.calls)
    rollout_tokens = {s.max_tokens for c, s in zip(engine.calls, engine.samplings) if c[-1]["content"] != "Step 1:"}
    assert rollout_tokens == {4096}


def test_pipeline_configs_name_the_nearest_key_in_one_line(tmp_path, capsys):
    from training.cli import main

    bad = tmp_path / "seed.yaml"
    bad.write_text(f"input: {PRM_FIXTURE}\noutput_dir: {tmp_path / 'o'}\ndeep_sample: 3\n")
    assert main(["seed", "--config", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown key 'deep_sample' (nearest valid key: 'deep_samples')" in err
    (tmp_path / "t.txt").write_text("no placeholders")
    assert main(["mc-label", "--output_dir", str(tmp_path / "m"), "--generator_template", str(tmp_path / "t.txt")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "needs the placeholder {problem}" in err


def test_rl_prompts_follow_the_critic_template(tmp_path):
    from critic.prompts import CriticPrompt
    from training.rl import build_rl_dataset

    (tmp_path / "critic.txt").write_text("Q {problem}\nA {tagged_response}")
    solutions = load_labeled_solutions(PRM_FIXTURE)[:2]
    prompt = CriticPrompt.from_settings(template=tmp_path / "critic.txt", system_prompt="none")
    dataset = build_rl_dataset(solutions, prompt)
    assert dataset[0]["prompt"] == prompt.messages(solutions[0].problem, solutions[0].steps)
    assert [m["role"] for m in dataset[0]["prompt"]] == ["user"]
