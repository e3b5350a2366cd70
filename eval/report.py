"""Markdown tables and PNG plots for evaluation runs, and side-by-side comparison of several run folders.

Every run folder holds ``config.json`` (with ``kind``: ``error-id``, ``refine`` or ``tts``), ``metrics.json``,
``report.md`` and a plot. Plots use matplotlib's Agg backend (no display needed).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

from pydantic import Field, ValidationError, field_validator

from critic.configs import ConfigError, StrictConfig, config_error_line, read_mapping
from critic.io import atomic_write_text

ERROR_ID_PLOT = "f1.png"
REFINE_PLOT = "refine.png"
TTS_PLOT = "accuracy_vs_n.png"
COMPARE_PLOT = "compare.png"


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _pct(x: float) -> str:
    return f"{100 * x:.1f}"


def read_run(run_dir: str | Path) -> tuple[dict, dict]:
    """(config, metrics) of a finished run folder; a clear error when it is not one."""
    run_dir = Path(run_dir)
    config_path, metrics_path = run_dir / "config.json", run_dir / "metrics.json"
    if not config_path.is_file() or not metrics_path.is_file():
        raise FileNotFoundError(f"{run_dir} is not a finished eval run (needs config.json and metrics.json)")
    return json.loads(config_path.read_text()), json.loads(metrics_path.read_text())


def decoding_label(config: Mapping) -> str:
    """How the critic decoded, in the words of the paper: greedy, pass@1 over k samples, maj@k."""
    decoding, k = config.get("decoding", "greedy"), config.get("k", 1)
    if decoding == "sample":
        return f"pass@1 (k={k}, T={config.get('temperature')})"
    if decoding == "maj":
        return f"maj@{k} (T={config.get('temperature')})"
    return "greedy"


# --- error identification ---------------------------------------------------------------------------------------


def subsets_of(metrics: Mapping) -> list[str]:
    return [name for name in metrics if name != "average"]


def error_id_table(metrics: Mapping[str, Mapping]) -> str:
    """One row per subset and the macro average: acc_err, acc_cor, F1 (percent), counts, unparsed, tokens."""
    lines = [
        "| subset | acc_err | acc_cor | F1 | n_err | n_cor | unparsed % | tokens |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name in [*subsets_of(metrics), "average"]:
        m = metrics.get(name)
        if m is None:
            continue
        label = "**average (macro)**" if name == "average" else name
        lines.append(
            f"| {label} | {_pct(m['acc_err'])} | {_pct(m['acc_cor'])} | {_pct(m['f1'])} | {m['n_err']} | "
            f"{m['n_cor']} | {_pct(m['unparsed'])} | {m['tokens']} |"
        )
    return "\n".join(lines)


def plot_error_id(metrics: Mapping[str, Mapping], path: Path, title: str,
                  comparison: "ReferenceComparison | None" = None) -> Path:
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


# --- published numbers to compare with ---------------------------------------------------------------------------


# DeepCritic's PRM800K evaluation file is data/prm800k/phase2_test.json: a run over it names the subset by the stem.
SUBSET_ALIASES = {"phase2-test": "prm800k", "mrgsm8k": "mr-gsm8k"}


def subset_key(name: str) -> str:
    """How subset names are matched between a run and a reference file: case, ``_``/``-`` and a ``processbench``
    prefix do not matter (``processbench_gsm8k`` = ``processbench-gsm8k`` = ``gsm8k``); ``phase2_test`` (DeepCritic's
    PRM800K file) is ``prm800k``."""
    key = name.strip().lower().replace("_", "-").removeprefix("processbench-")
    return SUBSET_ALIASES.get(key, key)


class ReferenceNumbers(StrictConfig):
    """Published error-identification numbers (a ``--reference`` YAML file), in percent.

    ``subsets`` maps a subset name to its F1, or to ``{f1, acc_err, acc_cor}`` (any of them). ``average``: the
    source's own average and ``average_over`` the subsets it spans, shown as quoted, never compared as such.
    """

    name: str
    source: str = Field(description="where the numbers are printed (paper, table)")
    subsets: dict[str, float | dict[str, float]] = Field(default_factory=dict)
    average: float | None = None
    average_over: list[str] | None = None

    @field_validator("subsets")
    @classmethod
    def _known_metrics(cls, value: dict[str, float | dict[str, float]]) -> dict[str, float | dict[str, float]]:
        for subset, numbers in value.items():
            if isinstance(numbers, dict):
                unknown = sorted(set(numbers) - {"f1", "acc_err", "acc_cor"})
                if unknown:
                    raise ValueError(f"{subset}: unknown metric {unknown[0]!r} (use f1, acc_err, acc_cor)")
        return value

    def metric(self, subset: str, key: str = "f1") -> float | None:
        for name, numbers in self.subsets.items():
            if subset_key(name) == subset_key(subset):
                value = numbers if not isinstance(numbers, dict) else numbers.get(key)
                return None if value is None or (key != "f1" and not isinstance(numbers, dict)) else float(value)
        return None


def load_reference(path: str | Path) -> ReferenceNumbers:
    """Read a ``--reference`` YAML file; ConfigError (one line) when it is not one."""
    try:
        return ReferenceNumbers.model_validate(read_mapping(path))
    except ValidationError as e:
        raise ConfigError(f"{path}: {config_error_line(e, ReferenceNumbers)}") from None


class ReferenceComparison:
    """A run's metrics next to published numbers, averaged like with like: only over the subsets both have."""

    def __init__(self, metrics: Mapping[str, Mapping], reference: ReferenceNumbers) -> None:
        self.metrics, self.reference = metrics, reference
        ours = subsets_of(metrics)
        self.common = [s for s in ours if reference.metric(s) is not None]
        self.only_ours = [s for s in ours if s not in self.common]
        matched = {subset_key(s) for s in self.common}
        self.only_reference = [name for name in reference.subsets if subset_key(name) not in matched]

    def reference_f1(self, subset: str) -> float | None:
        if subset == "average":
            return self.reference_average()
        return self.reference.metric(subset)

    def our_average(self, key: str = "f1") -> float | None:
        """Our macro average of ``key`` (percent) over the common subsets; None when there are none."""
        values = [100 * float(self.metrics[s][key]) for s in self.common]
        return sum(values) / len(values) if values else None

    def reference_average(self, key: str = "f1") -> float | None:
        values = [self.reference.metric(s, key) for s in self.common]
        if not values or any(v is None for v in values):
            return None
        return sum(values) / len(values)  # type: ignore[arg-type]

    def markdown(self) -> str:
        ref = self.reference
        lines = [f"## Compared with {ref.name}", "", f"Source: {ref.source}. F1 in percent; Δ = ours − reference.", "",
                 "| subset | ours | reference | Δ |", "|---|---:|---:|---:|"]
        for s in self.common:
            ours, theirs = 100 * float(self.metrics[s]["f1"]), ref.metric(s)
            lines.append(f"| {s} | {ours:.1f} | {theirs:.1f} | {ours - theirs:+.1f} |")  # type: ignore[operator]
        ours_avg, ref_avg = self.our_average(), self.reference_average()
        if ours_avg is not None and ref_avg is not None:
            lines.append(f"| **average over these {len(self.common)}** | {ours_avg:.1f} | {ref_avg:.1f} | "
                         f"{ours_avg - ref_avg:+.1f} |")
        lines.append("")
        both = ", ".join(self.common) or "none"
        lines.append(f"Averages are macro averages over the subsets present on both sides only: {both}.")
        if self.only_ours:
            lines.append(f"Only in this run (left out of the comparison): {', '.join(self.only_ours)}.")
        if self.only_reference:
            lines.append(f"Only in the reference (not run here): {', '.join(self.only_reference)}.")
        if ref.average is not None:
            over = f" over {', '.join(ref.average_over)}" if ref.average_over else ""
            lines.append(f"The reference's own average{over} is {ref.average:.1f}; it is quoted, not compared.")
        return "\n".join(lines)


