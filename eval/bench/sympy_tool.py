"""Benchmark: the SymPy tool alone as a critic on ProcessBench (GSM8K and MATH subsets).

Prediction = the first step whose verdict is ``wrong`` (0-based), else -1. Prints, per subset: acc_err, acc_cor,
their harmonic mean F1, the false-flag rate on all-correct solutions, the precision of flags (a flagged step equals
the label, over every flagged solution), the share of flags the label does not contradict (the flagged step is the
first error or comes after it: a genuine slip after an earlier logical error counts here, not in precision), and
latency per step (median, p99).

    python -m eval.bench.sympy_tool [--data DIR] [--subsets gsm8k math] [--show-false-flags N]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

from critic.sympy_tool import check_step

TARGETS = "targets: false flags on all-correct <= 2%, flag precision >= 90%, median <= 5 ms, p99 <= 200 ms per step"


def _data_dir(explicit: str | None) -> Path:
    if explicit:
        return Path(explicit)
    env = os.environ.get("DEEPCRITIC_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[3] / "shared" / "data"


def _percentile(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(q * len(s)))] if s else float("nan")


def run_subset(path: Path) -> dict:
    rows = json.loads(path.read_text())
    latencies: list[float] = []
    n_err = n_cor = hit_err = hit_cor = flagged = flagged_right = flagged_not_before = 0
    false_flags: list[tuple[str, int, list]] = []
    for row in rows:
        pred = -1
        for i, step in enumerate(row["steps"]):
            t0 = time.perf_counter()
            check = check_step(step, i + 1)
            latencies.append(time.perf_counter() - t0)
            if check.verdict == "wrong" and pred == -1:
                pred = i
                evidence = [e for e in check.evidence if not e.ok]
        label = row["label"]
        if label == -1:
            n_cor += 1
            hit_cor += pred == -1
        else:
            n_err += 1
            hit_err += pred == label
        if pred != -1:
            flagged += 1
            flagged_right += pred == label
            flagged_not_before += label != -1 and pred >= label
            if pred != label:
                false_flags.append((row["id"], pred, label, evidence))
    acc_err = hit_err / n_err if n_err else 0.0
    acc_cor = hit_cor / n_cor if n_cor else 0.0
    f1 = 2 * acc_err * acc_cor / (acc_err + acc_cor) if acc_err + acc_cor else 0.0
    return {
        "n": len(rows), "n_err": n_err, "n_cor": n_cor, "acc_err": acc_err, "acc_cor": acc_cor, "f1": f1,
        "false_flag_rate": (n_cor - hit_cor) / n_cor if n_cor else 0.0,
        "flags": flagged, "precision": flagged_right / flagged if flagged else float("nan"),
        "not_before": flagged_not_before / flagged if flagged else float("nan"),
        "median_ms": statistics.median(latencies) * 1e3, "p99_ms": _percentile(latencies, 0.99) * 1e3,
        "steps": len(latencies), "false_flags": false_flags,
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", help="data folder laid out like ../shared/data (default: $DEEPCRITIC_DATA)")
    ap.add_argument("--subsets", nargs="+", default=["gsm8k", "math"])
    ap.add_argument("--show-false-flags", type=int, default=0, metavar="N",
                    help="print up to N flags that disagree with the label, with their evidence")
    args = ap.parse_args(argv)
    data = _data_dir(args.data)
    print("SymPy tool as a standalone critic on ProcessBench (first 'wrong' step; -1 if none)")
    header = (f"{'subset':<8} {'n':>5} {'acc_err':>8} {'acc_cor':>8} {'F1':>7} {'falseflag':>9} {'flags':>6} "
              f"{'precision':>9} {'flag>=lbl':>9} {'med ms':>7} {'p99 ms':>7} {'steps':>6}")
    print(header)
    print("-" * len(header))
    for subset in args.subsets:
        path = data / "processbench" / f"{subset}.json"
        if not path.exists():
            print(f"{subset:<8} missing: {path}")
            continue
        r = run_subset(path)
        print(f"{subset:<8} {r['n']:>5} {r['acc_err']:>8.1%} {r['acc_cor']:>8.1%} {r['f1']:>7.1%} "
              f"{r['false_flag_rate']:>9.1%} {r['flags']:>6} {r['precision']:>9.1%} {r['not_before']:>9.1%} "
              f"{r['median_ms']:>7.2f} "
              f"{r['p99_ms']:>7.2f} {r['steps']:>6}")
        for rid, pred, label, evidence in r["false_flags"][:args.show_false_flags]:
            print(f"    {rid}: flagged step {pred} (0-based), label {label}: "
                  + "; ".join(f"{e.claim!r} expected {e.expected}" for e in evidence))
    print(TARGETS)


if __name__ == "__main__":
    main()
