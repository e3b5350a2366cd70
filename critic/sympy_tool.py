"""Exact checks of the arithmetic a solution step states.

From a step's text we extract equality chains (``16 - 3 - 4 = 9``, ``$2 \\times 9 = \\$18$``,
``\\frac{1}{2}+\\frac{1}{3}=\\frac{5}{6}``, ``<<2*9=18>>``, ``20% of 50 = 10``) and simple one-unknown linear
equations with their stated solution (``6x = 180`` ... ``x = 30``), evaluate both sides exactly, and compare.

A step is ``wrong`` only for a definite contradiction. Whatever the text leaves open is not a contradiction: an
expression cut by words or units, rounding the text admits (``10/3 = 3.33``, ``≈``, "about"), a bare
"1 hour = 60 minutes", a percentage that reads either way, an unknown we cannot bind. A step is ``ok`` when at least
one claim was checked and every claim checked out, ``unchecked`` otherwise.

Safety: the text goes through the whitelist tokenizer and bounded evaluator in :mod:`critic._safe_math` - never
``eval``/``exec``/``sympify``. Work is bounded by construction (text length, tokens, digits, bits, exponents,
nesting), and a per-step deadline stops the scan early, so a call returns in milliseconds from any thread or
event loop; nothing here uses signals or subprocesses.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from fractions import Fraction

from critic._safe_math import (
    MATHY,
    MAX_TEXT_CHARS,
    EvalError,
    Evaluated,
    Lin,
    Token,
    evaluate,
    format_value,
    rounding_error,
    tokenize,
)
from critic.records import Evidence, StepCheck

__all__ = ["check_step", "check_steps"]

STEP_DEADLINE_S = 0.5  # cooperative bound per step; real steps take well under 5 ms
MAX_CLAIMS_PER_STEP = 200

# A word right before an expression that may belong to it ("half of 10 + 4", "17 mod 5 = 2", "twice 3 + 1").
_LEFT_RISKY = frozenset("""x of times twice half double triple thrice by per over mod modulo plus minus than divided
multiplied multiply divide into quarter quarters third thirds fourth fourths fifth fifths squared cubed sqrt root
log ln sin cos tan cot sec csc exp choose gcd lcm from add subtract remaining each every sum product difference
quotient floor ceil ceiling round rounded rounding average mean power least most""".split())
# A word right after a stated value that changes it ("= 3 million", "= 150 cents", "= 2 mod 5").
_RIGHT_RISKY = frozenset("""hundred hundreds thousand thousands million millions billion billions trillion dozen dozens
k m b bn percent percentage percentages cents cent pence times squared cubed mod modulo remainder remainders th st
nd rd of per fold x""".split())
# Words around a claim that make a mismatch intended or hypothetical rather than an error.
_DOUBT_WORDS = frozenset("""not isn aren doesn don didn wasn weren cannot never no fails fail failed false incorrect
wrong contradiction contradicts mistake error oops wait check checking verify verifying test testing try trying
suppose assume assuming if instead mistakenly incorrectly substituting substitute plugging plug""".split())
# Words anywhere in a step that say its numbers are rounded.
_ROUNDING_WORDS = frozenset("""approximately approx roughly estimate estimated round rounded rounding rounds truncate
truncated""".split())
# Words next to a claim that make it approximate.
_APPROX_WORDS = frozenset("""approximately approx about around roughly nearly almost estimate estimated estimating
round rounded rounding rounds truncate truncated close""".split())
_OPERATOR_TOKENS = frozenset({"OP", "PCT", "FACT"})
_CLEAN_LEFT_CHARS = " \t\n\u00a0$&~"
_CLEAN_RIGHT_CHARS = " \t\n\u00a0$&~"


@dataclass
class _Claim:
    status: str  # "ok" | "wrong" | "unsure"
    evidence: Evidence | None


@dataclass
class _Equation:
    var: str
    value: Fraction
    text: str
    assignment: bool  # "x = 30" (the bare unknown on one side) rather than "6x = 180"
    decimals: int  # digits after the point of an assigned literal, for rounding tolerance


def check_steps(problem: str, steps: list[str]) -> list[StepCheck]:
    """Check every step on its own; one :class:`StepCheck` per step, ``step1`` 1-based.

    The problem text is accepted for interface stability; claims are checked within their own step.
    """
    del problem
    return [check_step(text, i + 1) for i, text in enumerate(steps)]


def check_step(text: str, step1: int = 1) -> StepCheck:
    """Check one step's stated arithmetic. Never raises on any string; bounded time."""
    if not isinstance(text, str) or len(text) > MAX_TEXT_CHARS:
        return StepCheck(step1=step1, verdict="unchecked")
    try:
        return _check_text(text, step1)
    except (ArithmeticError, ValueError, TypeError, RecursionError):
        # every size is bounded and every operation guarded; should an unforeseen input still trip one, the
        # step is simply not checked - a checker must never take its caller down
        return StepCheck(step1=step1, verdict="unchecked")


