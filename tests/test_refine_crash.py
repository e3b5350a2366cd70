"""Crash test (slow, REAL embedded model through vLLM): SIGKILL `deepcritic refine` at random points, rerun.

Every input id must appear exactly once at the end, and every row written before a kill must still be there,
byte for byte, in its place: rows are never recomputed or rewritten.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from critic.io import read_jsonl

pytestmark = pytest.mark.slow

NUM_ROWS = 60
KILLS = 3
RUN_TIMEOUT_S = 600  # per run; generous because engine start-up is slow on a busy CPU


def refine_command(src: Path, out: Path) -> list[str]:
    script = Path(sys.executable).with_name("deepcritic")
    entry = [str(script)] if script.exists() else [sys.executable, "-m", "agent.cli"]
    return entry + ["refine", str(src), "-o", str(out), "--generator", "vllm:embedded", "--max-tokens", "16",
                    "--max-rounds", "2", "--concurrency", "8", "--no-progress"]


def complete_lines(path: Path) -> list[str]:
    """Lines that end in a newline (a torn last line is not a written row)."""
    if not path.exists():
        return []
    return path.read_text(encoding="utf-8").split("\n")[:-1]


def start(cmd: list[str], log: Path) -> subprocess.Popen:
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    # A session of its own, so the kill reaches vLLM's engine process and the grading workers too.
    return subprocess.Popen(cmd, stdout=log.open("ab"), stderr=subprocess.STDOUT, env=env, start_new_session=True)


def kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=30)


def arithmetic_rows(n: int) -> list[dict]:
    """Short rows (quick prompts), every third with a wrong sum that the SymPy veto sends to refinement."""
    rng = random.Random(7)
    rows = []
    for i in range(n):
        a, b = rng.randint(10, 99), rng.randint(10, 99)
        c = a + b + (1 if i % 3 == 0 else 0)
        steps = [f"We add {a} and {b}.", f"{a} + {b} = {c}.", f"The answer is \\boxed{{{c}}}."]
        rows.append({"id": f"sum-{i}", "problem": f"What is {a} + {b}?", "steps": steps, "answer": str(a + b)})
    return rows


def test_sigkill_at_random_points_then_resume(tmp_path):
    pytest.importorskip("vllm")
    rows = arithmetic_rows(NUM_ROWS)
    src, out, log = tmp_path / "in.jsonl", tmp_path / "out.jsonl", tmp_path / "log.txt"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    cmd = refine_command(src, out)
    rng = random.Random(int(os.environ.get("CRASH_SEED", time.time())))
    snapshots: list[list[str]] = []

    for _ in range(KILLS):
        already = len(complete_lines(out))
        target = already + rng.randint(2, 8)
        proc = start(cmd, log)
        deadline = time.monotonic() + RUN_TIMEOUT_S
        try:
            while len(complete_lines(out)) < target and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(rng.uniform(0.02, 0.3))
        finally:
            kill_group(proc)
        assert proc.returncode in (-signal.SIGKILL, 0), log.read_text()[-3000:]
        assert time.monotonic() < deadline, "no progress before the kill:\n" + log.read_text()[-3000:]
        snapshots.append(complete_lines(out))

    proc = start(cmd, log)
    try:
        assert proc.wait(timeout=RUN_TIMEOUT_S) == 0, log.read_text()[-3000:]
    finally:
        kill_group(proc)

    final = complete_lines(out)
    ids = [json.loads(line)["id"] for line in final]
    assert sorted(ids) == sorted(r["id"] for r in rows), "every id exactly once"
    for snapshot in snapshots:
        assert final[: len(snapshot)] == snapshot, "rows written before a kill were rewritten or recomputed"
    assert len(snapshots[-1]) < NUM_ROWS, "the kills all came after the end: nothing was resumed"
    runs = [json.loads(line)["run_id"] for line in final]
    assert len(set(runs)) >= 2  # rows come from several runs, each row from exactly one
    assert all(r["error"] is None for r in read_jsonl(out)), [r["error"] for r in read_jsonl(out) if r["error"]]
