"""Metric functions against hand-computed cases."""

from __future__ import annotations

import math

import pytest

from eval.metrics import (
    accuracy_vs_n,
    cluster_answers,
    error_id_metrics,
    f1,
    macro_average,
    majority_vote,
    powers_of_two_up_to,
    refinement_metrics,
    sample_scores,
    vote_at_n,
)


def row(label0, *preds, subset="s", tokens=0):
    return {"label0": label0, "preds": list(preds), "subset": subset, "tokens": tokens}


def test_f1_zero_when_a_side_is_zero():
    assert f1(0.0, 0.8) == 0.0
    assert f1(0.8, 0.0) == 0.0
    assert f1(0.0, 0.0) == 0.0
    assert f1(0.5, 1.0) == pytest.approx(2 * 0.5 / 1.5)
    assert f1(1.0, 1.0) == 1.0


def test_all_right():
    rows = [row(2, 2), row(0, 0), row(-1, -1), row(-1, -1)]
    m = error_id_metrics(rows)["s"]
    assert (m["acc_err"], m["acc_cor"], m["f1"]) == (1.0, 1.0, 1.0)
    assert (m["n_err"], m["n_cor"], m["n"], m["unparsed"]) == (2, 2, 4, 0.0)


def test_all_wrong():
    rows = [row(2, 1), row(0, -1), row(-1, 3), row(-1, 0)]
    m = error_id_metrics(rows)["s"]
    assert (m["acc_err"], m["acc_cor"], m["f1"]) == (0.0, 0.0, 0.0)


def test_hand_computed_mixture():
    # erroneous: 3 samples, 2 right (exact index) -> 2/3; a "later" guess is wrong. correct: 2 of 4 accepted -> 1/2
    rows = [row(1, 1), row(3, 3), row(2, 4), row(-1, -1), row(-1, -1), row(-1, 0), row(-1, None)]
    m = error_id_metrics(rows)["s"]
    assert m["acc_err"] == pytest.approx(2 / 3)
    assert m["acc_cor"] == pytest.approx(1 / 2)
    assert m["f1"] == pytest.approx(2 * (2 / 3) * 0.5 / (2 / 3 + 0.5))
    assert m["unparsed"] == pytest.approx(1 / 7)


def test_no_erroneous_samples():
    m = error_id_metrics([row(-1, -1), row(-1, 2)])["s"]
    assert m["n_err"] == 0 and m["acc_err"] == 0.0
    assert m["acc_cor"] == 0.5
    assert m["f1"] == 0.0


def test_no_correct_samples():
    m = error_id_metrics([row(0, 0), row(1, 0)])["s"]
    assert m["n_cor"] == 0 and m["acc_cor"] == 0.0
    assert m["acc_err"] == 0.5
    assert m["f1"] == 0.0


def test_all_unparsed_counts_as_wrong():
    m = error_id_metrics([row(0, None), row(-1, None)])["s"]
    assert (m["acc_err"], m["acc_cor"], m["f1"], m["unparsed"]) == (0.0, 0.0, 0.0, 1.0)
    m = error_id_metrics([row(0, None, None), row(-1, None, None)], decoding="maj")["s"]
    assert (m["acc_err"], m["acc_cor"], m["unparsed"]) == (0.0, 0.0, 1.0)


def test_empty_input_has_no_division_error():
    out = error_id_metrics([])
    assert out == {"average": {"acc_err": 0.0, "acc_cor": 0.0, "f1": 0.0, "unparsed": 0.0,
                               "n_err": 0, "n_cor": 0, "n": 0, "errors": 0, "tokens": 0}}
    assert refinement_metrics([])["acc_before"] == 0.0
    assert accuracy_vs_n([], [1, 2])["majority"] == [0.0, 0.0]


def test_macro_average_is_unweighted_and_averages_f1():
    rows = [row(0, 0, subset="a"), row(-1, -1, subset="a"),  # a: 1, 1, f1 1
            row(0, 1, subset="b"), row(1, 1, subset="b"), row(-1, -1, subset="b"), row(-1, -1, subset="b"),
            row(2, 2, subset="b", tokens=7)]  # b: 2/3, 1
    out = error_id_metrics(rows)
    assert set(out) == {"a", "b", "average"}
    avg = out["average"]
    assert avg["acc_err"] == pytest.approx((1 + 2 / 3) / 2)
    assert avg["f1"] == pytest.approx((1 + f1(2 / 3, 1)) / 2)
    assert avg["n"] == 7 and avg["n_err"] == 4 and avg["tokens"] == 7
    assert macro_average(out) == avg  # "average" itself is ignored when present