def _check_text(text: str, step1: int) -> StepCheck:
    deadline = time.monotonic() + STEP_DEADLINE_S
    toks = _strip_units(tokenize(text))
    approx_step = any(t.kind == "WORD" and t.words[0] in _ROUNDING_WORDS for t in toks)
    claims: list[_Claim] = []
    equations: list[_Equation] = []
    statements: list[_Statement] = []
    for chain in _chains(toks):
        if time.monotonic() > deadline or len(claims) >= MAX_CLAIMS_PER_STEP:
            claims.append(_Claim("unsure", None))
            break
        statement = _check_chain(text, toks, chain, approx_step, claims, equations)
        if statement is not None:
            statements.append(statement)
    _check_restatements(text, statements, approx_step, claims)
    if len({t.text for t in toks if t.kind == "VAR"}) == 1:  # several unknowns: a system, leave it alone
        claims.extend(_check_equations(equations))
    evidence = [c.evidence for c in claims if c.evidence is not None]
    statuses = {c.status for c in claims}
    if "wrong" in statuses:
        verdict = "wrong"
    elif statuses == {"ok"}:
        verdict = "ok"
    else:
        verdict = "unchecked"
    return StepCheck(step1=step1, verdict=verdict, evidence=evidence)


# ---------------------------------------------------------------------------------------------------------------
# Units inside expressions: "180 minutes (before dinner) + 80 minutes = 260", "8 portions * 2 kg/portion = 16 kg"

# Words that are never a unit: they carry arithmetic ("more", "each", "dozen") or grammar.
_NOT_UNITS = _LEFT_RISKY | _RIGHT_RISKY | _APPROX_WORDS | frozenset("""a an the and or is are was were be been equals
equal equaling gives give makes make made so then thus hence which that this these those to for in on at with as
total totals more less fewer extra another other left remain remains altogether together if when we he she they it
you i his her their its our your one two three four five six seven eight nine ten new old first second last next
cost costs pay pays paid earn earns earned get gets got has have had need needs spent spend spends""".split())
_UNIT_FOLLOWERS = frozenset({"EQ", "APPROX"})


def _is_unit_word(t: Token) -> bool:
    return t.kind == "WORD" and not t.label and len(t.words) <= 2 and not any(w in _NOT_UNITS for w in t.words)


def _label_end(toks: list[Token], k: int) -> int:
    """End (exclusive) of a parenthetical label starting at ``k`` ("(homework)", "\\text{ (Alani)}"), else ``k``."""
    if k < len(toks) and toks[k].kind == "WORD" and toks[k].label:
        return k + 1
    if k < len(toks) and toks[k].kind == "LP":
        j = k + 1
        while j < len(toks) and toks[j].kind == "WORD" and j - k <= 4:
            j += 1
        if j > k + 1 and j < len(toks) and toks[j].kind == "RP":
            return j + 1
    return k


def _strip_units(toks: list[Token]) -> list[Token]:
    """Drop unit words and labels that sit between a number and the next operator or "=", remembering the unit on
    the number (sums of different units are not compared later)."""
    out: list[Token] = []
    k = 0
    n = len(toks)
    while k < n:
        t = toks[k]
        out.append(t)
        k += 1
        if t.kind != "NUM":
            continue
        j = k
        unit: list[str] = []
        while j < n and j - k < 3 and _is_unit_word(toks[j]):
            unit += toks[j].words
            j += 1
        if j + 1 < n and toks[j].kind == "OP" and toks[j].op == "/" and _is_unit_word(toks[j + 1]) \
                and not toks[j + 1].space_before:
            unit += ["/"] + toks[j + 1].words
            j += 2
        j = _label_end(toks, j)
        if j == k or j >= n:
            continue
        follower = toks[j]
        # before "=", only a number inside an expression ("2 bags + 4 bags = 6"); "400 degrees = 20 + 8" names a
        # quantity, it does not compute it
        in_expression = len(out) >= 2 and out[-2].kind == "OP"
        if (follower.kind in _UNIT_FOLLOWERS and in_expression) or (follower.kind == "OP" and follower.op in "+-*/"):
            t.unit = " ".join(w.rstrip("s") for w in unit) if unit else ""
            k = j
    return out


