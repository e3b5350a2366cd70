"""Engine processes must not outlive a killed job.

vLLM's engine core (and its workers) run in processes of their own. When the job that started them is killed with
SIGKILL (an out-of-memory kill, ``kill -9``, a scheduler's hard limit), no exit hook runs and the engine core, which
does not watch its parent, stays behind holding gigabytes of memory. :func:`reap_on_parent_death` starts a tiny
watchdog process (a ``python -c`` loop, ~10 MB) that polls its own parent; once that parent is gone it SIGKILLs the
engine processes, each identified by pid *and* start time (``/proc/<pid>/stat``) so that a recycled pid is never hit.
A normal exit stops the watchdog first (:meth:`Reaper.stop`). Linux only (``/proc``); elsewhere it does nothing.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

_WATCHDOG = """\
import os, signal, sys, time
signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the job; it closes its engine and stops this
parent = int(sys.argv[1])  # passed in: the job may die before this line runs
targets = [arg.split(":") for arg in sys.argv[2:]]
while os.getppid() == parent:
    time.sleep(0.5)
for pid, start in targets:
    try:
        with open(f"/proc/{pid}/stat") as f:
            same = f.read().rpartition(")")[2].split()[19] == start
        if same:
            os.kill(int(pid), signal.SIGKILL)
    except (OSError, IndexError):
        pass
"""


def start_time(pid: int) -> str | None:
    """Field 22 of ``/proc/<pid>/stat`` (start time in clock ticks since boot), or None when the process is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[19]
    except (OSError, IndexError):
        return None


def descendants(pid: int | None = None) -> set[int]:
    """Pids of every live descendant of ``pid`` (default: this process), read from ``/proc``; empty off Linux."""
    found: set[int] = set()
    todo = [os.getpid() if pid is None else pid]
    while todo:
        current = todo.pop()
        for children in Path(f"/proc/{current}/task").glob("*/children"):
            try:
                kids = {int(k) for k in children.read_text().split()}
            except OSError:
                continue
            todo.extend(kids - found)
            found |= kids
    return found


def kill_processes(pids: set[int]) -> None:
    """SIGKILL each of ``pids`` that still exists (a process already gone is fine)."""
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


class Reaper:
    """The watchdog of one engine's processes; :meth:`stop` it when the engine closes normally."""

    def __init__(self, process: subprocess.Popen | None) -> None:
        self.process = process

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.process = None


def reap_on_parent_death(pids: set[int]) -> Reaper:
    """Watch this process; if it dies without :meth:`Reaper.stop`, SIGKILL ``pids`` (those still the same
    processes). Nothing to watch, or no ``/proc``: a Reaper that does nothing."""
    targets = [f"{pid}:{start}" for pid in sorted(pids) if (start := start_time(pid)) is not None]
    if not targets:
        return Reaper(None)
    env = {key: value for key, value in os.environ.items() if key != "LD_PRELOAD"}
    process = subprocess.Popen([sys.executable, "-c", _WATCHDOG, str(os.getpid()), *targets], stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, close_fds=True)
    return Reaper(process)
