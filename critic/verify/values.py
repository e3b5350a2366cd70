"""The value of an expression as a step writes it: exact, with what the comparison needs to know about it.

:func:`evaluate` parses an expression's tokens, evaluates it exactly with rationals (:mod:`critic.verify.exact`)
and, only when the value is irrational (radicals, pi, trigonometry at standard angles, logarithms), builds it with
SymPy (:mod:`critic.verify.build`). :func:`difference` decides equality: rationals exactly; SymPy numbers by their
exact difference, evaluated numerically at 30 significant digits when SymPy does not reduce it to 0 on its own.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

import sympy

from critic.verify.build import TooLarge, build
from critic.verify.exact import EvalError, Irrational, Lin
from critic.verify.exact import evaluate as exact_value
from critic.verify.parse import Node, ParseError, Pct, free_vars, has, has_alternative_reading, parse
from critic.verify.tokens import MATHY, Token, tokenize

# What one checked claim comes to: proved, disproved, or neither (the claim then stays unknown).
ClaimStatus = Literal["ok", "wrong", "unsure"]

MAX_ROUNDED_LITERALS = 8  # literals probed when estimating how far rounded inputs can move a result
ZERO_RELATIVE = 1e-24  # a SymPy difference this small (relative) at 30 digits counts as 0
EVALF_DIGITS = 30
MAX_SHOWN_CHARS = 120  # a longer exact form is shown by its decimal value only

Number = Fraction | sympy.Expr  # rational, or an exact irrational SymPy number


class Unreadable(Exception):
    """An expression we cannot read or evaluate: the claim it belongs to is unknown."""


@dataclass
class Evaluated:
    """An expression's value as the SymPy tool computed it: exact (Fraction, SymPy number, or a linear form in one
    unknown), with what the rounding and reading rules need (the literal it is, percent, decimals shown, the
    other reading of an ambiguous construct, names the step bound)."""

    value: Number | Lin
    tree: Node
    bare_literal: Token | None  # the single NUM token when the expression is just one literal (maybe signed/%)
    has_percent: bool
    max_decimals: int  # most digits after a decimal point among its literals
    irrational: bool  # value is a SymPy number that is not rational
    alternative: Evaluated | None = None  # the value under the other reading of an ambiguous construct (3(4))
    env: dict | None = None  # values the step gave to names used here ("Let y = \\sqrt{5} + 1")

    @property
    def unknowns(self) -> bool:
        """True when the value still depends on an unknown (a linear form)."""
        return isinstance(self.value, Lin)


def read(toks: list[Token]) -> Node:
    """Parse tokens; raises :class:`Unreadable`."""
    try:
        return parse(toks)
    except (ParseError, RecursionError) as exc:
        raise Unreadable(str(exc)) from exc


def value_of(tree: Node, percent_scale: bool = True, symbolic: bool = True,
             overrides: dict[int, Fraction] | None = None, alternative: bool = False,
             env: dict[str, Number] | None = None) -> Number | Lin:
    """Exact value: a Fraction, a linear form in one unknown, or (``symbolic``) an irrational SymPy number.
    ``env`` binds names to values the step gave them."""
    try:
        return exact_value(tree, percent_scale, env=env, overrides=overrides, alternative=alternative)
    except Irrational:
        if not symbolic or free_vars(tree) - set(env or ()):
            raise Unreadable("irrational") from None
    except (EvalError, ZeroDivisionError, OverflowError, ValueError, RecursionError) as exc:
        raise Unreadable(str(exc)) from exc
    try:
        v = build(tree, percent_scale, env=env, overrides=overrides, alternative=alternative)
    except (TooLarge, ValueError, TypeError, ZeroDivisionError, OverflowError, RecursionError) as exc:
        raise Unreadable(str(exc)) from exc
    if v.free_symbols or not v.is_number or v.has(sympy.zoo, sympy.nan, sympy.oo, sympy.I):
        raise Unreadable("not a real number")
    if v.is_Rational:
        return Fraction(int(v.p), int(v.q))
    if v.is_real is False:
        raise Unreadable("not a real number")
    return v


def evaluate(toks: list[Token], percent_scale: bool = True, symbolic: bool = True, tree: Node | None = None,
             env: dict[str, Number] | None = None) -> Evaluated:
    """Evaluate an expression's tokens (or their already parsed ``tree``). Raises :class:`Unreadable`."""
    if tree is None:
        tree = read(toks)
    v = value_of(tree, percent_scale, symbolic, env=env)
    bare = None
    core = [t for t in toks if not (t.kind == "OP" and t.op == "-") and t.kind not in ("PCT", "DEG")]
    if len(core) == 1 and core[0].kind == "NUM":
        bare = core[0]
    decimals = max((t.decimals for t in toks if t.kind == "NUM"), default=0)
    result = Evaluated(v, tree, bare, has(tree, (Pct,)), decimals, not isinstance(v, (Fraction, Lin)), env=env)
    if has_alternative_reading(tree):
        alt = value_of(tree, percent_scale, symbolic, alternative=True, env=env)
        result.alternative = Evaluated(alt, tree, bare, result.has_percent, decimals,
                                       not isinstance(alt, (Fraction, Lin)), env=env)
    return result


