"""critic.engines._reaper: engine processes do not outlive a job killed with SIGKILL (real processes, no model)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from critic.engines._reaper import descendants, start_time

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
REPO = Path(__file__).resolve().parents[1]

# A stand-in for a job: it starts an "engine" process, hands it to the reaper, reports both pids, then waits.
JOB = """
import os, subprocess, sys, time
from critic.engines._reaper import descendants, reap_on_parent_death
before = descendants()
engine = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
reaper = reap_on_parent_death(descendants() - before)
if sys.argv[1] == "stop":
    reaper.stop()  # a normal close: the watchdog goes first
print(engine.pid, reaper.process.pid if reaper.process else 0, flush=True)
time.sleep(300)
"""


def _alive(pid: int) -> bool:
    return start_time(pid) is not None and "Z" not in Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2][:3]


def _wait_gone(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.1)
    return False


def _run_job(mode: str) -> tuple[subprocess.Popen, int, int]:
    job = subprocess.Popen([sys.executable, "-c", JOB, mode], stdout=subprocess.PIPE, text=True,
                           env=dict(os.environ, PYTHONPATH=str(REPO)), start_new_session=True)
    engine, watchdog = (int(x) for x in job.stdout.readline().split())
    return job, engine, watchdog


def test_a_job_killed_with_sigkill_takes_its_engine_process_with_it():
    job, engine, watchdog = _run_job("watch")
    try:
        assert engine in descendants(job.pid) and watchdog in descendants(job.pid)
        os.kill(job.pid, signal.SIGKILL)  # no exit hook runs
        job.wait()
        assert _wait_gone(engine, 10), "the engine process outlived its job"
        assert _wait_gone(watchdog, 10)
    finally:
        os.killpg(job.pid, signal.SIGKILL) if _alive(engine) else None


def test_a_stopped_reaper_kills_nothing():
    job, engine, watchdog = _run_job("stop")
    try:
        assert watchdog == 0 or _wait_gone(watchdog, 5)
        os.kill(job.pid, signal.SIGKILL)
        job.wait()
        time.sleep(1.5)  # three watchdog polls
        assert _alive(engine)
    finally:
        os.kill(engine, signal.SIGKILL)


@pytest.mark.parametrize("same_process", [True, False], ids=["same-process", "recycled-pid"])
def test_only_the_same_process_is_killed(same_process):
    """The watchdog checks each pid's start time: a process that merely reuses the pid is left alone."""
    from critic.engines._reaper import _WATCHDOG

    victim = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
    try:
        start = int(start_time(victim.pid)) + (0 if same_process else 1)  # +1: another process that had this pid
        parent = subprocess.Popen([sys.executable, "-c", (
            "import os, subprocess, sys, time\n"
            f"subprocess.Popen([sys.executable, '-c', {_WATCHDOG!r}, str(os.getpid()), '{victim.pid}:{start}'])\n"
            "time.sleep(300)\n")], start_new_session=True)
        time.sleep(1.0)
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait()
        if same_process:
            victim.wait(timeout=10)
        else:
            time.sleep(1.5)  # three watchdog polls
            assert victim.poll() is None
    finally:
        victim.kill()
        victim.wait()
