"""Markdown tables and the labels in them for evaluation runs (percentages with one decimal)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path


def pct(x: float) -> str:
    """A fraction in [0, 1] as a percentage with one decimal, e.g. ``0.4567`` -> ``"45.7"``."""
    return f"{100 * x:.1f}"


def decoding_label(config: Mapping) -> str:
    """How the critic decoded, in the words of the paper: greedy, pass@1 over k samples, maj@k."""
    decoding, k = config.get("decoding", "greedy"), config.get("k", 1)
    if decoding == "sample":
        return f"pass@1 (k={k}, T={config.get('temperature')})"
    if decoding == "maj":
        return f"maj@{k} (T={config.get('temperature')})"
    return "greedy"


def critic_label(config: Mapping) -> str:
    """Who critiqued in a run, for titles: the SymPy-only baseline, or the critic engine spec and prompt style."""
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


def run_label(run_dir: Path, config: Mapping) -> str:
    """A run's name in comparisons: its configured ``name``, else its folder name."""
    return config.get("name") or run_dir.name


def subsets_of(metrics: Mapping) -> list[str]:
    """The subset names of error-identification metrics, in order, without ``average``."""
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
            f"| {label} | {pct(m['acc_err'])} | {pct(m['acc_cor'])} | {pct(m['f1'])} | {m['n_err']} | "
            f"{m['n_cor']} | {pct(m['unparsed'])} | {m['tokens']} |"
        )
    return "\n".join(lines)


def comparison_columns(runs: Sequence[tuple[Path, Mapping, Mapping]]) -> list[str]:
    """The subsets of all ``(run folder, config, metrics)`` runs in order of first appearance, then ``average``."""
    subsets: list[str] = []
    for _, _, metrics in runs:
        subsets += [s for s in subsets_of(metrics) if s not in subsets]
    return [*subsets, "average"]


def error_id_comparison_table(runs: Sequence[tuple[Path, Mapping, Mapping]]) -> str:
    """Runs side by side: F1 (percent) per subset and the average, then acc_err / acc_cor; ``runs`` are
    ``(run folder, config, metrics)``; a subset a run lacks is shown as –."""
    columns = comparison_columns(runs)
    lines = ["F1 (%) per subset; acc_err / acc_cor in the second table.\n",
             "| run | critic | prompt | decoding | " + " | ".join(columns) + " |",
             "|---|---|---|---|" + "---:|" * len(columns)]
    detail = ["| run | " + " | ".join(columns) + " |", "|---|" + "---:|" * len(columns)]
    for run_dir, config, metrics in runs:
        label = run_label(run_dir, config)
        cells = [pct(metrics[c]["f1"]) if c in metrics else "–" for c in columns]
        prompt = "-" if config.get("critic") == "sympy" else config.get("prompt")
        lines.append(f"| {label} | {config.get('critic')} | {prompt} | {decoding_label(config)} | "
                     + " | ".join(cells) + " |")
        pairs = [f"{pct(metrics[c]['acc_err'])} / {pct(metrics[c]['acc_cor'])}" if c in metrics else "–"
                 for c in columns]
        detail.append(f"| {label} | " + " | ".join(pairs) + " |")
    return "\n".join(lines) + "\n\n" + "\n".join(detail)


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
                f"{pct(m['acc_before'])} | {pct(m['acc_after'])} | {m['wrong_to_correct']} | "
                f"{m['correct_to_wrong']} | {m.get('accepted', '')} | {m['mean_rounds']:.2f} | {m['tokens']} | "
                f"{m.get('errors', 0)} |"
            )
    return "\n".join(lines)


def tts_table(metrics: Mapping[str, Mapping[str, Sequence[float]]]) -> str:
    """One row per data set and N: majority, verified, fallback and oracle accuracy (percent)."""
    lines = ["| data | N | majority | verified | no sample accepted % | any sample right (oracle) |",
             "|---|---:|---:|---:|---:|---:|"]
    for dataset, curve in metrics.items():
        for i, n in enumerate(curve["n"]):
            lines.append(
                f"| {dataset} | {int(n)} | {pct(curve['majority'][i])} | {pct(curve['verified'][i])} | "
                f"{pct(curve['fallback'][i])} | {pct(curve['oracle'][i])} |"
            )
    return "\n".join(lines)
