"""Claims a step states, and their exact checks.

From a step's text we extract:

- equality chains (``16 - 3 - 4 = 9``, ``$2 \\times 9 = \\$18$``, ``\\frac{1}{2}+\\frac{1}{3}=\\frac{5}{6}``,
  ``\\sqrt{8} = 2\\sqrt{2}``, ``\\sin 30^\\circ = \\frac{1}{2}``, ``<<2*9=18>>``, ``20% of 50 = 10``), compared
  exactly (rationals, else SymPy numbers);
- identities: links of a rewrite chain in unknowns (``(x+1)^2 = x^2 + 2x + 1 = ...``, or after "Expanding,"),
  :func:`critic.verify.algebra.identity`;
- one-unknown linear equations with their stated solution (``6x = 180`` ... ``x = 30``), stated roots of
  polynomial equations, and relations derived from one another (``-2 + 4a + 8 = 0 \\Rightarrow 4a = -10``):
  :mod:`critic.verify.relations`, :func:`critic.verify.algebra.rearrangement`;
- names the step gives one value (``Let y = \\sqrt{5} + 1``), read as that value in later rewrite chains.

A claim is ``wrong`` only for a definite contradiction. Whatever the text leaves open is not a contradiction: an
expression cut by words or units, rounding the text admits (``10/3 = 3.33``, ``≈``, "about"), a bare
"1 hour = 60 minutes", a percentage that reads either way, an unknown we cannot bind (:mod:`critic.verify.guards`).
A step is ``ok`` when at least one claim was checked and every claim checked out, ``unchecked`` otherwise.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace
from fractions import Fraction

from critic.records import Evidence, StepCheck
from critic.verify import algebra, guards, relations
from critic.verify.build import DEADLINE
from critic.verify.exact import Lin
from critic.verify.parse import Neg, Node, Var, free_vars
from critic.verify.tokens import MATHY, MAX_TEXT_CHARS, Token, tokenize
from critic.verify.values import (
    ClaimStatus,
    Evaluated,
    Unreadable,
    difference,
    evaluate,
    format_value,
    possibly_rounded,
    read,
    rounding_error,
    to_float,
    value_of,
)

STEP_DEADLINE_S = 0.5  # cooperative bound per step; real steps take a few milliseconds
MAX_CLAIMS_PER_STEP = 200


@dataclass
class _Claim:
    status: ClaimStatus
    evidence: Evidence | None
    value: object = None  # the computed value of a numeric claim (checked against the step's other claims)
    chain: int = -1  # which chain of the step it came from


@dataclass
class _Equation:
    var: str
    value: Fraction
    text: str
    assignment: bool  # "x = 30" (the bare unknown on one side) rather than "6x = 180"
    decimals: int  # digits after the point of an assigned literal, for rounding tolerance


def check_step(text: str, step1: int = 1, symbolic: bool = True) -> StepCheck:
    """Check one step's stated arithmetic. Never raises on any string; bounded time in this process.

    ``symbolic=False`` skips everything that needs SymPy (irrational values): the pure-rational fast path."""
    if not isinstance(text, str) or len(text) > MAX_TEXT_CHARS:
        return StepCheck(step1=step1, verdict="unchecked")
    try:
        return _check_text(text, step1, symbolic)
    except (ArithmeticError, ValueError, TypeError, RecursionError, AttributeError):
        # every size is bounded and every operation guarded; should an unforeseen input still trip one, the
        # step is simply not checked - a checker must never take its caller down
        return StepCheck(step1=step1, verdict="unchecked")


def _check_text(text: str, step1: int, symbolic: bool) -> StepCheck:
    deadline = time.monotonic() + STEP_DEADLINE_S
    token = DEADLINE.set(deadline)
    try:
        return _check_until(text, step1, symbolic, deadline)
    finally:
        DEADLINE.reset(token)


def _check_until(text: str, step1: int, symbolic: bool, deadline: float) -> StepCheck:
    toks = guards.strip_units(tokenize(text))
    approx_step = any(t.kind == "WORD" and t.words[0] in guards.ROUNDING_WORDS for t in toks)
    claims: list[_Claim] = []
    equations: list[_Equation] = []
    statements: list[_Statement] = []
    found = relations.relations(text, toks)
    defined = _definitions(toks, found, symbolic)
    for chain in _chains(toks):
        if time.monotonic() > deadline or len(claims) >= MAX_CLAIMS_PER_STEP:
            claims.append(_Claim("unsure", None))
            break
        first_claim = len(claims)
        # a defined name is read as its value in a chain of rewrites (three or more expressions), not in a single
        # equation, which is more often a condition on a new case than a claim about the defined value
        # - and not where the chain names it on its own ("y = 2(0) - 6 = -6", "A = C = 9"): there it is being given
        # a value again
        alone = {run[0].name for run in chain.runs if len(run) == 1 and run[0].kind == "VAR"}
        env = {name: value for name, (end, value) in defined.items()
               if end <= chain.before + 1 and len(chain.runs) >= 3 and name not in alone}
        statement = _check_chain(text, toks, chain, approx_step, claims, equations, symbolic, env)
        for claim in claims[first_claim:]:
            claim.chain = chain.index
        if statement is not None:
            statements.append(statement)
    _tested_equations(claims)
    _check_restatements(text, statements, approx_step, claims)
    if symbolic:
        _check_rearrangements(text, toks, found, claims, deadline)
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


def _tested_equations(claims: list[_Claim]) -> None:
    """A false equality whose true value the step itself states in another chain is being tested, not asserted:
    "let's try a = 2, b = 5, c = 7: 1 = 1/2 + 1/5 + 1/7. This sum is 35/70 + 14/70 + 10/70 = 59/70. Again, it
    doesn't equal 1." Within one chain a correct value next to a wrong one is just a slip ("8 - 64 + 16 = -40 + 16")."""
    found = [(c.chain, c.value) for c in claims if c.status == "ok" and c.value is not None]
    for c in claims:
        if c.status == "wrong" and c.value is not None and any(
                chain != c.chain and _same(value, c.value) for chain, value in found):
            c.status, c.evidence = "unsure", None


