"""Refinement-success and verified-voting runs over a tiny scripted world (FAKE engines: control flow only).

World: "What is a + a?" for a = 2..5. The generator's first attempt is right for a = 3, 4; for a = 2 it writes the
arithmetic slip "2 + 2 = 5" (SymPy catches it), for a = 5 a reasoning slip SymPy cannot see. The critic flags any
solution whose box is not 2a; the generator, told to refine, writes the right answer. A "lenient" critic accepts all.
"""

from __future__ import annotations

import json
import re

import pytest

from critic.data import load_dataset_by_name
from critic.engines.fake import FakeScriptedEngine
from eval.cli import main
from eval.refine_success import RefineConfig, run_refine
from eval.tts import TtsConfig, run_tts


def _a(chat) -> int:
    user = next(m["content"] for m in chat if m["role"] == "user")
    return int(re.search(r"What is (\d+) \+", user).group(1))


def right(a: int) -> str:
    return f" {a} + {a} = {2 * a}.\n\nStep 2: The answer is \\boxed{{{2 * a}}}."


def first_attempt(a: int) -> str:
    if a == 2:
        return " 2 + 2 = 5.\n\nStep 2: The answer is \\boxed{5}."
    if a == 5:
        return " We need twice 5 and add one, which gives 11.\n\nStep 2: The answer is \\boxed{11}."
    return right(a)


ACCEPT = "**Critique of Step 1**\nFine.\n**Judgement**: \\boxed{1}\n\n**Answer**: \\boxed{-1}"
REJECT = "**Critique of Step 1**\nThe sum is off.\n**Judgement**: \\boxed{-1}\n\n**Answer**: \\boxed{1}"


def generator_script(chat, sampling, index):
    a = _a(chat)
    if chat[-1]["role"] == "user":  # asked to critique (the self-critic variant): lenient, accepts everything
        return ACCEPT
    if chat[-1]["content"] == "Step 1:" and "reviewer" not in chat[-2]["content"]:
        return first_attempt(a)
    return right(a)  # a refinement continues from "Step 1:" with the right sum


def critic_script(chat, sampling, index):
    solution = re.search(r"<solution>\n(.*?)\n</solution>", chat[-1]["content"], re.S).group(1)
    return ACCEPT if f"\\boxed{{{2 * _a(chat)}}}" in solution else REJECT


@pytest.fixture
def world(tmp_path):
    path = tmp_path / "adds.jsonl"
    path.write_text("".join(json.dumps({"question": f"What is {a} + {a}?", "answer": f"{a}+{a}={2 * a}\n#### {2 * a}"})
                            + "\n" for a in (2, 3, 4, 5)))
    return str(path)


def test_refine_before_after_and_ablations(tmp_path, world):
    gen, crit = FakeScriptedEngine(generator_script, name="gen"), FakeScriptedEngine(critic_script, name="crit")
    config = RefineConfig(generator="gen", critic="crit", data=[world], ablations=True, max_rounds=3)
    metrics = run_refine(config, tmp_path / "run", generator=gen, critic=crit, progress=False)
    m = metrics["adds"]
    assert set(m) == {"critic", "self-critic", "no-sympy"}
    full, self_critic, no_sympy = m["critic"], m["self-critic"], m["no-sympy"]
    assert (full["acc_before"], full["acc_after"], full["wrong_to_correct"], full["correct_to_wrong"]) == (
        0.5, 1.0, 2, 0)
    assert (no_sympy["acc_after"], no_sympy["wrong_to_correct"]) == (1.0, 2)
    # the lenient self-critic finds nothing; only SymPy's veto catches "2 + 2 = 5"
    assert (self_critic["acc_after"], self_critic["wrong_to_correct"], self_critic["correct_to_wrong"]) == (0.75, 1, 0)
    assert (self_critic["critic"], self_critic["sympy"], no_sympy["sympy"]) == ("gen", "veto", "off")
    assert full["mean_rounds"] == pytest.approx((1 + 2 + 2 + 1) / 4)  # wrong ones: critique, refine, critique
    assert full["tokens"] > 0 and full["initial_tokens"] > 0
    for name in ("config.json", "metrics.json", "report.md", "refine.png", "initial.jsonl", "refined-critic.jsonl",
                 "refined-self-critic.jsonl", "refined-no-sympy.jsonl"):
        assert (tmp_path / "run" / name).is_file(), name
    report = (tmp_path / "run" / "report.md").read_text()
    assert "| adds | critic |" in report and "wrong→correct" in report

    # resume: everything is done, no engine is called again
    gen2, crit2 = FakeScriptedEngine(generator_script, name="gen"), FakeScriptedEngine(critic_script, name="crit")
    again = run_refine(config, tmp_path / "run", generator=gen2, critic=crit2, progress=False)
    assert again == json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert gen2.calls == [] and crit2.calls == []


