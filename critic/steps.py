"""Steps: number them for the critic, join them, split free text back into them, convert index bases.

The only place where 0-based benchmark labels and 1-based critic step numbers are converted.
"""

from __future__ import annotations

import re
from typing import Literal

NO_ERROR = -1
# How a step gets its "Step i: " prefix: "startswith" (ours: unless the step already starts with its own prefix) or
# "contains" (DeepCritic's scripts: unless the step contains "Step " anywhere; steps are then not stripped either).
StepTagging = Literal["startswith", "contains"]
STEP_TAGGING_RULES: tuple[str, ...] = ("startswith", "contains")

# "Step 3:", "**Step 3:**", "### Step 3." at the very start of a step (after optional markdown decoration).
# One decoration character per repetition: nested quantifiers here backtrack exponentially on "*****...".
_STEP_PREFIX = re.compile(r"^[#*_>\s]*step\s*(\d+)\s*[:.)]\s*(?:\*\*|__)?\s*", re.IGNORECASE)
# A step marker at the start of a line inside free text.
_STEP_MARKER = re.compile(r"(?im)^[ \t]*(?:[#*_>][ \t]*)*step[ \t]*(\d+)[ \t]*[:.)]")
STEP_SEPARATOR = "\n\n"


def label0_to_step1(label0: int) -> int:
    """0-based benchmark label -> 1-based critic step (``-1`` stays ``-1``)."""
    if label0 == NO_ERROR:
        return NO_ERROR
    if label0 < 0:
        raise ValueError(f"label0 must be -1 or >= 0, got {label0}")
    return label0 + 1


def step1_to_label0(step1: int) -> int:
    """1-based critic step -> 0-based benchmark label (``-1`` stays ``-1``)."""
    if step1 == NO_ERROR:
        return NO_ERROR
    if step1 < 1:
        raise ValueError(f"step1 must be -1 or >= 1, got {step1}")
    return step1 - 1


def starts_with_step_prefix(step: str, step1: int) -> bool:
    """True when the step already *starts* with its own ``Step i:`` prefix (not merely contains one)."""
    m = _STEP_PREFIX.match(step)
    return bool(m) and int(m.group(1)) == step1


def strip_step_prefix(step: str) -> str:
    """Remove a leading ``Step i:`` prefix, whatever its number."""
    return _STEP_PREFIX.sub("", step, count=1).strip()


def number_steps(steps: list[str], rule: StepTagging = "startswith") -> list[str]:
    """Prefix each step with ``Step i: `` (1-based).

    ``startswith`` (default): stripped, and unprefixed when it already starts with its own prefix. ``contains``
    (DeepCritic's evaluation and SFT-data scripts; a fidelity option): unprefixed when the text contains ``"Step "``
    anywhere, and not stripped. Raises ValueError for another rule.
    """
    if rule == "contains":
        return [s if "Step " in s else f"Step {i}: {s}" for i, s in enumerate(steps, 1)]
    if rule != "startswith":
        raise ValueError(f"step tagging rule must be one of {', '.join(STEP_TAGGING_RULES)}, got {rule!r}")
    return [s.strip() if starts_with_step_prefix(s, i) else f"Step {i}: {s.strip()}" for i, s in enumerate(steps, 1)]


def join_steps(steps: list[str], rule: StepTagging = "startswith") -> str:
    """Numbered steps joined by a blank line: the solution block the critic reads (``contains``: the whole block is
    then stripped, as the reference scripts do)."""
    joined = STEP_SEPARATOR.join(number_steps(steps, rule))
    return joined.strip() if rule == "contains" else joined


def split_steps(text: str) -> list[str]:
    """Split free generator text into steps, without their ``Step i:`` prefixes.

    ``Step i:`` markers at line starts win (text before the first one is dropped); otherwise blank-line paragraphs.
    """
    text = text.strip()
    if not text:
        return []
    markers = list(_STEP_MARKER.finditer(text))
    if markers:
        bounds = [m.start() for m in markers] + [len(text)]
        # Text before the first marker is chatter ("Let's solve this."), not a step.
        steps = [strip_step_prefix(text[a:b]) for a, b in zip(bounds, bounds[1:])]
        return [s for s in steps if s]
    return [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]
