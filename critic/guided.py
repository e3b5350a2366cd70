"""The trained critique format as a constraint for the engine's structured outputs (``--critic-format guided``).

For a solution of ``n`` steps, :func:`guided_format` builds a regular expression that admits exactly the critiques
of the trained format (DESIGN.md §2, :func:`critic.prompts.format_critique`)::

    **Critique of Step 1**
    <reasoning>

    **Judgement**: \\boxed{1}

    **Critique of Step 2**
    <reasoning>

    **Judgement**: \\boxed{-1}

    **Answer**: \\boxed{2}

that is, the union over ``k`` of (blocks ``1..k-1`` judged ``1``, block ``k`` judged ``-1``, ``Answer k``) and (all
``n`` blocks judged ``1``, ``Answer -1``). Step numbers, the stop at the first wrong step and the Answer index are
forced by the constraint; the model chooses only each verdict and the reasoning text. The expression is built as a
chain of nested alternatives (after each judgement box ``-1`` closes with the Answer, ``1`` opens the next block),
so its size is linear in ``n`` (about 250 characters per step) and at every position at most two characters of
look-ahead decide which part matches: Python's ``re`` checks a text in linear time.

The reasoning of a block is at most ``reasoning_chars`` characters: lines of printable ASCII separated by one or
two newlines (paragraphs), each line at most :data:`LINE_CHARS` characters:

* no ``{``, so the reasoning holds no ``\\boxed{}`` (nor ``\\fbox{}``) that a reader could take for a verdict
  (:mod:`critic.boxed` needs the brace); backslashes are allowed, so ``\\( 48 \\div 2 = 24 \\)`` and ``\\times``
  can be written, but not ``\\frac{..}{..}`` or ``\\text{..}``;
* no line starts with a space, ``# * _ >`` or ``Cr``/``cr`` (any case), so no line is a "Critique of Step i"
  heading (:mod:`critic.parse` reads headings only at a line start, after that decoration), and after a blank
  line only ``**Judgement**`` can start with ``*``: where the reasoning ends is never ambiguous.

**The token budget.** Every character the constraint admits is ASCII, so every generated token (byte-level BPE)
covers at least one character, and a critique of ``c`` characters takes at most ``c`` tokens (+1 for the end of
sequence). The reasoning bound is chosen so that the longest admitted critique fits ``max_tokens`` in that worst
case: ``reasoning_chars = (max_tokens - 1 - F) // n``, ``F`` = the fixed text of the longest path (headings,
judgement lines, Answer line; ~52 characters per step). So a guided critique always reaches its Answer line within
``max_tokens``, whatever the model writes. The price: typical English takes ~4 characters per token, so most critiques
use about a quarter of the budget (4 steps at 512 tokens: 71 characters of reasoning per step; at 2048: 455). When
even the fixed text cannot fit (``F + 1 > max_tokens``: more than 9 steps at 512 tokens, 19 at 1024, 39 at 2048), the
reasoning is set to 0 characters and :attr:`GuidedFormat.fits` is False: a cut critique then parses as
``truncated``, never as a wrong reading.

The expression stays in the subset that Python's ``re`` and the engines' regex dialects share (literal text with
``\\*``, ``\\{``, ``\\}``, ``\\\\`` and ``\\n`` escapes, non-capturing groups, alternation, ``?``, bounded
repetition ``{0,m}`` and character classes of literal characters and ranges).
"""

from __future__ import annotations

import functools
import re
from typing import Literal

from pydantic import BaseModel, ConfigDict

from critic.engines.base import FinishReason, Sampling

__all__ = [
    "CRITIC_FORMATS",
    "CriticFormat",
    "GuidedFormat",
    "LINE_CHARS",
    "critique_regex",
    "fixed_chars",
    "guided_format",
    "guided_sampling",
    "reasoning_budget",
]

CriticFormat = Literal["free", "guided"]
CRITIC_FORMATS: tuple[str, ...] = ("free", "guided")

# The fixed text of the format (what critic.prompts.format_critique writes).
_JUDGEMENT_OPEN = "\n\n**Judgement**: \\boxed{"  # after the reasoning; the verdict follows
_CORRECT_CLOSE = "1}\n\n"  # a correct step: the next block (or the all-correct Answer) follows
_ANSWER = "**Answer**: \\boxed{{{k}}}"


def _heading(step1: int) -> str:
    return f"**Critique of Step {step1}**\n"