def _mixed_units(run: list[Token]) -> bool:
    """A sum or difference whose numbers carry different units ("1 hour + 30 minutes")."""
    if not any(t.kind == "OP" and t.op in "+-" for t in run[1:]):
        return False
    nums = [t for t in run if t.kind == "NUM"]
    return any(t.unit for t in nums) and len({t.unit for t in nums}) > 1


# ---------------------------------------------------------------------------------------------------------------
# Chains: E0 (=|≈) E1 (=|≈) E2 ... over runs of expression tokens


@dataclass
class _Chain:
    runs: list[list[Token]]
    links: list[Token]  # EQ or APPROX between runs[i] and runs[i+1]
    before: int  # index in toks of the token before runs[0] (-1: none)
    after: int  # index in toks of the token after the last run (len(toks): none)
    index: int = 0  # position among the step's chains


def _chains(toks: list[Token]) -> list[_Chain]:
    chains: list[_Chain] = []
    runs: list[list[Token]] = [[]]
    links: list[Token] = []
    before = -1
    k = 0
    n = len(toks)
    while k < n:
        t = toks[k]
        if t.kind in MATHY:
            runs[-1].append(t)
        elif t.kind in ("EQ", "APPROX"):
            links.append(t)
            runs.append([])
        elif t.kind in ("BREAK", "DELIM", "AMP") and _continues_chain(toks, k, runs, links):
            pass
        else:
            if links:
                chains.append(_Chain(runs, links, before, k))
            runs, links, before = [[]], [], k
        k += 1
    if links:
        chains.append(_Chain(runs, links, before, n))
    for i, chain in enumerate(chains):
        chain.index = i
    return chains


def _continues_chain(toks: list[Token], k: int, runs: list[list[Token]], links: list[Token]) -> bool:
    """A line break or math delimiter inside a chain: ``a &= b \\\\ &= c``, ``$3+4$ = $7$``."""
    if not runs[-1] and links:  # right after "=": "= $7$", "=\n 7"
        return True
    j = k + 1
    while j < len(toks) and toks[j].kind in ("BREAK", "DELIM", "AMP"):
        j += 1
    return j < len(toks) and toks[j].kind in ("EQ", "APPROX") and bool(runs[-1])


def _trim_unmatched(run: list[Token], first: bool, last: bool) -> list[Token] | None:
    """Drop a leading "(" that opens before the chain / stop at a ")" that closes after it; None if unbalanced."""
    if first:
        depth_needed = 0
        bal = 0
        for t in run:
            bal += (t.kind == "LP") - (t.kind == "RP")
        lead = 0
        while lead < len(run) and run[lead].kind == "LP":
            lead += 1
        if bal > 0:
            if bal > lead:
                return None
            depth_needed = bal
            run = run[depth_needed:]
    if last:
        open_at: list[int] = []
        for idx, t in enumerate(run):
            if t.kind == "LP":
                open_at.append(idx)
            elif t.kind == "RP":
                if not open_at:
                    return run[:idx]  # closes a parenthesis opened before the chain: "(so 3 + 4 = 7)"
                open_at.pop()
        if open_at and run[open_at[0]].space_before:
            return run[:open_at[0]]  # a remark after the value: "= $0.20 (20 cents)"
    return run


