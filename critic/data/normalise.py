"""Problem text normalised for duplicate detection (training's decontamination against the benchmarks)."""

from __future__ import annotations

import re
import unicodedata

_LATEX_NOISE = re.compile(r"\\(?:left|right|displaystyle|!|,|;|:| |quad|qquad)(?![a-zA-Z])")


def normalize_problem(text: str) -> str:
    """Problem text reduced for duplicate detection: Unicode-normalised, case-folded, LaTeX spacing and sizing
    commands and every character except letters, digits and operators removed (``\\dfrac`` counts as ``\\frac``)."""
    s = unicodedata.normalize("NFKC", text).casefold()
    s = re.sub(r"\\[dt]frac\b", r"\\frac", s)
    s = _LATEX_NOISE.sub("", s)
    return re.sub(r"[^\w+\-*/=<>^%]|_", "", s)
