"""Final answers: extract them from solutions and decide whether two answers are the same.

:func:`answers_match` first tries fast, exact, in-process checks (normalised strings; plain numbers compared as
exact fractions, so ``18`` = ``18.0`` = ``\\$18`` = ``18 dollars`` = ``18,000/1000``), and only then math-verify
(symbolic equivalence with SymPy). math-verify's own timeouts use ``signal.alarm``, which fails outside the main
thread, so they are switched off (``parsing_timeout=None``, ``timeout_seconds=None``) and the call runs in a
:mod:`critic.timebox` worker subprocess instead: a hard bound from any thread or event loop.
"""

from __future__ import annotations

import re
from fractions import Fraction

from critic._safe_math import parse_plain_number

__all__ = ["answers_match", "extract_answer", "gsm8k_gold", "math_gold"]

MAX_ANSWER_CHARS = 2000

_BOXED = re.compile(r"\\(?:boxed|fbox)\s*\{")
_HASHES = re.compile(r"####\s*(.+)")
_ANSWER_IS = re.compile(r"answer\s+is\s*[:：]?\s*(.+)", re.IGNORECASE)


def last_boxed(text: str) -> str | None:
    """Content of the last ``\\boxed{...}`` (or ``\\fbox{...}``) with balanced braces. One pass, linear time."""
    opens: list[tuple[int, bool]] = []  # (index of "{", whether it opens a \boxed)
    boxed_starts = {m.end() - 1 for m in _BOXED.finditer(text)}
    best: tuple[int, int] | None = None  # (start, end) of the last-starting closed \boxed group
    k = 0
    n = len(text)
    while k < n:
        c = text[k]
        if c == "\\" and k + 1 < n and text[k + 1] in "{}":
            k += 2  # an escaped brace is content
            continue
        if c == "{":
            opens.append((k, k in boxed_starts))
        elif c == "}" and opens:
            start, is_boxed = opens.pop()
            if is_boxed and (best is None or start > best[0]):
                best = (start, k)
        k += 1
    return text[best[0] + 1:best[1]].strip() if best else None


def extract_answer(text: str) -> str | None:
    """The final answer a solution states: last ``\\boxed{}``, else GSM8K ``#### x``, else "The answer is x"."""
    if not text:
        return None
    boxed = last_boxed(text)
    if boxed is not None:
        return boxed
    hashes = _HASHES.findall(text)
    if hashes:
        return hashes[-1].strip() or None
    found = _ANSWER_IS.findall(text)
    if found:
        ans = found[-1].strip()
        ans = re.split(r"(?<!\d)\.(?:\s|$)|\n", ans + " ", maxsplit=1)[0].strip()
        ans = ans.strip("$ ").rstrip(".").strip()
        if ans.startswith("\\(") and ans.endswith("\\)"):
            ans = ans[2:-2].strip()
        return ans or None
    return None


def gsm8k_gold(answer_field: str) -> str:
    """The gold answer of a GSM8K row's ``answer`` field (the text after ``####``, commas removed)."""
    m = _HASHES.search(answer_field)
    if m is None:
        raise ValueError("GSM8K answer field has no '####' line")
    return m.group(1).strip().replace(",", "")


def math_gold(solution: str) -> str:
    """The gold answer of a MATH solution: its last ``\\boxed{...}``."""
    boxed = last_boxed(solution)
    if boxed is None:
        raise ValueError("MATH solution has no \\boxed{...}")
    return boxed


_UNIT_WORDS = re.compile(
    r"(?:\\(?:text|mbox|mathrm)\s*\{\s*[A-Za-z .]*\}|\b(?:dollars?|cents?|units?|degrees?|inches|inch|feet|foot|"
    r"meters?|miles?|hours?|minutes?|seconds?|days?|years?|cm|km|kg|g|m)\b\.?)\s*$")


def _strip_wrappers(s: str) -> str:
    s = s.strip()
    boxed = last_boxed(s) if "\\boxed" in s or "\\fbox" in s else None
    if boxed is not None:
        s = boxed
    s = s.strip()
    for a, b in (("$", "$"), ("\\(", "\\)"), ("\\[", "\\]")):
        if s.startswith(a) and s.endswith(b) and len(s) >= len(a) + len(b):
            s = s[len(a):len(s) - len(b)].strip()
    return s.rstrip(".").strip()


def _normalize_string(s: str) -> str:
    s = _strip_wrappers(s)
    for old, new in (("\\dfrac", "\\frac"), ("\\tfrac", "\\frac"), ("\\left", ""), ("\\right", ""), ("\\!", ""),
                     ("\\,", ""), ("\\;", ""), ("\\ ", ""), ("\\$", ""), ("$", ""), ("^\\circ", ""),
                     ("^{\\circ}", ""), ("\\%", ""), ("%", "")):
        s = s.replace(old, new)
    return re.sub(r"\s+", "", s)


def _plain_number(s: str) -> Fraction | None:
    """Exact value of an answer that is just a number, possibly with currency, thousands separators or a unit."""
    s = _strip_wrappers(s)
    if len(s) > 200:
        return None
    prev = None
    while prev != s:  # "18 dollars", "\$18", "18\text{ cm}"
        prev = s
        s = _UNIT_WORDS.sub("", s).strip()
        s = s.removeprefix("\\$").removeprefix("$").strip()
    if not s or not re.fullmatch(r"[-+\d.,{}\\frac ()/]+", s.replace("dfrac", "frac").replace("tfrac", "frac")):
        return None
    if re.search(r"\d,\d{1,2}(?!\d)|\d,\d{4}", s):  # "1,2" or "1,2345" are lists or coordinates, not thousands
        return None
    return parse_plain_number(s)


def answers_match(pred: str | None, gold: str, timeout_s: float = 2.0) -> bool:
    """True when ``pred`` states the same answer as ``gold``. ``\\boxed{}`` wrappers are accepted on either.

    Bounded by ``timeout_s`` (math-verify runs in a worker subprocess); a timeout or a worker failure counts as
    "no match". Safe to call from threads and from asyncio code (it blocks; use ``asyncio.to_thread`` to keep an
    event loop free).
    """
    if pred is None or gold is None:
        return False
    pred, gold = str(pred), str(gold)
    if not pred.strip() or len(pred) > MAX_ANSWER_CHARS or len(gold) > MAX_ANSWER_CHARS:
        return False
    np_, ng = _normalize_string(pred), _normalize_string(gold)
    if np_ and np_ == ng:
        return True
    xp, xg = _plain_number(pred), _plain_number(gold)
    if xp is not None and xg is not None:
        return xp == xg
    from critic import timebox

    try:
        return bool(timebox.run("math_verify_match", [_strip_wrappers(pred), _strip_wrappers(gold)], timeout_s))
    except (timebox.Timeout, timebox.WorkerError):
        return False


def _math_verify_match(pred: str, gold: str) -> bool:
    """Runs inside a timebox worker: math-verify with its signal-based timeouts switched off.

    Only math-verify's LaTeX extraction is used: its plain-expression extraction hands text to SymPy's
    ``parse_expr``, which evaluates Python - never acceptable on model text.
    """
    from math_verify import LatexExtractionConfig, parse, verify

    config = [LatexExtractionConfig()]
    gold_parsed = parse("\\boxed{" + gold + "}", extraction_config=config, parsing_timeout=None)
    pred_parsed = parse("\\boxed{" + pred + "}", extraction_config=config, parsing_timeout=None)
    if not gold_parsed or not pred_parsed:
        return False
    return bool(verify(gold_parsed, pred_parsed, timeout_seconds=None))