def _clean_left(text: str, toks: list[Token], chain: _Chain, run: list[Token]) -> bool:
    """Is the first expression of a chain cut cleanly on its left (not part of a longer expression)?"""
    prev = toks[chain.before] if chain.before >= 0 else None
    annotated = text[max(0, run[0].start - 2):run[0].start] == "<<"  # GSM8K calculator annotation <<2*9=18>>
    if prev is not None and prev.kind == "REL" and not annotated:
        return False  # part of a compound inequality: "90 < 123k < 180"
    if run[0].kind == "OP":
        # a leading sign touches its number and follows a delimiter: "5 apples - 3 = 2" (after a word) and
        # "- 3 + 4" (a list bullet) are not signs
        if len(run) < 2 or run[1].space_before:
            return False
        if prev is not None and not (prev.kind in ("DELIM", "BREAK") or (prev.kind == "PUNCT" and prev.text in ",;:")):
            return False
    p = run[0].start
    # step over one opening parenthesis that belongs to the sentence: "(so 3 + 4 = 7)"
    if p > 0 and text[p - 1] == "(" and (p == 1 or text[p - 2] in _CLEAN_LEFT_CHARS):
        p -= 1
    if p == 0:
        return True
    c = text[p - 1]
    if text[max(0, p - 2):p] in ("\\(", "\\[", "<<"):
        return True
    if c not in _CLEAN_LEFT_CHARS:
        return False
    j = chain.before
    while j >= 0 and toks[j].kind == "DELIM":  # "$10\\%$ of $\\$1.50 = ...": the word before the math
        j -= 1
    if j < 0 or toks[j].kind != "WORD":
        return True
    if toks[j].words[-1] in _LEFT_RISKY:
        return False
    # a compound quantity: "1 hour and 20 minutes + 5 minutes"
    return not (toks[j].words[-1] == "and" and j >= 2 and toks[j - 1].kind == "WORD" and toks[j - 2].kind == "NUM")


def _clean_right(text: str, toks: list[Token], after: int, run: list[Token]) -> bool:
    """Is the last expression of a chain complete (no unit multiplier or continuing expression after it)?"""
    if after < len(toks) and toks[after].kind == "REL" and text[run[-1].end:run[-1].end + 2] != ">>":
        return False  # part of a compound inequality: "a < b \\approx 0.73 < c"
    e = run[-1].end
    if e >= len(text):
        return True
    c = text[e]
    two = text[e:e + 2]
    if two in ("\\)", "\\]", ">>", "\\\\"):
        return True
    if c == ")":
        rest = text[e + 1:e + 2]
        return rest == "" or rest in _CLEAN_RIGHT_CHARS or rest in ".,;:"
    if c == "!":  # "10!" at the end of a sentence: factorial or exclamation, cannot tell
        return False
    if c in ".,;:":
        rest = text[e + 1:e + 2]
        return rest == "" or rest in _CLEAN_RIGHT_CHARS or rest in "\\)"
    if c not in _CLEAN_RIGHT_CHARS:
        return False
    # words after the value: a scale word, or words followed by an operator ("= 10 hours * 3"), spoil it
    j = after
    words: list[str] = []
    while j < len(toks) and toks[j].kind in ("WORD", "DELIM") and len(words) < 4:
        if toks[j].kind == "WORD":
            if not words and toks[j].words[0] in _RIGHT_RISKY:
                return False
            words += toks[j].words
        j += 1
    if words and j < len(toks) and toks[j].kind in _OPERATOR_TOKENS:
        return False
    if words and len(words) <= 3 and j < len(toks) and toks[j].kind == "NUM":
        return False  # a compound quantity: "= 1 hour and 25 minutes", "= 5 feet 3 inches"
    return True


def _evaluate_both(run: list[Token]) -> tuple[Evaluated, Evaluated | None] | None:
    """Evaluate with % meaning /100, and - when the run has a % - also with % ignored ("0.2*100 = 20%")."""
    try:
        scaled = evaluate(run, percent_scale=True)
    except EvalError:
        return None
    if not scaled.has_percent:
        return scaled, None
    try:
        return scaled, evaluate(run, percent_scale=False)
    except EvalError:
        return scaled, None


@dataclass
class _Statement:
    """``Total earnings = <expression>``: a named quantity given one value (for :func:`_check_restatements`)."""

    label: tuple[str, ...]
    run: list[Token]
    value: tuple[Evaluated, Evaluated | None]
    text: str
    index: int  # which chain of the step


