"""Published error-identification numbers to compare a run with (a ``--reference`` YAML file) and the comparison
itself (like with like: averages only over the subsets both sides have)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from pydantic import Field, ValidationError, field_validator

from critic.configs import ConfigError, StrictConfig, config_error_line, read_mapping
from eval.tables import subsets_of

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
        percents: list[float] = []
        for subset, numbers in value.items():
            if isinstance(numbers, dict):
                unknown = sorted(set(numbers) - {"f1", "acc_err", "acc_cor"})
                if unknown:
                    raise ValueError(f"{subset}: unknown metric {unknown[0]!r} (use f1, acc_err, acc_cor)")
            for key, number in (numbers.items() if isinstance(numbers, dict) else [("f1", numbers)]):
                if not 0 <= number <= 100:
                    raise ValueError(f"{subset}: {key} {number} is not a percentage (0 to 100)")
                percents.append(number)
        if percents and max(percents) <= 1 and any(0 < p < 1 for p in percents):
            raise ValueError("every number is at most 1: write percentages (F1 62.3, not 0.623)")
        return value

    def metric(self, subset: str, key: str = "f1") -> float | None:
        """The reference's ``key`` (percent) for ``subset``, matched by :func:`subset_key`; None when the reference
        lacks it."""
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
        """The reference's F1 (percent) for ``subset``; for ``average`` its mean over the common subsets."""
        if subset == "average":
            return self.reference_average()
        return self.reference.metric(subset)

    def our_average(self, key: str = "f1") -> float | None:
        """Our macro average of ``key`` (percent) over the common subsets; None when there are none."""
        values = [100 * float(self.metrics[s][key]) for s in self.common]
        return sum(values) / len(values) if values else None

    def reference_average(self, key: str = "f1") -> float | None:
        """The reference's mean of ``key`` (percent) over the common subsets; None when it lacks any of them."""
        values = [self.reference.metric(s, key) for s in self.common]
        if not values or any(v is None for v in values):
            return None
        return sum(values) / len(values)  # type: ignore[arg-type]

    def markdown(self) -> str:
        """The comparison as a markdown section: per common subset ours, the reference and the difference (F1,
        percent), the like-with-like averages, and what each side lacks."""
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
