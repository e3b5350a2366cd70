"""Benchmark: ``critic.grading.answers_match`` latency per pair (median, p99), on 10k answer pairs.

Pairs are built from the gold answers of MATH-500 and GSM8K test (``$DEEPCRITIC_DATA``, else the small committed
fixtures): half are a gold against a rewritten form of itself (``\\dfrac``, ``\\left(``, spacing, units, degree sign,
decimal or fraction form, a box), half a gold against another gold. One pair at a time from one thread, as a grader
calls it; the math-verify worker pool is started before timing. Also printed: how many pairs reached the math-verify
worker (the rest are decided in-process by the string and exact-number paths) and the latency of each kind.

    python -m eval.bench.grading [--data DIR] [--pairs 10000] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import statistics
import time
from pathlib import Path

from critic import timebox
from critic.grading import answers_match, exact_number, gsm8k_gold

FIXTURES = Path(__file__).resolve().parents[2] / "tests" / "fixtures"


def _data_dir(explicit: str | None) -> Path:
    if explicit:
        return Path(explicit)
    env = os.environ.get("DEEPCRITIC_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[3] / "shared" / "data"


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def golds(data: Path) -> tuple[list[str], str]:
    """MATH-500 and GSM8K gold answers, and where they came from."""
    math, gsm = data / "math500" / "test.jsonl", data / "gsm8k" / "test.jsonl"
    source = f"{data}"
    if not (math.exists() and gsm.exists()):
        math, gsm, source = FIXTURES / "math500.jsonl", FIXTURES / "gsm8k_test.jsonl", "tests/fixtures (no data dir)"
    return [r["answer"] for r in _jsonl(math)] + [gsm8k_gold(r["answer"]) for r in _jsonl(gsm)], source


def rewrite(gold: str, rng: random.Random) -> str:
    """``gold`` written another way (the same answer)."""
    value = exact_number(gold)
    choices = [
        lambda g: g.replace(r"\frac", r"\dfrac"),
        lambda g: re.sub(r"\s+", "", g),
        lambda g: re.sub(r"([,=+])", r" \1 ", g),
        lambda g: g.replace("(", r"\left(").replace(")", r"\right)"),
        lambda g: rf"\boxed{{{g}}}",
        lambda g: f"${g}$",
    ]
    if value is not None:
        choices += [lambda g: g + r"\text{ units}", lambda g: g + r"^\circ",
                    lambda g: rf"\frac{{{value.numerator * 2}}}{{{value.denominator * 2}}}"]
    return rng.choice(choices)(gold)


def build_pairs(answers: list[str], n: int, seed: int) -> list[tuple[str, str]]:
    """``n`` (prediction, gold) pairs drawn from ``answers`` with a seeded RNG: even indices an equivalent rewrite of
    the gold (should match), odd ones another answer (mostly should not)."""
    rng = random.Random(seed)
    pairs = []
    for i in range(n):
        gold = rng.choice(answers)
        pairs.append((rewrite(gold, rng), gold) if i % 2 == 0 else (rng.choice(answers), gold))
    return pairs


def _ms(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(q * len(s)))] * 1e3 if s else float("nan")


def main(argv: list[str] | None = None) -> None:
    """Time :func:`critic.grading.answers_match` over ``--pairs`` pairs built from the benchmark golds (one thread)
    and print median / p99 / mean latency (ms) overall, in process and through the math-verify worker, and how many
    pairs matched."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", help="data folder laid out like ../shared/data (default: $DEEPCRITIC_DATA)")
    ap.add_argument("--pairs", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    answers, source = golds(_data_dir(args.data))
    pairs = build_pairs(answers, args.pairs, args.seed)

    calls = 0
    real_run = timebox.run

    def counting_run(*a, **k):
        nonlocal calls
        calls += 1
        return real_run(*a, **k)

    answers_match("x+1", "1+x")  # start a math-verify worker before timing
    timebox.run = counting_run
    latencies: dict[bool, list[float]] = {False: [], True: []}  # reached the worker?
    matched = [0, 0]  # rewritten pairs, other-gold pairs
    try:
        for i, (pred, gold) in enumerate(pairs):
            before = calls
            t0 = time.perf_counter()
            matched[i % 2] += answers_match(pred, gold)
            latencies[calls > before].append(time.perf_counter() - t0)
    finally:
        timebox.run = real_run
    every = latencies[False] + latencies[True]
    print(f"answers_match on {len(pairs)} pairs (golds: {len(answers)} from {source}; half rewritten, half another "
          f"gold), one thread")
    header = f"{'path':<22} {'pairs':>6} {'median ms':>10} {'p99 ms':>8} {'mean ms':>8}"
    print(header)
    print("-" * len(header))
    for name, xs in (("all", every), ("in-process", latencies[False]), ("math-verify worker", latencies[True])):
        mean = statistics.fmean(xs) * 1e3 if xs else float("nan")
        print(f"{name:<22} {len(xs):>6} {_ms(xs, 0.5):>10.3f} {_ms(xs, 0.99):>8.2f} {mean:>8.2f}")
    print(f"matched: {matched[0]} of {(len(pairs) + 1) // 2} rewritten pairs; {matched[1]} of {len(pairs) // 2} "
          f"other-gold pairs (golds that state the same answer)")


if __name__ == "__main__":
    main()
