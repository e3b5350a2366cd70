"""Batch refinement with FAKE scripted engines: one row per id, resume, error rows, bounded concurrency."""

from __future__ import annotations

import asyncio
import json

import pytest

from agent import refine_batch
from agent.batch import BadRow, load_rows, parse_row
from critic.engines.base import Chat, EngineError, Sampling
from critic.engines.fake import FakeScriptedEngine
from critic.io import read_jsonl
from critic.prompts import format_critique
from critic.records import StepVerdict


def critique_text(num_steps: int, first_wrong: int) -> str:
    last = num_steps if first_wrong == -1 else first_wrong
    verdicts = [StepVerdict(step1=i, verdict="wrong" if i == first_wrong else "correct", text="checked")
                for i in range(1, last + 1)]
    return format_critique(verdicts, first_wrong)


def scripted(chat: Chat, sampling: Sampling, index: int) -> str:
    """Generator: a fixed correct continuation. Critic: flags step 2 of any solution whose step 2 says 'wrong'."""
    if chat[-1]["role"] == "assistant":
        return " Add them: 2 + 3 = 5.\n\nStep 3: \\boxed{5}."
    user = chat[-1]["content"]
    if "EXPLODE" in user:
        raise EngineError("the server went away")
    n = int(user.split("The solution has ")[1].split(" steps")[0])
    return critique_text(n, 2 if "wrong" in user.split("<solution>")[1] else -1)


def make_rows(n: int) -> list[dict]:
    rows = []
    for i in range(n):
        steps = ["We have 2 and 3.", "This step is wrong: 2 + 3 = 7.", "\\boxed{7}"] if i % 2 else \
            ["We have 2 and 3.", "2 + 3 = 5.", "\\boxed{5}"]
        rows.append({"id": f"r{i}", "problem": f"What is 2 + 3? (copy {i})", "steps": steps, "answer": "5"})
    return rows


def run(rows, out, engine, **kw):
    kw.setdefault("sympy", "off")
    return refine_batch(rows, out, generator=engine, critic=engine, progress=False, **kw)


def test_every_row_written_once_with_results(tmp_path):
    out = tmp_path / "out.jsonl"
    engine = FakeScriptedEngine(scripted)
    summary = run(make_rows(10), out, engine, concurrency=4, max_rounds=2)
    rows = read_jsonl(out)
    assert sorted(r["id"] for r in rows) == sorted(f"r{i}" for i in range(10))
    assert summary.done == 10 and summary.errors == 0 and summary.accepted == 10
    assert (summary.correct_before, summary.correct_after) == (5, 10)
    refined = next(r for r in rows if r["id"] == "r1")
    assert refined["rounds"] == 2 and refined["initial_answer"] == "7" and refined["answer"] == "5"
    assert refined["final_correct"] and not refined["initial_correct"]
    assert refined["steps"][0] == "We have 2 and 3." and refined["trace"][0]["origin"] == "given"
    assert refined["run_id"] == summary.run_id and refined["error"] is None


def test_resume_skips_done_rows_and_overwrite_starts_over(tmp_path):
    out = tmp_path / "out.jsonl"
    rows = make_rows(8)
    first = FakeScriptedEngine(scripted)
    run(rows[:5], out, first)
    before = out.read_text()
    second = FakeScriptedEngine(scripted)
    summary = run(rows, out, second)
    assert summary.skipped == 5 and summary.done == 3
    assert out.read_text().startswith(before)  # done rows untouched, not recomputed
    critic_calls = [c for c in second.calls if c[-1]["role"] == "user"]
    assert len(critic_calls) == 2 + 1 + 2  # only r5-r7 ran: the odd ones are refined and critiqued twice
    assert sorted(r["id"] for r in read_jsonl(out)) == sorted(r["id"] for r in rows)
    again = FakeScriptedEngine(scripted)
    assert run(rows, out, again).done == 0 and again.calls == []
    fresh = run(rows, out, FakeScriptedEngine(scripted), overwrite=True)
    assert fresh.done == 8 and len(read_jsonl(out)) == 8


