"""Steps: number them for the critic, join them, split free text back into them, convert index bases.

The only place where 0-based benchmark labels and 1-based critic step numbers are converted.
"""

from __future__ import annotations

import re
from typing import Literal

NO_ERROR = -1  # "every step is correct", in both index bases (the one definition; records re-exports it)
# How a step gets its "Step i: " prefix: "startswith" (ours: unless the step already starts with its own prefix) or
# "contains" (DeepCritic's scripts: unless the step contains "Step " anywhere; steps are then not stripped either).
StepTagging = Literal["startswith", "contains"]
STEP_TAGGING_RULES: tuple[str, ...] = ("startswith", "contains")

# What ends a step label: "Step 3:", "Step 3.", "Step 3)", "Step 3 -" (a dash with a space after it: "Step 2-3" is
# no label), or the end of the line ("## Step 3" as a heading). "**Step 3**:" closes its bold before the colon.
_LABEL_END = r"[ \t]*(?:[*_]+[ \t]*)?(?:[:.)](?!\d)|[-\u2013\u2014](?=[ \t])|(?=\r?\n)|$)"
# A step label at the very start of a step (after optional markdown decoration), with the decoration that closes it.
# One decoration character per repetition: nested quantifiers here backtrack exponentially on "*****...".
_STEP_PREFIX = re.compile(r"^[#*_>\s]*step[ \t]*(\d+)" + _LABEL_END + r"[ \t]*(?:\*\*|__)?\s*", re.IGNORECASE)
# A step marker at the start of a line inside free text: "Step 2:", "**Step 2**:", "## Step 2", "Step 2 -".
_STEP_MARKER = re.compile(r"(?im)^[ \t]*(?:[#*_>][ \t]*)*step[ \t]*(\d+)" + _LABEL_END)
# The same label again right after a label ("Step 1: ## Step 1 Understand"): any ending will do.
_REPEATED_PREFIX = re.compile(r"^[#*_>\s]*step[ \t]*(\d+)(?!\d)[ \t*_]*(?:[:.)\-\u2013\u2014](?!\d))?"
                              r"[ \t]*(?:\*\*|__)?\s*", re.IGNORECASE)
_BLANK_LINE = re.compile(r"\n[ \t]*\n")
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
    """Remove a leading step label (``Step i:``, ``**Step i**:``, ``## Step i``, ``Step i -``), whatever its number,
    and a repeat of the same label right after it (``Step 1: ## Step 1 ...`` from a prefilled ``Step 1:``)."""
    m = _STEP_PREFIX.match(step)
    if m is None:
        return step.strip()
    rest = step[m.end():]
    again = _REPEATED_PREFIX.match(rest)
    if again is not None and again.group(1) == m.group(1):
        rest = rest[again.end():]
    return rest.strip()


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
    """Split free generator text into steps, without their step labels.

    * Two or more step markers at line starts (``Step i:``, ``**Step i**:``, ``## Step i``, ``Step i -``): each
      marker starts a step, which runs to the next marker (blank lines inside it stay); text before the first
      marker is chatter ("Let's solve this.") and dropped.
    * One marker (a prefilled ``Step 1:`` the generator did not continue numbering): text from the marker on is
      split into blank-line paragraphs, the marker's own heading dropped.
    * No marker: blank-line paragraphs.

    Empty steps (a label with nothing after it) are dropped; a label repeated right after itself is removed once.
    """
    text = text.strip()
    if not text:
        return []
    markers = list(_STEP_MARKER.finditer(text))
    if len(markers) >= 2:
        bounds = [m.start() for m in markers] + [len(text)]
        steps = [strip_step_prefix(text[a:b]) for a, b in zip(bounds, bounds[1:])]
        return [s for s in steps if s]
    if markers:
        text = strip_step_prefix(text[markers[0].start():])
    return [p.strip() for p in _BLANK_LINE.split(text) if p.strip()]
