"""Benchmarks of the agent loop.

(a) Batch refinement throughput on the embedded model: generated tokens/s of ``refine_batch`` (LangGraph graphs
    running concurrently on one event loop, the engine batching their requests) divided by the raw engine's
    tokens/s on the very same requests (recorded during the loop run, replayed greedily, so the same prompts and the
    same lengths) with the same number in flight. Target >= 0.9. Also measured: a lockstep "collect-then-batch"
    driver (every row finishes a stage before any row starts the next) and the raw engine given all requests at once.
    vLLM's prefix cache is off for this part: the runs replay the same prompts, and cache hits would flatter later
    runs.
(b) LangGraph overhead per round with an instant FAKE scripted engine: time per round through the compiled graph
    minus the same node functions driven by a plain Python loop. Target <= 2 ms.

Run: ``python -m eval.bench.agent`` (loads the embedded model through vLLM for part (a); part (b) needs no model).
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

from agent.batch import arefine_batch
from agent.graph import LoopContext, LoopState, check, critique, decide, generate, refine
from agent.solve import run_loop
from critic.engines.base import Chat, Generation, Sampling
from critic.engines.fake import FakeScriptedEngine
from critic.prompts import format_critique
from critic.records import StepVerdict

REPO = Path(__file__).resolve().parents[2]
ADDITIVE = {"trace", "generator_tokens", "critic_tokens"}  # the state keys with an ``operator.add`` reducer


# ---- (b) LangGraph overhead --------------------------------------------------------------------------------------


def _instant_engines() -> tuple[FakeScriptedEngine, FakeScriptedEngine]:
    """A FAKE generator that writes a new two-step solution per call and a FAKE critic that always flags step 1."""
    counter = iter(range(10**9))
    generator = FakeScriptedEngine(lambda chat, s, i: f" variant {next(counter)}.\n\nStep 2: \\boxed{{{i}}}.")
    critic = FakeScriptedEngine([format_critique([StepVerdict(step1=1, verdict="wrong", text="no")], 1)])
    return generator, critic


async def _plain_loop(problem: str, ctx: LoopContext) -> LoopState:
    """The same nodes in the same order as the graph, without LangGraph: the baseline for its overhead."""
    runtime = SimpleNamespace(context=ctx)
    state: LoopState = {"problem": problem, "round": 0, "trace": [], "generator_tokens": 0, "critic_tokens": 0}

    def merge(update: dict) -> None:
        for key, value in update.items():
            state[key] = state[key] + value if key in ADDITIVE else value  # type: ignore[literal-required]

    merge(await generate(state, runtime))
    while True:
        merge(await check(state, runtime))
        merge(await critique(state, runtime))
        if decide(state) != "refine":
            return state
        merge(await refine(state, runtime))


def langgraph_overhead(rounds: int = 100, repeats: int = 15, sympy: str = "off") -> dict[str, float]:
    """Milliseconds per round of the LangGraph loop and of a plain-Python loop doing the same node work, with instant
    FAKE engines (best of ``repeats`` runs of ``rounds`` rounds): ``{graph_ms, plain_ms, overhead_ms}``."""
    generator, critic = _instant_engines()
    ctx = LoopContext(generator=generator, critic=critic, max_rounds=rounds, sympy=sympy)  # type: ignore[arg-type]

    def best(make) -> float:
        asyncio.run(make())  # warm-up
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            asyncio.run(make())
            times.append(time.perf_counter() - start)
        return min(times) / rounds * 1e3

    graph_ms = best(lambda: run_loop("What is 1 + 1?", ctx))
    plain_ms = best(lambda: _plain_loop("What is 1 + 1?", ctx))
    return {"graph_ms": graph_ms, "plain_ms": plain_ms, "overhead_ms": graph_ms - plain_ms}


# ---- (a) refinement throughput -----------------------------------------------------------------------------------


class RecordingEngine:
    """Passes every request to the real engine and records it (chat, sampling, generated tokens)."""

    def __init__(self, engine) -> None:
        self.engine, self.name = engine, engine.name
        self.requests: list[tuple[Chat, Sampling]] = []
        self.tokens = 0

    def generate(self, chats: list[Chat], sampling: Sampling) -> list[list[Generation]]:
        """The engine's batch ``generate``, not recorded."""
        return self.engine.generate(chats, sampling)

    async def agenerate(self, chat: Chat, sampling: Sampling) -> list[Generation]:
        """The engine's ``agenerate``; the request and its generated tokens are recorded."""
        out = await self.engine.agenerate(chat, sampling)
        self.requests.append((chat, sampling))
        self.tokens += sum(g.num_tokens for g in out)
        return out


