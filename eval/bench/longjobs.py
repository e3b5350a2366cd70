"""Long jobs keep the engine full: throughput of `refine` and `eval error-id` on the embedded model through vLLM.

For each job, side by side in one run on one engine, at its default settings (the in-flight window sized from the
engine: vLLM's ``max_num_seqs`` plus a quarter) and along the curve of 16, 32, 64, 128 and 256 in flight
(``window`` for error-id, ``concurrency`` for refine): generated tokens per second of the job's streaming loop
(requests, parsing, SymPy checks, grading, fsynced row writes), and the same for the **raw engine** given every
request of the job at once (one ``generate`` call per sampling setting: the engine's own limit). For ``refine`` the
raw engine replays the requests a default run made; a real run cannot send a refinement before its critique is back,
so that is an upper bound. The goal at defaults: job / raw >= 0.9.

Other processes share these CPUs and their load swings within minutes, so every job run is paired with a raw-engine
run on the same requests right before it and the ratio is taken within the pair (``--repeats`` pairs: the median
ratio counts); the table also shows the load average after each run. Every run sends the same prompts greedily, so
every run generates the same tokens; vLLM's prefix cache is off, so one run's prompts cannot speed up the next (the
critic prompt puts its instructions after the solution, so the cache would only share the system message anyway).
Rows: ProcessBench-GSM8K fixture solutions (critic prompts of 440-640 tokens), repeated under distinct ids.

On a 2-core CPU prefill dominates (~500 prompt tokens/s: a critic prompt costs about a second), so the default sizes
are small (about a quarter of an hour here) and the curve's points at and above the row count hold every row at once;
``--rows 160 --refine-rows 96`` spreads the curve further (about an hour here). Run:
``python -m eval.bench.longjobs [--rows N] [--refine-rows N] [--max-tokens N] [--repeats N] [--only JOB]``.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import tempfile
import time
from collections.abc import Callable
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


def _raw(engine, requests: list[tuple[Chat, Sampling]]) -> tuple[int, float, float]:
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
    return tokens, time.perf_counter() - start, os.getloadavg()[0]


Run = tuple[int, float, float]  # generated tokens, seconds, 1-minute load average at its end
Row = tuple[str, int, Run, Run]  # label, in flight, the job's run, the raw engine's run right before it


def _paired(label: str, in_flight: int, raw: Callable[[], Run], job: Callable[[], Run], repeats: int) -> Row:
    """``repeats`` pairs (raw engine, then the job) back to back, so both see the same load from other processes; the
    pair with the median job / raw ratio (the lower one of two) is reported."""
    pairs = []
    for _ in range(repeats):
        raw_run = raw()
        pairs.append((job(), raw_run))
    pairs.sort(key=lambda pair: _tps(pair[0]) / _tps(pair[1]))
    job_run, raw_run = pairs[(len(pairs) - 1) // 2]
    return label, in_flight, job_run, raw_run


def _tps(run: Run) -> float:
    return run[0] / run[1] if run[1] else 0.0


def error_id_runs(engine, num_rows: int, max_tokens: int, repeats: int) -> list[Row]:
    """eval error-id at the default window and along the curve, each paired with the raw engine."""
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

        def raw() -> Run:
            return _raw(engine, [(critic_chat(config, s), config.sampling) for _, s in todo])

        def job(window: int | None) -> Run:
            out = Path(tmp) / f"run{next(runs)}.jsonl"
            with JsonlWriter(out) as writer:
                start = time.perf_counter()
                asyncio.run(_run_engine(config.model_copy(update={"window": window}), todo, engine, writer, Bar()))
                seconds = time.perf_counter() - start
            tokens = sum(int(json.loads(line)["tokens"]) for line in out.read_text().splitlines())
            return tokens, seconds, os.getloadavg()[0]

        settings = [("default", engine_window(engine), None), *((f"window {w}", w, w) for w in CURVE)]
        return [_paired(label, size, raw, lambda w=window: job(w), repeats) for label, size, window in settings]


def refine_runs(engine, num_rows: int, max_tokens: int, repeats: int) -> list[Row]:
    """refine (2 rounds, SymPy veto: its defaults) at the default concurrency and along the curve, each paired with
    the raw engine replaying the requests of a default run."""
    from agent.batch import arefine_batch

    sampling = Sampling(max_tokens=max_tokens)
    runs = itertools.count()
    inputs = [{"id": r["id"], "problem": r["problem"], "steps": r["steps"]} for r in _rows(num_rows)]
    with tempfile.TemporaryDirectory(prefix="bench-longjobs-") as tmp:

        def job(concurrency: int | None, recording: Recording | None = None) -> Run:
            target = recording or engine
            summary = asyncio.run(arefine_batch(inputs, Path(tmp) / f"run{next(runs)}.jsonl", generator=target,
                                                critic=target, concurrency=concurrency, sampling=sampling,
                                                progress=False))
            return summary.generator_tokens + summary.critic_tokens, summary.seconds, os.getloadavg()[0]

        recording = Recording(engine)
        job(None, recording)  # records the requests a default run makes (greedy: every run makes the same ones)
        settings = [("default", engine_window(engine), None), *((f"{c} in flight", c, c) for c in CURVE)]
        rows = [_paired(label, size, lambda: _raw(engine, recording.requests), lambda c=concurrency: job(c), repeats)
                for label, size, concurrency in settings]
    print(f"(refine made {len(recording.requests)} requests for {num_rows} rows; the raw engine replays them all at "
          "once, which a real run cannot: a refinement waits for its critique)")
    return rows


def _table(title: str, rows: list[Row]) -> float:
    """Print the rows; returns the default's ratio to the raw engine."""
    print(title)
    print(f"| {'run':<14} | {'in flight':>9} | {'gen tokens':>10} | {'seconds':>7} | {'tok/s':>6} | {'raw tok/s':>9} "
          f"| {'/ raw':>5} | {'load':>4} |")
    print(f"|{'-' * 16}|{'-' * 10}:|{'-' * 11}:|{'-' * 8}:|{'-' * 7}:|{'-' * 10}:|{'-' * 6}:|{'-' * 5}:|")
    for label, in_flight, run, raw in rows:
        print(f"| {label:<14} | {in_flight:>9} | {run[0]:>10} | {run[1]:>7.1f} | {_tps(run):>6.0f} | {_tps(raw):>9.0f} "
              f"| {_tps(run) / _tps(raw):>5.2f} | {run[2]:>4.1f} |")
    ratio = _tps(rows[0][2]) / _tps(rows[0][3])
    print(f"default / raw engine = {ratio:.2f} (goal >= 0.9: {'met' if ratio >= 0.9 else 'MISSED'}); "
          "raw tok/s = the raw "
          "engine on the same requests right before; load = 1-minute load average after the run (2 = both cores "
          "busy)\n", flush=True)
    return ratio


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m eval.bench.longjobs", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=32, help="error-id solutions (default 32; 320 for the full curve)")
    parser.add_argument("--refine-rows", type=int, default=24, help="refine rows (default 24; 160 for the full curve)")
    parser.add_argument("--max-tokens", type=int, default=64, help="generated tokens per request (default 64)")
    parser.add_argument("--repeats", type=int, default=1, help="(raw, job) pairs per row; the median ratio counts")
    parser.add_argument("--only", choices=("error-id", "refine"), help="run one of the two jobs")
    args = parser.parse_args(argv)
    from critic.engines import get_engine

    engine = get_engine("vllm:embedded", enable_prefix_caching=False)
    engine.generate([[{"role": "user", "content": "Say hi."}]], Sampling(max_tokens=4))  # warm-up
    load = os.getloadavg()[0]
    print(f"Long jobs vs the raw engine: embedded SmolLM2-135M via vLLM (fp32, eager, CPU), max_num_seqs "
          f"{engine.max_in_flight}, default window {engine_window(engine)}; {os.cpu_count()} CPUs, load average "
          f"{load:.1f} at start; greedy, at most {args.max_tokens} tokens per request, prefix cache off\n", flush=True)
    if args.only in (None, "error-id"):
        _table(f"eval error-id: {args.rows} ProcessBench-GSM8K solutions, deliberate prompt",
               error_id_runs(engine, args.rows, args.max_tokens, args.repeats))
    if args.only in (None, "refine"):
        _table(f"refine: {args.refine_rows} ProcessBench-GSM8K solutions, max_rounds 2, SymPy veto",
               refine_runs(engine, args.refine_rows, args.max_tokens, args.repeats))
    print(f"load average at the end: {os.getloadavg()[0]:.1f} (other processes share these CPUs)")


if __name__ == "__main__":
    main()
