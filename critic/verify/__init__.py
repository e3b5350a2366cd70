"""Exact verification of the arithmetic and algebra a solution step states (the "SymPy tool").

Layout: :mod:`~critic.verify.tokens` (whitelist tokenizer) -> :mod:`~critic.verify.parse` (expression trees) ->
:mod:`~critic.verify.exact` (rational evaluation, the fast path) and :mod:`~critic.verify.build` (SymPy
constructors, after size screens) -> :mod:`~critic.verify.values` (values and equality) ->
:mod:`~critic.verify.checks` (claims and verdicts), with :mod:`~critic.verify.guards` (which text is a claim),
:mod:`~critic.verify.algebra` (identities, rearrangements) and :mod:`~critic.verify.relations`.

Bounds: sizes are screened before any tree or SymPy object is built, each step has a cooperative deadline
(:data:`critic.verify.checks.STEP_DEADLINE_S`), and :func:`check_steps` runs a whole solution in a reusable
:mod:`critic.timebox` worker process (memory-limited) that is killed past :func:`solution_bound_s`; the steps then
get the rational-only checks (no SymPy), computed in this process.
"""

from __future__ import annotations

from critic import timebox
from critic.records import StepCheck
from critic.verify.checks import check_step

__all__ = ["check_step", "check_steps", "solution_bound_s"]

SOLUTION_BASE_S = 5.0
SOLUTION_PER_STEP_S = 1.0
SOLUTION_MAX_S = 60.0


def solution_bound_s(n_steps: int) -> float:
    """Hard wall-clock bound for checking one solution of ``n_steps`` steps in the worker, in seconds."""
    return min(SOLUTION_MAX_S, SOLUTION_BASE_S + SOLUTION_PER_STEP_S * n_steps)


def check_steps(problem: str, steps: list[str]) -> list[StepCheck]:
    """Check every step on its own; one :class:`StepCheck` per step, ``step1`` 1-based.

    Runs in a :mod:`critic.timebox` worker within :func:`solution_bound_s`; when the worker overruns (it is
    killed) or cannot run, the steps get the rational-only checks in this process instead. Never raises for any
    list of strings. The problem text is accepted for interface stability; claims are checked within their step.
    """
    steps = [s if isinstance(s, str) else "" for s in steps]
    if not steps:
        return []
    try:
        rows = timebox.run("verify_steps", [problem if isinstance(problem, str) else "", steps],
                           solution_bound_s(len(steps)))
        return [StepCheck.model_validate(row) for row in rows]
    except (timebox.Timeout, timebox.WorkerError, ValueError, TypeError):
        return [check_step(text, i + 1, symbolic=False) for i, text in enumerate(steps)]


def check_steps_in_worker(problem: str, steps: list[str]) -> list[dict]:
    """The worker side of :func:`check_steps`: every check, SymPy included; JSON-ready rows."""
    del problem
    return [check_step(text, i + 1).model_dump() for i, text in enumerate(steps)]
