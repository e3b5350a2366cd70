"""Routing of the critique-refine loop, driven by FAKE scripted engines (no model runs here)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

import pytest

from agent import SolveResult, critique_solution, solve_with_critic
from agent.graph import LoopContext, combine, critic_flag
from agent.solve import asolve_with_critic, run_loop
from critic.engines.base import Chat, EngineError, Generation, Sampling
from critic.engines.fake import FakeScriptedEngine
from critic.prompts import format_critique
from critic.records import Critique, StepVerdict

PROBLEM = "Tom has 2 apples and buys 3 more. How many apples does he have?"
GOOD = " Tom starts with 2 apples.\n\nStep 2: He buys 3 more, so 2 + 3 = 5.\n\nStep 3: The answer is \\boxed{5}."
BAD_STEP2 = " Tom starts with 2 apples.\n\nStep 2: He buys 3 more, so 2 + 3 = 6.\n\nStep 3: The answer is \\boxed{6}."


def critique_text(num_steps: int, first_wrong: int) -> str:
    """A well-formed critique in the trained format: correct up to ``first_wrong`` (wrong there), or all correct."""
    last = num_steps if first_wrong == -1 else first_wrong
    verdicts = [
        StepVerdict(step1=i, verdict="wrong" if i == first_wrong else "correct", text=f"Checking step {i} twice.")
        for i in range(1, last + 1)
    ]
    return format_critique(verdicts, first_wrong)


def num_steps_in(chat: Chat) -> int:
    user = chat[-1]["content"]
    return int(user.split("The solution has ")[1].split(" steps")[0])


def critic_engine(first_wrong_per_call: list[int]) -> FakeScriptedEngine:
    """Fake critic: call i flags ``first_wrong_per_call[i]`` (the last entry repeats)."""

    def script(chat: Chat, sampling: Sampling, index: int) -> str:
        first = first_wrong_per_call[min(index, len(first_wrong_per_call) - 1)]
        return critique_text(num_steps_in(chat), first)

    return FakeScriptedEngine(script, name="fake:critic")


def solve(generator, critic, **kw) -> SolveResult:
    return solve_with_critic(PROBLEM, generator=generator, critic=critic, **kw)


def test_accept_on_round_one():
    gen, crit = FakeScriptedEngine([GOOD], name="fake:gen"), critic_engine([-1])
    result = solve(gen, crit, sympy="off")
    assert (result.accepted, result.stop_reason, result.rounds) == (True, "accepted", 1)
    assert result.answer == "5"
    assert result.steps == ["Tom starts with 2 apples.", "He buys 3 more, so 2 + 3 = 5.", "The answer is \\boxed{5}."]
    assert len(gen.calls) == 1 and len(crit.calls) == 1
    assert gen.calls[0][-1] == {"role": "assistant", "content": "Step 1:"}  # continues the prefilled first step
    [entry] = result.trace
    assert entry.origin == "generated" and entry.refine_from_step1 is None and entry.first_wrong_step1 == -1
    assert result.tokens == result.generator_tokens + result.critic_tokens > 0
    json.loads(result.model_dump_json())  # JSON-serialisable, trace included


def test_flag_step_two_then_accept():
    gen = FakeScriptedEngine([BAD_STEP2, " He buys 3 more, so 2 + 3 = 5.\n\nStep 3: The answer is \\boxed{5}."])
    crit = critic_engine([2, -1])
    result = solve(gen, crit, sympy="off")
    assert (result.accepted, result.stop_reason, result.rounds) == (True, "accepted", 2)
    first, second = result.trace
    assert (first.first_wrong_step1, first.flagged_by, first.refine_from_step1) == (2, "critic", 2)
    assert "Critique of Step 2" in first.feedback and "Critique of Step 3" not in first.feedback
    assert second.origin == "refined" and second.kept_steps == 1
    assert second.steps[0] == first.steps[0]
    assert result.answer == "5"
    refine_chat = gen.calls[1]
    assert refine_chat[-1]["role"] == "assistant" and refine_chat[-1]["content"].endswith("Step 2:")
    assert first.feedback in refine_chat[1]["content"]


def test_round_limit_stops_after_max_rounds():
    replies = iter(f" Step one, variant {i}.\n\nStep 2: The answer is \\boxed{{{i}}}." for i in range(100))
    gen = FakeScriptedEngine(lambda chat, sampling, i: next(replies))
    crit = critic_engine([1])
    result = solve(gen, crit, max_rounds=3, sympy="off")
    assert (result.accepted, result.stop_reason, result.rounds) == (False, "max_rounds", 3)
    assert len(result.trace) == 3 and len(crit.calls) == 3
    assert len(gen.calls) == 3  # one solution + two refinements
    assert result.trace[-1].refine_from_step1 is None


def test_repeated_solution_stops():
    # Refining from step 2 always reproduces the same steps 2-3: the third critique would be of a known solution.
    gen = FakeScriptedEngine(lambda chat, sampling, i: BAD_STEP2 if i == 0 else BAD_STEP2.split("Step 2:")[1])
    crit = critic_engine([2])
    result = solve(gen, crit, max_rounds=5, sympy="off")
    assert (result.accepted, result.stop_reason, result.rounds) == (False, "repeated_solution", 2)
    assert result.trace[0].steps == result.trace[1].steps


def test_sympy_veto_overrides_accepting_critic():
    gen = FakeScriptedEngine([BAD_STEP2], name="fake:gen")
    result = solve(gen, critic_engine([-1]), max_rounds=1, sympy="veto")
    entry = result.trace[0]
    assert entry.critique.accepts
    assert (entry.first_wrong_step1, entry.flagged_by) == (2, "sympy")
    assert (result.accepted, result.stop_reason) == (False, "max_rounds")
    assert any(c.is_finding and c.step1 == 2 for c in entry.checks)
    # The same solution and critic with SymPy off: accepted.
    assert solve(FakeScriptedEngine([BAD_STEP2]), critic_engine([-1]), sympy="off").accepted


def test_sympy_veto_evidence_reaches_the_feedback():
    gen = FakeScriptedEngine([BAD_STEP2, " He buys 3 more, so 2 + 3 = 5.\n\nStep 3: The answer is \\boxed{5}."])
    result = solve(gen, critic_engine([-1]), max_rounds=2, sympy="veto")
    assert (result.accepted, result.rounds) == (True, 2)
    first = result.trace[0]
    assert first.refine_from_step1 == 2 and "SymPy" in first.feedback and "2 + 3" in first.feedback
    assert result.answer == "5"


def test_sympy_veto_takes_the_earlier_of_critic_and_sympy():
    assert combine(3, 2, "veto") == (2, "sympy")
    assert combine(2, 3, "veto") == (2, "critic")
    assert combine(2, 2, "veto") == (2, "both")
    assert combine(-1, -1, "veto") == (-1, None)
    assert combine(3, 2, "prompt") == (3, "critic")  # prompt mode: the critic decides
    assert combine(None, 2, "off") == (None, None)


def test_prompt_mode_shows_findings_to_the_critic_and_lets_it_decide():
    crit = critic_engine([-1])
    result = solve(FakeScriptedEngine([BAD_STEP2]), crit, sympy="prompt")
    assert result.accepted  # the critic was told, and still accepted: its call
    assert "tool_notes" in crit.calls[0][-1]["content"] and "2 + 3 = 6" in crit.calls[0][-1]["content"]
    off = critic_engine([-1])
    solve(FakeScriptedEngine([BAD_STEP2]), off, sympy="off")
    assert "tool_notes" not in off.calls[0][-1]["content"]


def test_kept_prefix_is_byte_identical():
    # Odd whitespace and markdown that a split/join round trip would normalise must survive untouched.
    steps = ["  Tom has **2** apples;\tkeep   this spacing.  ", "Then 2 * 3 = 6 (twice\n\nas many).",
             "Step three: 6 + 1 = 8", "So the answer is \\boxed{8}."]
    gen = FakeScriptedEngine([" 6 + 1 = 7.\n\nStep 4: So the answer is \\boxed{7}."])
    crit = critic_engine([3, -1])
    ctx = LoopContext(generator=gen, critic=crit, max_rounds=2, sympy="off")
    result = asyncio.run(run_loop(PROBLEM, ctx, steps=steps))
    first, second = result.trace
    assert first.origin == "given" and first.steps == steps
    assert second.kept_steps == 2
    assert all(a == b and type(a) is str for a, b in zip(second.steps[:2], steps[:2]))
    assert second.steps[2:] == ["6 + 1 = 7.", "So the answer is \\boxed{7}."]
    assert len(gen.calls) == 1  # starting from given steps: no generate call, only the refinement


def test_unparsed_critique_stops_without_refining():
    gen = FakeScriptedEngine([GOOD])
    crit = FakeScriptedEngine(["I think it is fine but I will not say so in a box."])
    result = solve(gen, crit, sympy="off")
    assert (result.accepted, result.stop_reason, result.rounds) == (False, "critic_unparsed", 1)
    assert len(gen.calls) == 1


def test_truncated_critique_that_already_found_a_wrong_step_refines_from_it():
    partial = critique_text(3, 2).split("**Answer**")[0]
    assert critic_flag(Critique(status="truncated", verdicts=[StepVerdict(step1=2, verdict="wrong")])) == 2
    gen = FakeScriptedEngine([BAD_STEP2, " 2 + 3 = 5.\n\nStep 3: \\boxed{5}."])
    crit = FakeScriptedEngine(lambda chat, s, i: partial if i == 0 else critique_text(3, -1))
    result = solve(gen, crit, sympy="off")
    assert result.trace[0].critique.status == "unparsed"
    assert result.trace[0].refine_from_step1 == 2 and result.accepted


def test_empty_generation_stops():
    result = solve(FakeScriptedEngine(["   "]), critic_engine([-1]), sympy="veto")
    assert (result.stop_reason, result.steps, result.accepted) == ("empty_solution", [], False)


class FlakyEngine(FakeScriptedEngine):
    """Fake that fails its first ``failures`` calls."""

    def __init__(self, script, failures: int) -> None:
        super().__init__(script, name="fake:flaky")
        self.failures = failures

    async def agenerate(self, chat: Chat, sampling: Sampling) -> list[Generation]:
        if self.failures:
            self.failures -= 1
            raise EngineError("server hiccup")
        return await super().agenerate(chat, sampling)


def test_engine_errors_are_retried_then_raised(monkeypatch):
    import agent.graph as graph_module

    quick = graph_module.ENGINE_RETRY._replace(initial_interval=0.0, jitter=False)
    monkeypatch.setattr("agent.solve.LOOP", graph_module.build_graph(quick))
    ok = solve(FlakyEngine([GOOD], failures=2), critic_engine([-1]), sympy="off")
    assert ok.accepted
    with pytest.raises(EngineError):
        solve(FlakyEngine([GOOD], failures=3), critic_engine([-1]), sympy="off")


def test_error_generations_count_as_engine_errors():
    class ErrorEngine(FakeScriptedEngine):
        async def agenerate(self, chat, sampling):
            return [Generation("boom", finish_reason="error")]

    with pytest.raises(EngineError):
        asyncio.run(asolve_with_critic(PROBLEM, generator=ErrorEngine(["x"]), critic=critic_engine([-1]),
                                       sympy="off"))


def test_critique_solution_reports_verdicts_and_findings():
    steps = ["Tom starts with 2 apples.", "He buys 3 more, so 2 + 3 = 6.", "The answer is \\boxed{6}."]
    entry = critique_solution(PROBLEM, steps, critic=critic_engine([-1]), sympy="veto")
    assert entry.critique.accepts and entry.first_wrong_step1 == 2 and entry.flagged_by == "sympy"
    assert [v.verdict for v in entry.critique.verdicts] == ["correct"] * 3
    with pytest.raises(ValueError):
        critique_solution(PROBLEM, [], critic=critic_engine([-1]))


def test_bad_settings_raise_value_error():
    with pytest.raises(ValueError):
        solve(FakeScriptedEngine([GOOD]), critic_engine([-1]), sympy="maybe")
    with pytest.raises(ValueError):
        solve(FakeScriptedEngine([GOOD]), critic_engine([-1]), max_rounds=0)


def test_many_loops_share_the_engine_concurrently():
    class SlowFake(FakeScriptedEngine):
        in_flight = peak = 0

        async def agenerate(self, chat, sampling):
            SlowFake.in_flight += 1
            SlowFake.peak = max(SlowFake.peak, SlowFake.in_flight)
            await asyncio.sleep(0.01)
            SlowFake.in_flight -= 1
            return await super().agenerate(chat, sampling)

    async def many():
        engine = SlowFake(lambda chat, s, i: GOOD if chat[-1]["role"] == "assistant" else critique_text(3, -1))
        return await asyncio.gather(*(asolve_with_critic(PROBLEM, generator=engine, critic=engine, sympy="off")
                                      for _ in range(8)))

    results = asyncio.run(many())
    assert all(r.accepted for r in results) and SlowFake.peak == 8


def test_import_agent_stays_light():
    code = "import agent, sys; print(sorted(m for m in ('torch', 'vllm', 'trl') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
