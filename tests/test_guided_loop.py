"""``critic_format`` in the loop and the CLI: control flow with FakeScriptedEngine (a scripted fake that runs no
model and ignores the constraint, so it also stands for a server without structured outputs). The real engines
holding critiques to the format are tested in tests/test_engines.py (slow)."""

from __future__ import annotations

import json
import re

import pytest

import agent.solve
from agent import critique_solution, solve_with_critic
from agent.cli import main
from agent.solve import make_context
from critic.engines.base import Chat, Generation, Sampling
from critic.engines.fake import FakeScriptedEngine
from critic.guided import guided_format
from critic.prompts import CriticPrompt, format_critique
from critic.records import StepVerdict

PROBLEM = "Tom has 2 apples and buys 3 more. How many apples does he have?"
SOLUTION = " Tom starts with 2 apples.\n\nStep 2: He buys 3 more, so 2 + 3 = 5.\n\nStep 3: The answer is \\boxed{5}."
STEPS = ["Tom starts with 2 apples.", "He buys 3 more, so 2 + 3 = 5.", "The answer is \\boxed{5}."]


def trained_critique(n: int) -> str:
    return format_critique([StepVerdict(step1=i, verdict="correct", text=f"Redo: step {i} holds.")
                            for i in range(1, n + 1)], -1)


def is_critic(chat: Chat) -> bool:
    return chat[-1]["role"] == "user" and "The solution has " in chat[-1]["content"]


def steps_in(chat: Chat) -> int:
    return int(chat[-1]["content"].split("The solution has ")[1].split(" steps")[0])


def fake(critique=trained_critique) -> FakeScriptedEngine:
    """Generator and critic in one scripted fake: the solution above, then ``critique(n)`` for the critic."""
    return FakeScriptedEngine(lambda chat, s, i: critique(steps_in(chat)) if is_critic(chat) else SOLUTION,
                              name="fake:scripted")


def critic_samplings(engine: FakeScriptedEngine) -> list[Sampling]:
    return [s for chat, s in zip(engine.calls, engine.samplings) if is_critic(chat)]


def test_guided_sends_the_format_of_the_solution_to_the_critic_only():
    engine = fake()
    result = solve_with_critic(PROBLEM, generator=engine, critic=engine, sympy="off", critic_format="guided",
                               sampling=Sampling(max_tokens=300))
    assert result.accepted and result.critic_format == "guided"
    [critic_sampling] = critic_samplings(engine)
    assert critic_sampling.guided_regex == guided_format(3, 300).regex
    assert all(s.guided_regex is None for chat, s in zip(engine.calls, engine.samplings) if not is_critic(chat))
    [entry] = result.trace
    assert entry.critic_note is None  # the text is in the format: nothing to say
    assert [v.verdict for v in entry.critique.verdicts] == ["correct"] * 3


def test_guided_uses_the_critic_sampling_budget():
    engine = fake()
    critique_solution(PROBLEM, STEPS, critic=engine, sympy="off", critic_format="guided",
                      sampling=Sampling(max_tokens=1000))
    assert critic_samplings(engine)[0].guided_regex == guided_format(3, 1000).regex
    loop = solve_with_critic(PROBLEM, generator=fake(), critic=engine, sympy="off", critic_format="guided",
                             sampling=Sampling(max_tokens=40), critic_sampling=Sampling(max_tokens=700))
    assert loop.accepted
    assert critic_samplings(engine)[-1].guided_regex == guided_format(3, 700).regex


def test_free_sends_no_constraint():
    engine = fake()
    result = solve_with_critic(PROBLEM, generator=engine, critic=engine, sympy="off")
    assert result.critic_format == "free"
    assert all(s.guided_regex is None for s in engine.samplings)
    assert result.trace[0].critic_note is None