def test_majority_vote_drops_unparsed_and_breaks_ties_by_first_seen():
    assert majority_vote([None, None, 2]) == 2  # two unparsed do not outvote one readable answer
    assert majority_vote([None, None]) is None
    assert majority_vote([]) is None
    assert majority_vote([3, 1, 1, 3]) == 3  # tie -> first seen
    assert majority_vote([-1, 2, 2, None, None, None]) == 2


def test_maj_at_k_and_pass_at_1():
    # maj@4: votes 1, 1, None, 0 -> 1 (right); pass@1 over the same 4 samples: 2/4 right; 1 of 4 unparsed
    assert sample_scores(1, [1, 1, None, 0], "maj") == (1.0, 0.25)
    assert sample_scores(1, [1, 1, None, 0], "sample") == (0.5, 0.25)
    assert sample_scores(-1, [None, None, None], "maj") == (0.0, 1.0)
    rows = [row(1, 1, None, None, 0, 1), row(-1, 0, -1, None, None, None)]
    m = error_id_metrics(rows, decoding="maj")["s"]
    assert (m["acc_err"], m["acc_cor"]) == (1.0, 0.0)  # the correct sample's vote: -1 (tie 0/-1 -> first seen 0)
    with pytest.raises(ValueError):
        sample_scores(1, [1, 2], "greedy")
    with pytest.raises(ValueError):
        sample_scores(1, [], "greedy")


def test_refinement_metrics():
    rows = [
        {"correct_before": False, "correct_after": True, "rounds": 2, "tokens": 100},
        {"correct_before": True, "correct_after": False, "rounds": 1, "tokens": 50},
        {"correct_before": True, "correct_after": True, "rounds": 0, "tokens": 10},
        {"correct_before": False, "correct_after": False, "rounds": 3, "tokens": 40},
    ]
    m = refinement_metrics(rows)
    assert m["acc_before"] == 0.5 and m["acc_after"] == 0.5
    assert m["wrong_to_correct"] == 1 and m["correct_to_wrong"] == 1
    assert m["mean_rounds"] == 1.5 and m["tokens"] == 200 and m["mean_tokens"] == 50


def test_cluster_answers_uses_equivalence():
    same = lambda a, b: float(a) == float(b)  # noqa: E731 - a tiny stand-in for answers_match
    assert cluster_answers(["0.5", None, ".5", "3", "3.0"], same) == [0, None, 0, 3, 3]


def test_vote_at_n_verified_and_fallback():
    clusters = [0, 1, 1, 0, 1]
    correct = [True, False, False, True, False]
    accepted = [True, False, False, True, False]
    # plain majority over 5: cluster 1 (wrong); verified: only cluster 0 accepted (right)
    assert vote_at_n(clusters, correct, accepted, 5) == (False, True, False)
    # none accepted among the first... accepted[0] is True, so n=1 is verified, not a fallback
    assert vote_at_n(clusters, correct, accepted, 1) == (True, True, False)
    nobody = [False] * 5
    assert vote_at_n(clusters, correct, nobody, 5) == (False, False, True)  # falls back to plain majority
    assert vote_at_n([None, None], [False, False], [True, True], 2) == (False, False, True)


def test_accuracy_vs_n():
    problems = [
        {"clusters": [0, 1, 1, 0], "correct": [True, False, False, True], "accepted": [True, False, False, True]},
        {"clusters": [0, 0, 2, 3], "correct": [False, False, True, False], "accepted": [False, False, False, False]},
    ]
    out = accuracy_vs_n(problems, [1, 2, 4])
    assert out["n"] == [1.0, 2.0, 4.0]
    assert out["majority"] == [0.5, 0.5, 0.5]  # p1: 0 (tie at 2 -> first seen 0; at 4 tie -> 0); p2 always 0
    assert out["verified"] == [0.5, 0.5, 0.5]
    assert out["fallback"] == [0.5, 0.5, 0.5]
    assert out["oracle"] == [0.5, 0.5, 1.0]


def test_powers_of_two():
    assert powers_of_two_up_to(1) == [1]
    assert powers_of_two_up_to(8) == [1, 2, 4, 8]
    assert powers_of_two_up_to(6) == [1, 2, 4, 6]
    with pytest.raises(ValueError):
        powers_of_two_up_to(0)
    assert not math.isnan(f1(1e-12, 1e-12))