def _same(x: object, y: object) -> bool:
    try:
        return difference(x, y)[0]  # type: ignore[arg-type]
    except (TypeError, ValueError, AttributeError):
        return False


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


def _evaluate_both(run: list[Token], symbolic: bool, tree: Node, env: dict | None = None
                   ) -> tuple[Evaluated, Evaluated | None] | None:
    """Evaluate with % meaning /100, and - when the run has a % - also with % ignored ("0.2*100 = 20%")."""
    try:
        scaled = evaluate(run, True, symbolic, tree, env)
    except Unreadable:
        return None
    if not scaled.has_percent:
        return scaled, None
    try:
        return scaled, evaluate(run, False, symbolic, tree, env)
    except Unreadable:
        return scaled, None


@dataclass
class _Statement:
    """``Total earnings = <expression>``: a named quantity given one value (for :func:`_check_restatements`)."""

    label: tuple[str, ...]
    run: list[Token]
    value: tuple[Evaluated, Evaluated | None]
    text: str
    index: int  # which chain of the step


def _check_chain(text: str, toks: list[Token], chain: _Chain, approx_step: bool, claims: list[_Claim],
                 equations: list[_Equation], symbolic: bool, env: dict | None = None) -> _Statement | None:
    runs = list(chain.runs)
    last = len(runs) - 1
    trees: list[Node | None] = []
    values: list[tuple[Evaluated, Evaluated | None] | None] = []
    first_cut = False  # the first expression continues to the left of what we can read
    for idx, run in enumerate(runs):
        run = _trim_unmatched(run, first=idx == 0, last=idx == last) if run else run
        runs[idx] = run or []
        tree = None
        if idx == 0 and run and not guards.clean_left(text, toks, chain.before, run):
            first_cut = True
        elif run and (idx != last or guards.clean_right(text, toks, chain.after, run)) \
                and not guards.mixed_units(run):
            try:
                tree = read(run)
            except Unreadable:
                pass
        trees.append(tree)
        values.append(_evaluate_both(run, symbolic, tree, env) if tree is not None else None)
    scale = guards.scale_after(toks, chain.after)
    if scale is not None and values[-1] is not None:
        values[-1] = _scaled(values[-1], scale)
    approx_chain = guards.near_approx_word(toks, chain.before, chain.after)
    plain = not any(t.kind == "DELIM" and not text.startswith("$<<", t.start) for t in toks)  # no LaTeX math
    doubt = guards.doubted(toks, chain.before, chain.after)
    # "5!/2! = (5*4*3)/(2*1) = 60": when the chain's first and last values agree, a rewrite in the middle that does
    # not is sloppy, not wrong; when the first expression is cut ("3/4 of a skein * 364 = 364 / 4 = 273") they may
    ends_agree = _ends_agree(values) or (first_cut and len(runs) >= 3)
    single_link = len(chain.links) == 1
    rewrite = single_link and guards.rewrite_announced(toks, chain.before)
    rewriting = len(runs) >= 3 and _one_unknown_throughout(runs, trees)
    for idx, link in enumerate(chain.links):
        lrun, rrun = runs[idx], runs[idx + 1]
        if trees[idx] is None or trees[idx + 1] is None:
            continue
        claim_text = text[lrun[0].start:rrun[-1].end].strip()
        lv, rv = values[idx], values[idx + 1]
        lvars, rvars = free_vars(trees[idx]) - set(env or ()), free_vars(trees[idx + 1]) - set(env or ())
        if lvars and rvars and (len(runs) >= 3 or rewrite) and symbolic and link.kind == "EQ" and not doubt \
                and not _bare_unknown(trees[idx]) and not _bare_unknown(trees[idx + 1]):
            _check_identity(claim_text, trees[idx], trees[idx + 1], text[rrun[0].start:rrun[-1].end], claims,
                            rewriting)
            continue
        if lv is None or rv is None:
            continue
        if lv[0].unknowns or rv[0].unknowns:
            if doubt or approx_chain or link.kind == "APPROX":
                continue  # "d = 71.5 (approximately)": a rounded solution is not a claimed one
            if single_link or (idx == 0 and len(lrun) == 1 and lrun[0].kind == "VAR"):
                _collect_equation(claim_text, lrun, rrun, lv[0], rv[0], equations)
            continue
        if _running_total(lv[0], rrun):
            claims.append(_Claim("unsure", None))
            continue
        if ends_agree and lv[0].value != rv[0].value:
            claims.append(_Claim("unsure", None))
            continue
        if (guards.pure_percentage(lrun) != guards.pure_percentage(rrun)
                and not (lv[0].has_percent and rv[0].has_percent)):
            doubt_here = True  # "48 = 100% + 20%": a quantity set against its share, not arithmetic
        elif guards.unit_changes(lrun, rrun):
            doubt_here = True
        else:
            doubt_here = doubt
        approx = "near" if link.kind == "APPROX" or approx_chain else "step" if approx_step else ""
        counted = plain or idx == len(chain.links) - 1 and guards.counted_after(toks, chain.after)
        _compare(text, claim_text, lrun, rrun, lv, rv, approx, claims, doubt_here, counted)
    if len(runs) == 2 and values[1] is not None and chain.links[0].kind == "EQ" \
            and not approx_chain and not doubt and not any(t.kind == "VAR" for t in runs[1]):
        named = guards.statement_label(toks, chain.before) if not runs[0] else (
            _math_label(runs[0]) if trees[0] is None and not first_cut else None)
        if named is not None:
            label, start = named
            return _Statement(label, runs[1], values[1], text[start:runs[1][-1].end], chain.index)
    return None


