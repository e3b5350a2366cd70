"""Typed eval results (eval.results): validated, written to metrics.json with the same keys as the plain dicts
they replace, and readable like that JSON (so tables, plots and old scripts read them unchanged)."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from eval.metrics import error_id_metrics, refinement_metrics
from eval.results import ErrorIdMetrics, ErrorIdSummary, RefineSummary, TtsSummary

ROWS = [
    {"subset": "gsm8k", "label0": 2, "preds": [2], "tokens": 10},
    {"subset": "gsm8k", "label0": -1, "preds": [None], "tokens": 5},
    {"subset": "math", "label0": 0, "preds": [1], "tokens": 7, "error": None},
]


def test_error_id_summary_dumps_the_keys_of_the_plain_metrics():
    plain = error_id_metrics(ROWS)
    summary = ErrorIdSummary.model_validate(plain)
    assert summary.model_dump(mode="json") == json.loads(json.dumps(plain))
    assert list(summary) == ["gsm8k", "math", "average"]
    assert summary["gsm8k"].f1 == summary["gsm8k"]["f1"] == plain["gsm8k"]["f1"]
    assert summary == plain and summary.get("missing") is None and "average" in summary
    assert set(summary["math"]) == set(ErrorIdMetrics.model_fields)


def test_results_reject_unknown_keys_and_out_of_range_rates():
    plain = error_id_metrics(ROWS)
    with pytest.raises(ValidationError, match="extra"):
        ErrorIdSummary.model_validate({"gsm8k": plain["gsm8k"] | {"recall": 0.5}})
    with pytest.raises(ValidationError, match="less than or equal to 1"):
        ErrorIdSummary.model_validate({"gsm8k": plain["gsm8k"] | {"acc_err": 1.5}})


def test_refine_summary_types_variants_and_sympy_modes():
    metrics = refinement_metrics([{"correct_before": False, "correct_after": True, "rounds": 2, "tokens": 9}])
    row = metrics | {"errors": 0, "accepted": 1, "initial_tokens": 4, "critic": "embedded", "sympy": "veto"}
    summary = RefineSummary.model_validate({"gsm8k": {"critic": row}})
    assert summary["gsm8k"]["critic"]["wrong_to_correct"] == 1
    assert summary.model_dump(mode="json") == {"gsm8k": {"critic": row}}
    with pytest.raises(ValidationError):
        RefineSummary.model_validate({"gsm8k": {"critic": row | {"sympy": "sometimes"}}})
    with pytest.raises(ValidationError):
        RefineSummary.model_validate({"gsm8k": {"second-opinion": row}})


def test_tts_curves_keep_their_lists():
    curve = {"n": [1.0, 2.0], "majority": [0.5, 0.5], "verified": [0.5, 1.0], "fallback": [0.0, 0.0],
             "oracle": [0.5, 1.0], "problems": 2, "errors": 0}
    summary = TtsSummary.model_validate({"adds": curve})
    assert summary["adds"]["verified"] == [0.5, 1.0] and summary == {"adds": curve}
    assert summary != {"adds": curve | {"errors": 1}}
