"""Pure metric functions for every evaluation: error identification, refinement, verified majority voting.

Nothing here reads files or runs models. Index base: every prediction and label in this module is 0-based
(``label0`` style, ``-1`` = "all steps correct"); ``None`` is a prediction that could not be read (unparsed or
truncated). An unreadable prediction counts as wrong in accuracy and is dropped from majority votes.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from typing import TypeVar

from critic.protocol import Decoding
from critic.steps import NO_ERROR  # -1 = "all steps correct", defined once in critic

T = TypeVar("T", bound=Hashable)


def f1(acc_err: float, acc_cor: float) -> float:
    """Harmonic mean of the two accuracies; 0 when either side is 0 (no division by zero)."""
    if acc_err <= 0 or acc_cor <= 0:
        return 0.0
    return 2 * acc_err * acc_cor / (acc_err + acc_cor)


def majority_vote(votes: Sequence[T | None]) -> T | None:
    """Most frequent non-``None`` vote; ties go to the value that appeared first. ``None`` when nothing is left.

    ``None`` votes (unparsed samples) are dropped, not counted as a candidate.
    """
    counts: dict[T, int] = {}
    for v in votes:
        if v is not None:
            counts[v] = counts.get(v, 0) + 1
    if not counts:
        return None
    best = max(counts.values())
    return next(v for v in counts if counts[v] == best)  # dicts keep first-seen order


def filter_votes(votes: Sequence[T | None], keep: Sequence[bool]) -> list[T | None]:
    """The vote filter: a sample that may not vote (``keep[i]`` False) votes ``None``, i.e. not at all."""
    return [v if k else None for v, k in zip(votes, keep, strict=True)]


def vote_winner(preds: Sequence[int | None], votes: Sequence[Hashable | None] | None = None) -> int | None:
    """maj@k's prediction: the majority over ``votes`` (default: the predictions themselves), as a prediction.

    ``votes[i]`` is what sample i votes for: its prediction, or under the reference protocols the raw answer string
    it boxed (so an unreadable string votes too and, when it wins, yields no prediction), or None (no vote: no
    answer, or removed by :func:`filter_votes`). Samples with equal votes have equal predictions; the winner's
    prediction is returned, None when nothing voted or the winning vote is no prediction.
    """
    if votes is None:
        return majority_vote(preds)
    if len(votes) != len(preds):
        raise ValueError(f"{len(votes)} votes for {len(preds)} predictions")
    winner = majority_vote(votes)
    return None if winner is None else preds[list(votes).index(winner)]


def sample_scores(label0: int, preds: Sequence[int | None], decoding: Decoding,
                  votes: Sequence[Hashable | None] | None = None) -> tuple[float, float]:
    """(score in [0, 1], unparsed share) of one sample's predictions under a decoding.

    greedy: the single prediction is right or not. sample (pass@1): the share of sampled predictions that are right
    (the unbiased pass@1 estimate from k samples). maj (maj@k): the majority vote (:func:`vote_winner` over
    ``votes``, default the readable predictions) is right or not; a sample with no vote left scores 0.
    """
    if not preds:
        raise ValueError("a sample needs at least one prediction")
    unparsed = sum(p is None for p in preds) / len(preds)
    if decoding == "maj":
        return float(vote_winner(preds, votes) == label0), unparsed
    if decoding == "greedy" and len(preds) != 1:
        raise ValueError(f"greedy decoding has exactly one prediction per sample, got {len(preds)}")
    return sum(p == label0 for p in preds) / len(preds), unparsed


def error_id_metrics(
    rows: Iterable[Mapping], decoding: Decoding = "greedy", subset_key: str = "subset"
) -> dict[str, dict[str, float | int]]:
    """Per-subset and macro-average error-identification metrics.

    Each row needs ``label0`` and ``preds`` (list of 0-based predictions, ``None`` = unreadable); ``votes`` (what
    each sample votes for in maj@k, see :func:`vote_winner`) and ``tokens`` (generated tokens) are optional; a row
    with an ``error`` (the engine refused that solution) has unreadable predictions and is also counted under
    ``errors``. Returns ``{subset: {...}, "average": {...}}`` where each entry has acc_err, acc_cor, f1, n_err, n_cor,
    n, unparsed (share of generated critiques that were unreadable), errors and tokens (total).
    ``average`` is the macro average over subsets of acc_err, acc_cor, f1 and unparsed (F1 averaged, as the
    ProcessBench paper does, not recomputed from the averaged accuracies); its counts are sums.
    """
    groups: dict[str, list[Mapping]] = {}
    for row in rows:
        groups.setdefault(str(row[subset_key]), []).append(row)
    out: dict[str, dict[str, float | int]] = {name: _subset_metrics(group, decoding) for name, group in groups.items()}
    out["average"] = macro_average(out)
    return out


def _subset_metrics(rows: list[Mapping], decoding: Decoding) -> dict[str, float | int]:
    err_scores, cor_scores, unparsed, tokens = [], [], [], 0
    errors = sum(row.get("error") is not None for row in rows)
    for row in rows:
        votes = row.get("votes")
        score, unparsed_share = sample_scores(int(row["label0"]), list(row["preds"]), decoding,
                                              None if votes is None else list(votes))
        (cor_scores if int(row["label0"]) == NO_ERROR else err_scores).append(score)
        unparsed.append(unparsed_share)
        tokens += int(row.get("tokens") or 0)
    acc_err = _mean(err_scores)
    acc_cor = _mean(cor_scores)
    return {
        "acc_err": acc_err,
        "acc_cor": acc_cor,
        "f1": f1(acc_err, acc_cor),
        "n_err": len(err_scores),
        "n_cor": len(cor_scores),
        "n": len(rows),
        "unparsed": _mean(unparsed),
        "errors": errors,
        "tokens": tokens,
    }


def macro_average(per_subset: Mapping[str, Mapping[str, float | int]]) -> dict[str, float | int]:
    """Unweighted mean over subsets of the rates; sums of the counts. Empty input gives zeros."""
    subsets = [m for name, m in per_subset.items() if name != "average"]
    rates = {k: _mean([float(m[k]) for m in subsets]) for k in ("acc_err", "acc_cor", "f1", "unparsed")}
    counts = {k: sum(int(m.get(k, 0)) for m in subsets) for k in ("n_err", "n_cor", "n", "errors", "tokens")}
    return {**rates, **counts}


def _mean(xs: Sequence[float]) -> float:
    return sum(xs) / len(xs) if xs else 0.0


# --- refinement -------------------------------------------------------------------------------------------------


def refinement_metrics(rows: Iterable[Mapping]) -> dict[str, float | int]:
    """Before/after accuracy of a refinement run.

    Each row needs ``correct_before`` and ``correct_after`` (bools); ``rounds`` and ``tokens`` are optional.
    """
    rows = list(rows)
    n = len(rows)
    before = sum(bool(r["correct_before"]) for r in rows)
    after = sum(bool(r["correct_after"]) for r in rows)
    w2c = sum((not r["correct_before"]) and bool(r["correct_after"]) for r in rows)
    c2w = sum(bool(r["correct_before"]) and not r["correct_after"] for r in rows)
    tokens = sum(int(r.get("tokens") or 0) for r in rows)
    return {
        "n": n,
        "acc_before": before / n if n else 0.0,
        "acc_after": after / n if n else 0.0,
        "correct_before": before,
        "correct_after": after,
        "wrong_to_correct": w2c,
        "correct_to_wrong": c2w,
        "mean_rounds": _mean([float(r.get("rounds") or 0) for r in rows]),
        "tokens": tokens,
        "mean_tokens": tokens / n if n else 0.0,
    }


# --- verified majority voting -----------------------------------------------------------------------------------


def cluster_answers(answers: Sequence[str | None], same: Callable[[str, str], bool]) -> list[int | None]:
    """Map each answer to the index of its first equivalent answer (``None`` stays ``None``).

    ``same`` decides equivalence (e.g. :func:`critic.grading.answers_match`); each answer is compared with one
    representative per cluster, so equivalent spellings ("0.5", "\\frac{1}{2}") vote together.
    """
    reps: list[int] = []
    out: list[int | None] = []
    for i, a in enumerate(answers):
        if a is None:
            out.append(None)
            continue
        match = next((r for r in reps if answers[r] == a or same(a, answers[r])), None)  # type: ignore[arg-type]
        if match is None:
            reps.append(i)
            match = i
        out.append(match)
    return out


def vote_at_n(
    clusters: Sequence[int | None], correct: Sequence[bool], accepted: Sequence[bool], n: int
) -> tuple[bool, bool, bool]:
    """Plain and verified majority over the first ``n`` samples of one problem.

    ``clusters[i]`` is sample i's answer cluster (``None`` = no answer), ``correct[i]`` whether it matches the gold
    answer, ``accepted[i]`` whether the critic accepted it. Verified voting votes over accepted samples only and
    falls back to the plain vote when none of the first ``n`` is accepted (or none of those has an answer).
    Returns (plain_correct, verified_correct, fell_back).
    """
    head = range(min(n, len(clusters)))
    plain = majority_vote([clusters[i] for i in head])
    accepted_votes = [clusters[i] for i in head if accepted[i]]
    verified = majority_vote(accepted_votes)
    fell_back = verified is None
    if fell_back:
        verified = plain

    def is_correct(cluster: int | None) -> bool:
        return cluster is not None and correct[cluster]

    return is_correct(plain), is_correct(verified), fell_back


def accuracy_vs_n(problems: Sequence[Mapping], ns: Sequence[int]) -> dict[str, list[float]]:
    """Plain vs verified majority accuracy at each N, from the same samples (the first N of each problem).

    Each problem mapping needs ``clusters``, ``correct`` and ``accepted`` lists (see :func:`vote_at_n`). Also
    reports ``fallback`` (share of problems where no sample was accepted) and ``oracle`` (any of the first N
    right: the ceiling both votes are bounded by).
    """
    out: dict[str, list[float]] = {"n": [float(n) for n in ns], "majority": [], "verified": [], "fallback": [],
                                   "oracle": []}
    total = len(problems)
    for n in ns:
        plain = verified = fallback = oracle = 0
        for p in problems:
            pc, vc, fb = vote_at_n(p["clusters"], p["correct"], p["accepted"], n)
            plain += pc
            verified += vc
            fallback += fb
            oracle += any(p["correct"][: n])
        for key, count in (("majority", plain), ("verified", verified), ("fallback", fallback), ("oracle", oracle)):
            out[key].append(count / total if total else 0.0)
    return out


def powers_of_two_up_to(n: int) -> list[int]:
    """1, 2, 4, ... up to n, and n itself when it is not a power of two."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    ns, k = [], 1
    while k <= n:
        ns.append(k)
        k *= 2
    if ns[-1] != n:
        ns.append(n)
    return ns