def _math_label(run: list[Token]) -> tuple[tuple[str, ...], int] | None:
    """``S_{15}``, ``a_4``, ``f(3)``: the name of one quantity (a subscript or a function value), not an unknown."""
    named = any(t.kind == "SUB" for t in run) or (len(run) >= 3 and run[0].kind == "VAR" and run[1].kind == "LP"
                                                  and run[-1].kind == "RP")
    return (tuple(t.text for t in run), run[0].start) if named else None


def _definitions(toks: list[Token], found: list[relations.Relation], symbolic: bool) -> dict[str, tuple[int, object]]:
    """Names the step gives one exact value ("Let \\(y = \\sqrt{5} + 1\\)", "so \\(x = 3\\)"): name -> (token index
    where the definition ends, value). Claims after it read the name as that value. A name given two values (cases,
    trials), a rounded value, or one under a hypothesis or negation defines nothing."""
    seen: dict[str, list] = {}
    for rel in found:
        assigned = _assignment(rel)
        if assigned is not None:
            seen.setdefault(assigned[0], []).append((rel, assigned))
    out: dict[str, tuple[int, object]] = {}
    for name, items in seen.items():
        if len(items) != 1:
            continue
        rel, (_, value_tree, value_run) = items[0]
        if any(possibly_rounded(t) for t in value_run) or guards.doubted(toks, rel.start - 1, rel.end):
            continue
        try:
            value = value_of(value_tree, symbolic=symbolic)
        except Unreadable:
            continue
        if not isinstance(value, Lin):
            out[name] = (rel.end, value)
    return out


