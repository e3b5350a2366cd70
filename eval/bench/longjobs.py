"""Long jobs keep the engine full: throughput of `refine` and `eval error-id` on the embedded model through vLLM.

For each job, side by side in one run on one engine:

- **raw engine**: every request of the job handed to the engine at once (one ``generate`` call per sampling setting):
  the engine's own limit. For ``refine`` these are the requests the default run actually made, replayed; a real run
  cannot send a second-round request before its first round is back, so this is an upper bound. Raw and default
  runs alternate ``--repeats`` times and the best of each counts (other processes share the CPUs).
- **default**: the job at its default settings - the in-flight window sized from the engine (vLLM's ``max_num_seqs``
  plus a quarter) - timed over its streaming loop (requests, parsing, SymPy checks, grading, fsynced row writes).
- **the curve**: the same job with 16, 32, 64, 128 and 256 in flight (``window`` for error-id, ``concurrency`` for
  refine).

Reported: generated tokens, seconds, tokens/s and the ratio to the raw engine (goal at defaults: >= 0.9). Every run
sends the same prompts greedily, so every run generates the same tokens; vLLM's prefix cache is off, so one run's
prompts cannot speed up the next (with the critic prompt's instructions after the solution, the cache would only
share the system message anyway). Rows: ProcessBench-GSM8K fixture solutions (critic prompts of 440-640 tokens),
repeated under distinct ids.

On a 2-core CPU prefill dominates (~500 prompt tokens/s: a critic prompt costs about a second), so the default sizes
are small (about a quarter of an hour here) and the curve's points at and above the row count hold every row at once;
``--rows 320 --refine-rows 160`` gives the full curve (about an hour here). Run:
``python -m eval.bench.longjobs [--rows N] [--refine-rows N] [--max-tokens N] [--repeats N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
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
    """``n`` fixture rows under distinct ids."""
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


Result = tuple[str, int, int, float]  # run, in flight, generated tokens, seconds


def _best(runs: list[tuple[int, float]]) -> tuple[int, float]:
    """The run with the most tokens/s: other processes share these CPUs, and only they make a run slower."""
    return max(runs, key=lambda run: run[0] / run[1] if run[1] else 0.0)


def error_id_runs(engine, num_rows: int, max_tokens: int, repeats: int) -> list[Result]:
    """eval error-id: raw engine and default (best of ``repeats``, interleaved), then the curve."""
    from critic.io import JsonlWriter
    from eval.error_id import ErrorIdConfig, _run_engine, critic_chat, load_samples

    runs = itertools.count()

    class Bar:  # the job's progress bar, silent
        def update(self, n: int) -> None:
            pass

    with tempfile.TemporaryDirectory(prefix="bench-longjobs-") as tmp:
        data = Path(tmp) / "rows.json"
        data.write_text(json.dumps(_rows(num_rows)))
        config = ErrorIdConfig(critic="vllm:embedded", data=[str(data)], max_tokens=max_tokens)
        todo = load_samples(config)

        def raw() -> tuple[int, float]:
            return _raw(engine, [(critic_chat(config, s), config.sampling) for _, s in todo])

        def job(window: int | None) -> tuple[int, float]:
            out = Path(tmp) / f"run{next(runs)}.jsonl"
            with JsonlWriter(out) as writer:
                start = time.perf_counter()
                asyncio.run(_run_engine(config.model_copy(update={"window": window}), todo, engine, writer, Bar()))
                seconds = time.perf_counter() - start
            return sum(int(json.loads(line)["tokens"]) for line in out.read_text().splitlines()), seconds

        pairs = [(raw(), job(None)) for _ in range(repeats)]
        results: list[Result] = [("raw engine, all at once", num_rows, *_best([r for r, _ in pairs])),
                                 ("default", engine_window(engine), *_best([d for _, d in pairs]))]
        results += [(f"window {w}", w, *job(w)) for w in CURVE]
    return results


def refine_runs(engine, num_rows: int, max_tokens: int, repeats: int) -> list[Result]:
    """refine (2 rounds, SymPy veto: its defaults): default and the raw engine replaying that run's requests, best of
    ``repeats`` each, then the curve."""
    from agent.batch import arefine_batch

    sampling = Sampling(max_tokens=max_tokens)
    runs = itertools.count()
    inputs = [{"id": r["id"], "problem": r["problem"], "steps": r["steps"]} for r in _rows(num_rows)]
    with tempfile.TemporaryDirectory(prefix="bench-longjobs-") as tmp:

        def job(concurrency: int | None) -> tuple[tuple[int, float], Recording]:
            recording = Recording(engine)
            summary = asyncio.run(arefine_batch(inputs, Path(tmp) / f"run{next(runs)}.jsonl", generator=recording,
                                                critic=recording, concurrency=concurrency, sampling=sampling,
                                                progress=False))
            return (summary.generator_tokens + summary.critic_tokens, summary.seconds), recording

        defaults, raws, requests = [], [], 0
        for _ in range(repeats):
            run, recording = job(None)
            defaults.append(run)
            raws.append(_raw(engine, recording.requests))
            requests = len(recording.requests)
        results: list[Result] = [("raw engine, all at once (replayed)", requests, *_best(raws)),
                                 ("default", engine_window(engine), *_best(defaults))]
        results += [(f"{c} in flight", c, *job(c)[0]) for c in CURVE]
    return results


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
    parser.add_argument("--rows", type=int, default=32, help="error-id solutions (default 32; 320 for the full curve)")
    parser.add_argument("--refine-rows", type=int, default=24, help="refine rows (default 24; 160 for the full curve)")
    parser.add_argument("--max-tokens", type=int, default=64, help="generated tokens per request (default 64)")
    parser.add_argument("--repeats", type=int, default=2, help="raw and default runs, interleaved; the best counts")
    args = parser.parse_args(argv)
    from critic.engines import get_engine

    engine = get_engine("vllm:embedded", enable_prefix_caching=False)
    engine.generate([[{"role": "user", "content": "Say hi."}]], Sampling(max_tokens=4))  # warm-up
    load = os.getloadavg()[0]
    print(f"Long jobs vs the raw engine: embedded SmolLM2-135M via vLLM (fp32, eager, CPU), max_num_seqs "
          f"{engine.max_in_flight}, default window {engine_window(engine)}; {os.cpu_count()} CPUs, load average "
          f"{load:.1f} at start; greedy, at most {args.max_tokens} tokens per request, prefix cache off\n", flush=True)
    _table(f"eval error-id: {args.rows} ProcessBench-GSM8K solutions, deliberate prompt",
           error_id_runs(engine, args.rows, args.max_tokens, args.repeats))
    _table(f"refine: {args.refine_rows} ProcessBench-GSM8K solutions, max_rounds 2, SymPy veto",
           refine_runs(engine, args.refine_rows, args.max_tokens, args.repeats))
    print(f"load average at the end: {os.getloadavg()[0]:.1f} (other processes share these CPUs)")


if __name__ == "__main__":
    main()
