"""The loop and `deepcritic refine` on the REAL embedded model through vLLM (slow).

The embedded SmolLM2-135M does not solve or critique math; these tests check that the loop runs end to end on a
real engine, stays within its token bounds and writes well-formed results. One engine serves the whole module.
"""

from __future__ import annotations

import asyncio
import json

import pytest

from agent import SolveResult, solve_with_critic
from agent.cli import main
from agent.solve import make_context, run_loop
from critic.engines.base import Sampling
from critic.io import read_jsonl

pytestmark = pytest.mark.slow

MAX_TOKENS = 48
STOP_REASONS = {"accepted", "max_rounds", "repeated_solution", "critic_unparsed", "critic_truncated", "empty_solution"}


@pytest.fixture(scope="module")
def engine():
    pytest.importorskip("vllm")
    from critic.engines import get_engine

    return get_engine("vllm:embedded")


def check_well_formed(result: SolveResult, max_rounds: int) -> None:
    assert 1 <= result.rounds <= max_rounds and len(result.trace) == result.rounds
    assert result.stop_reason in STOP_REASONS and result.accepted == (result.stop_reason == "accepted")
    assert result.steps == result.trace[-1].steps
    for entry in result.trace:
        assert entry.generator_tokens <= MAX_TOKENS and entry.critic_tokens <= MAX_TOKENS
        assert entry.critique.status in ("ok", "unparsed", "truncated")
        if entry.critique.status == "truncated":
            assert entry.critic_tokens == MAX_TOKENS
    # At most one solution + (rounds - 1) refinements and one critique per round, each capped at MAX_TOKENS.
    assert result.tokens <= 2 * max_rounds * MAX_TOKENS
    assert result.tokens == sum(e.generator_tokens + e.critic_tokens for e in result.trace)
    assert SolveResult.model_validate_json(result.model_dump_json()) == result


def test_solve_with_critic_on_the_embedded_model(engine):
    result = solve_with_critic("Tom has 3 apples and buys 5 more. How many apples does he have now?",
                               generator=engine, critic=engine, max_rounds=2,
                               sampling=Sampling(max_tokens=MAX_TOKENS))
    check_well_formed(result, 2)
    assert result.trace[0].origin == "generated" and result.trace[0].steps and result.generator_tokens > 0


def test_sympy_veto_drives_a_real_refinement(engine):
    # A definite arithmetic error in step 2: the veto flags it whatever the tiny critic says, so the generator must
    # really continue from "Step 2:" after the kept step 1.
    steps = ["Tom has 3 apples.", "He buys 5 more, so he has 3 + 5 = 9 apples.", "The answer is \\boxed{9}."]
    ctx = make_context(engine, engine, max_rounds=2, sympy="veto", sampling=Sampling(max_tokens=MAX_TOKENS))
    result = asyncio.run(run_loop("Tom has 3 apples and buys 5 more. How many apples does he have now?", ctx, steps))
    check_well_formed(result, 2)
    first = result.trace[0]
    assert first.first_wrong_step1 == 2 and first.flagged_by in ("sympy", "both") and "3 + 5" in first.feedback
    assert result.rounds == 2 and first.refine_from_step1 == 2
    second = result.trace[1]
    assert second.origin == "refined" and second.kept_steps == 1 and second.steps[0] == steps[0]


def test_refine_cli_over_processbench_gsm8k_rows(engine, fixtures_dir, tmp_path, capsys):
    rows = json.loads((fixtures_dir / "processbench_gsm8k.json").read_text())[:20]
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps({"id": r["id"], "problem": r["problem"], "steps": r["steps"]}) + "\n"
                           for r in rows))
    out = tmp_path / "out.jsonl"
    argv = ["refine", str(src), "-o", str(out), "--generator", "vllm:embedded", "--max-tokens", "32",
            "--max-rounds", "2", "--concurrency", "20", "--no-progress"]
    assert main(argv) == 0
    assert "wrote 20 rows" in capsys.readouterr().out
    written = read_jsonl(out)
    assert sorted(r["id"] for r in written) == sorted(r["id"] for r in rows)
    by_id = {r["id"]: r for r in rows}
    for row in written:
        assert row["error"] is None, row["error"]
        assert row["trace"][0]["steps"] == by_id[row["id"]]["steps"] and row["trace"][0]["origin"] == "given"
        assert 1 <= row["rounds"] <= 2
    assert main(argv) == 0 and "wrote 0 rows" in capsys.readouterr().out  # resumed: nothing left to do
