"""The ``deepcritic`` CLI over FAKE scripted engines (spec ``fake``), plus its error handling."""

from __future__ import annotations

import io
import json
import sys
import types

import pytest

import agent.solve
from agent.cli import main
from critic.engines.base import Chat, Sampling
from critic.engines.fake import FakeScriptedEngine
from critic.io import read_jsonl
from critic.prompts import format_critique
from critic.records import StepVerdict

SOLUTION = " 2 + 3 = 6.\n\nStep 2: The answer is \\boxed{6}."
REFINED = " 2 + 3 = 5.\n\nStep 2: The answer is \\boxed{5}."


def scripted(chat: Chat, sampling: Sampling, index: int) -> str:
    if chat[-1]["role"] == "assistant":  # generator: first a wrong solution, refinements are right
        return REFINED if "reviewer" in chat[1]["content"] else SOLUTION
    n = int(chat[-1]["content"].split("The solution has ")[1].split(" steps")[0])
    return format_critique([StepVerdict(step1=i, verdict="correct", text="fine") for i in range(1, n + 1)], -1)


@pytest.fixture
def fake_engines(monkeypatch):
    """Spec ``fake`` -> one shared fake engine; other specs go to the real resolver."""
    engine = FakeScriptedEngine(scripted, name="fake")
    real = agent.solve.resolve_engine
    monkeypatch.setattr(agent.solve, "resolve_engine", lambda spec: engine if spec == "fake" else real(spec))
    return engine


def test_help_lists_commands_and_examples(capsys):
    assert main(["--help"]) == 0
    text = capsys.readouterr().out
    for word in ("solve", "critique", "refine", "train", "eval", "view", "examples:", "openai:"):
        assert word in text
    assert main(["refine", "--help"]) == 0
    assert "--concurrency" in capsys.readouterr().out
    assert main([]) == 2


def test_solve_prints_a_trace(fake_engines, capsys):
    assert main(["solve", "--generator", "fake", "What is 2 + 3?"]) == 0
    out = capsys.readouterr().out
    assert "round 1 (generated)" in out and "round 2 (refined from step 1)" in out
    assert "flagged by sympy" in out and "answer: 5" in out and "accepted by the critic" in out


def test_solve_json(fake_engines, capsys):
    assert main(["solve", "--generator", "fake", "--json", "--sympy", "off", "--max-tokens", "64",
                 "What is 2 + 3?"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["accepted"] and result["answer"] == "6" and result["rounds"] == 1 and result["sympy"] == "off"
    assert len(fake_engines.calls) == 2  # one solution, one critique


def test_critique_from_stdin_json_and_text(fake_engines, capsys, monkeypatch):
    doc = {"problem": "What is 2 + 3?", "steps": ["2 + 3 = 6.", "The answer is \\boxed{6}."]}
    monkeypatch.setattr(sys, "stdin", io.StringIO(json.dumps(doc)))
    assert main(["critique", "--critic", "fake"]) == 0
    out = capsys.readouterr().out
    assert "Step 1" in out and "sympy WRONG" in out and "left side is 5" in out and "flagged by sympy" in out
    monkeypatch.setattr(sys, "stdin", io.StringIO("Step 1: 2 + 3 = 5.\nStep 2: \\boxed{5}"))
    assert main(["critique", "-", "--critic", "fake", "--problem", "What is 2 + 3?", "--json"]) == 0
    entry = json.loads(capsys.readouterr().out)
    assert entry["steps"] == ["2 + 3 = 5.", "\\boxed{5}"] and entry["first_wrong_step1"] == -1


def test_refine_command(fake_engines, tmp_path, capsys):
    src = tmp_path / "in.jsonl"
    rows = [{"id": i, "problem": "What is 2 + 3?", "response": "Step 1: 2 + 3 = 6.\nStep 2: \\boxed{6}", "answer": "5"}
            for i in range(5)]
    src.write_text("\n".join(json.dumps(r) for r in rows))
    out = tmp_path / "out.jsonl"
    argv = ["refine", str(src), "-o", str(out), "--generator", "fake", "--no-progress", "--limit", "3"]
    assert main(argv) == 0
    assert "wrote 3 rows" in capsys.readouterr().out
    assert main(argv[:-2] + ["--limit", "5"]) == 0
    second = capsys.readouterr().out
    assert "wrote 2 rows" in second and "3 already done" in second
    written = read_jsonl(out)
    assert sorted(r["id"] for r in written) == ["0", "1", "2", "3", "4"]
    assert all(r["final_correct"] and not r["initial_correct"] for r in written)


@pytest.mark.parametrize("argv, message", [
    (["solve", "--generator", "nonsense:thing", "What is 1 + 1?"], "nonsense"),
    (["refine", "missing.jsonl", "-o", "out.jsonl"], "no such file"),
    (["critique", "no-such-solution.json"], "no such file"),
    (["solve", "--max-tokens", "0", "--generator", "fake", "q"], "--max-tokens"),
])
def test_bad_input_is_one_line_and_exit_2(argv, message, capsys, fake_engines, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("deepcritic: error:") and message in err
    assert "Traceback" not in err


def test_bad_flag_value_is_a_usage_error(capsys):
    assert main(["solve", "--sympy", "sometimes", "q"]) == 2
    assert "invalid choice" in capsys.readouterr().err


def test_train_eval_view_dispatch_lazily(monkeypatch, capsys):
    seen = {}

    def recorder(name: str, code: int):
        return lambda argv: (seen.__setitem__(name, argv), code)[1]

    training_cli = types.ModuleType("training.cli")
    training_cli.main = recorder("train", 0)
    eval_cli = types.ModuleType("eval.cli")
    eval_cli.main = recorder("eval", 3)
    eval_cli.view_main = recorder("view", 0)
    monkeypatch.setitem(sys.modules, "training.cli", training_cli)
    monkeypatch.setitem(sys.modules, "eval.cli", eval_cli)
    assert main(["train", "sft", "--recipe", "x.yaml"]) == 0
    assert main(["eval", "error-id", "--help"]) == 3
    assert main(["view", "run-dir"]) == 0
    assert seen == {"train": ["sft", "--recipe", "x.yaml"], "eval": ["error-id", "--help"], "view": ["run-dir"]}


def test_unavailable_delegate_is_a_clear_error(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "training.cli", None)  # import of it fails
    assert main(["train", "sft"]) == 2
    err = capsys.readouterr().err
    assert "'train' is not available" in err and "Traceback" not in err