def _check_rearrangements(text: str, toks: list[Token], found: list[relations.Relation],
                          claims: list[_Claim], deadline: float) -> None:
    """Linked relations in unknowns: the second must be the first rearranged (:mod:`critic.verify.relations`);
    a stated solution of a polynomial equation must be a root of it. Stops (adding an unsure claim) at the step's
    deadline."""
    _check_stated_roots(text, toks, found, claims, deadline)
    for k, (first, second) in enumerate(zip(found, found[1:])):
        if time.monotonic() > deadline:
            claims.append(_Claim("unsure", None))
            return
        before = found[k - 1].end if k else 0
        after = found[k + 2].start if k + 2 < len(found) else len(toks)
        if not relations.linked(toks, first, second, before, after) or \
                guards.doubted(toks, second.start - 1, second.end):
            continue
        if any(possibly_rounded(t) for t in first.left + first.right + second.left + second.right):
            continue  # "K >= 70/24 => K >= 2.91667": a rounded value
        if any(rel.op == "=" and any(_bare_unknown(t) and not free_vars(u) for t, u in (rel.trees, rel.trees[::-1]))
               for rel in (first, second)):
            continue  # "6x = 180 ... x = 30" (a stated solution) or "b = 0 => ..." (a value substituted)
        verdict = algebra.rearrangement(first.trees, first.op, second.trees, second.op)
        if verdict.status == "unsure":
            continue  # not a rearrangement we can follow (squaring, a substitution): no claim either way
        source = text[first.left[0].start:first.right[-1].end]
        stated = text[second.left[0].start:second.right[-1].end]
        ok = verdict.status == "ok"
        claims.append(_Claim(verdict.status, None if ok else Evidence(
            claim=f"{source} => {stated}", expected=verdict.expected, stated=stated, ok=False)))


def _scaled(value: tuple[Evaluated, Evaluated | None], factor: int) -> tuple[Evaluated, Evaluated | None] | None:
    """"= 6 dozen": the stated value read as 6 and, as the other reading, as 72 (None when it has one already)."""
    main, alt = value
    if main.alternative is not None or isinstance(main.value, Lin) or alt is not None:
        return None
    main.alternative = replace(main, value=main.value * factor, bare_literal=None, alternative=None)
    return main, alt