def _statement_label(toks: list[Token], chain: _Chain) -> tuple[tuple[str, ...], int] | None:
    """The words naming the quantity in ``Money lost = ...`` (the words right before the "="), and where they
    start in the text."""
    words: list[str] = []
    j = chain.before
    while j >= 0 and toks[j].kind == "WORD" and not toks[j].label and len(words) < 4:
        words = toks[j].words + words
        j -= 1
    return (tuple(words), toks[j + 1].start) if words else None


def _check_chain(text: str, toks: list[Token], chain: _Chain, approx_step: bool, claims: list[_Claim],
                 equations: list[_Equation]) -> _Statement | None:
    runs = list(chain.runs)
    last = len(runs) - 1
    values: list[tuple[Evaluated, Evaluated | None] | None] = []
    for idx, run in enumerate(runs):
        run = _trim_unmatched(run, first=idx == 0, last=idx == last) if run else run
        if not run:
            values.append(None)
            runs[idx] = []
            continue
        runs[idx] = run
        if idx == 0 and not _clean_left(text, toks, chain, run):
            values.append(None)
            continue
        if idx == last and not _clean_right(text, toks, chain.after, run):
            values.append(None)
            continue
        if _mixed_units(run):
            values.append(None)
            continue
        values.append(_evaluate_both(run))
    approx_chain = _near_approx_word(toks, chain)
    doubt = _near_doubt(toks, chain)
    ends_agree = _ends_agree(values)
    single_link = len(chain.links) == 1
    for idx, link in enumerate(chain.links):
        lv, rv = values[idx], values[idx + 1]
        if lv is None or rv is None:
            continue
        lrun, rrun = runs[idx], runs[idx + 1]
        claim_text = text[lrun[0].start:rrun[-1].end].strip()
        if any(t.kind == "VAR" for t in lrun + rrun):
            if doubt:
                continue
            if single_link or (idx == 0 and len(lrun) == 1 and lrun[0].kind == "VAR"):
                _collect_equation(claim_text, lrun, rrun, lv[0], rv[0], equations)
            continue
        if _running_total(lv[0], rrun):
            claims.append(_Claim("unsure", None))
            continue
        if ends_agree and lv[0].value != rv[0].value:
            # "5!/2! = (5*4*3)/(2*1) = 60": the chain's result is right, a rewrite in the middle is sloppy
            claims.append(_Claim("unsure", None))
            continue
        approx = "near" if link.kind == "APPROX" or approx_chain else "step" if approx_step else ""
        _compare(text, claim_text, lrun, rrun, lv, rv, approx, claims, doubt)
    if len(runs) == 2 and not runs[0] and values[1] is not None and chain.links[0].kind == "EQ" \
            and not approx_chain and not doubt and not any(t.kind == "VAR" for t in runs[1]):
        named = _statement_label(toks, chain)
        if named is not None:
            label, start = named
            return _Statement(label, runs[1], values[1], text[start:runs[1][-1].end], chain.index)
    return None


def _check_restatements(text: str, statements: list[_Statement], approx_step: bool, claims: list[_Claim]) -> None:
    """``Total = 80 + 220 + 23`` then ``Total = 323``: a chain split over two statements. Only the plain pattern
    is read - the same name in consecutive chains, first a computation, then a bare value - so a name reused for
    another quantity ("probability = 1/6 ... probability = 5/6") is not mistaken for a contradiction."""
    for prev, st in zip(statements, statements[1:]):
        if st.label != prev.label or st.index != prev.index + 1:
            continue
        if prev.value[0].bare_literal is not None or st.value[0].bare_literal is None:
            continue
        _compare(text, f"{prev.text} ... {st.text}", prev.run, st.run, prev.value, st.value,
                 "step" if approx_step else "", claims)


def _ends_agree(values: list) -> bool:
    """The first and last evaluated expressions of a chain (at least three) have the same exact value."""
    known = [v[0].value for v in values if v is not None]
    return len(known) >= 3 and isinstance(known[0], Fraction) and known[0] == known[-1]


def _running_total(left: Evaluated, rrun: list[Token]) -> bool:
    """``2 \times 24 = 48 + 2 = 50``: the right side restates the left's value and keeps computing."""
    rest = [t for t in rrun[1:] if t.kind not in ("DEG", "PCT")]
    return (len(rest) >= 2 and rrun[0].kind == "NUM" and rest[0].kind == "OP" and rest[0].op in "+-*/"
            and isinstance(left.value, Fraction) and rrun[0].value == left.value)