def critic_label(config: Mapping) -> str:
    if config.get("critic") == "sympy":
        return "SymPy-only baseline (no LLM)"
    return f"critic {config.get('critic')}, prompt {config.get('prompt')}"


def protocol_line(config: Mapping) -> str:
    """The protocol a run used: preset, answer extraction, vote filter, tagging, template (sha256), max tokens."""
    if config.get("critic") == "sympy" or "protocol" not in config:
        return ""
    prompt = (config.get("prompts") or {}).get("critic") or {}
    template = prompt.get("template")
    wording = f"template {template['path']} (sha256 {template['sha256'][:12]}…)" if template else "our wording"
    system = "none" if prompt.get("system") is None else "set"
    return (f"Protocol: {config['protocol']} - {wording}, system message {system}, step tagging "
            f"{config.get('step_tagging')}, extraction {config.get('extraction')}, vote filter "
            f"{config.get('vote_filter')}, top_p {config.get('top_p')}, max tokens {config.get('max_tokens')}.\n\n")


def write_error_id_report(run_dir: Path, metrics: Mapping, config: Mapping,
                          reference: ReferenceNumbers | None = None) -> Path:
    title = f"Error identification - {critic_label(config)}"
    comparison = ReferenceComparison(metrics, reference) if reference is not None else None
    plot_error_id(metrics, run_dir / ERROR_ID_PLOT, title, comparison)
    rule = ("Prediction = the first step critic.verify.check_steps proves wrong (a definite contradiction in an "
            "explicit calculation), else -1 (all correct).\n\n" if config.get("critic") == "sympy" else "")
    text = (
        f"# {title}\n\n{rule}"
        f"Data: {', '.join(config.get('data', []))}; decoding: {decoding_label(config)}; "
        f"limit: {config.get('limit')}; seed: {config.get('seed')}.\n\n"
        f"{protocol_line(config)}"
        "acc_err = erroneous samples whose first wrong step is found exactly; acc_cor = correct samples accepted "
        "as all-correct; F1 = their harmonic mean (0 when a side is 0); average = unweighted mean over subsets. "
        "Unreadable critiques count as wrong.\n\n"
        f"{error_id_table(metrics)}\n\n![F1 per subset]({ERROR_ID_PLOT})\n"
    )
    if comparison is not None:
        text += "\n" + comparison.markdown() + "\n"
    path = run_dir / "report.md"
    atomic_write_text(path, text)
    return path


