"""A hard time bound for slow work (the SymPy checks of a solution, math-verify) that works from any thread and from
asyncio code.

``signal.alarm`` only works in the main thread, and a Python thread cannot be interrupted, so the work runs in a
small pool of reusable worker subprocesses (``python -m critic.timebox``) that talk JSON lines over pipes. A call
that overruns its bound kills its worker - the caller gets :class:`Timeout` right away - and a replacement starts
in the background. Workers import their heavy modules once at start-up; the time a worker takes to start is not
charged to a call's bound (it is bounded separately by ``STARTUP_TIMEOUT_S``).

Only functions named in :data:`TASKS` can be called: the request names a task, never code.
"""

from __future__ import annotations

import atexit
import importlib
import json
import os
import select
import subprocess
import sys
import threading
import time
from pathlib import Path

__all__ = ["TASKS", "Timeout", "WorkerError", "WorkerPool", "run"]

# task name -> "module:function" run inside the worker; arguments and results are JSON values
TASKS: dict[str, str] = {
    "math_verify_match": "critic.grading:_math_verify_match",
    "verify_steps": "critic.verify:check_steps_in_worker",
    "sleep": "time:sleep",  # a task of known duration: checks the bound and the restart (tests, health checks)
}
# modules a worker imports before it reports ready (so the first call is not charged for the import)
PRELOAD = ("critic.grading", "critic.verify", "math_verify", "sympy")
STARTUP_TIMEOUT_S = 120.0
MAX_WORKERS = 4
WORKER_MEMORY_BYTES = 4 << 30
_MAX_LINE = 1 << 20


class Timeout(Exception):
    """The task did not finish within its bound; its worker was killed."""


class WorkerError(Exception):
    """The worker failed to start, crashed, or the task raised."""


class _Worker:
    def __init__(self) -> None:
        env = dict(os.environ)
        root = str(Path(__file__).resolve().parents[1])
        env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        env.setdefault("OMP_NUM_THREADS", "1")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "critic.timebox"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env,
            start_new_session=True,
        )
        self.buf = b""
        self.ready = False

    def read_line(self, deadline: float) -> bytes | None:
        """One line from the worker, or None at the deadline. Raises WorkerError on EOF."""
        fd = self.proc.stdout.fileno()
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            r, _, _ = select.select([fd], [], [], left)
            if not r:
                return None
            chunk = os.read(fd, 65536)
            if not chunk:
                raise WorkerError("worker exited")
            self.buf += chunk
            if len(self.buf) > _MAX_LINE:
                raise WorkerError("worker reply too long")
        line, _, self.buf = self.buf.partition(b"\n")
        return line

    def wait_ready(self) -> None:
        if self.ready:
            return
        line = self.read_line(time.monotonic() + STARTUP_TIMEOUT_S)
        if line != b"ready":
            raise WorkerError("worker did not start")
        self.ready = True

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        for f in (self.proc.stdin, self.proc.stdout):
            try:
                f.close()
            except OSError:
                pass


class WorkerPool:
    """Reusable workers; each call takes an idle one (or starts one), so threads run their calls side by side."""

    def __init__(self, max_workers: int = MAX_WORKERS) -> None:
        self.max_workers = max_workers
        self._idle: list[_Worker] = []
        self._busy = 0
        self._lock = threading.Condition()
        atexit.register(self.close)

    def _acquire(self) -> _Worker:
        with self._lock:
            while not self._idle and self._busy >= self.max_workers:
                self._lock.wait()
            self._busy += 1
            if self._idle:
                return self._idle.pop()
        try:
            return _Worker()
        except OSError as exc:
            self._release(None)
            raise WorkerError(f"cannot start worker: {exc}") from exc

    def _release(self, worker: _Worker | None) -> None:
        with self._lock:
            self._busy -= 1
            if worker is not None:
                self._idle.append(worker)
            self._lock.notify()

    def _replace_in_background(self) -> None:
        """Start a fresh worker now so that it has imported its modules before the next call needs it."""
        with self._lock:
            if len(self._idle) + self._busy < self.max_workers:
                try:
                    self._idle.append(_Worker())
                except OSError:
                    return

    def call(self, task: str, args: list, timeout_s: float):
        """Run ``task`` (one of ``TASKS``) with JSON ``args`` in an idle worker process and return its JSON result.
        Raises :class:`Timeout` after ``timeout_s`` seconds (the worker is killed and replaced in the
        background) and :class:`WorkerError` when the worker fails or the task raises."""
        if task not in TASKS:
            raise WorkerError(f"unknown task {task!r}")
        worker = self._acquire()
        try:
            worker.wait_ready()
            worker.proc.stdin.write(json.dumps({"task": task, "args": args}).encode() + b"\n")
            worker.proc.stdin.flush()
            line = worker.read_line(time.monotonic() + timeout_s)
        except (WorkerError, OSError, ValueError) as exc:
            worker.kill()
            self._release(None)
            raise WorkerError(str(exc)) from exc
        if line is None:
            worker.kill()
            self._release(None)
            self._replace_in_background()
            raise Timeout(f"{task} exceeded {timeout_s:g} s")
        self._release(worker)
        reply = json.loads(line)
        if not reply.get("ok"):
            raise WorkerError(reply.get("error", "task failed"))
        return reply["result"]

    def close(self) -> None:
        """Kill the idle worker processes."""
        with self._lock:
            idle, self._idle = self._idle, []
        for w in idle:
            w.kill()


_POOL: WorkerPool | None = None
_POOL_LOCK = threading.Lock()


def run(task: str, args: list, timeout_s: float):
    """Run a named task in a worker subprocess within ``timeout_s`` seconds (start-up not counted).

    Raises :class:`Timeout` or :class:`WorkerError`; never hangs, never affects the calling process.
    """
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = WorkerPool()
    return _POOL.call(task, args, timeout_s)


def _serve() -> None:
    """Worker main loop: one JSON request per line on stdin, one JSON reply per line on stdout."""
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (WORKER_MEMORY_BYTES, WORKER_MEMORY_BYTES))
    except (ImportError, ValueError, OSError):
        pass
    out = sys.stdout.buffer
    sys.stdout = sys.stderr  # stray prints from libraries must not corrupt the protocol
    for name in PRELOAD:
        importlib.import_module(name)
    out.write(b"ready\n")
    out.flush()
    functions = {}
    for line in sys.stdin.buffer:
        try:
            req = json.loads(line)
            target = TASKS[req["task"]]
            if target not in functions:
                module, _, attr = target.partition(":")
                functions[target] = getattr(importlib.import_module(module), attr)
            reply = {"ok": True, "result": functions[target](*req["args"])}
        except Exception as exc:  # the task's failure is reported to the caller, the worker lives on
            reply = {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:500]}
        out.write(json.dumps(reply).encode() + b"\n")
        out.flush()


if __name__ == "__main__":
    _serve()
