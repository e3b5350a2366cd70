"""Expression trees -> SymPy expressions, built only with SymPy constructors, after size screens.

Nothing here hands a string to SymPy: numbers become ``Integer(int)`` / ``Rational(int, int)`` from the exact
:class:`fractions.Fraction` the tokenizer made, names become ``Symbol(name)``, operators ``Add`` / ``Mul`` /
``Pow``, functions ``sqrt``, ``root``, ``sin`` ... ``floor``, ``factorial``, ``Abs``; binomials are exact
integers. (SymPy's ``Integer(str)``, ``Rational(str)`` and ``Float(str)`` may go through its string parser; they
are not used.)

Screens run on the tree before a SymPy object exists for it: magnitudes (a float estimate of every numeric subtree,
so ``10^{10^{10}}`` or ``(10^8)!`` is refused without being computed), exponents, factorial and binomial
arguments, and for expressions in unknowns the degree and the number of terms their expansion can have. A refused
tree raises :class:`TooLarge` and the claim it belongs to stays unknown.
"""

from __future__ import annotations

import math
import time
from contextvars import ContextVar
from fractions import Fraction

import sympy
from sympy import Abs, Integer, Rational, Symbol, ceiling, factorial, floor, log, pi, root, sqrt

from critic.verify.exact import MAX_BINOM_N, MAX_FACTORIAL, EvalError, Irrational, as_int, evaluate
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
    free_vars,
)

MAX_LOG2 = 1000.0  # |log2| of any numeric intermediate (about 300 decimal digits), and of its reciprocal
MAX_NUMERIC_EXPONENT = 4096
MAX_FLOOR_LOG2 = 128.0  # floor / ceil of values up to about 10^38
MAX_SYMBOLIC_EXPONENT = 24  # (x + 1)^n with an unknown in the base
MAX_DEGREE = 48  # total degree of an expression in unknowns
MAX_TERMS = 400  # terms its expansion can have
MAX_VARS = 4

_TRIG = {"sin": sympy.sin, "cos": sympy.cos, "tan": sympy.tan, "cot": sympy.cot, "sec": sympy.sec,
         "csc": sympy.csc}


class TooLarge(EvalError):
    """The tree is too large (or too ill-defined) to build safely, or the step's deadline has passed."""


# The deadline (time.monotonic()) of the step being checked: building stops between nodes once it has passed.
DEADLINE: ContextVar[float | None] = ContextVar("critic_verify_deadline", default=None)


def number(v: Fraction) -> sympy.Rational:
    """A SymPy rational from an exact fraction, via Python ints only."""
    return Integer(v.numerator) if v.denominator == 1 else Rational(v.numerator, v.denominator)


class _Size:
    """Screen estimates for a subtree: ``mag`` = log2 of |value| bound (numeric), or degree and term count
    (symbolic). ``numeric`` is False when the subtree contains a free unknown."""

    __slots__ = ("numeric", "mag", "degree", "terms")

    def __init__(self, numeric: bool, mag: float = 0.0, degree: int = 0, terms: int = 1):
        self.numeric, self.mag, self.degree, self.terms = numeric, mag, degree, terms