def _check_stated_roots(text: str, toks: list[Token], found: list[relations.Relation], claims: list[_Claim],
                        deadline: float) -> None:
    """``x^2 - 5x + 6 = 0``, so ``x = 2`` or ``x = 4``: a stated value of the unknown is substituted into the
    nearest equation before it in that unknown alone (polynomial, degree 2 or more; linear ones are
    :func:`_check_equations`'). A value that is not a root is a contradiction; rounded values and values under a
    hypothesis or a negation ("x = 4 does not work") are not read."""
    for k, rel in enumerate(found):
        if time.monotonic() > deadline:
            claims.append(_Claim("unsure", None))
            return
        assigned = _assignment(rel)
        if assigned is None or guards.doubted(toks, rel.start - 1, rel.end):
            continue
        name, value_tree, value_run = assigned
        if any(possibly_rounded(t) for t in value_run):
            continue
        equation = None
        for prev in reversed(found[:k]):
            names = free_vars(prev.trees[0]) | free_vars(prev.trees[1])
            if _assignment(prev) is not None or name not in names:
                continue
            if names == {name} and prev.op == "=":
                equation = prev
            break
        if equation is None:
            continue
        verdict = algebra.stated_root(equation.trees, name, value_tree)
        if verdict.status == "unsure":
            continue
        if verdict.status == "wrong" and any(
                algebra.stated_root(other.trees, name, value_tree, min_degree=1).status != "wrong"
                for other in found if other is not equation and _assignment(other) is None and other.op == "="
                and free_vars(other.trees[0]) | free_vars(other.trees[1]) == {name}):
            continue  # "x - 1 = 0 or x^2 - 3x - 3 = 0 ... x = 1": the value solves another equation of the step
        source = text[equation.left[0].start:equation.right[-1].end]
        stated = text[rel.left[0].start:rel.right[-1].end]
        ok = verdict.status == "ok"
        claims.append(_Claim(verdict.status, Evidence(claim=f"{stated} (from {source})", expected=verdict.expected,
                                                      stated=stated, ok=ok)))


def _assignment(rel: relations.Relation) -> tuple[str, Node, list[Token]] | None:
    """``x = 3``, ``3 = x``: the unknown's name, the value's tree and tokens."""
    if rel.op != "=":
        return None
    for var_tree, value_tree, value_run in ((rel.trees[0], rel.trees[1], rel.right),
                                            (rel.trees[1], rel.trees[0], rel.left)):
        if isinstance(var_tree, Var) and not free_vars(value_tree):
            return var_tree.name, value_tree, value_run
    return None


def _bare_unknown(tree: Node) -> bool:
    """``x`` or ``-x``: a name being defined or solved for, not an expression being rewritten."""
    return isinstance(tree, Var) or isinstance(tree, Neg) and isinstance(tree.arg, Var)


def _one_unknown_throughout(runs: list[list[Token]], trees: list[Node | None]) -> bool:
    """Every expression of the chain is in the same single unknown - a rewriting of one expression, not conditions
    between several - except a function value it may start from ("f(-\\frac{1}{2x}) = ...")."""
    names: set[str] = set()
    for idx, (run, tree) in enumerate(zip(runs, trees)):
        if tree is None:
            if idx == 0 and run and any(t.kind == "VAR" and k + 1 < len(run) and run[k + 1].kind == "LP"
                                        for k, t in enumerate(run)):
                continue
            return False
        vars_here = free_vars(tree)
        if len(vars_here) != 1:
            return False
        names |= vars_here
    return len(names) == 1


def _check_identity(claim_text: str, left: Node, right: Node, stated: str, claims: list[_Claim],
                    rewriting: bool = False) -> None:
    verdict = algebra.identity(left, right, any_difference=rewriting)
    if verdict.status == "unsure":
        claims.append(_Claim("unsure", None))
        return
    ok = verdict.status == "ok"
    claims.append(_Claim(verdict.status, None if ok else Evidence(claim=claim_text, expected=verdict.expected,
                                                                  stated=stated, ok=False)))


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


def _compare(text: str, claim_text: str, lrun: list[Token], rrun: list[Token], lv: tuple, rv: tuple, approx: str,
             claims: list[_Claim], doubt: bool = False, counted: bool = True) -> None:
    """Compare two evaluated sides; ``doubt``: the text around questions or negates the claim; ``counted``: a word
    problem's count or amount, where a quotient stated as a whole number and a difference stated as its size are
    usual ("10/3 = 3 boxes", "3500 - 4000 = 500 more"); in a formula they are errors."""
    left, left_alt = lv
    right, right_alt = rv
    # which side is the computation and which the stated result: the stated side is a bare literal if one is
    if left.bare_literal is not None and right.bare_literal is None:
        computed, stated_run = right, lrun
    else:
        computed, stated_run = left, rrun
    modes = [(left, right, True)]
    if left_alt is not None or right_alt is not None:
        modes.append((left_alt or left, right_alt or right, False))
    stated_text = text[stated_run[0].start:stated_run[-1].end]
    results = [_compare_values(a, b, approx, lrun, rrun, scale, counted) for a, b, scale in modes]
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
                                          stated=stated_text, ok=status == "ok"), computed_value))


