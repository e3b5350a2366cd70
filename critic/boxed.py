"""``\\boxed{...}`` groups in model text: the one box reader that critique parsing and answer grading share.

Behaviour (the same for every caller):

* ``\\boxed{...}`` and ``\\fbox{...}`` both count, with optional spacing before the brace (``\\boxed {3}``).
* Braces balance; a backslash escapes the character after it, so ``\\{``, ``\\}`` and ``\\\\`` are content, never
  group delimiters. A box whose brace never closes is skipped (``\\boxed{1 then \\boxed{2}`` -> ``2``).
* ``\\\\boxed{..}`` (a doubled backslash, as JSON-escaped model output and some peer test files write it) is a box
  too: no one means a line break followed by the word "boxed".
* Content is returned as written, including surrounding spaces (callers strip what they need).
* One pass over the text: linear time, whatever the input.
"""

from __future__ import annotations

import re

__all__ = ["boxed_spans", "last_boxed"]

_BOXED = re.compile(r"\\(?:boxed|fbox)[ \t]*\{")


def matching_braces(text: str) -> dict[int, int]:
    """Position of each ``{`` -> position of its ``}`` (unclosed ones absent), in one pass; a backslash escapes the
    next character, so ``\\{`` and ``\\}`` do not count."""
    match: dict[int, int] = {}
    stack: list[int] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "\\":
            i += 2
            continue
        if c == "{":
            stack.append(i)
        elif c == "}" and stack:
            match[stack.pop()] = i
        i += 1
    return match


def boxed_spans(text: str) -> list[tuple[int, int, str]]:
    """Every closed ``\\boxed{...}`` / ``\\fbox{...}`` in order of its start: ``(start, end, content)``, where
    ``text[start:end]`` is the whole group and ``content`` what its braces hold (unstripped)."""
    opens = list(_BOXED.finditer(text))
    if not opens:
        return []
    match = matching_braces(text)
    found: list[tuple[int, int, str]] = []
    for m in opens:
        close = match.get(m.end() - 1)
        if close is not None:
            found.append((m.start(), close + 1, text[m.end():close]))
    return found


def last_boxed(text: str) -> str | None:
    """Content of the last-starting closed box, stripped; None when the text has none."""
    spans = boxed_spans(text)
    return spans[-1][2].strip() if spans else None