class Builder:
    """Builds SymPy expressions from trees. ``percent_scale`` as in :class:`critic.verify.exact.Evaluator`;
    ``env`` binds names to exact values (series indices, substituted points)."""

    def __init__(self, percent_scale: bool = True, env: dict[str, Fraction] | None = None,
                 overrides: dict[int, Fraction] | None = None, alternative: bool = False):
        self.percent_scale = percent_scale
        self.alternative = alternative
        self.env = dict(env or {})
        self.overrides = overrides or {}
        self.symbols: dict[str, Symbol] = {}
        self.trig_depth = 0

    # -- screens ---------------------------------------------------------------------------------------------
    def build(self, node: Node) -> sympy.Expr:
        """The SymPy expression of ``node``, built with SymPy constructors after the size screens; raises TooLarge when
        a screen refuses it."""
        expr, _ = self._build(node)
        return expr

    def _num_size_of(self, expr: sympy.Expr) -> tuple[sympy.Expr, _Size]:
        return expr, self._num_size(expr)

    def _num_size(self, expr: sympy.Expr) -> _Size:
        try:
            f = abs(complex(expr.evalf(15)))
        except (TypeError, ValueError, OverflowError):
            raise TooLarge("not a finite number") from None
        if not math.isfinite(f):
            raise TooLarge("not a finite number")
        mag = math.log2(f) if f > 0 else -MAX_LOG2
        if abs(mag) > MAX_LOG2 and f != 0:
            raise TooLarge("magnitude")
        return _Size(True, mag)

    # -- construction ----------------------------------------------------------------------------------------
    def _build(self, n: Node) -> tuple[sympy.Expr, _Size]:
        deadline = DEADLINE.get()
        if deadline is not None and time.monotonic() > deadline:
            raise TooLarge("step deadline")
        if isinstance(n, Num):
            v = self.overrides.get(id(n.tok), n.value)
            return number(v), _Size(True, _log2abs(v))
        if isinstance(n, Var):
            if n.name in self.env:
                v = self.env[n.name]
                if not isinstance(v, Fraction):  # an exact irrational value the step gave the name
                    return self._num_size_of(v)
                return number(v), _Size(True, _log2abs(v))
            sym = self.symbols.get(n.name)
            if sym is None:
                if len(self.symbols) >= MAX_VARS:
                    raise TooLarge("too many unknowns")
                sym = self.symbols[n.name] = Symbol(n.name)
            return sym, _Size(False, degree=1, terms=1)
        if isinstance(n, Pi):
            return pi, _Size(True, math.log2(math.pi))
        if isinstance(n, Neg):
            e, s = self._build(n.arg)
            return -e, s
        if isinstance(n, Add):
            (a, sa), (b, sb) = self._build(n.left), self._build(n.right)
            if sa.numeric and sb.numeric:
                size = _Size(True, max(sa.mag, sb.mag) + 1)
            else:
                size = _Size(False, degree=max(sa.degree, sb.degree), terms=sa.terms + sb.terms)
            return self._screen(a + b if n.sign > 0 else a - b, size)
        if isinstance(n, Mul):
            (a, sa), (b, sb) = self._build(n.left), self._build(n.right)
            if n.juxtaposed_number and self.alternative:
                return self._screen(a + b, _Size(True, max(sa.mag, sb.mag) + 1))
            return self._screen(a * b, _mul_size(sa, sb))
        if isinstance(n, Div):
            (a, sa), (b, sb) = self._build(n.left), self._build(n.right)
            if b == 0:
                raise TooLarge("division by zero")
            if sb.numeric:
                return self._screen(a / b, _Size(sa.numeric, sa.mag - sb.mag, sa.degree, sa.terms))
            size = _Size(False, degree=sa.degree + sb.degree, terms=sa.terms * max(1, sb.terms))
            return self._screen(a / b, size)
        if isinstance(n, Pow):
            return self._pow(n)
        if isinstance(n, Pct):
            e, s = self._build(n.arg)
            if self.percent_scale:
                return e / 100, _Size(s.numeric, s.mag - math.log2(100), s.degree, s.terms)
            return e, s
        if isinstance(n, Deg):
            e, s = self._build(n.arg)
            if self.trig_depth:
                return e * pi / 180, _Size(s.numeric, s.mag - 5.8, s.degree, s.terms)
            return e, s
        if isinstance(n, Root):
            e, s = self._build(n.arg)
            if s.numeric and e.is_negative and n.degree % 2 == 0:
                raise TooLarge("even root of a negative number")
            r = sqrt(e) if n.degree == 2 else (root(e, n.degree) if not e.is_negative else -root(-e, n.degree))
            if s.numeric:
                return r, _Size(True, s.mag / n.degree)
            return r, _Size(False, degree=1, terms=1)  # an atom for the screens
        if isinstance(n, Fact):
            k = as_int(self._exact(n.arg), "factorial", 0, MAX_FACTORIAL)
            return factorial(Integer(k)), _Size(True, math.lgamma(k + 1) / math.log(2))
        if isinstance(n, Binom):
            top = as_int(self._exact(n.n), "binomial", 0, MAX_BINOM_N)
            k = as_int(self._exact(n.k), "binomial", -MAX_BINOM_N, MAX_BINOM_N)
            v = Integer(math.comb(top, k) if k >= 0 else 0)
            return v, _Size(True, _log2abs(Fraction(int(v))))
        if isinstance(n, Func):
            return self._func(n)
        if isinstance(n, Series):
            return self._series(n)
        raise TooLarge(f"cannot build {type(n).__name__}")

    def _exact(self, node: Node) -> Fraction:
        try:
            v = evaluate(node, self.percent_scale, self.env, self.overrides, self.alternative)
        except EvalError as exc:
            raise TooLarge(str(exc)) from exc
        if not isinstance(v, Fraction):
            raise TooLarge("not a number")
        return v

    def _screen(self, expr: sympy.Expr, size: _Size, check: bool = False) -> tuple[sympy.Expr, _Size]:
        if size.numeric:
            if size.mag > MAX_LOG2 or size.mag < -MAX_LOG2 or check:
                size = self._num_size(expr)
        elif size.degree > MAX_DEGREE or size.terms > MAX_TERMS:
            raise TooLarge("expansion too large")
        return expr, size

    def _pow(self, n: Pow) -> tuple[sympy.Expr, _Size]:
        if free_vars(n.exp) - set(self.env):
            # "3^x", "2^{9k}": an unknown exponent of a positive number is an atom of its own
            base, sb = self._build(n.base)
            if not sb.numeric or not base.is_positive or sb.mag > 64:
                raise TooLarge("unknown in an exponent of a non-positive or unknown base")
            exp, _ = self._build(n.exp)
            return sympy.Pow(base, exp), _Size(False, degree=1, terms=1)
        # the exponent first: it must be a small exact rational (or, with numeric bases, a numeric expression)
        try:
            ev = evaluate(n.exp, self.percent_scale, self.env, self.overrides, self.alternative)
        except Irrational:
            ev = None
        except EvalError as exc:
            raise TooLarge(str(exc)) from exc
        if ev is not None and not isinstance(ev, Fraction):
            raise TooLarge("unknown in an exponent")
        base, sb = self._build(n.base)
        if ev is None:  # an irrational exponent: numeric base only, magnitude checked on the float value
            if not sb.numeric:
                raise TooLarge("irrational exponent of an unknown")
            exp, se = self._build(n.exp)
            if abs(se.mag) > 12:
                raise TooLarge("exponent too large")
            return self._screen(sympy.Pow(base, exp), _Size(True, 0.0), check=True)
        if abs(ev.numerator) > MAX_NUMERIC_EXPONENT or ev.denominator > 12:
            raise TooLarge("exponent too large")
        if sb.numeric:
            if base == 0 and ev < 0:
                raise TooLarge("division by zero")
            mag = sb.mag * float(ev)
            if abs(mag) > MAX_LOG2:
                raise TooLarge("power too large")
            if base.is_negative and ev.denominator % 2 == 0:
                raise TooLarge("even root of a negative number")
            return sympy.Pow(base, number(ev)), _Size(True, mag)
        if ev.denominator != 1 or not -MAX_SYMBOLIC_EXPONENT <= ev <= MAX_SYMBOLIC_EXPONENT:
            raise TooLarge("symbolic power out of range")
        k = abs(int(ev))
        terms = math.comb(sb.terms + k - 1, k) if k else 1
        size = _Size(False, degree=sb.degree * k, terms=terms)
        return self._screen(sympy.Pow(base, number(ev)), size)

    def _func(self, n: Func) -> tuple[sympy.Expr, _Size]:
        if n.name in TRIG:
            self.trig_depth += 1
            try:
                arg, s = self._build(n.arg)
            finally:
                self.trig_depth -= 1
            if s.numeric and not _angle_is_explicit(n.arg) and arg != 0:
                raise TooLarge("angle without degrees or pi")  # "\sin 30": degrees or radians?
            if s.numeric and s.mag > 40:
                raise TooLarge("angle too large")
            # SymPy rewrites some angles (pi/5, pi/120, ...) into nested radicals, which costs far more than it
            # helps: only the angles of the unit circle's table evaluate, the rest stay as sin(...) for evalf
            ratio = arg / pi if s.numeric else None
            table = ratio is not None and ratio.is_Rational and ratio.q in (1, 2, 3, 4, 6)
            v = _TRIG[n.name](arg, evaluate=table or not s.numeric)
            if s.numeric:
                return self._screen(v, _Size(True, 0.0), check=True)
            return v, _Size(False, degree=1, terms=1)
        arg, s = self._build(n.arg)
        if n.name in ("floor", "ceil", "abs"):
            if not s.numeric:
                if n.name == "abs":
                    return Abs(arg), _Size(False, degree=s.degree, terms=1)
                raise TooLarge("floor of an unknown")
            if n.name != "abs" and s.mag > MAX_FLOOR_LOG2:
                raise TooLarge("floor of a huge value")  # SymPy would need hundreds of digits of precision
            v = floor(arg) if n.name == "floor" else ceiling(arg) if n.name == "ceil" else Abs(arg)
            return v, _Size(True, s.mag)
        if n.name == "exp":
            if not s.numeric or s.mag > 10:
                raise TooLarge("exp argument")
            return self._screen(sympy.exp(arg), _Size(True, 0.0), check=True)
        if n.name in ("ln", "log"):
            if not s.numeric:
                raise TooLarge("log of an unknown")
            if not arg.is_positive:
                raise TooLarge("log of a non-positive number")
            if n.name == "ln":
                return log(arg), _Size(True, math.log2(max(1.0, abs(s.mag))) + 1)
            base, sb = self._build(n.base)
            if not sb.numeric or not base.is_positive or base == 1:
                raise TooLarge("log base")
            return self._screen(log(arg, base), _Size(True, 0.0), check=True)
        raise TooLarge(f"unknown function {n.name}")

    def _series(self, n: Series) -> tuple[sympy.Expr, _Size]:
        saved = self.env.get(n.var)
        parts = []
        try:
            for k in range(n.lo, n.hi + 1):
                self.env[n.var] = Fraction(k)
                parts.append(self._build(n.body))
        finally:
            if saved is None:
                self.env.pop(n.var, None)
            else:
                self.env[n.var] = saved
        exprs = [p[0] for p in parts]
        if all(p[1].numeric for p in parts):
            if n.kind == "sum":
                size = _Size(True, max((p[1].mag for p in parts), default=0.0) + math.log2(len(parts) + 1))
                return self._screen(sympy.Add(*exprs), size)
            return self._screen(sympy.Mul(*exprs), _Size(True, sum(p[1].mag for p in parts)))
        raise TooLarge("series with unknowns")


def _mul_size(sa: _Size, sb: _Size) -> _Size:
    if sa.numeric and sb.numeric:
        return _Size(True, sa.mag + sb.mag)
    return _Size(False, degree=sa.degree + sb.degree, terms=max(1, sa.terms) * max(1, sb.terms))


def _log2abs(v: Fraction) -> float:
    if v == 0:
        return -MAX_LOG2
    return (abs(v.numerator).bit_length() - v.denominator.bit_length()) * 1.0


def _angle_is_explicit(node: Node) -> bool:
    """An angle in degrees (``30^\\circ``) or a multiple of pi: not a bare number whose unit the text left open."""
    from critic.verify.parse import has

    return has(node, (Deg, Pi))


def build(node: Node, percent_scale: bool = True, env: dict[str, Fraction] | None = None,
          overrides: dict[int, Fraction] | None = None, alternative: bool = False) -> sympy.Expr:
    """A SymPy expression for a tree. Raises :class:`TooLarge` (an :class:`EvalError`) when a screen refuses it."""
    return Builder(percent_scale, env, overrides, alternative).build(node)