def to_float(v: Number) -> float:
    """``v`` as a float: +-inf when it overflows, nan when SymPy cannot evaluate it numerically."""
    try:
        if isinstance(v, Fraction):
            return float(v)
        return float(v.evalf(EVALF_DIGITS))
    except OverflowError:
        return math.inf if v > 0 else -math.inf
    except (TypeError, ValueError):
        return math.nan


def difference(x: Number, y: Number) -> tuple[bool, float]:
    """``(equal, |x - y|)``: exact for rationals; for SymPy numbers exact when SymPy reduces the difference to 0,
    else numeric at 30 digits (a difference below 1e-24 of the values' size counts as equal)."""
    if isinstance(x, Fraction) and isinstance(y, Fraction):
        if x == y:
            return True, 0.0
        try:
            return False, float(abs(x - y))
        except OverflowError:
            return False, math.inf
    a = x if not isinstance(x, Fraction) else _sym(x)
    b = y if not isinstance(y, Fraction) else _sym(y)
    d = a - b
    if d == 0:
        return True, 0.0
    try:
        dv = abs(complex(d.evalf(EVALF_DIGITS)))
        scale = max(1.0, abs(to_float(x)), abs(to_float(y)))
    except (TypeError, ValueError, OverflowError):
        return False, math.nan
    if dv <= ZERO_RELATIVE * scale:
        return True, 0.0
    return False, dv


def _sym(v: Fraction) -> sympy.Rational:
    from critic.verify.build import number

    return number(v)


def possibly_rounded(tok: Token) -> bool:
    """A literal that may be a rounded or truncated value: two or more decimals, not a currency amount, not ending
    in 0 (".20" is an exact twenty hundredths; a rounded value drops the zero)."""
    return tok.kind == "NUM" and tok.decimals >= 2 and not tok.currency and not tok.text.endswith("0")


def rounding_error(toks: list[Token], tree: Node, percent_scale: bool = True, env: dict | None = None) -> float:
    """How far the expression's value can move if each possibly-rounded literal is off by one unit in its last
    place (``0.33`` for 1/3, ``3.14`` for pi): the sum of the one-at-a-time changes. 0.0 when none is rounded."""
    rounded = [t for t in toks if possibly_rounded(t)][:MAX_ROUNDED_LITERALS]
    if not rounded:
        return 0.0
    try:
        base = value_of(tree, percent_scale, env=env)
        if isinstance(base, Lin):
            return math.inf
        total = 0.0
        for t in rounded:
            bumped = value_of(tree, percent_scale, overrides={id(t): t.value + Fraction(1, 10 ** t.decimals)}, env=env)
            if isinstance(bumped, Lin):
                return math.inf
            total += difference(bumped, base)[1]
        return total
    except Unreadable:
        return math.inf


def parse_plain_number(text: str) -> Fraction | None:
    """The exact value of a text that is nothing but an arithmetic expression of numbers (``"1,000"``,
    ``"\\frac{1}{2}"``, ``"-0.5"``, ``"\\$18"``), else None. Trailing words (units) are not accepted; irrational
    values (``\\sqrt{2}``) are None."""
    if len(text) > 200:
        return None
    toks = [t for t in tokenize(text) if t.kind not in ("DELIM",)]
    if not toks or any(t.kind not in MATHY or t.kind in ("VAR", "OPAQUE", "PCT", "DEG", "PI") for t in toks):
        return None
    try:
        v = value_of(read(toks), symbolic=False)
    except Unreadable:
        return None
    return v if isinstance(v, Fraction) else None


def format_value(v: Number | Lin) -> str:
    """``18``, ``2.5``, ``5/6``, ``2*sqrt(2) ≈ 2.828427125``, ``3*x + 1``: for evidence shown to people."""
    if isinstance(v, Fraction):
        if v.denominator == 1:
            return str(v.numerator)
        d = v.denominator
        while d % 2 == 0:
            d //= 2
        while d % 5 == 0:
            d //= 5
        if d == 1 and v.denominator <= 10 ** 8:
            places = 0
            while (v * 10 ** places).denominator != 1:
                places += 1
            s = f"{abs(v.numerator) * 10 ** places // v.denominator:0{places + 1}d}"
            s = s[:-places] + "." + s[-places:]
            return ("-" if v < 0 else "") + s
        return f"{v.numerator}/{v.denominator}"
    if isinstance(v, Lin):
        return f"{format_value(v.a)}*{v.var} + {format_value(v.b)}"
    exact = format_expr(v)
    return f"{exact} ≈ {to_float(v):.10g}" if len(exact) <= MAX_SHOWN_CHARS else f"≈ {to_float(v):.10g}"


def format_expr(e: sympy.Expr) -> str:
    """SymPy's plain printing with ``^`` for powers."""
    return sympy.sstr(e).replace("**", "^")