def _wrong_close(step1: int) -> str:
    return "-1}\n\n" + _ANSWER.format(k=step1)


_ALL_CORRECT = _ANSWER.format(k=-1)

# Reasoning characters: printable ASCII (space .. ~) without the backslash. The first character of the line also
# excludes what may start a heading: spaces, markdown decoration and "c"/"C" (which may only be followed by a
# character other than "r"/"R", so "Critique" cannot start the line).
LINE_CHARS = 500  # longest line of reasoning (characters); a longer budget allows more lines

_PRINTABLE = frozenset(chr(c) for c in range(0x20, 0x7F)) - {"{"}
_FIRST = _PRINTABLE - set(" #*_>cC")
_AFTER_C = _PRINTABLE - set("rR")
_CLASS_ESCAPE = set("\\]-[^")  # characters escaped inside a character class


def _char_class(chars: frozenset[str]) -> str:
    """A character class of exactly ``chars`` (printable ASCII), as ranges of consecutive code points."""
    codes = sorted(ord(c) for c in chars)
    parts: list[str] = []
    start = prev = codes[0]
    for code in codes[1:] + [-2]:
        if code == prev + 1:
            prev = code
            continue
        lo, hi = (("\\" + chr(x)) if chr(x) in _CLASS_ESCAPE else chr(x) for x in (start, prev))
        parts.append(lo if start == prev else (lo + hi if prev == start + 1 else f"{lo}-{hi}"))
        start = prev = code
    return "[" + "".join(parts) + "]"


_ANY, _FIRST_CLASS, _AFTER_C_CLASS = (_char_class(s) for s in (_PRINTABLE, _FIRST, _AFTER_C))


def _literal(text: str) -> str:
    """``text`` as a regex literal, escaping only what needs it (``re.escape`` escapes spaces and more, which other
    regex dialects may reject)."""
    out = []
    for c in text:
        if c == "\n":
            out.append("\\n")
        elif c in "\\*{}()[]|?+.^$":
            out.append("\\" + c)
        else:
            out.append(c)
    return "".join(out)


def _upto(cls: str, m: int) -> str:
    return "" if m <= 0 else (cls if m == 1 else f"{cls}{{0,{m}}}")


def _line(chars: int) -> str:
    """One line of 1..``chars`` characters that cannot be read as a heading or open a box."""
    plain = _FIRST_CLASS + _upto(_ANY, chars - 1)
    if chars == 1:
        return f"(?:{plain}|[cC])"
    return f"(?:{plain}|[cC](?:{_AFTER_C_CLASS}{_upto(_ANY, chars - 2)})?)"