def _rows(num_rows: int) -> list[dict]:
    rows = json.loads((REPO / "tests" / "fixtures" / "processbench_gsm8k.json").read_text())
    rows = (rows * (num_rows // len(rows) + 1))[:num_rows]
    return [{"id": f"{r['id']}~{i}", "problem": r["problem"], "steps": r["steps"]} for i, r in enumerate(rows)]


async def _replay(engine, requests: list[tuple[Chat, Sampling]], width: int) -> tuple[int, float]:
    """The recorded requests straight to the engine, ``width`` in flight at a time."""
    gate = asyncio.Semaphore(width)

    async def one(chat: Chat, sampling: Sampling) -> int:
        async with gate:
            return sum(g.num_tokens for g in await engine.agenerate(chat, sampling))

    start = time.perf_counter()
    tokens = await asyncio.gather(*(one(c, s) for c, s in requests))
    return sum(tokens), time.perf_counter() - start


async def _lockstep(rows: list[dict], ctx: LoopContext) -> float:
    """Collect-then-batch: every row runs a stage, all rows wait for the slowest, then the next stage starts."""
    runtime = SimpleNamespace(context=ctx)
    states: list[LoopState] = [{"problem": r["problem"], "steps": r["steps"], "origin": "given", "round": 0,
                                "trace": [], "generator_tokens": 0, "critic_tokens": 0} for r in rows]

    def merge(state: LoopState, update: dict) -> None:
        for key, value in update.items():
            state[key] = state[key] + value if key in ADDITIVE else value  # type: ignore[literal-required]

    start = time.perf_counter()
    active = states
    while active:
        for node in (check, critique):
            for state, update in zip(active, await asyncio.gather(*(node(s, runtime) for s in active))):
                merge(state, update)
        active = [s for s in active if decide(s) == "refine"]
        for state, update in zip(active, await asyncio.gather(*(refine(s, runtime) for s in active))):
            merge(state, update)
    return time.perf_counter() - start


def refine_throughput(num_rows: int = 32, concurrency: int = 16, max_tokens: int = 48, max_rounds: int = 2) -> dict:
    """Refinement throughput on vLLM with the embedded model (prefix caching off): the agent's batch, a lock-step
    loop, and a replay of the same requests on the raw engine. Returns ``{results: {run: (generated tokens,
    seconds)}, requests, rows, reference}`` (``reference`` names the raw-engine run)."""
    from critic.engines import get_engine

    # Without prefix caching: every run below replays the same prompts, and cache hits would flatter later runs.
    engine = get_engine("vllm:embedded", enable_prefix_caching=False)
    sampling = Sampling(max_tokens=max_tokens)
    engine.generate([[{"role": "user", "content": "Say hi."}]], Sampling(max_tokens=4))  # warm-up
    rows = _rows(num_rows)
    results: dict[str, tuple[int, float]] = {}

    recorder = RecordingEngine(engine)
    with tempfile.TemporaryDirectory() as tmp:
        summary = asyncio.run(arefine_batch(rows, Path(tmp) / "out.jsonl", generator=recorder, critic=recorder,
                                            concurrency=concurrency, max_rounds=max_rounds, sympy="veto",
                                            sampling=sampling, progress=False))
    results["refine_batch (async graphs)"] = (recorder.tokens, summary.seconds)

    lockstep = RecordingEngine(engine)
    ctx = LoopContext(generator=lockstep, critic=lockstep, max_rounds=max_rounds, sympy="veto", sampling=sampling)
    lockstep_seconds = asyncio.run(_lockstep(rows, ctx))
    results["collect-then-batch (lockstep)"] = (lockstep.tokens, lockstep_seconds)
    results[f"raw engine, same requests, {concurrency} in flight"] = asyncio.run(
        _replay(engine, recorder.requests, concurrency))
    start = time.perf_counter()
    outputs = engine.generate([c for c, _ in recorder.requests], sampling)
    results["raw engine, same requests, one generate() call"] = (
        sum(g.num_tokens for out in outputs for g in out), time.perf_counter() - start)
    return {"results": results, "requests": len(recorder.requests), "rows": num_rows,
            "reference": f"raw engine, same requests, {concurrency} in flight"}


# ---- report ------------------------------------------------------------------------------------------------------


def main() -> None:
    """Print the LangGraph-overhead table (sympy off and veto) and the refinement-throughput table (needs vLLM and
    the embedded model)."""
    overhead = langgraph_overhead()
    veto = langgraph_overhead(sympy="veto")
    print("LangGraph overhead per round (instant FAKE engines, 100 rounds, best of 15 runs)")
    print(f"| {'sympy':<6} | {'graph ms/round':>14} | {'plain loop ms/round':>19} | {'overhead ms':>11} | target |")
    print(f"|{'-' * 8}|{'-' * 16}|{'-' * 21}|{'-' * 13}|--------|")
    for mode, m in (("off", overhead), ("veto", veto)):
        ok = "ok" if m["overhead_ms"] <= 2.0 else "MISSED"
        print(f"| {mode:<6} | {m['graph_ms']:>14.3f} | {m['plain_ms']:>19.3f} | {m['overhead_ms']:>11.3f} | "
              f"<=2 {ok} |")
    print()
    bench = refine_throughput()
    results, reference = bench["results"], bench["reference"]
    ref_tokens, ref_seconds = results[reference]
    ref_tps = ref_tokens / ref_seconds
    print(f"Batch refinement throughput, embedded model via vLLM ({bench['rows']} ProcessBench-GSM8K rows, "
          f"{bench['requests']} requests, greedy, max_rounds 2, sympy veto)")
    print(f"| {'run':<48} | {'gen tokens':>10} | {'seconds':>8} | {'tok/s':>7} | {'/ raw':>6} |")
    print(f"|{'-' * 50}|{'-' * 12}|{'-' * 10}|{'-' * 9}|{'-' * 8}|")
    for name, (tokens, seconds) in results.items():
        tps = tokens / seconds if seconds else 0.0
        print(f"| {name:<48} | {tokens:>10} | {seconds:>8.1f} | {tps:>7.1f} | {tps / ref_tps:>6.2f} |")
    loop_tokens, loop_seconds = results["refine_batch (async graphs)"]
    ratio = loop_tokens / loop_seconds / ref_tps
    print(f"\nrefine_batch / raw engine = {ratio:.2f} (target >= 0.9: {'ok' if ratio >= 0.9 else 'MISSED'})")


if __name__ == "__main__":
    main()
