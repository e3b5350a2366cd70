"""Claims about expressions in unknowns: identities (``(x+1)^2 = x^2 + 2x + 1``) and rearranged relations
(``-2 + 4a + 8 = 0 \\Rightarrow 4a = -10``).

A link ``A = B`` of a chain of rewrites (three or more expressions) whose two sides hold the same unknowns claims
an identity. It is flagged only when the sides differ by a single term - the shape of a rewrite slip (a sign, a
coefficient, a dropped term, a constant) - because a difference of several terms is more often a known fact used on
the way or a condition between unknowns than an error.

An identity is tested first by exact rational substitution: both sides are evaluated with
:mod:`critic.verify.exact` at several rational points (no SymPy). Agreement at every point makes the claim ``ok``.
A disagreement is then confirmed symbolically - SymPy ``expand`` of the difference for polynomials, ``cancel`` for
quotients - before the claim is ``wrong``; the evidence shows the expanded left side.

Only rational functions of the unknowns are tested: with roots, absolute values, floor or trigonometry of an
unknown, a "false" identity is often a true statement on the domain the text has in mind (``\\sqrt{x^2} = x`` for
``x > 0``), so such claims stay unknown.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import sympy

from critic.verify.build import MAX_VARS, TooLarge, build
from critic.verify.exact import EvalError
from critic.verify.exact import evaluate as exact_value
from critic.verify.parse import Add, Div, Mul, Neg, Node, Num, Pct, Pow, Var, free_vars, has_alternative_reading, walk
from critic.verify.values import ClaimStatus, difference, format_expr

# Substitution points: rationals with small, distinct denominators (no 0 or 1, where slips cancel)
POINTS = (Fraction(13, 7), Fraction(-5, 3), Fraction(7, 11), Fraction(-17, 13), Fraction(29, 5), Fraction(3, 17))
MIN_AGREEING_POINTS = 3


@dataclass
class Verdict:
    """What an algebra check comes to: ``status`` and, for evidence, the expected (expanded) left side."""

    status: ClaimStatus
    expected: str = ""  # the left side, expanded, for evidence


def rational_in_unknowns(node: Node) -> bool:
    """Unknowns appear only under + - * /, integer powers and as exponents of numbers (``2^{9k}``); numeric
    subtrees may hold anything."""
    if not free_vars(node):
        return True
    if isinstance(node, (Var, Num)):
        return True
    if isinstance(node, (Add, Mul, Div)):
        return rational_in_unknowns(node.left) and rational_in_unknowns(node.right)
    if isinstance(node, (Neg, Pct)):
        return rational_in_unknowns(node.arg)
    if isinstance(node, Pow):
        if free_vars(node.exp):
            return not free_vars(node.base) and rational_in_unknowns(node.exp)
        return rational_in_unknowns(node.base)
    return False


def _point_value(tree: Node, env: dict[str, Fraction]):
    try:
        return exact_value(tree, env=env)
    except EvalError:  # irrational at this point ("2^{13/7}"), or beyond the rational path: SymPy's exact value
        return build(tree, env=env)


def identity(left: Node, right: Node, any_difference: bool = False) -> Verdict:
    """Is ``left = right`` an identity in its unknowns? Both sides must hold unknowns. ``any_difference``: the
    claim is a link of a chain rewriting one expression in one unknown, where a difference of several terms is a
    slip too (not a fact used on the way or a condition between unknowns)."""
    names = sorted(free_vars(left) | free_vars(right))
    if not names or len(names) > MAX_VARS or free_vars(left) != free_vars(right):
        return Verdict("unsure")  # an unknown appears or disappears: a substitution or a condition, not a rewrite
    if len({n.lower() for n in names}) < len(names):
        return Verdict("unsure")  # "x" and "X" in one claim: the same unknown written twice, or two?
    if not rational_in_unknowns(left) or not rational_in_unknowns(right):
        return Verdict("unsure")
    agreeing = 0
    disagree = False
    for p in range(len(POINTS)):
        env = {name: POINTS[(p + 2 * i) % len(POINTS)] + i for i, name in enumerate(names)}
        try:
            a, b = _point_value(left, env), _point_value(right, env)
            if isinstance(a, sympy.Expr) and a.free_symbols or isinstance(b, sympy.Expr) and b.free_symbols:
                return Verdict("unsure")
            equal, _ = difference(a, b)
        except (EvalError, ZeroDivisionError, ValueError, TypeError):
            continue  # a pole or an undefined value at this point: try the next one
        if not equal:
            disagree = True
            break
        agreeing += 1
    if not disagree:
        return Verdict("ok" if agreeing >= MIN_AGREEING_POINTS else "unsure")
    return _confirm(left, right, any_difference)


def _confirm(left: Node, right: Node, any_difference: bool) -> Verdict:
    """The symbolic difference of the two sides is not 0: expand (polynomials) or cancel (quotients)."""
    try:
        lhs, rhs = build(left), build(right)
        diff = sympy.expand(lhs - rhs)
        if diff != 0 and (_unknown_denominator(left) or _unknown_denominator(right)):
            diff = sympy.cancel(sympy.together(diff))
        if diff == 0:
            return Verdict("unsure")  # the numbers disagreed where SymPy does not: trust neither
        if any_difference and not _same_shape(lhs, rhs):
            # "alpha^4 = 3 alpha^3 - 4 alpha^2 + alpha": reduced with a fact about alpha (its polynomial), not expanded
            return Verdict("unsure")
        if not any_difference and not _slip_shaped(lhs, rhs, diff):
            return Verdict("unsure")
        shown = sympy.expand(lhs)
        return Verdict("wrong", format_expr(shown))
    except (TooLarge, EvalError, ValueError, TypeError, ZeroDivisionError, RecursionError, sympy.PolynomialError):
        return Verdict("unsure")


def _unknown_denominator(node: Node) -> bool:
    return any(isinstance(n, Div) and free_vars(n.right) for n in walk(node)) or any(
        isinstance(n, Pow) and isinstance(n.exp, Neg) for n in walk(node))


def _slip_shaped(lhs: sympy.Expr, rhs: sympy.Expr, diff: sympy.Expr) -> bool:
    """Does the difference look like a rewrite slip rather than a fact used on the way or a condition?

    A slip changes one term (a sign, a coefficient, a dropped term, a constant). A difference of several terms is
    more often a known fact used on the way (``(a+b+c)^2 = a^2+b^2+c^2 + 2(-11)``) or a condition
    (``a^2 b + c = b^2 c + a``; equidistance ``(h-2)^2 + k^2 = (h-4)^2 + k^2`` differs only in lower terms)."""
    del lhs, rhs
    return len(sympy.Add.make_args(sympy.expand(sympy.numer(sympy.together(diff))))) == 1


_SIGN = {"=": 1, ">": 1, ">=": 1, "<": -1, "<=": -1}
_STRICT = {"=": "eq", ">": "strict", "<": "strict", ">=": "loose", "<=": "loose"}


def rearrangement(first: tuple[Node, Node], op1: str, second: tuple[Node, Node], op2: str) -> Verdict:
    """See :func:`_rearrangement`; a contradiction must hold under every reading of ``3(4)``-like constructs."""
    verdict = _rearrangement(first, op1, second, op2, False)
    if (verdict.status == "wrong" and any(has_alternative_reading(t) for t in (*first, *second))
            and _rearrangement(first, op1, second, op2, True).status != "wrong"):
        return Verdict("unsure")
    return verdict


def _rearrangement(first: tuple[Node, Node], op1: str, second: tuple[Node, Node], op2: str,
                   alternative: bool) -> Verdict:
    """Is ``second`` the relation ``first`` rearranged (moved terms, both sides scaled)? With ``D = A - B`` of each
    (``B - A`` for < and <=), the second must be ``D1 / c`` for a constant ``c`` (positive for inequalities).

    ``wrong`` only when some ``c`` leaves exactly one term over - a dropped or mis-signed term, a wrong constant
    (``4a + 6`` against ``4a + 10``) - with the same unknowns in both; squaring, dividing by an unknown or using
    another fact leaves several terms and stays unknown. The evidence is the second relation's right side as the
    first one gives it."""
    names = free_vars(first[0]) | free_vars(first[1])
    if not names or names != free_vars(second[0]) | free_vars(second[1]) or len(names) > MAX_VARS \
            or len({n.lower() for n in names}) < len(names) or _STRICT[op1] != _STRICT[op2]:
        return Verdict("unsure")
    try:
        a1, b1 = build(first[0], alternative=alternative), build(first[1], alternative=alternative)
        a2, b2 = build(second[0], alternative=alternative), build(second[1], alternative=alternative)
        d1 = sympy.expand(_SIGN[op1] * (a1 - b1))
        d2 = sympy.expand(_SIGN[op2] * (a2 - b2))
        if d1 == 0 or d2 == 0:
            return Verdict("unsure")
        ratio = sympy.cancel(sympy.together(d1 / d2))
        if not ratio.free_symbols and ratio != 0 and (op1 == "=" or ratio.is_positive):
            return Verdict("ok")  # the same relation, scaled (forms may differ: "1/(x^2-1) + 1" and "x^2/(x^2-1)")
        if _degree(d1) != _degree(d2):
            return Verdict("unsure")  # "b = 0 => b^2 - b + 2 = 2": a consequence, not the same relation rearranged
        t1, t2 = d1.as_coefficients_dict(), d2.as_coefficients_dict()
        best = None
        for monomial in sorted(set(t1) & set(t2), key=lambda m: (-sympy.total_degree(m), str(m))):
            # the scale that makes the highest-degree common term agree wins a tie: "m^2 - 64 > 0" against
            # "m^2 - 32 > 0" is a wrong constant, not a halved square
            c = t1[monomial] / t2[monomial]
            if c == 0 or (op1 != "=" and not c.is_positive):
                continue
            rest = sympy.expand(sympy.numer(sympy.together(d1 - c * d2)))
            size = 0 if rest == 0 else len(sympy.Add.make_args(rest))
            if best is None or size < best[0]:
                best = (size, c, rest)
        if best is None:
            return Verdict("unsure")
        size, c, rest = best
        if size == 0:
            return Verdict("ok")
        one_unknown = len(names) == 1 and _same_shape(d1, d2) and None not in _shape(d1)
        if (size > 1 and not one_unknown) or len(t2) < 2:
            # in one unknown, a transformation other than scaling changes the degree (squaring, clearing an
            # unknown denominator, dropping a factor); at the same degree any difference is a slip
            return Verdict("unsure")
        shown_op = {"<": ">", "<=": ">="}.get(op2, op2)
        return Verdict("wrong", f"{format_expr(sympy.expand(d1 / c))} {shown_op} 0")
    except (TooLarge, EvalError, ValueError, TypeError, ZeroDivisionError, RecursionError, AttributeError):
        return Verdict("unsure")


def _degree(e: sympy.Expr) -> int | None:
    """Total degree in the expression's symbols (None when it is not a polynomial in them)."""
    try:
        return sympy.Poly(e, *sorted(e.free_symbols, key=str)).total_degree() if e.free_symbols else 0
    except sympy.PolynomialError:
        return None


