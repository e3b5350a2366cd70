"""Quiet runs: a command prints its own output (the trace, a summary, a one-line error) and nothing from libraries.

:func:`quiet_libraries` is the one place that silences vLLM, transformers, torch, Triton, tqdm progress bars of
model loading and Python warnings, in this process and in the processes it starts (vLLM's engine core is a spawned
process that re-imports vLLM, so its import-time lines never see this process's logging levels):

- environment read at import time by the libraries and inherited by child processes: ``VLLM_LOGGING_LEVEL``,
  ``TRANSFORMERS_VERBOSITY``, ``HF_HUB_DISABLE_PROGRESS_BARS``, ``TORCH_CPP_LOG_LEVEL``, ``PYTHONWARNINGS``
  (set only where the user has not set them, and unset again after the block);
- in this process: the library loggers at ERROR and warnings ignored;
- when standard error is a real file descriptor (a terminal, a pipe): file descriptor 2 - where child processes and
  C++ code write - goes to a log file for the run, while Python's ``sys.stderr`` (this program's own messages and
  progress bar) keeps the original stream. The log is removed after a clean run and named on stderr after a failed
  one (exit code other than 0), so a crash's library traceback is one ``cat`` away.

``verbose=True`` changes nothing: every library speaks as it would without us.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import sys
import tempfile
import warnings
from collections.abc import Iterator

# Environment the libraries read at import (ours are defaults: a value the user set wins).
QUIET_ENV = {
    "VLLM_LOGGING_LEVEL": "ERROR",
    "TRANSFORMERS_VERBOSITY": "error",
    "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "TORCH_CPP_LOG_LEVEL": "ERROR",
    "PYTHONWARNINGS": "ignore",
}
# Loggers of the libraries a run may load; set to ERROR while quiet.
LIBRARY_LOGGERS = ("vllm", "transformers", "torch", "triton", "datasets", "huggingface_hub", "accelerate", "trl",
                   "httpx", "urllib3", "filelock", "asyncio")


class QuietRun:
    """What :func:`quiet_libraries` did: ``log_path`` holds the library output of this run (None when stderr was not
    redirected); call :meth:`finish` with the exit code to remove or name it."""

    def __init__(self, log_path: str | None) -> None:
        self.log_path = log_path

    def finish(self, exit_code: int) -> None:
        """Remove the log after a clean run; name it on stderr after a failed one (when it holds anything)."""
        if self.log_path is None:
            return
        size = os.path.getsize(self.log_path) if os.path.exists(self.log_path) else 0
        if exit_code == 0 or size == 0:
            with contextlib.suppress(OSError):
                os.remove(self.log_path)
        else:
            print(f"library output of this run (rerun with --verbose to see it live): {self.log_path}",
                  file=sys.stderr)


def _real_stderr_fd() -> bool:
    """True when ``sys.stderr`` writes straight to file descriptor 2 (not a test's capture or a StringIO)."""
    try:
        return sys.stderr is sys.__stderr__ and sys.stderr.fileno() == 2
    except (AttributeError, ValueError, io.UnsupportedOperation):
        return False


@contextlib.contextmanager
def _stderr_fd_to(log_path: str) -> Iterator[None]:
    """File descriptor 2 -> ``log_path``; ``sys.stderr`` keeps writing to the original stream."""
    sys.stderr.flush()
    saved = os.dup(2)
    own = io.TextIOWrapper(os.fdopen(os.dup(saved), "wb", buffering=0), encoding=sys.stderr.encoding or "utf-8",
                           errors="backslashreplace", line_buffering=True, write_through=True)
    previous = sys.stderr
    with open(log_path, "ab") as log:
        os.dup2(log.fileno(), 2)
    sys.stderr = own
    try:
        yield
    finally:
        sys.stderr.flush()
        sys.stderr = previous
        os.dup2(saved, 2)
        os.close(saved)
        own.close()


@contextlib.contextmanager
def quiet_libraries(verbose: bool = False) -> Iterator[QuietRun]:
    """Silence library logs, warnings and load-time progress bars for the block (see the module docstring);
    ``verbose=True`` leaves everything as it is. Enter it before any engine is built: vLLM and transformers read
    their environment at import."""
    if verbose:
        yield QuietRun(None)
        return
    added_env = [key for key in QUIET_ENV if key not in os.environ]
    for key in added_env:
        os.environ[key] = QUIET_ENV[key]
    levels = {name: logging.getLogger(name).level for name in LIBRARY_LOGGERS}
    for name in LIBRARY_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    with contextlib.ExitStack() as stack:
        stack.enter_context(warnings.catch_warnings())
        warnings.simplefilter("ignore")
        log_path = None
        if _real_stderr_fd():
            fd, log_path = tempfile.mkstemp(prefix="deepcritic-", suffix=".log")
            os.close(fd)
            stack.enter_context(_stderr_fd_to(log_path))
        try:
            yield QuietRun(log_path)
        finally:
            for name, level in levels.items():
                logging.getLogger(name).setLevel(level)
            for key in added_env:
                os.environ.pop(key, None)
