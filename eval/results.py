"""Typed results of the evaluation runs: what :func:`eval.error_id.run_error_id`, :func:`eval.refine_success.run_refine`
and :func:`eval.tts.run_tts` return and write to ``metrics.json`` (``model_dump(mode="json")``, the same keys as
before these types existed, so old run folders and reports stay readable).

Every result also reads like the JSON object it is written as - ``m["f1"] is m.f1``, ``m.get(k)``, ``m.keys()``,
``set(m)``, ``m == json.load(f)`` - in the manner of transformers' ``ModelOutput``: code (tables, plots, scripts) that
reads ``metrics.json`` reads a fresh result the same way. Rates are fractions in [0, 1]; tokens are generated tokens
(totals unless named ``mean_``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, RootModel

from critic.records import SympyMode

V = TypeVar("V")

RefineVariant = Literal["critic", "self-critic", "no-sympy"]  # see eval.refine_success (ablations)


class _Readable:
    """The mapping view shared by results (a mixin; the keys are the JSON keys)."""

    def _as_mapping(self) -> Mapping[str, Any]:
        raise NotImplementedError

    def __getitem__(self, key: str) -> Any:
        return self._as_mapping()[key]

    def get(self, key: str, default: Any = None) -> Any:
        """``self[key]``, or ``default`` when there is no such key."""
        return self._as_mapping().get(key, default)

    def keys(self):
        """The JSON keys, in order."""
        return self._as_mapping().keys()

    def items(self):
        """``(key, value)`` pairs, values as typed objects."""
        return self._as_mapping().items()

    def values(self):
        """The values, as typed objects."""
        return self._as_mapping().values()

    def __contains__(self, key: object) -> bool:
        return key in self._as_mapping()

    def __iter__(self) -> Iterator[str]:  # type: ignore[override]  # keys, like a dict (pydantic: (name, value))
        return iter(self._as_mapping())

    def __len__(self) -> int:
        return len(self._as_mapping())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, BaseModel):
            return type(self) is type(other) and self.model_dump() == other.model_dump()  # type: ignore[attr-defined]
        if isinstance(other, Mapping):
            return self.model_dump(mode="json") == _plain(other)  # type: ignore[attr-defined]
        return NotImplemented


def _plain(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


class Result(_Readable, BaseModel):
    """Base of one result record: fixed fields, unknown keys rejected."""

    model_config = ConfigDict(extra="forbid")

    def _as_mapping(self) -> Mapping[str, Any]:
        return {name: getattr(self, name) for name in type(self).model_fields}


class ResultTable(_Readable, RootModel[dict[str, V]], Generic[V]):
    """Base of a keyed table of results (data set or subset name -> result), in insertion order."""

    def _as_mapping(self) -> Mapping[str, V]:
        return self.root


# --- error identification ---------------------------------------------------------------------------------------


class ErrorIdMetrics(Result):
    """Error-identification metrics of one subset (or their macro average), after ProcessBench.

    ``acc_err``: share of erroneous solutions whose first wrong step (0-based ``label0``) is found exactly;
    ``acc_cor``: share of correct solutions accepted as all-correct; ``f1``: their harmonic mean (0 when either is
    0). In ``average`` the rates are unweighted means over subsets (F1 averaged, not recomputed) and counts are sums.
    """

    acc_err: float = Field(ge=0, le=1)
    acc_cor: float = Field(ge=0, le=1)
    f1: float = Field(ge=0, le=1)
    n_err: int = Field(ge=0, description="erroneous solutions (label0 >= 0)")
    n_cor: int = Field(ge=0, description="correct solutions (label0 = -1)")
    n: int = Field(ge=0, description="solutions")
    unparsed: float = Field(ge=0, le=1, description="share of generated critiques that were unreadable")
    errors: int = Field(ge=0, description="solutions the engine refused (error rows; counted as unreadable)")
    tokens: int = Field(ge=0, description="generated tokens, total")


class ErrorIdSummary(ResultTable[ErrorIdMetrics]):
    """``{subset: ErrorIdMetrics, ..., "average": ErrorIdMetrics}`` of an error-identification run."""


# --- refinement -------------------------------------------------------------------------------------------------


class RefineMetrics(Result):
    """Before / after accuracy of one refinement variant on one data set (answers graded against the gold answer
    with :func:`critic.grading.answers_match`). A problem with no refinement (no initial solution, an error row)
    keeps its initial answer and is counted under ``errors``."""

    n: int = Field(ge=0, description="problems")
    acc_before: float = Field(ge=0, le=1)
    acc_after: float = Field(ge=0, le=1)
    correct_before: int = Field(ge=0)
    correct_after: int = Field(ge=0)
    wrong_to_correct: int = Field(ge=0)
    correct_to_wrong: int = Field(ge=0)
    mean_rounds: float = Field(ge=0, description="critique rounds per problem")
    tokens: int = Field(ge=0, description="tokens generated by the refinement loop, total")
    mean_tokens: float = Field(ge=0, description="tokens per problem")
    errors: int = Field(ge=0, description="problems without a refinement (error rows, empty initial solutions)")
    accepted: int = Field(ge=0, description="refinements the critic accepted")
    initial_tokens: int = Field(ge=0, description="tokens of the initial solutions, total")
    critic: str = Field(description="engine spec that critiqued in this variant")
    sympy: SympyMode = Field(description="SymPy mode of this variant")


class RefineSummary(ResultTable[dict[RefineVariant, RefineMetrics]]):
    """``{data set: {variant: RefineMetrics}}`` of a refinement run (variants: ``critic``, and with ablations
    ``self-critic`` and ``no-sympy``)."""


# --- verified majority voting -----------------------------------------------------------------------------------


class TtsCurve(Result):
    """Accuracy against the number of samples N on one data set, from the same samples (the first N of each
    problem). Lists are aligned with ``n``."""

    n: list[float] = Field(description="sample counts N (1, 2, 4, ... and the configured n)")
    majority: list[float] = Field(description="plain majority-vote accuracy at each N")
    verified: list[float] = Field(description="majority over critic-accepted samples (else plain) at each N")
    fallback: list[float] = Field(description="share of problems with no accepted sample at each N")
    oracle: list[float] = Field(description="share of problems with any right sample among the first N")
    problems: int = Field(ge=0)
    errors: int = Field(ge=0, description="problems with an error row (wrong at every N)")


class TtsSummary(ResultTable[TtsCurve]):
    """``{data set: TtsCurve}`` of a verified-majority-voting run."""