def test_an_engine_that_ignores_the_constraint_is_noted_and_read_as_free_text(caplog):
    free_text = "Step 1 is right. Step 2 is right. Step 3 is right.\n\n**Answer**: \\boxed{-1}"
    engine = FakeScriptedEngine(lambda chat, s, i: free_text, name="fake:ignores-structured-outputs")
    for _ in range(2):
        entry = critique_solution(PROBLEM, STEPS, critic=engine, sympy="off", critic_format="guided")
        assert entry.critic_note and "did not hold the critique to the format" in entry.critic_note
        assert entry.critique.status == "ok" and entry.critique.first_wrong_step1 == -1  # the free reading
    warned = [r for r in caplog.records if "fake:ignores-structured-outputs" in r.getMessage()]
    assert len(warned) == 1  # once per engine, not once per round


class LengthCutFake(FakeScriptedEngine):
    """Scripted fake whose every reply is marked as cut by the token limit."""

    def _one(self, chat, sampling):
        replies = super()._one(chat, sampling)
        return [Generation(str(g), num_tokens=g.num_tokens, finish_reason="length") for g in replies]


def test_an_engine_that_ignores_the_constraint_is_noted_even_when_cut():
    engine = LengthCutFake(lambda chat, s, i: "Step 1 is right. Step 2 is")
    entry = critique_solution(PROBLEM, STEPS, critic=engine, sympy="off", critic_format="guided")
    assert "did not hold" in entry.critic_note and entry.critique.status == "truncated"
    cut = LengthCutFake(lambda chat, s, i: trained_critique(3)[:60])  # the format, cut: nothing to say
    entry = critique_solution(PROBLEM, STEPS, critic=cut, sympy="off", critic_format="guided")
    assert entry.critic_note is None and entry.critique.status == "truncated"


def test_a_format_too_long_for_max_tokens_is_noted():
    steps = [f"Step text {i}." for i in range(1, 13)]
    engine = fake()
    entry = critique_solution(PROBLEM, steps, critic=engine, sympy="off", critic_format="guided",
                              sampling=Sampling(max_tokens=256))
    g = guided_format(12, 256)
    assert not g.fits and g.reasoning_chars == 0
    assert critic_samplings(engine)[0].guided_regex == g.regex
    # the fake's reasoning lines break the 0-character bound: that note wins (it says the more important thing)
    assert "did not hold" in entry.critic_note
    bare = fake(lambda n: re.sub(r"\*\*\n[^\n]*\n", "**\n\n", trained_critique(n)))
    entry = critique_solution(PROBLEM, steps, critic=bare, sympy="off", critic_format="guided",
                              sampling=Sampling(max_tokens=256))
    assert entry.critic_note == (f"guided: 12 steps need {g.max_chars + 1} tokens at worst, more than "
                                 "max_tokens=256; reasoning bounded to 0 characters per step")
    assert entry.critique.status == "ok"


def test_bad_critic_format_settings_are_value_errors():
    engine = fake()
    with pytest.raises(ValueError, match="critic_format must be one of free, guided"):
        make_context(engine, engine, max_rounds=1, sympy="off", sampling=None, critic_format="strict")
    with pytest.raises(ValueError, match="processbench prompt"):
        make_context(engine, engine, max_rounds=1, sympy="off", sampling=None, critic_format="guided",
                     critic_prompt=CriticPrompt(style="processbench"))


# ---- CLI -------------------------------------------------------------------------------------------------------------


@pytest.fixture
def fake_engine(monkeypatch):
    """Spec ``fake`` -> one shared scripted fake (generator and critic)."""
    engine = fake()
    real = agent.solve.resolve_engine
    monkeypatch.setattr(agent.solve, "resolve_engine", lambda spec: engine if spec == "fake" else real(spec))
    return engine