def test_resume_after_a_torn_last_line(tmp_path):
    out = tmp_path / "out.jsonl"
    rows = make_rows(4)
    run(rows[:2], out, FakeScriptedEngine(scripted))
    with out.open("a") as f:
        f.write('{"id": "r2", "error": nu')  # a kill in the middle of a write
    run(rows, out, FakeScriptedEngine(scripted))
    assert sorted(r["id"] for r in read_jsonl(out)) == ["r0", "r1", "r2", "r3"]


def test_bad_rows_and_engine_failures_become_error_rows(tmp_path, monkeypatch):
    import agent.graph as graph_module

    quick = graph_module.ENGINE_RETRY._replace(initial_interval=0.0, jitter=False)
    monkeypatch.setattr("agent.solve.LOOP", graph_module.build_graph(quick))
    rows = make_rows(3) + [
        {"id": "no-problem", "steps": ["x"]},
        {"id": "bad-steps", "problem": "p", "steps": [1, 2]},
        {"id": "boom", "problem": "EXPLODE", "steps": ["1 + 1 = 2", "\\boxed{2}"]},
        {"problem": "What is 1 + 1?", "response": "Step 1: 1 + 1 = 2.\nStep 2: \\boxed{2}"},
        "not a row",
    ]
    out = tmp_path / "out.jsonl"
    summary = run(rows, out, FakeScriptedEngine(scripted), concurrency=3)
    written = {r["id"]: r for r in read_jsonl(out)}
    assert set(written) == {"r0", "r1", "r2", "no-problem", "bad-steps", "boom", "#6", "#7"}
    assert summary.errors == 4 and summary.total == 8
    assert "not a mapping" in written["#7"]["error"]
    assert "problem" in written["no-problem"]["error"]
    assert "EngineError" in written["boom"]["error"] and "server went away" in written["boom"]["error"]
    assert written["#6"]["error"] is None and written["#6"]["trace"][0]["steps"] == ["1 + 1 = 2.", "\\boxed{2}"]
    assert written["r0"]["problem"].startswith("What is 2 + 3")


def test_engine_sees_full_batches(tmp_path):
    class CountingFake(FakeScriptedEngine):
        in_flight = peak = 0

        async def agenerate(self, chat, sampling):
            CountingFake.in_flight += 1
            CountingFake.peak = max(CountingFake.peak, CountingFake.in_flight)
            await asyncio.sleep(0.005)
            CountingFake.in_flight -= 1
            return await super().agenerate(chat, sampling)

    summary = run(make_rows(24), tmp_path / "out.jsonl", CountingFake(scripted), concurrency=6)
    assert summary.done == 24 and CountingFake.peak == 6


def test_input_formats(tmp_path):
    rows = make_rows(3)
    jsonl = tmp_path / "in.jsonl"
    jsonl.write_text("\n".join(json.dumps(r) for r in rows) + "\n{not json\n[1, 2]\n")
    loaded = load_rows(jsonl)
    assert [r["id"] for r in loaded[:3]] == ["r0", "r1", "r2"]
    assert [r["id"] for r in loaded[3:]] == ["in.jsonl:4", "in.jsonl:5"] and all("_bad" in r for r in loaded[3:])
    with pytest.raises(BadRow, match="not a JSON object"):
        parse_row(loaded[4])
    as_json = tmp_path / "in.json"
    as_json.write_text(json.dumps(rows))
    assert load_rows(as_json) == rows
    import datasets

    folder = tmp_path / "ds"
    datasets.Dataset.from_list(rows).save_to_disk(str(folder))
    assert [r["id"] for r in load_rows(folder)] == ["r0", "r1", "r2"]
    assert parse_row({"problem": "p", "response": "Step 1: a\nStep 2: b", "answer": 4}) == ("p", ["a", "b"], "4")
    assert parse_row({"problem": "p"}) == ("p", None, None)  # no solution: the loop generates one
    with pytest.raises(BadRow):
        parse_row({"problem": "p", "steps": []})
    with pytest.raises(FileNotFoundError):
        load_rows(str(tmp_path / "missing-name"))
