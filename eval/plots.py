"""PNG plots of evaluation runs (matplotlib's Agg backend: no display needed; matplotlib is imported on first use)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from eval.tables import comparison_columns, run_label, subsets_of

if TYPE_CHECKING:
    from eval.reference import ReferenceComparison

ERROR_ID_PLOT = "f1.png"
REFINE_PLOT = "refine.png"
TTS_PLOT = "accuracy_vs_n.png"
COMPARE_PLOT = "compare.png"


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_error_id(metrics: Mapping[str, Mapping], path: Path, title: str,
                  comparison: ReferenceComparison | None = None) -> Path:
    """Grouped bars per subset (and the average): acc_err, acc_cor, F1; with a reference, its F1 as black marks
    (the average mark: the reference's average over the subsets both sides have)."""
    plt = _pyplot()
    names = [*subsets_of(metrics), "average"]
    keys = [("acc_err", "#d9534f"), ("acc_cor", "#5cb85c"), ("f1", "#337ab7")]
    width = 0.8 / len(keys)
    fig, ax = plt.subplots(figsize=(max(5.0, 1.4 * len(names) + 2), 4))
    for j, (key, colour) in enumerate(keys):
        xs = [i + (j - 1) * width for i in range(len(names))]
        ys = [100 * metrics[n][key] for n in names]
        bars = ax.bar(xs, ys, width, label=key, color=colour)
        if key == "f1":
            ax.bar_label(bars, fmt="%.1f", fontsize=8)
    if comparison is not None:
        marks = [(i + width, comparison.reference_f1(n)) for i, n in enumerate(names)]
        marks = [(x, y) for x, y in marks if y is not None]
        if marks:
            ax.scatter([x for x, _ in marks], [y for _, y in marks], marker="_", s=400, linewidths=2.5,
                       color="black", zorder=3, label=f"F1 {comparison.reference.name}")
    ax.set_xticks(range(len(names)), names)
    ax.set_ylim(0, 105)
    ax.set_ylabel("%")
    ax.set_title(title)
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_error_id_comparison(runs: Sequence[tuple[Path, Mapping, Mapping]], plot_path: Path) -> Path:
    """Grouped F1 bars (percent) per subset and the average, one colour per run; PNG at ``plot_path``."""
    columns = comparison_columns(runs)
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(max(6.0, 1.3 * len(columns) * max(1, len(runs)) / 2 + 2), 4))
    width = 0.8 / len(runs)
    for j, (run_dir, config, metrics) in enumerate(runs):
        xs = [i + (j - (len(runs) - 1) / 2) * width for i in range(len(columns))]
        ys = [100 * metrics[c]["f1"] if c in metrics else 0.0 for c in columns]
        bars = ax.bar(xs, ys, width, label=run_label(run_dir, config))
        ax.bar_label(bars, fmt="%.1f", fontsize=7)
    ax.set_xticks(range(len(columns)), columns)
    ax.set_ylim(0, 105)
    ax.set_ylabel("F1 %")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(plot_path, dpi=100)
    plt.close(fig)
    return plot_path


def plot_refine(metrics: Mapping[str, Mapping[str, Mapping]], path: Path, title: str) -> Path:
    """Before/after accuracy bars per (dataset, variant), annotated with w→c / c→w counts."""
    plt = _pyplot()
    groups = [(d, v, m) for d, variants in metrics.items() for v, m in variants.items()]
    fig, ax = plt.subplots(figsize=(max(5.0, 1.6 * len(groups) + 2), 4))
    width = 0.38
    for i, (_, _, m) in enumerate(groups):
        ax.bar(i - width / 2, 100 * m["acc_before"], width, color="#999999", label="before" if i == 0 else None)
        ax.bar(i + width / 2, 100 * m["acc_after"], width, color="#337ab7", label="after" if i == 0 else None)
        ax.annotate(
            f"w→c {m['wrong_to_correct']}\nc→w {m['correct_to_wrong']}",
            (i, max(m["acc_before"], m["acc_after"]) * 100),
            textcoords="offset points", xytext=(0, 4), ha="center", fontsize=8,
        )
    ax.set_xticks(range(len(groups)), [f"{d}\n{v}" for d, v, _ in groups], fontsize=8)
    ax.set_ylim(0, 115)
    ax.set_ylabel("accuracy %")
    ax.set_title(title)
    ax.legend(loc="lower right", fontsize=8, framealpha=0.9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_tts(metrics: Mapping[str, Mapping[str, Sequence[float]]], path: Path, title: str) -> Path:
    """Accuracy (percent) against N per data set: plain majority dashed, verified majority solid; PNG at ``path``."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    for dataset, curve in metrics.items():
        ns = curve["n"]
        ax.plot(ns, [100 * x for x in curve["majority"]], "o--", label=f"{dataset} majority")
        ax.plot(ns, [100 * x for x in curve["verified"]], "s-", label=f"{dataset} verified")
    ns_all = sorted({int(n) for curve in metrics.values() for n in curve["n"]})
    ax.set_xscale("log", base=2)
    ax.set_xticks(ns_all, [str(n) for n in ns_all])
    ax.minorticks_off()
    ax.set_xlabel("N samples")
    ax.set_ylabel("accuracy %")
    ax.set_ylim(0, 105)
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