def _reasoning_shape(chars: int) -> tuple[int, int]:
    """(lines, characters per line) of a reasoning bound of ``chars`` characters: lines of up to
    :data:`LINE_CHARS`, as many as fit with their separators (up to two newlines each)."""
    if chars <= 0:
        return 0, 0
    width = min(chars, LINE_CHARS)
    return max(1, (chars + 2) // (width + 2)), width


def _reasoning_max(chars: int) -> int:
    """The longest reasoning the pattern of :func:`_reasoning` admits (<= ``chars``)."""
    lines, width = _reasoning_shape(chars)
    return lines * width + 2 * max(lines - 1, 0)


def _reasoning(chars: int) -> str:
    """Reasoning of at most ``chars`` characters (possibly empty): see the module docstring."""
    lines, width = _reasoning_shape(chars)
    if lines == 0:
        return ""
    line = _line(width)
    more = "" if lines == 1 else f"(?:\\n\\n?{line})" + ("?" if lines == 2 else f"{{0,{lines - 1}}}")
    return f"(?:{line}{more})?"


def _check_steps(num_steps: int) -> None:
    if num_steps < 1:
        raise ValueError(f"a guided critique needs at least one step, got num_steps={num_steps}")


def critique_regex(num_steps: int, reasoning_chars: int) -> str:
    """The regex of every trained-format critique of ``num_steps`` steps with at most ``reasoning_chars``
    characters of reasoning per block (see the module docstring). Length ~ ``num_steps * 250`` characters.

    Raises:
        ValueError: ``num_steps < 1`` or ``reasoning_chars < 0``.
    """
    _check_steps(num_steps)
    if reasoning_chars < 0:
        raise ValueError(f"reasoning_chars must be >= 0, got {reasoning_chars}")
    reasoning = _reasoning(reasoning_chars)
    pattern = _literal(_ALL_CORRECT)
    for step1 in range(num_steps, 0, -1):  # innermost first: block n, then n-1 wrapping it, ...
        pattern = (f"{_literal(_heading(step1))}{reasoning}{_literal(_JUDGEMENT_OPEN)}"
                   f"(?:{_literal(_wrong_close(step1))}|{_literal(_CORRECT_CLOSE)}{pattern})")
    return pattern


def fixed_chars(num_steps: int) -> int:
    """Characters of the fixed text (everything but the reasoning) on the longest path of the format for
    ``num_steps`` steps: the maximum over "first wrong step k" (k = 1..n) and "all correct"."""
    longest, prefix = 0, 0
    for step1 in range(1, num_steps + 1):
        block = len(_heading(step1)) + len(_JUDGEMENT_OPEN)
        longest = max(longest, prefix + block + len(_wrong_close(step1)))
        prefix += block + len(_CORRECT_CLOSE)
    return max(longest, prefix + len(_ALL_CORRECT))


def reasoning_budget(num_steps: int, max_tokens: int) -> int:
    """The largest per-block reasoning length (characters) such that the longest admitted critique, at one token per
    character plus the end-of-sequence token, fits ``max_tokens``; 0 when even the fixed text does not fit.

    Raises:
        ValueError: ``num_steps < 1``.
    """
    _check_steps(num_steps)
    return max(0, (max_tokens - 1 - fixed_chars(num_steps)) // num_steps)


class GuidedFormat(BaseModel):
    """The constraint for one critique: ``regex`` (for ``Sampling.guided_regex``) and what it guarantees.

    ``max_chars`` is the longest critique ``regex`` admits; ``fits`` is True when ``max_chars + 1 <= max_tokens``
    (then no critique under this constraint can be cut by the token limit).
    """

    model_config = ConfigDict(frozen=True)

    num_steps: int
    max_tokens: int
    reasoning_chars: int
    regex: str
    max_chars: int
    fits: bool

    def matches(self, text: str) -> bool:
        """Whether ``text`` is a complete critique of this format (Python ``re``; linear time, no backtracking)."""
        return _compiled(self.regex).fullmatch(text) is not None

    def held(self, text: str, finish_reason: FinishReason) -> bool:
        """Whether a generation was held to the format: a complete critique when it stopped by itself; when the
        token limit cut it, a text that at least opens like one (the first heading; a cheap necessary check)."""
        if finish_reason == "stop":
            return self.matches(text)
        opening = _heading(1)
        return text[: len(opening)] == opening[: len(text)]


@functools.lru_cache(maxsize=64)
def _compiled(regex: str) -> re.Pattern[str]:
    return re.compile(regex)


@functools.lru_cache(maxsize=256)
def guided_format(num_steps: int, max_tokens: int, reasoning_chars: int | None = None) -> GuidedFormat:
    """The constraint for a critique of ``num_steps`` steps within ``max_tokens`` generated tokens.

    ``reasoning_chars`` None = :func:`reasoning_budget` (the guaranteed bound); an explicit value overrides it (and
    ``fits`` then says whether the guarantee still holds).

    Raises:
        ValueError: ``num_steps < 1``, ``max_tokens < 1`` or ``reasoning_chars < 0``.
    """
    _check_steps(num_steps)
    if max_tokens < 1:
        raise ValueError(f"max_tokens must be >= 1, got {max_tokens}")
    chars = reasoning_budget(num_steps, max_tokens) if reasoning_chars is None else reasoning_chars
    regex = critique_regex(num_steps, chars)
    longest = fixed_chars(num_steps) + num_steps * _reasoning_max(chars)
    return GuidedFormat(num_steps=num_steps, max_tokens=max_tokens, reasoning_chars=chars, regex=regex,
                        max_chars=longest, fits=longest + 1 <= max_tokens)


def guided_sampling(sampling: Sampling, num_steps: int) -> tuple[Sampling, GuidedFormat]:
    """``sampling`` holding a critique of ``num_steps`` steps to the format within its ``max_tokens``, and that
    format (to check the answer with :meth:`GuidedFormat.matches`)."""
    guided = guided_format(num_steps, sampling.max_tokens)
    return sampling.model_copy(update={"guided_regex": guided.regex}), guided