def _compare_values(a: Evaluated, b: Evaluated, approx: str, lrun: list[Token], rrun: list[Token],
                    percent_scale: bool, counted: bool) -> str:
    """``approx``: "near" (≈ or "about" at the claim), "step" (rounding mentioned in the step) or "".
    A contradiction must hold under every reading of the sides (``3(4)`` as 12 and as 7)."""
    result = _compare_reading(a, b, approx, lrun, rrun, percent_scale, counted)
    if (result == "wrong" and (a.alternative is not None or b.alternative is not None)
            and _compare_reading(a.alternative or a, b.alternative or b, approx, lrun, rrun, percent_scale,
                                 counted) != "wrong"):
        return "unsure"
    return result


def _compare_reading(a: Evaluated, b: Evaluated, approx: str, lrun: list[Token], rrun: list[Token],
                     percent_scale: bool, counted: bool) -> str:
    x, y = a.value, b.value
    equal, diff = difference(x, y)
    if equal:
        return "ok"
    exact = isinstance(x, Fraction) and isinstance(y, Fraction)
    fx, fy = to_float(x), to_float(y)
    mag = max(abs(fx), abs(fy))
    if math.isinf(mag) or math.isnan(mag) or math.isnan(diff) or math.isinf(diff):
        return "unsure"  # beyond float range: only exact equality is informative
    if a.bare_literal is not None and b.bare_literal is not None:
        return "unsure"  # "1 hour = 60 minutes", "Day 1 = 5": a label or a unit conversion, not arithmetic
    if approx:
        # "≈", "about", "rounded": the stated literal may be off by less than one unit of its last non-zero digit
        lit = b.bare_literal or a.bare_literal
        if lit is None:
            return "unsure"
        computed = a if lit is b.bare_literal else b
        if diff < guards.last_digit_unit(lit.text) or computed.irrational:
            return "unsure"
        computed_run = lrun if computed is a else rrun
        exact_at_shown_places = isinstance(computed.value, Fraction) and (
            computed.value * 10 ** lit.decimals).denominator == 1 and not any(possibly_rounded(t)
                                                                            for t in computed_run)
        if approx == "near" and diff <= 0.02 * mag and not exact_at_shown_places:
            # an approximation a few digits off is sloppy, not a contradiction - unless the value is exact at the
            # places shown ("59049/729 = 81 \\approx 80.83")
            return "unsure"
        return "wrong"
    if exact and x == -y and counted:
        return "unsure"  # "3500 - 4000 = 500": a difference stated as its size
    if exact and x and y and (x / y in guards.CONVERSION_FACTORS or y / x in guards.CONVERSION_FACTORS):
        return "unsure"  # "900 - 100 = $8": cents to dollars, minutes to hours - a unit changed silently
    for side, other in ((b, a), (a, b)):
        lit = side.bare_literal
        if lit is None:
            continue
        representable = isinstance(other.value, Fraction) and (other.value * 10 ** lit.decimals).denominator == 1
        if diff < 10.0 ** -lit.decimals and not representable and (lit.decimals or counted):
            return "unsure"  # the stated value is the true one rounded (or truncated) to the decimals shown
    if a.irrational != b.irrational and diff <= 0.01 * mag:
        return "unsure"  # an irrational value next to a rational approximation of it
    # inputs that are themselves rounded (0.33 for 1/3, 3.14 for pi) carry their error into the result
    if diff <= (rounding_error(lrun, a.tree, percent_scale, a.env) + rounding_error(rrun, b.tree, percent_scale, b.env)
                ) * 1.000001:
        return "unsure"
    return "wrong"


# ---------------------------------------------------------------------------------------------------------------
# One-unknown linear equations within a step


def _collect_equation(claim_text: str, lrun: list[Token], rrun: list[Token], left: Evaluated, right: Evaluated,
                      equations: list[_Equation]) -> None:
    lx, rx = left.value, right.value
    if not isinstance(lx, (Fraction, Lin)) or not isinstance(rx, (Fraction, Lin)) \
            or not (isinstance(lx, Lin) or isinstance(rx, Lin)):
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