def _near_approx_word(toks: list[Token], chain: _Chain) -> bool:
    lo = max(0, chain.before - 3)
    hi = min(len(toks), chain.after + 3)
    return any(toks[j].kind == "WORD" and toks[j].words[0] in _APPROX_WORDS for j in range(lo, hi))


def _near_doubt(toks: list[Token], chain: _Chain) -> bool:
    """A check, a hypothesis or a negation around the chain ("Check: 60 = 5^2 + 6^2 = 61. This does not work")."""
    lo = max(0, chain.before - 20)
    hi = min(len(toks), chain.after + 15)
    return any((toks[j].kind == "WORD" and any(w in _DOUBT_WORDS for w in toks[j].words))
               or toks[j].text in ("\\neq", "\\ne", "\u2260", "?") for j in range(lo, hi))


def _compare(text: str, claim_text: str, lrun: list[Token], rrun: list[Token], lv: tuple, rv: tuple, approx: str,
             claims: list[_Claim], doubt: bool = False) -> None:
    """Compare two evaluated sides; ``doubt``: the text around questions or negates the claim."""
    left, left_alt = lv
    right, right_alt = rv
    # which side is the computation and which the stated result: the stated side is a bare literal if one is
    if left.bare_literal is not None and right.bare_literal is None:
        computed, stated, stated_run = right, left, lrun
    else:
        computed, stated, stated_run = left, right, rrun
    modes = [(left, right, True)]
    if left_alt is not None or right_alt is not None:
        modes.append((left_alt or left, right_alt or right, False))
    stated_text = text[stated_run[0].start:stated_run[-1].end]
    results = [_compare_values(a, b, approx, lrun, rrun, scale) for a, b, scale in modes]
    if "ok" in results:
        status = "ok"
        computed_value = modes[results.index("ok")][0 if computed is left else 1].value
    else:
        status = "unsure" if "unsure" in results or doubt else "wrong"
        computed_value = computed.value
    if status == "unsure":
        claims.append(_Claim("unsure", None))
        return
    claims.append(_Claim(status, Evidence(claim=claim_text, expected=format_value(computed_value),
                                          stated=stated_text, ok=status == "ok")))


def _compare_values(a: Evaluated, b: Evaluated, approx: str, lrun: list[Token], rrun: list[Token],
                    percent_scale: bool) -> str:
    """``approx``: "near" (≈ or "about" at the claim), "step" (rounding mentioned in the step) or ""."""
    x, y = a.value, b.value
    exact = isinstance(x, Fraction) and isinstance(y, Fraction)
    if exact and x == y:
        return "ok"
    fx, fy = _float(x), _float(y)
    diff = _float(abs(x - y)) if exact else abs(fx - fy)
    mag = max(abs(fx), abs(fy))
    if not exact and diff <= 1e-9 * max(1.0, mag):
        return "ok"
    if math.isinf(mag) or math.isnan(diff):
        return "unsure"  # beyond float range: only exact equality is informative
    if a.bare_literal is not None and b.bare_literal is not None:
        return "unsure"  # "1 hour = 60 minutes", "Day 1 = 5": a label or a unit conversion, not arithmetic
    if approx:
        # "≈", "about", "rounded": the stated literal may be off by less than one unit of its last non-zero digit
        lit = b.bare_literal or a.bare_literal
        if lit is None:
            return "unsure"
        computed = a if lit is b.bare_literal else b
        if diff < _last_digit_unit(lit.text) or computed.inexact:
            return "unsure"
        if approx == "near" and diff <= 0.02 * mag:
            return "unsure"  # an approximation a few digits off is sloppy, not a contradiction
        return "wrong"
    if a.bare_literal is not None and b.bare_literal is not None:
        return "unsure"  # "1 hour = 60 minutes", "Day 1 = 5": a label or a unit conversion, not arithmetic
    if exact and x == -y:
        return "unsure"  # "3500 - 4000 = 500": a difference stated as its size
    if exact and x and y and (x / y in _CONVERSION_FACTORS or y / x in _CONVERSION_FACTORS):
        return "unsure"  # "900 - 100 = $8": cents to dollars, minutes to hours - a unit changed silently
    for side, other in ((b, a), (a, b)):
        lit = side.bare_literal
        if lit is None:
            continue
        representable = isinstance(other.value, Fraction) and (other.value * 10 ** lit.decimals).denominator == 1
        if diff < 10.0 ** -lit.decimals and not representable:
            return "unsure"  # the stated value is the true one rounded (or truncated) to the decimals shown
    if a.inexact or b.inexact:
        if diff <= 0.01 * mag:
            return "unsure"  # an irrational value next to a decimal approximation of it
    # inputs that are themselves rounded (0.33 for 1/3, 3.14 for pi) carry their error into the result
    if diff <= (rounding_error(lrun, percent_scale) + rounding_error(rrun, percent_scale)) * 1.000001:
        return "unsure"
    return "wrong"