def test_cli_solve_guided(fake_engine, capsys):
    assert main(["solve", "--generator", "fake", "--critic-format", "guided", "--sympy", "off", "--json",
                 "--max-tokens", "200", PROBLEM]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["critic_format"] == "guided" and result["accepted"]
    assert critic_samplings(fake_engine)[0].guided_regex == guided_format(3, 200).regex


def test_cli_critique_and_refine_guided(fake_engine, capsys, tmp_path):
    doc = tmp_path / "solution.json"
    doc.write_text(json.dumps({"problem": PROBLEM, "steps": STEPS}))
    assert main(["critique", str(doc), "--critic", "fake", "--critic-format", "guided", "--sympy", "off"]) == 0
    assert "critic: every step correct" in capsys.readouterr().out
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_text(json.dumps({"id": "a", "problem": PROBLEM, "steps": STEPS}) + "\n")
    assert main(["refine", str(src), "-o", str(out), "--generator", "fake", "--critic-format", "guided",
                 "--no-progress"]) == 0
    assert "wrote 1 rows" in capsys.readouterr().out
    assert all(s.guided_regex == guided_format(3, 512).regex for s in critic_samplings(fake_engine))
    assert len(critic_samplings(fake_engine)) == 2


def test_cli_prints_the_note(monkeypatch, capsys):
    engine = fake(lambda n: "All fine. \\boxed{-1}")
    monkeypatch.setattr(agent.solve, "resolve_engine", lambda spec: engine)
    assert main(["solve", "--generator", "fake", "--critic-format", "guided", "--sympy", "off", PROBLEM]) == 0
    assert "note: guided: the critic engine did not hold the critique to the format" in capsys.readouterr().out


def test_cli_bad_critic_format_is_a_usage_error(capsys):
    assert main(["solve", "--critic-format", "strict", "q"]) == 2
    assert "invalid choice" in capsys.readouterr().err


# ---- eval error-id ---------------------------------------------------------------------------------------------------


def test_error_id_guided_sends_each_solution_its_own_format(tmp_path, fixtures_dir):
    from eval.error_id import ErrorIdConfig, run_error_id

    data = str(fixtures_dir / "processbench_gsm8k.json")
    engine = FakeScriptedEngine(lambda chat, s, i: trained_critique(steps_in(chat)) if i % 2 else "Fine. \\boxed{-1}")
    config = ErrorIdConfig(critic="fake", data=[data], critic_format="guided", max_tokens=400, limit=6)
    run_error_id(config, tmp_path / "run", engine=engine, progress=False)
    assert len(engine.calls) == 6
    counts = set()
    for chat, sampling in zip(engine.calls, engine.samplings):
        counts.add(steps_in(chat))
        assert sampling.guided_regex == guided_format(steps_in(chat), 400).regex
    assert len(counts) > 1  # several step counts, each with its own format
    rows = [json.loads(line) for line in (tmp_path / "run" / "predictions.jsonl").read_text().splitlines()]
    assert sorted(r["guided_held"] for r in rows) == [[False]] * 3 + [[True]] * 3
    assert json.loads((tmp_path / "run" / "config.json").read_text())["critic_format"] == "guided"


def test_error_id_config_critic_format():
    from pydantic import ValidationError

    from eval.error_id import ErrorIdConfig

    assert ErrorIdConfig().critic_format == "free"
    assert ErrorIdConfig(protocol="deepcritic").critic_format == "free"  # presets stay unconstrained
    assert ErrorIdConfig(protocol="deepcritic", critic_format="guided").critic_format == "guided"
    with pytest.raises(ValidationError, match="needs prompt deliberate"):
        ErrorIdConfig(prompt="processbench", critic_format="guided")
    with pytest.raises(ValidationError, match="needs prompt deliberate and an engine critic"):
        ErrorIdConfig(critic="sympy", critic_format="guided")
    with pytest.raises(ValidationError):
        ErrorIdConfig(critic_format="strict")


def test_eval_cli_flag_reaches_the_config(tmp_path, fixtures_dir, monkeypatch):
    from eval.cli import main as eval_main

    engine = FakeScriptedEngine(lambda chat, s, i: trained_critique(steps_in(chat)))
    monkeypatch.setattr("critic.engines.get_engine", lambda spec, **kw: engine)
    argv = ["error-id", "--critic", "fake", "--data", str(fixtures_dir / "processbench_gsm8k.json"), "--limit", "2",
            "--critic-format", "guided", "--max-tokens", "300", "-o", str(tmp_path / "run"), "--no-progress"]
    assert eval_main(argv) == 0
    assert len(engine.samplings) == 2 and all(s.guided_regex for s in engine.samplings)
    assert json.loads((tmp_path / "run" / "config.json").read_text())["critic_format"] == "guided"
