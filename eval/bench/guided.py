"""Guided critiques (``--critic-format guided``, :mod:`critic.guided`) on the embedded model: do they parse, and
what does the constraint cost?

Critiques: the demo problem (the embedded generator's own greedy solution, what ``make demo`` critiques) and the
first 10 ProcessBench-GSM8K fixture rows (``tests/fixtures``), greedy, ``max_tokens`` 512, free and guided. For each
vLLM structured-output backend that takes a regex on CPU, in a fresh process (one engine at a time):

- parsing: statuses (ok / unparsed / truncated) and how many critiques have a verdict for every judged step;
- all critiques at once (concurrent ``agenerate``): wall time and tok/s; a guided pass's first run compiles a
  grammar per step count, the second reuses them;
- the constraint's cost per token at batch 1: each chat is critiqued guided, then free with ``max_tokens`` set to the
  guided critique's length (same prompt, same number of tokens, so prefill and attention cost the same), twice,
  alternating which goes first; tok/s = tokens / seconds over all of them. The load of a shared machine drifts, and
  pairing each guided request with a free one right next to it keeps that drift out of the comparison.

Run: ``python -m eval.bench.guided [--backends xgrammar guidance outlines]``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
MARK = "BENCH-RESULT "
MAX_TOKENS = 512
FIXTURE_ROWS = 10
DEMO_PROBLEM = ("Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. How "
                "many clips did Natalia sell altogether in April and May?")
BACKENDS = ("xgrammar", "guidance")  # outlines also takes a regex, but builds its index for minutes per step count


def _items(engine) -> list[tuple[str, list[str]]]:
    from critic.engines import Sampling
    from critic.prompts import solve_messages
    from critic.steps import split_steps

    solution = engine.generate([solve_messages(DEMO_PROBLEM)], Sampling(max_tokens=MAX_TOKENS))[0][0]
    rows = json.loads((REPO / "tests" / "fixtures" / "processbench_gsm8k.json").read_text())[:FIXTURE_ROWS]
    return [(DEMO_PROBLEM, split_steps("Step 1:" + solution))] + [(r["problem"], r["steps"]) for r in rows]


def _pass(engine, chats, samplings, steps) -> dict:
    """All chats at once; parse statuses and timing."""
    import asyncio

    from critic.parse import parse_critique

    async def run():
        return await asyncio.gather(*(engine.agenerate(c, s) for c, s in zip(chats, samplings)))

    started = time.perf_counter()
    outputs = [out[0] for out in asyncio.run(run())]
    seconds = time.perf_counter() - started
    statuses, complete = [], 0
    for gen, n in zip(outputs, steps):
        crit = parse_critique(gen, n, gen.finish_reason)
        statuses.append(crit.status)
        if crit.status == "ok":
            judged = n if crit.first_wrong_step1 == -1 else crit.first_wrong_step1
            complete += [v.step1 for v in crit.verdicts] == list(range(1, judged + 1))
    tokens = sum(g.num_tokens for g in outputs)
    return {"seconds": seconds, "tokens": tokens, "statuses": statuses, "complete": complete,
            "lengths": [g.num_tokens for g in outputs], "sample": str(outputs[0])}


def _paired_rates(engine, chats, guided, lengths) -> tuple[float, float]:
    """Batch-1 tok/s (free, guided) over pairs of equally long critiques (see the module docstring); ``lengths``:
    each guided critique's token count (greedy, so every run repeats it)."""
    tokens = {"free": 0, "guided": 0}
    seconds = {"free": 0.0, "guided": 0.0}
    for repeat in range(2):
        for chat, sampling, length in zip(chats, guided, lengths):
            free = sampling.model_copy(update={"guided_regex": None, "max_tokens": length})
            pair = {"guided": sampling, "free": free}
            for kind in ("guided", "free") if repeat == 0 else ("free", "guided"):
                started = time.perf_counter()
                gen = engine.generate([chat], pair[kind])[0][0]
                seconds[kind] += time.perf_counter() - started
                tokens[kind] += gen.num_tokens
    return tokens["free"] / seconds["free"], tokens["guided"] / seconds["guided"]


def _worker(backend: str) -> None:
    """Child process: one engine with ``backend``, free then guided; prints one JSON line."""
    from critic.embedded import embedded_model_dir
    from critic.engines import Sampling
    from critic.engines.vllm_engine import VllmEngine
    from critic.guided import guided_sampling
    from critic.prompts import CriticPrompt

    engine = VllmEngine(str(embedded_model_dir()), structured_outputs_config={"backend": backend})
    items = _items(engine)
    chats = [CriticPrompt().messages(problem, steps) for problem, steps in items]
    steps = [len(s) for _, s in items]
    free = [Sampling(max_tokens=MAX_TOKENS)] * len(items)
    guided = [guided_sampling(Sampling(max_tokens=MAX_TOKENS), n)[0] for n in steps]
    result = {"backend": backend, "steps": steps}
    result["free"] = _pass(engine, chats, free, steps)
    result["guided_first"] = _pass(engine, chats, guided, steps)  # compiles one grammar per step count
    result["guided"] = _pass(engine, chats, guided, steps)
    paired = _paired_rates(engine, chats, guided, result["guided"]["lengths"])
    result["free"]["paired"], result["guided"]["paired"] = paired
    engine.close()
    print(MARK + json.dumps(result), flush=True)


def _run_child(backend: str) -> dict:
    code = f"from eval.bench.guided import _worker; _worker({backend!r})"
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=REPO)
    for line in proc.stdout.splitlines():
        if line.startswith(MARK):
            return json.loads(line[len(MARK):])
    raise RuntimeError(f"{backend} benchmark failed (exit {proc.returncode}): {proc.stderr[-1500:]}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m eval.bench.guided", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backends", nargs="+", default=list(BACKENDS), help="vLLM structured-output backends")
    args = parser.parse_args(argv)
    print(f"Guided vs free critiques, embedded model (SmolLM2-135M fp32) on in-process vLLM, {os.cpu_count()} CPUs, "
          f"greedy, max_tokens={MAX_TOKENS}: the demo problem + {FIXTURE_ROWS} ProcessBench-GSM8K fixture rows")
    print()
    print("| backend | format | ok | unparsed | truncated | verdict per judged step | tokens | all at once (s) "
          "| tok/s all at once | tok/s batch 1, paired |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|", flush=True)
    samples = {}
    for backend in args.backends:
        r = _run_child(backend)
        for label, key in (("free", "free"), ("guided, first", "guided_first"), ("guided", "guided")):
            p = r[key]
            count = {s: p["statuses"].count(s) for s in ("ok", "unparsed", "truncated")}
            decode = f"{p['paired']:.1f}" if "paired" in p else "-"
            print(f"| {backend} | {label} | {count['ok']} | {count['unparsed']} | {count['truncated']} "
                  f"| {p['complete']} | {p['tokens']} | {p['seconds']:.1f} | {p['tokens'] / p['seconds']:.1f} "
                  f"| {decode} |", flush=True)
        samples[backend] = r["guided"]["sample"]
    print()
    print("guided, first = the first guided pass, which compiles a grammar per step count; guided = the second.")
    print("tok/s batch 1, paired: each guided critique next to a free one of the same length (module docstring).")
    for backend, text in samples.items():
        print(f"\nguided critique of the demo solution ({backend}):\n{text}")


if __name__ == "__main__":
    main()
