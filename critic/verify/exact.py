"""Exact rational evaluation of an expression tree: the fast path, no SymPy.

Values are :class:`fractions.Fraction`; one unbound unknown gives a linear form ``a*x + b`` (:class:`Lin`) so that
simple equations can be solved exactly. Anything irrational (``\\sqrt{2}``, ``\\pi``, ``\\sin 1``) raises
:class:`Irrational`: the caller then builds the tree with SymPy (:mod:`critic.verify.build`). Every intermediate is
bounded (bits of numerator and denominator, exponents, factorial and binomial arguments), so the work per call is
bounded by construction.
"""

from __future__ import annotations

import math
from fractions import Fraction

from critic.verify.parse import (
    TRIG,
    Add,
    Binom,
    Deg,
    Div,
    Fact,
    Func,
    Mul,
    Neg,
    Node,
    Num,
    Pct,
    Pi,
    Pow,
    Root,
    Series,
    Var,
)

MAX_BITS = 4096  # numerator and denominator of every exact intermediate value
MAX_EXPONENT = 4096  # |integer exponent|
MAX_FACTORIAL = 400
MAX_BINOM_N = 5000


class EvalError(Exception):
    """The value is undefined (division by zero), too large, or not a number we evaluate."""


class Irrational(EvalError):
    """The value is (or may be) irrational: evaluate it with SymPy instead."""


class Lin:
    """``a*var + b`` with exact coefficients; ``a != 0``."""

    __slots__ = ("var", "a", "b")

    def __init__(self, var: str, a: Fraction, b: Fraction):
        self.var, self.a, self.b = var, a, b


Value = Fraction | Lin


def check_bits(v: Fraction) -> Fraction:
    """``v`` unchanged, or EvalError when its numerator or denominator has more than :data:`MAX_BITS` bits."""
    if v.numerator.bit_length() > MAX_BITS or v.denominator.bit_length() > MAX_BITS:
        raise EvalError("value too large")
    return v


def _add(x: Value, y: Value, sign: int) -> Value:
    if isinstance(x, Lin) or isinstance(y, Lin):
        lx = x if isinstance(x, Lin) else None
        ly = y if isinstance(y, Lin) else None
        if lx and ly and lx.var != ly.var:
            raise EvalError("two unknowns")
        var = (lx or ly).var
        ax, bx = (lx.a, lx.b) if lx else (Fraction(0), x)
        ay, by = (ly.a, ly.b) if ly else (Fraction(0), y)
        a, b = ax + sign * ay, bx + sign * by
        return Lin(var, check_bits(a), check_bits(b)) if a else check_bits(b)
    return check_bits(x + sign * y)


def _mul(x: Value, y: Value) -> Value:
    if isinstance(x, Lin) or isinstance(y, Lin):
        if isinstance(x, Lin) and isinstance(y, Lin):
            raise EvalError("non-linear")
        lin, k = (x, y) if isinstance(x, Lin) else (y, x)
        if k == 0:
            return Fraction(0)
        return Lin(lin.var, check_bits(lin.a * k), check_bits(lin.b * k))
    return check_bits(x * y)


def _div(x: Value, y: Value) -> Value:
    if isinstance(y, Lin):
        raise EvalError("unknown in a denominator")
    if y == 0:
        raise EvalError("division by zero")
    if isinstance(x, Lin):
        return Lin(x.var, check_bits(x.a / y), check_bits(x.b / y))
    return check_bits(x / y)


