"""Benchmark: the SymPy tool (critic.verify) alone as a critic, and what it costs.

Prints, in one run:

1. ProcessBench (gsm8k, math, olympiadbench, omnimath) and MR-GSM8K with the prediction "first step whose verdict
   is wrong (0-based), else -1": acc_err, acc_cor, F1, flags, flags before the label (a flag on an earlier step
   than the labelled first error, or on an all-correct solution) as a share of all flags, flag precision, and
   latency per step (median, p99, max; steps over 2 s).
2. MATH-500 reference solutions (split into paragraphs): how many are flagged (they are correct).
3. Corrupted GSM8K: every GSM8K test solution with one calculator result changed in its text
   (:func:`corrupted_gsm8k`, deterministic): recall (the changed step is flagged) and flags on the unchanged
   solutions.
4. The per-solution worker (critic.timebox): wall time of ``check_steps`` per solution against the same checks in
   this process, on the first ``--worker-solutions`` ProcessBench-math solutions.

Latency is measured in this process with ``check_step`` (what the worker runs); timings on a shared machine are
noisy.

    python -m eval.bench.sympy_tool [--data DIR] [--subsets gsm8k math ...] [--show-flags N]
                                    [--write-corrupted PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

from critic.steps import split_steps
from critic.verify import check_step, check_steps

TARGETS = ("targets: acc_err >= 10 / 12 / 5 / 5 % (gsm8k / math / olympiadbench / omnimath) at acc_cor >= 99.5 %; "
           "flags before the label <= 2 % of all flags; MR-GSM8K F1 >= 35.4; MATH-500 references flagged <= 0.5 %; "
           "corrupted GSM8K recall >= 90 % at 0 flags on the unchanged solutions; p99 <= 200 ms and max <= 2 s "
           "per step")
PROCESSBENCH = ("gsm8k", "math", "olympiadbench", "omnimath")
SLOW_STEP_S = 2.0

_ANNOTATION = re.compile(r"<<([^<>]*)=([^<>=]*)>>")
_RESULT = re.compile(r"-?\d[\d,]*(?:\.\d+)?")
_DELTAS = (1, 2, 3, 5, 10, -1, -2, -3, -5, -10)


def _data_dir(explicit: str | None) -> Path:
    if explicit:
        return Path(explicit)
    env = os.environ.get("DEEPCRITIC_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[3] / "shared" / "data"


def _percentile(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(q * len(s)))] if s else float("nan")


# ---------------------------------------------------------------------------------------------------------------
# Corrupted GSM8K


@dataclass
class Corrupted:
    """One GSM8K reference solution and, where it has a visible calculation, a copy with one result changed (0-based
    line ``step0``)."""

    index: int  # row of the GSM8K test file
    steps: list[str]  # the reference solution's lines, calculator annotations removed
    corrupted: list[str] | None  # the same with one result changed (None: no visible calculation to change)
    step0: int  # 0-based line of the change (-1 when none)
    original: str = ""
    changed: str = ""


def _changed_result(text: str, rng: random.Random) -> str:
    """The result moved by a small amount in units of its last digit, same format, never negative."""
    body = text.lstrip("-").replace(",", "")
    decimals = len(body.split(".")[1]) if "." in body else 0
    units = int(body.replace(".", ""))
    new = units
    while new == units or new < 0:
        new = units + rng.choice(_DELTAS)
    digits = str(new).rjust(decimals + 1, "0")
    return ("-" if text.startswith("-") else "") + (f"{digits[:-decimals]}.{digits[-decimals:]}" if decimals
                                                    else digits)


def corrupted_gsm8k(answers: list[str]) -> list[Corrupted]:
    """One corruption per GSM8K reference solution, deterministic (seeded by the row index).

    Candidates are calculator annotations ``<<expr=result>>`` whose expression is also written out in the text
    (``16 - 3 - 4 = <<16-3-4=9>>9``: the text before the annotation ends with "="), and whose visible result
    equals the annotation's. One is chosen, its visible result moved by ±1, 2, 3, 5 or 10 in its last digit, and
    every annotation is removed (ProcessBench's format). Lines are the steps; the "####" line is dropped.
    """
    out = []
    for index, answer in enumerate(answers):
        lines = answer.split("####")[0].rstrip().split("\n")
        clean = [_ANNOTATION.sub("", line) for line in lines]
        candidates = []
        for li, line in enumerate(lines):
            for m in _ANNOTATION.finditer(line):
                before = _ANNOTATION.sub("", line[:m.start()]).rstrip(" $")
                visible = _RESULT.match(line, m.end())
                if before.endswith("=") and visible and visible.group(0).replace(",", "") == m.group(2).strip():
                    candidates.append((li, visible))
        if not candidates:
            out.append(Corrupted(index, clean, None, -1))
            continue
        rng = random.Random(index)
        li, visible = rng.choice(candidates)
        changed = _changed_result(visible.group(0), rng)
        line = lines[li]
        bad = list(clean)
        bad[li] = _ANNOTATION.sub("", line[:visible.start()] + changed + line[visible.end():])
        out.append(Corrupted(index, clean, bad, li, visible.group(0), changed))
    return out


def run_corrupted(path: Path) -> dict:
    """Recall of the SymPy tool on corrupted GSM8K solutions (changed results it flags) and the clean solutions it
    flags wrongly: ``{solutions, changed, found, flagged_clean, data}``."""
    answers = [json.loads(line)["answer"] for line in path.read_text().splitlines() if line.strip()]
    data = corrupted_gsm8k(answers)
    flagged_clean = [d.index for d in data if any(check_step(s).verdict == "wrong" for s in d.steps)]
    changed = [d for d in data if d.corrupted is not None]
    found = sum(check_step(d.corrupted[d.step0]).verdict == "wrong" for d in changed)
    return {"solutions": len(data), "changed": len(changed), "found": found, "flagged_clean": flagged_clean,
            "data": data}


# ---------------------------------------------------------------------------------------------------------------
# Labelled sets


def run_labelled(rows: list[dict], latencies: list[float]) -> dict:
    """The SymPy tool as a standalone critic on step-labelled rows (prediction: the first step it proves wrong,
    0-based, else -1): acc_err, acc_cor, F1, how many solutions it flagged, how many flags fell before the labelled
    error (or on a correct solution) and the precision of its flags; per-step latencies (seconds) are appended to
    ``latencies``."""
    n_err = n_cor = hit_err = hit_cor = flags = before = right = 0
    shown: list[tuple] = []
    for row in rows:
        pred, evidence = -1, []
        for i, step in enumerate(row["steps"]):
            t0 = time.perf_counter()
            check = check_step(step, i + 1)
            latencies.append(time.perf_counter() - t0)
            if check.verdict == "wrong" and pred == -1:
                pred, evidence = i, [e for e in check.evidence if not e.ok]
        label = row["label"]
        if label == -1:
            n_cor += 1
            hit_cor += pred == -1
        else:
            n_err += 1
            hit_err += pred == label
        if pred != -1:
            flags += 1
            right += pred == label
            early = label == -1 or pred < label
            before += early
            if early:
                shown.append((row["id"], pred, label, evidence))
    acc_err = hit_err / n_err if n_err else 0.0
    acc_cor = hit_cor / n_cor if n_cor else 0.0
    f1 = 2 * acc_err * acc_cor / (acc_err + acc_cor) if acc_err + acc_cor else 0.0
    return {"n_err": n_err, "n_cor": n_cor, "acc_err": acc_err, "acc_cor": acc_cor, "f1": f1, "flags": flags,
            "before": before, "precision": right / flags if flags else float("nan"), "early": shown}


def _latency_cells(lat: list[float]) -> str:
    return (f"{statistics.median(lat) * 1e3:.2f} | {_percentile(lat, 0.99) * 1e3:.1f} | {max(lat) * 1e3:.0f} | "
            f"{sum(x > SLOW_STEP_S for x in lat)}")


def run_math500(path: Path, latencies: list[float]) -> dict:
    """Steps of MATH-500 reference solutions the tool flags wrong (each a false alarm): ``{n, flagged}``; per-step
    latencies appended to ``latencies`` (seconds)."""
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    flagged = []
    for row in rows:
        for i, step in enumerate(split_steps(row["solution"])):
            t0 = time.perf_counter()
            check = check_step(step, i + 1)
            latencies.append(time.perf_counter() - t0)
            if check.verdict == "wrong":
                flagged.append((row["unique_id"], i, [e for e in check.evidence if not e.ok]))
                break
    return {"n": len(rows), "flagged": flagged}


def run_worker(rows: list[dict]) -> dict:
    """Milliseconds per solution through the time-boxed worker (:func:`critic.verify.check_steps`) against in-process
    checks, and whether both give the same checks: ``{n, worker_ms, direct_ms, same}``."""
    check_steps("warm-up", ["1 + 1 = 2"])  # the pool's first worker starts outside the measurement
    t0 = time.perf_counter()
    via_worker = [check_steps(r["problem"], r["steps"]) for r in rows]
    worker_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    direct = [[check_step(s, i + 1) for i, s in enumerate(r["steps"])] for r in rows]
    direct_s = time.perf_counter() - t0
    return {"n": len(rows), "worker_ms": worker_s / len(rows) * 1e3, "direct_ms": direct_s / len(rows) * 1e3,
            "same": via_worker == direct}


# ---------------------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", help="data folder laid out like ../shared/data (default: $DEEPCRITIC_DATA)")
    ap.add_argument("--subsets", nargs="+", default=[*PROCESSBENCH, "mr-gsm8k"])
    ap.add_argument("--show-flags", type=int, default=0, metavar="N",
                    help="print up to N flags before the label per set, with their evidence")
    ap.add_argument("--worker-solutions", type=int, default=200)
    ap.add_argument("--write-corrupted", metavar="PATH", help="also write the corrupted GSM8K set as JSONL")
    ap.add_argument("--skip", nargs="*", default=[], choices=["math500", "corrupted", "worker"])
    args = ap.parse_args(argv)
    data = _data_dir(args.data)

    print("SymPy tool (critic.verify) as a standalone critic: first 'wrong' step, -1 if none")
    print("| set | acc_err | acc_cor | F1 | flags | before label | precision | median ms | p99 ms | max ms | "
          "steps > 2 s |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    all_lat: list[float] = []
    pb_lat: list[float] = []
    total_flags = total_before = pb_flags = pb_before = 0
    for subset in args.subsets:
        path = data / ("mr-gsm8k/processed_test.json" if subset == "mr-gsm8k" else f"processbench/{subset}.json")
        if not path.exists():
            print(f"| {subset} | missing: {path} |")
            continue
        lat: list[float] = []
        r = run_labelled(json.loads(path.read_text()), lat)
        all_lat += lat
        total_flags += r["flags"]
        total_before += r["before"]
        if subset in PROCESSBENCH:
            pb_lat += lat
            pb_flags += r["flags"]
            pb_before += r["before"]
        print(f"| {subset} | {r['acc_err']:.1%} | {r['acc_cor']:.1%} | {r['f1']:.1%} | {r['flags']} | "
              f"{r['before']} ({r['before'] / max(1, r['flags']):.1%}) | {r['precision']:.1%} | "
              f"{_latency_cells(lat)} |")
        for rid, pred, label, evidence in r["early"][:args.show_flags]:
            print(f"    {rid}: flagged step {pred} (0-based), label {label}: "
                  + "; ".join(f"{e.claim[:120]!r} is {e.expected}" for e in evidence))
    if pb_lat:
        print(f"| ProcessBench, 4 subsets | | | | {pb_flags} | {pb_before} ({pb_before / max(1, pb_flags):.1%}) | | "
              f"{_latency_cells(pb_lat)} |")
    if total_flags:
        print(f"| all sets | | | | {total_flags} | {total_before} ({total_before / total_flags:.1%}) | | "
              f"{_latency_cells(all_lat)} |")

    math500 = data / "math500" / "test.jsonl"
    if "math500" not in args.skip and math500.exists():
        lat = []
        m = run_math500(math500, lat)
        print(f"\nMATH-500 reference solutions flagged: {len(m['flagged'])} / {m['n']} "
              f"({len(m['flagged']) / m['n']:.1%}); per step {_latency_cells(lat).replace(' |', ',')}")
        for uid, step, evidence in m["flagged"]:
            print(f"    {uid} paragraph {step}: " + "; ".join(f"{e.claim[:120]!r} is {e.expected}" for e in evidence))

    gsm8k = data / "gsm8k" / "test.jsonl"
    if "corrupted" not in args.skip and gsm8k.exists():
        c = run_corrupted(gsm8k)
        print(f"\nCorrupted GSM8K: {c['changed']} of {c['solutions']} solutions with one result changed; recall "
              f"{c['found']} / {c['changed']} = {c['found'] / c['changed']:.1%}; unchanged solutions flagged: "
              f"{len(c['flagged_clean'])} (rows {c['flagged_clean']})")
        if args.write_corrupted:
            with open(args.write_corrupted, "w") as f:
                for d in c["data"]:
                    if d.corrupted is not None:
                        f.write(json.dumps({"index": d.index, "steps": d.corrupted, "label": d.step0,
                                            "original": d.original, "changed": d.changed}) + "\n")

    pb_math = data / "processbench" / "math.json"
    if "worker" not in args.skip and pb_math.exists() and args.worker_solutions > 0:
        w = run_worker(json.loads(pb_math.read_text())[:args.worker_solutions])
        print(f"\nWorker (critic.timebox) on {w['n']} ProcessBench-math solutions: "
              f"{w['worker_ms']:.1f} ms per solution "
              f"through the worker, {w['direct_ms']:.1f} ms in this process (ratio "
              f"{w['worker_ms'] / w['direct_ms']:.2f}); same verdicts: {w['same']}")
    print(TARGETS)


if __name__ == "__main__":
    main()
