"""Exact verification of the arithmetic and algebra a solution step states (the "SymPy tool").

Layout: :mod:`~critic.verify.tokens` (whitelist tokenizer) -> :mod:`~critic.verify.parse` (expression trees) ->
:mod:`~critic.verify.exact` (rational evaluation, the fast path) and :mod:`~critic.verify.build` (SymPy
constructors, after size screens) -> :mod:`~critic.verify.values` (values and equality) ->
:mod:`~critic.verify.checks` (claims and verdicts) with :mod:`~critic.verify.guards` (which text is a claim).
"""

from __future__ import annotations

from critic.verify.checks import check_step
from critic.records import StepCheck

__all__ = ["check_step", "check_steps"]


def check_steps(problem: str, steps: list[str]) -> list[StepCheck]:
    """Check every step on its own; one :class:`StepCheck` per step, ``step1`` 1-based.

    The problem text is accepted for interface stability; claims are checked within their own step.
    """
    del problem
    return [check_step(text, i + 1) for i, text in enumerate(steps)]
