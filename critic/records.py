"""Pydantic records shared by every layer.

Index bases are part of the field names: ``label0`` is 0-based (benchmark files), ``step1`` is 1-based (what the
critic reads and writes). ``-1`` means "no wrong step" in both bases. Convert only with
:func:`critic.steps.label0_to_step1` / :func:`critic.steps.step1_to_label0`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from critic.steps import NO_ERROR, step1_to_label0  # NO_ERROR: -1, "every step is correct", in both index bases


class Problem(BaseModel):
    """A math problem, optionally with its gold final answer."""

    id: str
    problem: str
    answer: str | None = None
    source: str | None = None  # e.g. "gsm8k-test", "math500"


class Solution(BaseModel):
    """A step-by-step solution to a problem. Steps are plain text, without "Step i:" prefixes required."""

    id: str
    problem: str
    steps: list[str]
    answer: str | None = None  # gold final answer, when known
    generator: str | None = None


class LabeledSolution(Solution):
    """A solution whose earliest wrong step is known (0-based ``label0``; -1 = all steps correct)."""

    label0: int
    subset: str | None = None  # e.g. "gsm8k", "math", "mr-gsm8k"
    final_answer_correct: bool | None = None

    @model_validator(mode="after")
    def _label_in_range(self) -> LabeledSolution:
        if not (self.label0 == NO_ERROR or 0 <= self.label0 < len(self.steps)):
            raise ValueError(f"label0={self.label0} outside -1 or [0, {len(self.steps)}) for id={self.id!r}")
        return self

    @property
    def has_error(self) -> bool:
        """True when some step is wrong (``label0`` is a 0-based step, not ``NO_ERROR``)."""
        return self.label0 != NO_ERROR


Verdict = Literal["correct", "wrong"]
# How the SymPy tool's findings take part in the critique loop: not at all, as a veto over the critic's acceptance,
# or as evidence in the critic's prompt (agent.graph).
SympyMode = Literal["off", "veto", "prompt"]
SYMPY_MODES: tuple[SympyMode, ...] = ("off", "veto", "prompt")
# Where a solution's steps came from in a round of the loop.
StepOrigin = Literal["generated", "given", "refined"]


class StepVerdict(BaseModel):
    """The critic's judgement of one step (1-based)."""

    step1: int
    verdict: Verdict
    text: str = ""  # the critique of this step, heading to judgement


CritiqueStatus = Literal["ok", "unparsed", "truncated"]


class Critique(BaseModel):
    """A parsed critique.

    ``first_wrong_step1`` is the critic's final answer: the 1-based first wrong step, ``-1`` when it accepts every
    step, ``None`` when no answer could be read (status ``unparsed`` or ``truncated``).
    """

    status: CritiqueStatus
    first_wrong_step1: int | None = None
    verdicts: list[StepVerdict] = Field(default_factory=list)
    raw: str = ""

    @property
    def first_wrong_label0(self) -> int | None:
        """The critic's answer as a 0-based step (``-1`` all correct), None when unreadable; from ``first_wrong_step1``
        via :func:`critic.steps.step1_to_label0`."""
        return None if self.first_wrong_step1 is None else step1_to_label0(self.first_wrong_step1)

    @property
    def accepts(self) -> bool:
        """True only for a readable critique that finds no wrong step."""
        return self.status == "ok" and self.first_wrong_step1 == NO_ERROR


class Evidence(BaseModel):
    """One exact check: the claim as written and what it evaluates to."""

    model_config = ConfigDict(frozen=True)

    claim: str  # e.g. "16 - 3 - 4 = 9"
    expected: str  # what the left side really is, e.g. "9"
    stated: str | None = None  # what the step states, e.g. "9"
    ok: bool


StepCheckVerdict = Literal["ok", "wrong", "unchecked"]


class StepCheck(BaseModel):
    """The SymPy tool's result for one step (1-based). ``wrong`` only for a definite contradiction."""

    step1: int
    verdict: StepCheckVerdict
    evidence: list[Evidence] = Field(default_factory=list)

    @property
    def is_finding(self) -> bool:
        """True when the SymPy tool proved the step wrong (a definite contradiction)."""
        return self.verdict == "wrong"


def first_sympy_finding(checks: Iterable[StepCheck]) -> int:
    """The first step (1-based) with a definite SymPy contradiction; ``NO_ERROR`` (-1) when there is none."""
    return min((c.step1 for c in checks if c.is_finding), default=NO_ERROR)