def _shape(e: sympy.Expr) -> tuple[int | None, int | None]:
    """Degrees of numerator and denominator in lowest terms (None: not a polynomial in the unknowns)."""
    num, den = sympy.fraction(sympy.cancel(sympy.together(e)))
    return _degree(sympy.expand(num)), _degree(sympy.expand(den))


def _same_shape(lhs: sympy.Expr, rhs: sympy.Expr) -> bool:
    """Numerators and denominators of the same degrees: an expansion or a cancellation keeps them, a reduction by
    a relation the unknown satisfies lowers them. (None, None) on both sides - exponentials or roots of the
    unknown - has no degree to lower."""
    return _shape(lhs) == _shape(rhs)


def stated_root(equation: tuple[Node, Node], name: str, value: Node, min_degree: int = 2) -> Verdict:
    """Is ``value`` a root of ``equation`` (a polynomial equation of degree ``min_degree`` or more in the unknown
    ``name``)?"""
    try:
        left, right = build(equation[0]), build(equation[1])
        poly = sympy.expand(left - right)
        symbols = poly.free_symbols
        if len(symbols) != 1 or (_degree(poly) or 0) < min_degree:
            return Verdict("unsure")
        (symbol,) = symbols
        v = build(value)
        if v.free_symbols or not v.is_real:
            return Verdict("unsure")
        residual = poly.subs(symbol, v)
        equal, _ = difference(residual if not residual.is_Rational else _fraction(residual), Fraction(0))
        shown = f"{format_expr(poly)} at {name} = {format_expr(v)} is {format_expr(residual)}"
        return Verdict("ok" if equal else "wrong", shown + ("" if equal else ", not 0"))
    except (TooLarge, EvalError, ValueError, TypeError, ZeroDivisionError, RecursionError, AttributeError,
            sympy.PolynomialError):
        return Verdict("unsure")


def _fraction(r: sympy.Rational) -> Fraction:
    return Fraction(int(r.p), int(r.q))