def iroot(n: int, k: int) -> int | None:
    """Exact integer k-th root of n >= 0, or None."""
    if n < 2:
        return n
    lo, hi = 0, 1 << (n.bit_length() // k + 1)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if mid ** k <= n:
            lo = mid
        else:
            hi = mid - 1
    return lo if lo ** k == n else None


def _root(x: Value, k: int) -> Value:
    if isinstance(x, Lin):
        raise EvalError("non-linear")
    neg = x < 0
    if neg and k % 2 == 0:
        raise EvalError("even root of a negative number")
    a = abs(x)
    rn, rd = iroot(a.numerator, k), iroot(a.denominator, k)
    if rn is None or rd is None:
        raise Irrational("root")
    return Fraction(-rn if neg else rn, rd)


def _pow(x: Value, y: Value) -> Value:
    if isinstance(y, Lin):
        raise EvalError("unknown in an exponent")
    if isinstance(x, Lin):
        if y == 1:
            return x
        if y == 0:
            return Fraction(1)
        raise EvalError("non-linear")
    if y.denominator != 1:
        if y.denominator > 12 or abs(y.numerator) > MAX_EXPONENT:
            raise EvalError("exponent out of range")
        return _pow(_root(x, y.denominator), Fraction(y.numerator))
    e = y.numerator
    if abs(e) > MAX_EXPONENT:
        raise EvalError("exponent too large")
    if x == 0 and e < 0:
        raise EvalError("division by zero")
    if x.numerator.bit_length() * abs(e) > MAX_BITS or x.denominator.bit_length() * abs(e) > MAX_BITS:
        raise EvalError("power too large")
    return x ** e


def as_int(v: Value, what: str, lo: int, hi: int) -> int:
    """``v`` as an int when it is an integer in ``[lo, hi]``; else EvalError naming ``what`` (factorial,
    exponent...)."""
    if not isinstance(v, Fraction) or v.denominator != 1 or not lo <= v <= hi:
        raise EvalError(f"{what} out of range")
    return int(v)


class Evaluator:
    """Evaluates trees. ``percent_scale``: ``20%`` is 1/5 (True) or 20 (False, "0.2*100 = 20%").
    ``env`` binds variables to values; ``overrides`` maps ``id(token)`` of literals to replacement values."""

    def __init__(self, percent_scale: bool = True, env: dict[str, Fraction] | None = None,
                 overrides: dict[int, Fraction] | None = None, alternative: bool = False):
        self.percent_scale = percent_scale
        self.alternative = alternative  # read "3(4)" as 3 + 4
        self.env = dict(env or {})
        self.overrides = overrides or {}

    def __call__(self, n: Node) -> Value:
        if isinstance(n, Num):
            return self.overrides.get(id(n.tok), n.value)
        if isinstance(n, Add):
            return _add(self(n.left), self(n.right), n.sign)
        if isinstance(n, Mul):
            if n.juxtaposed_number and self.alternative:
                return _add(self(n.left), self(n.right), 1)
            return _mul(self(n.left), self(n.right))
        if isinstance(n, Div):
            return _div(self(n.left), self(n.right))
        if isinstance(n, Neg):
            return _mul(Fraction(-1), self(n.arg))
        if isinstance(n, Pow):
            return _pow(self(n.base), self(n.exp))
        if isinstance(n, Var):
            if n.name in self.env:
                v = self.env[n.name]
                if not isinstance(v, Fraction):
                    raise Irrational(n.name)  # bound to an irrational value: SymPy evaluates it
                return v
            return Lin(n.name, Fraction(1), Fraction(0))
        if isinstance(n, Pct):
            v = self(n.arg)
            return _div(v, Fraction(100)) if self.percent_scale else v
        if isinstance(n, Deg):
            return self(n.arg)  # a unit outside trigonometric functions
        if isinstance(n, Root):
            return _root(self(n.arg), n.degree)
        if isinstance(n, Fact):
            return Fraction(math.factorial(as_int(self(n.arg), "factorial", 0, MAX_FACTORIAL)))
        if isinstance(n, Binom):
            top = as_int(self(n.n), "binomial", 0, MAX_BINOM_N)
            k = as_int(self(n.k), "binomial", -MAX_BINOM_N, MAX_BINOM_N)
            return Fraction(math.comb(top, k) if k >= 0 else 0)
        if isinstance(n, Func):
            return self.func(n)
        if isinstance(n, Series):
            return self.series(n)
        if isinstance(n, Pi):
            raise Irrational("pi")
        raise EvalError(f"cannot evaluate {type(n).__name__}")

    def func(self, n: Func) -> Value:
        """Value of a function node: floor, ceil and abs exactly; the transcendental ones raise Irrational (SymPy takes
        over); EvalError for an unknown inside a function or an unknown function."""
        if n.name in ("floor", "ceil", "abs"):
            v = self(n.arg)
            if isinstance(v, Lin):
                raise EvalError("unknown inside a function")
            if n.name == "abs":
                return abs(v)
            return Fraction(math.floor(v) if n.name == "floor" else math.ceil(v))
        if n.name in TRIG or n.name in ("ln", "exp", "log"):
            raise Irrational(n.name)
        raise EvalError(f"unknown function {n.name}")

    def series(self, n: Series) -> Value:
        """Value of a ``\\sum`` / ``\\prod`` node, term by term with the index bound in ``env``."""
        saved = self.env.get(n.var)
        total: Value = Fraction(0 if n.kind == "sum" else 1)
        try:
            for k in range(n.lo, n.hi + 1):
                self.env[n.var] = Fraction(k)
                v = self(n.body)
                total = _add(total, v, 1) if n.kind == "sum" else _mul(total, v)
        finally:
            if saved is None:
                self.env.pop(n.var, None)
            else:
                self.env[n.var] = saved
        return total


def evaluate(node: Node, percent_scale: bool = True, env: dict[str, Fraction] | None = None,
             overrides: dict[int, Fraction] | None = None, alternative: bool = False) -> Value:
    """The exact value of a tree. Raises :class:`Irrational` (use SymPy) or :class:`EvalError`.
    ``alternative``: the other reading of marked constructs (``3(4)`` as ``3 + 4``)."""
    return Evaluator(percent_scale, env, overrides, alternative)(node)
