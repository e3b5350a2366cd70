"""Long jobs keep the engine full: throughput of `refine` and `eval error-id` on the embedded model through vLLM.

For each job, side by side in one run on one engine:

- **raw engine**: every request of the job handed to the engine at once (one ``generate`` call per sampling setting):
  the engine's own limit. For ``refine`` these are the requests the default run actually made, replayed; a real run
  cannot send a second-round request before its first round is back, so this is an upper bound.
- **default**: the job at its default settings - the in-flight window sized from the engine (vLLM's ``max_num_seqs``
  plus a quarter) - timed over its streaming loop (requests, parsing, SymPy checks, grading, fsynced row writes).
- **the curve**: the same job with 16, 32, 64, 128 and 256 in flight (``window`` for error-id, ``concurrency`` for
  refine).

Reported: generated tokens, seconds, tokens/s and the ratio to the raw engine (goal at defaults: >= 0.9). Greedy
decoding throughout, so every run generates the same tokens; vLLM's prefix cache is off, so repeated prompts do not
flatter later runs. Rows: ProcessBench-GSM8K fixture solutions repeated under distinct ids (prompts of ~250-600
tokens). Run: ``python -m eval.bench.longjobs [--rows N] [--max-tokens N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
from pathlib import Path

from critic.engines.base import Chat, Generation, Sampling
from critic.jobs import engine_window

REPO = Path(__file__).resolve().parents[2]
CURVE = (16, 32, 64, 128, 256)


class Recording:
    """Passes every request to the real engine and records it (for the raw-engine replay of refine)."""

    def __init__(self, engine) -> None:
        self.engine, self.name, self.max_in_flight = engine, engine.name, engine.max_in_flight
        self.requests: list[tuple[Chat, Sampling]] = []

    async def agenerate(self, chat: Chat, sampling: Sampling) -> list[Generation]:
        self.requests.append((chat, sampling))
        return await self.engine.agenerate(chat, sampling)

    def generate(self, chats: list[Chat], sampling: Sampling) -> list[list[Generation]]:
        return self.engine.generate(chats, sampling)


def _rows(n: int) -> list[dict]:
    rows = json.loads((REPO / "tests" / "fixtures" / "processbench_gsm8k.json").read_text())
    return [dict(r, id=f"{r['id']}~{i}") for i, r in enumerate((rows * (n // len(rows) + 1))[:n])]


def _raw(engine, requests: list[tuple[Chat, Sampling]]) -> tuple[int, float]:
    """Every request at once, grouped by sampling setting (one generate call each)."""
    groups: dict[str, list[Chat]] = {}
    settings: dict[str, Sampling] = {}
    for chat, sampling in requests:
        key = sampling.model_dump_json()
        groups.setdefault(key, []).append(chat)
        settings[key] = sampling
    start, tokens = time.perf_counter(), 0
    for key, chats in groups.items():
        tokens += sum(g.num_tokens for out in engine.generate(chats, settings[key]) for g in out)
    return tokens, time.perf_counter() - start


def error_id_runs(engine, rows: list[dict], max_tokens: int) -> list[tuple[str, int, int, float]]:
    """(run, in flight, generated tokens, seconds) for eval error-id."""
    from critic.io import JsonlWriter
    from eval.error_id import ErrorIdConfig, _run_engine, critic_chat, load_samples

    with tempfile.TemporaryDirectory(prefix="bench-longjobs-") as tmp:
        data = Path(tmp) / "rows.json"
        data.write_text(json.dumps(rows))
        config = ErrorIdConfig(critic="vllm:embedded", data=[str(data)], max_tokens=max_tokens)
        samples = load_samples(config)
        results = [("raw engine, all at once", len(samples),
                    *_raw(engine, [(critic_chat(config, s), config.sampling) for _, s in samples]))]
        for label, window in [("default", None), *((f"window {w}", w) for w in CURVE)]:
            out = Path(tmp) / f"{label}.jsonl"

            class Bar:  # the job's progress bar, silent
                def update(self, n: int) -> None:
                    pass

            with JsonlWriter(out) as writer:
                start = time.perf_counter()
                asyncio.run(_run_engine(config.model_copy(update={"window": window}), samples, engine, writer, Bar()))
                seconds = time.perf_counter() - start
            tokens = sum(int(json.loads(line)["tokens"]) for line in out.read_text().splitlines())
            results.append((label, window or engine_window(engine), tokens, seconds))
    return results


def refine_runs(engine, rows: list[dict], max_tokens: int) -> list[tuple[str, int, int, float]]:
    """(run, in flight, generated tokens, seconds) for refine (2 rounds, SymPy veto: its defaults)."""
    from agent.batch import arefine_batch

    inputs = [{"id": r["id"], "problem": r["problem"], "steps": r["steps"]} for r in rows]
    sampling = Sampling(max_tokens=max_tokens)
    results = []
    recording = Recording(engine)
    with tempfile.TemporaryDirectory(prefix="bench-longjobs-") as tmp:
        for label, concurrency in [("default", None), *((f"{c} in flight", c) for c in CURVE)]:
            target = recording if concurrency is None else engine
            summary = asyncio.run(arefine_batch(inputs, Path(tmp) / f"{label}.jsonl", generator=target,
                                                critic=target, concurrency=concurrency, sampling=sampling,
                                                progress=False))
            results.append((label, concurrency or engine_window(engine),
                            summary.generator_tokens + summary.critic_tokens, summary.seconds))
    raw = ("raw engine, all at once (replayed)", len(recording.requests), *_raw(engine, recording.requests))
    return [raw, *results]


def _table(title: str, results: list[tuple[str, int, int, float]]) -> float:
    raw_tps = results[0][2] / results[0][3]
    print(title)
    print(f"| {'run':<36} | {'in flight':>9} | {'gen tokens':>10} | {'seconds':>7} | {'tok/s':>6} | {'/ raw':>5} |")
    print(f"|{'-' * 38}|{'-' * 10}:|{'-' * 11}:|{'-' * 8}:|{'-' * 7}:|{'-' * 6}:|")
    for label, in_flight, tokens, seconds in results:
        tps = tokens / seconds if seconds else 0.0
        ratio = tps / raw_tps
        print(f"| {label:<36} | {in_flight:>9} | {tokens:>10} | {seconds:>7.1f} | {tps:>6.0f} | {ratio:>5.2f} |")
    default = next(r for r in results if r[0] == "default")
    ratio = default[2] / default[3] / raw_tps
    print(f"default / raw engine = {ratio:.2f} (goal >= 0.9: {'met' if ratio >= 0.9 else 'MISSED'})\n", flush=True)
    return ratio


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m eval.bench.longjobs", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=320, help="error-id solutions (default 320: > 256 in flight)")
    parser.add_argument("--refine-rows", type=int, default=160, help="refine rows (default 160)")
    parser.add_argument("--max-tokens", type=int, default=32, help="generated tokens per request (default 32)")
    args = parser.parse_args(argv)
    from critic.engines import get_engine

    engine = get_engine("vllm:embedded", enable_prefix_caching=False)
    engine.generate([[{"role": "user", "content": "Say hi."}]], Sampling(max_tokens=4))  # warm-up
    load = os.getloadavg()[0]
    print(f"Long jobs vs the raw engine: embedded SmolLM2-135M via vLLM (fp32, eager, CPU), max_num_seqs "
          f"{engine.max_in_flight}, default window {engine_window(engine)}; {os.cpu_count()} CPUs, load average "
          f"{load:.1f} at start; greedy, {args.max_tokens} tokens per request, prefix cache off\n", flush=True)
    _table(f"eval error-id: {args.rows} ProcessBench-GSM8K solutions, deliberate prompt",
           error_id_runs(engine, _rows(args.rows), args.max_tokens))
    _table(f"refine: {args.refine_rows} ProcessBench-GSM8K solutions, max_rounds 2, SymPy veto",
           refine_runs(engine, _rows(args.refine_rows), args.max_tokens))
    print(f"load average at the end: {os.getloadavg()[0]:.1f} (other processes share these CPUs)")


if __name__ == "__main__":
    main()