def test_refine_from_existing_outputs(tmp_path, world):
    initial = tmp_path / "outputs.jsonl"
    ids = [p.id for p in load_dataset_by_name(world)]
    # bare problem ids of the data set; one given as steps, one as free text, one empty (cannot be refined)
    initial.write_text(
        json.dumps({"id": ids[0], "steps": ["2 + 2 = 5.", "The answer is \\boxed{5}."]}) + "\n"
        + json.dumps({"id": ids[1], "response": "Step 1: 3 + 3 = 6.\n\nStep 2: The answer is \\boxed{6}."})
        + "\n" + json.dumps({"id": ids[3], "steps": []}) + "\n"
        + json.dumps({"id": "somewhere-else-7", "steps": ["x"]}) + "\n")
    gen, crit = FakeScriptedEngine(generator_script, name="gen"), FakeScriptedEngine(critic_script, name="crit")
    config = RefineConfig(generator="gen", critic="crit", data=[world], initial=str(initial))
    m = run_refine(config, tmp_path / "r", generator=gen, critic=crit, progress=False)["adds"]["critic"]
    assert m["n"] == 3
    assert (m["correct_before"], m["correct_after"], m["wrong_to_correct"], m["errors"]) == (1, 2, 1, 1)
    assert not any(c[-1]["content"] == "Step 1:" and "reviewer" not in c[-2]["content"] for c in gen.calls)


def test_cli_rejects_bad_settings(tmp_path, world, capsys):
    assert main(["refine", "--data", world, "--max-rounds", "0", "-o", str(tmp_path / "x")]) == 2
    assert "max_rounds" in capsys.readouterr().err
    assert main(["tts", "--data", world, "-n", "0", "-o", str(tmp_path / "y")]) == 2
    assert "n: Input should be greater than or equal to 1" in capsys.readouterr().err


def tts_generator(chat, sampling, index):
    """Samples for "a + a": the first two samples are wrong (2a+1), the next ones right - so plain majority over 4
    ties and goes to the wrong answer seen first, while the critic accepts only right ones."""
    a = _a(chat)
    state = tts_generator.counts
    state[a] = state.get(a, 0) + 1
    k = (state[a] - 1) % 4
    value = 2 * a + 1 if k < 2 else 2 * a
    return f" {a} + {a} is {value}.\n\nStep 2: The answer is \\boxed{{{value}}}."


def test_verified_majority_voting(tmp_path, world):
    tts_generator.counts = {}
    gen, crit = FakeScriptedEngine(tts_generator, name="gen"), FakeScriptedEngine(critic_script, name="crit")
    config = TtsConfig(generator="gen", critic="crit", data=[world], n=4, window=12)
    curve = run_tts(config, tmp_path / "tts", generator=gen, critic=crit, progress=False)["adds"]
    assert curve["n"] == [1.0, 2.0, 4.0]
    assert curve["majority"] == [0.0, 0.0, 0.0]  # at 4: tie 2-2, the wrong answer came first
    assert curve["verified"] == [0.0, 0.0, 1.0]  # at 1 and 2 nothing is accepted: falls back to the majority
    assert curve["fallback"] == [1.0, 1.0, 0.0]
    assert curve["oracle"] == [0.0, 0.0, 1.0]
    assert curve["problems"] == 4
    rows = [json.loads(line) for line in (tmp_path / "tts" / "samples.jsonl").read_text().splitlines()]
    assert len(rows) == 4 and all(len(r["samples"]) == 4 for r in rows)
    assert all(s["accepted"] == s["correct"] for r in rows for s in r["samples"])
    for name in ("report.md", "accuracy_vs_n.png", "metrics.json", "config.json"):
        assert (tmp_path / "tts" / name).is_file()

    gen2 = FakeScriptedEngine(tts_generator, name="gen")
    run_tts(config, tmp_path / "tts", generator=gen2, critic=crit, progress=False)
    assert gen2.calls == []  # resumed: every problem already has its samples