# --- refinement -------------------------------------------------------------------------------------------------


def refine_table(metrics: Mapping[str, Mapping[str, Mapping]]) -> str:
    """``metrics[dataset][variant]`` -> one row per (dataset, variant)."""
    lines = [
        "| data | variant | critic | SymPy | n | acc before | acc after | wrong→correct | correct→wrong | accepted "
        "| mean rounds | tokens | errors |",
        "|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for dataset, variants in metrics.items():
        for variant, m in variants.items():
            lines.append(
                f"| {dataset} | {variant} | {m.get('critic', '')} | {m.get('sympy', '')} | {m['n']} | "
                f"{_pct(m['acc_before'])} | {_pct(m['acc_after'])} | {m['wrong_to_correct']} | "
                f"{m['correct_to_wrong']} | {m.get('accepted', '')} | {m['mean_rounds']:.2f} | {m['tokens']} | "
                f"{m.get('errors', 0)} |"
            )
    return "\n".join(lines)


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


REFINE_VARIANTS_NOTE = """\
- `critic`: the critic engine critiques; SymPy in the configured mode.
- `self-critic`: the generator critiques its own solutions with the same critic prompt (self-refine baseline);
  the difference to `critic` is what a separate critic adds.
- `no-sympy`: the critic engine with SymPy off; the difference to `critic` is what the SymPy tool adds.
"""


def write_refine_report(run_dir: Path, metrics: Mapping, config: Mapping) -> Path:
    title = f"Refinement - generator {config.get('generator')}, critic {config.get('critic')}"
    plot_refine(metrics, run_dir / REFINE_PLOT, title)
    source = f"loaded from {config['initial']}" if config.get("initial") else (
        f"generated by the generator at T={config.get('temperature')}")
    text = (
        f"# {title}\n\n"
        f"Data: {', '.join(config.get('data', []))}; limit {config.get('limit')}; seed {config.get('seed')}; "
        f"max rounds {config.get('max_rounds')} (critique rounds; at most max rounds - 1 refinements); initial "
        f"solutions {source}.\n\n"
        f"Variants:\n{REFINE_VARIANTS_NOTE}\n"
        "acc = final answer equivalent to the gold answer (critic.grading.answers_match); accepted = the critic "
        "accepted the final solution; rounds = critique rounds; tokens = tokens generated by the loop (critic and "
        "generator) after the initial solution; errors = rows the loop could not run (e.g. an empty initial "
        "solution), counted with their initial answer.\n\n"
        f"{refine_table(metrics)}\n\n![before/after]({REFINE_PLOT})\n"
    )
    path = run_dir / "report.md"
    atomic_write_text(path, text)
    return path


# --- verified majority voting -----------------------------------------------------------------------------------


def tts_table(metrics: Mapping[str, Mapping[str, Sequence[float]]]) -> str:
    lines = ["| data | N | majority | verified | no sample accepted % | any sample right (oracle) |",
             "|---|---:|---:|---:|---:|---:|"]
    for dataset, curve in metrics.items():
        for i, n in enumerate(curve["n"]):
            lines.append(
                f"| {dataset} | {int(n)} | {_pct(curve['majority'][i])} | {_pct(curve['verified'][i])} | "
                f"{_pct(curve['fallback'][i])} | {_pct(curve['oracle'][i])} |"
            )
    return "\n".join(lines)


def plot_tts(metrics: Mapping[str, Mapping[str, Sequence[float]]], path: Path, title: str) -> Path:
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


def write_tts_report(run_dir: Path, metrics: Mapping, config: Mapping) -> Path:
    title = f"Verified majority voting - generator {config.get('generator')}, critic {config.get('critic')}"
    plot_tts(metrics, run_dir / TTS_PLOT, title)
    text = (
        f"# {title}\n\n"
        f"Data: {', '.join(config.get('data', []))}; N up to {config.get('n')} samples per problem at "
        f"T={config.get('temperature')}; limit {config.get('limit')}; seed {config.get('seed')}.\n\n"
        "majority = plain majority over the first N samples' answers; verified = majority over the samples the "
        "critic accepted (no wrong step found); when none of the first N is accepted, verified voting falls back "
        "to the plain majority (column 'no sample accepted'). Ties go to the answer seen first; samples without "
        "an answer do not vote.\n\n"
        f"{tts_table(metrics)}\n\n![accuracy vs N]({TTS_PLOT})\n"
    )
    path = run_dir / "report.md"
    atomic_write_text(path, text)
    return path


WRITERS = {"error-id": write_error_id_report, "refine": write_refine_report, "tts": write_tts_report}


def write_report(run_dir: str | Path, reference: ReferenceNumbers | None = None) -> Path:
    """(Re)write one run folder's report.md and plot from its config.json and metrics.json (error-id runs: with a
    comparison to published numbers when ``reference`` is given)."""
    config, metrics = read_run(run_dir)
    if reference is not None:
        if config["kind"] != "error-id":
            raise ValueError(f"--reference compares error-id runs; {run_dir} is a {config['kind']} run")
        return write_error_id_report(Path(run_dir), metrics, config, reference)
    return WRITERS[config["kind"]](Path(run_dir), metrics, config)


# --- several runs side by side ----------------------------------------------------------------------------------


def run_label(run_dir: Path, config: Mapping) -> str:
    return config.get("name") or run_dir.name


def compare_runs(run_dirs: Sequence[str | Path], out_dir: str | Path) -> Path:
    """Put runs of one kind side by side: ``out_dir/report.md`` and ``out_dir/compare.png``."""
    runs = [(Path(d), *read_run(d)) for d in run_dirs]
    if not runs:
        raise ValueError("no run folders given")
    kinds = {config["kind"] for _, config, _ in runs}
    if len(kinds) != 1:
        raise ValueError(f"cannot compare runs of different kinds: {sorted(kinds)}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    kind = kinds.pop()
    compare = {"error-id": _compare_error_id, "refine": _compare_refine, "tts": _compare_tts}[kind]
    table = compare(runs, out_dir / COMPARE_PLOT)
    path = out_dir / "report.md"
    atomic_write_text(path, f"# Comparison ({kind})\n\n{table}\n\n![comparison]({COMPARE_PLOT})\n")
    return path


def _compare_error_id(runs, plot_path: Path) -> str:
    subsets: list[str] = []
    for _, _, metrics in runs:
        subsets += [s for s in subsets_of(metrics) if s not in subsets]
    columns = [*subsets, "average"]
    lines = ["F1 (%) per subset; acc_err / acc_cor in the second table.\n",
             "| run | critic | prompt | decoding | " + " | ".join(columns) + " |",
             "|---|---|---|---|" + "---:|" * len(columns)]
    detail = ["| run | " + " | ".join(columns) + " |", "|---|" + "---:|" * len(columns)]
    for run_dir, config, metrics in runs:
        label = run_label(run_dir, config)
        cells = [_pct(metrics[c]["f1"]) if c in metrics else "–" for c in columns]
        prompt = "-" if config.get("critic") == "sympy" else config.get("prompt")
        lines.append(f"| {label} | {config.get('critic')} | {prompt} | {decoding_label(config)} | "
                     + " | ".join(cells) + " |")
        pairs = [f"{_pct(metrics[c]['acc_err'])} / {_pct(metrics[c]['acc_cor'])}" if c in metrics else "–"
                 for c in columns]
        detail.append(f"| {label} | " + " | ".join(pairs) + " |")

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
    return "\n".join(lines) + "\n\n" + "\n".join(detail)


def _compare_refine(runs, plot_path: Path) -> str:
    merged: dict[str, dict[str, Mapping]] = {}
    for run_dir, config, metrics in runs:
        for dataset, variants in metrics.items():
            for variant, m in variants.items():
                merged.setdefault(dataset, {})[f"{run_label(run_dir, config)}:{variant}"] = m
    plot_refine(merged, plot_path, "Refinement: runs side by side")
    return refine_table(merged)


def _compare_tts(runs, plot_path: Path) -> str:
    merged = {f"{run_label(run_dir, config)}:{dataset}": curve
              for run_dir, config, metrics in runs for dataset, curve in metrics.items()}
    plot_tts(merged, plot_path, "Verified majority voting: runs side by side")
    return tts_table(merged)