_CONVERSION_FACTORS = frozenset(Fraction(k) for k in (100, 1000, 60, 3600, 12, 24, 7, 16, 1_000_000))


def _float(v: Fraction | float) -> float:
    try:
        return float(v)
    except OverflowError:
        return math.copysign(math.inf, v)


def _last_digit_unit(literal: str) -> float:
    """``"300"`` -> 100, ``"14.99"`` -> 0.01, ``"0.5"`` -> 0.1: the place value of the last non-zero digit."""
    digits = literal.replace(",", "").replace("{,}", "")
    whole, _, frac = digits.partition(".")
    frac = frac.rstrip("0")
    if frac:
        return 10.0 ** -len(frac)
    stripped = whole.rstrip("0")
    return 10.0 ** (len(whole) - len(stripped)) if stripped else 1.0


# ---------------------------------------------------------------------------------------------------------------
# One-unknown linear equations within a step


def _collect_equation(claim_text: str, lrun: list[Token], rrun: list[Token], left: Evaluated, right: Evaluated,
                      equations: list[_Equation]) -> None:
    lx, rx = left.value, right.value
    if isinstance(lx, float) or isinstance(rx, float) or not (isinstance(lx, Lin) or isinstance(rx, Lin)):
        return  # inexact, or the unknown cancelled ("8y - 8 - 8y = -3": a contradiction the text may intend)
    var = (lx if isinstance(lx, Lin) else rx).var
    if isinstance(lx, Lin) and isinstance(rx, Lin) and lx.var != rx.var:
        return
    la, lb = (lx.a, lx.b) if isinstance(lx, Lin) else (Fraction(0), lx)
    ra, rb = (rx.a, rx.b) if isinstance(rx, Lin) else (Fraction(0), rx)
    if la == ra:
        return  # an identity, or a contradiction for every value: hypothetical or a case split, not checkable
    value = (rb - lb) / (la - ra)
    bare_var = [len(r) == 1 and r[0].kind == "VAR" for r in (lrun, rrun)]
    assignment = bare_var[0] != bare_var[1]
    decimals = 0
    if assignment:
        other = right if bare_var[0] else left
        if other.bare_literal is not None:
            decimals = other.bare_literal.decimals
    equations.append(_Equation(var, value, claim_text, assignment, decimals))


def _check_equations(equations: list[_Equation]) -> list[_Claim]:
    claims: list[_Claim] = []
    for var in dict.fromkeys(e.var for e in equations):
        solved = [e for e in equations if e.var == var and not e.assignment]
        assigned = [e for e in equations if e.var == var and e.assignment]
        if not solved or not assigned:
            continue
        solutions = {e.value for e in solved}
        if len(solutions) != 1 or len({e.value for e in assigned}) != 1:
            claims.append(_Claim("unsure", None))  # several cases or unknowns reused: cannot bind
            continue
        (solution,) = solutions
        source = "; ".join(e.text for e in solved[:3])
        for e in assigned:
            if e.value == solution:
                status = "ok"
            elif e.decimals and abs(e.value - solution) < Fraction(1, 10 ** e.decimals):
                status = "unsure"
            else:
                status = "wrong"
            if status == "unsure":
                claims.append(_Claim("unsure", None))
                continue
            claims.append(_Claim(status, Evidence(claim=f"{e.text} (from {source})",
                                                  expected=f"{var} = {format_value(solution)}",
                                                  stated=f"{var} = {format_value(e.value)}", ok=status == "ok")))
    return claims
