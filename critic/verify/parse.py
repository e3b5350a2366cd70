"""Recursive-descent parser: expression tokens -> a small expression tree of our own node types.

The tree is what both evaluators read: :mod:`critic.verify.exact` (exact rationals, the fast path) and
:mod:`critic.verify.build` (SymPy constructors). The parser bounds the work by construction (tokens per expression,
nesting depth) and refuses every reading it cannot be sure of with :class:`ParseError`, which callers treat as
"unknown", never as a contradiction:

- ``3(4)`` (a number, then a parenthesised bare number) is read as 12, and marked: a claim that holds under the
  other reading (3 + 4) is not flagged (:func:`has_alternative_reading`);
- ``2\\frac{1}{2}`` and ``3 1/2``: a mixed number or a product;
- ``7.5 / 1/2``, ``1/2x``: which division binds first;
- ``f(3)``, ``x(2)`` (a letter before a parenthesis): a function value;
- ``e``, ``i``, ``I``: a constant or a variable;
- ``\\cos 72^\\circ(-\\cos 36^\\circ)``, ``\\sin x^2``: where an unparenthesised function argument ends;
- ``\\sin 30`` without a degree sign or pi: degrees or radians;
- ``\\log 8`` without a base: base 10, base e or base 2;
- ``\\sum_{k=1}^{10} k + k``: whether the sum's body stops before the ``+``.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

from critic.verify.tokens import Token

MAX_EXPR_TOKENS = 240  # a longer expression is not read
MAX_DEPTH = 40  # parentheses / braces / \frac / function nesting
MAX_ROOT_DEGREE = 12
MAX_SERIES_TERMS = 200  # \sum_{k=a}^{b}: at most this many terms


class ParseError(Exception):
    """The tokens are malformed, ambiguous, too large, or use something we do not read."""


SeriesKind = Literal["sum", "prod"]

# ---------------------------------------------------------------------------------------------------------------
# Nodes. Plain classes with slots: cheap to build, read by the evaluators with isinstance.


class Node:
    """Base of the expression-tree nodes the whitelist parser builds (:func:`parse`); plain slotted classes, read with
    isinstance by the evaluators."""

    __slots__ = ()


@dataclass(slots=True)
class Num(Node):
    """A number literal, exact (``value``), with the token it was read from (for rounding and display)."""

    value: Fraction
    tok: Token


@dataclass(slots=True)
class Var(Node):
    """An unknown, by name as written (``x``, ``X``, ``\\theta``)."""

    name: str  # "x", "X", "\\theta"


@dataclass(slots=True)
class Pi(Node):
    """The constant pi."""

    pass


@dataclass(slots=True)
class Neg(Node):
    """Unary minus."""

    arg: Node


@dataclass(slots=True)
class Add(Node):
    """``left + right`` (``sign`` +1) or ``left - right`` (``sign`` -1)."""

    left: Node
    right: Node
    sign: int  # +1 or -1


@dataclass(slots=True)
class Mul(Node):
    """``left * right``; ``juxtaposed_number`` marks a number written against parentheses (``3(4)``)."""

    left: Node
    right: Node
    juxtaposed_number: bool = False  # "3(4)": a product, or (as converters misread it) a sum: see ``Reading``


@dataclass(slots=True)
class Div(Node):
    """``left / right`` (also ``\\frac``)."""

    left: Node
    right: Node


@dataclass(slots=True)
class Pow(Node):
    """``base ^ exp``."""

    base: Node
    exp: Node


@dataclass(slots=True)
class Root(Node):
    """The ``degree``-th root of ``arg`` (2 for ``\\sqrt``)."""

    arg: Node
    degree: int


@dataclass(slots=True)
class Fact(Node):
    """``arg!``."""

    arg: Node


@dataclass(slots=True)
class Binom(Node):
    """The binomial coefficient ``n`` choose ``k``."""

    n: Node
    k: Node


@dataclass(slots=True)
class Func(Node):
    """sin cos tan cot sec csc (argument in radians), ln, exp, log (with ``base``), floor, ceil, abs."""

    name: str
    arg: Node
    base: Node | None = None


@dataclass(slots=True)
class Pct(Node):
    """``arg%`` (``arg / 100`` where it is a value)."""

    arg: Node


@dataclass(slots=True)
class Deg(Node):
    """``30^\\circ``: inside a trigonometric function it converts to radians; elsewhere it is a unit."""

    arg: Node


@dataclass(slots=True)
class Series(Node):
    """``\\sum`` (``kind`` ``sum``) or ``\\prod`` (``prod``) of ``body`` over integer ``var`` from ``lo`` to ``hi``
    inclusive."""

    kind: SeriesKind
    var: str
    lo: int
    hi: int
    body: Node


TRIG = frozenset({"sin", "cos", "tan", "cot", "sec", "csc"})
_ARG_ATOMS = frozenset({"NUM", "VAR", "PI", "FRAC", "SQRT"})  # what an unparenthesised function argument may hold
_CLOSERS = {"LP": "RP", "LB": "RB", "LFLOOR": "RFLOOR", "LCEIL": "RCEIL", "LBAR": "RBAR"}


def walk(node: Node):
    """Every node of a tree, parents first."""
    stack = [node]
    while stack:
        n = stack.pop()
        yield n
        for slot in n.__slots__:
            child = getattr(n, slot)
            if isinstance(child, Node):
                stack.append(child)


def has_alternative_reading(node: Node) -> bool:
    """Does the tree hold a construct read one way that a text may mean another way (``3(4)``)?"""
    return any(isinstance(n, Mul) and n.juxtaposed_number for n in walk(node))


def free_vars(node: Node) -> set[str]:
    """Names of the variables a tree uses, series indices excluded."""
    bound: set[str] = set()
    names: set[str] = set()
    for n in walk(node):
        if isinstance(n, Series):
            bound.add(n.var)
        elif isinstance(n, Var):
            names.add(n.name)
    return names - bound


def has(node: Node, kinds: tuple[type, ...]) -> bool:
    """True when ``node`` or any node below it is an instance of one of ``kinds``."""
    return any(isinstance(n, kinds) for n in walk(node))


# ---------------------------------------------------------------------------------------------------------------
# Parser


class _Parser:
    def __init__(self, toks: list[Token]):
        if len(toks) > MAX_EXPR_TOKENS:
            raise ParseError("expression too long")
        self.t = toks
        self.i = 0
        self.depth = 0
        self.in_bar = 0  # open |...| groups
        self.bound: list[str] = []  # series indices in scope
        self.closed: set[str] = set()  # series indices whose series ended: a later use is ambiguous

    # -- helpers
    def peek(self, off: int = 0) -> Token | None:
        j = self.i + off
        return self.t[j] if j < len(self.t) else None

    def take(self) -> Token:
        tok = self.t[self.i]
        self.i += 1
        return tok

    def expect(self, kind: str) -> Token:
        tok = self.peek()
        if tok is None or tok.kind != kind:
            raise ParseError(f"expected {kind}")
        return self.take()

    def enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ParseError("nested too deeply")

    def leave(self) -> None:
        self.depth -= 1

    def prev_kind(self) -> str:
        return self.t[self.i - 1].kind if self.i else ""

    # -- grammar
    def parse(self) -> Node:
        if not self.t:
            raise ParseError("empty")
        v = self.expr()
        if self.i != len(self.t):
            raise ParseError(f"unexpected {self.t[self.i].text!r}")
        return v

    def expr(self) -> Node:
        v = self.term()
        while (tok := self.peek()) is not None and tok.kind == "OP" and tok.op in "+-":
            self.take()
            v = Add(v, self.term(), 1 if tok.op == "+" else -1)
        return v

    def _starts_implicit_factor(self) -> bool:
        tok = self.peek()
        if tok is None:
            return False
        prev = self.prev_kind()
        if tok.kind in ("LP", "VAR", "PI", "SQRT", "FUNC", "LFLOOR", "LCEIL", "LBAR", "FRAC", "BINOM", "SERIES"):
            # "2(3+4)", "6x", "2\pi", "2\sqrt{9}", "x\sin x"; but a letter right before "(" is a function call
            if tok.kind == "FRAC" and prev == "NUM":
                raise ParseError("adjacent numbers (mixed number?)")
            return prev in ("NUM", "RP", "PI", "SQRT", "VAR", "RB", "RFLOOR", "RCEIL", "RBAR", "FACT", "DEG")
        if tok.kind == "NUM" and prev == "FACT":
            return True  # "3!3!", "5!2!"
        if tok.kind == "BAR" and not self.in_bar:
            # "2|x|" opens a new bar; inside |...| a bar after an operand closes the group instead
            return prev in ("NUM", "RP", "PI", "VAR", "RB")
        return False

    def term(self) -> Node:
        v = self.unary()
        last_op = ""
        while True:
            tok = self.peek()
            if tok is not None and tok.kind == "OP" and tok.op in "*/":
                if tok.op == "/" and last_op == "/":
                    raise ParseError("ambiguous division chain")  # "7.5 / 1/2": (7.5/1)/2 or 7.5/(1/2)?
                last_op = tok.op
                self.take()
                rhs = self.unary()
                v = Mul(v, rhs) if tok.op == "*" else Div(v, rhs)
            elif self._starts_implicit_factor():
                if last_op == "/":
                    raise ParseError("ambiguous implicit product after '/'")  # "4√3 / 6√3", "1/2x"
                prev = self.t[self.i - 1]
                nxt = self.peek()
                if nxt.kind == "LP" and (prev.kind == "VAR" or isinstance(v, Pow) and isinstance(v.base, Var)
                                         and not nxt.space_before):
                    raise ParseError("function application")  # "f(3)", "f^{-1}(5)", "f^2(x)"
                if nxt.space_before and not nxt.math and nxt.kind == "VAR" or isinstance(v, Pow) and \
                        nxt.space_before and nxt.kind in ("VAR", "NUM"):
                    # "x^2 + y^2 = 40^2 x^2 + y^2 = 1600", "= 1600 x^2 + x^2": lines run together in plain text
                    raise ParseError("spaced juxtaposition")
                # "3(4)" reads as 12 here, but not everywhere: the node remembers it, and a claim is flagged only
                # when it is false under every reading
                juxtaposed = prev.kind == "NUM" and nxt.kind == "LP" and self._bare_number_in_parens()
                v = Mul(v, self.power(), juxtaposed)
            else:
                return v

    def _bare_number_in_parens(self) -> bool:
        """At "(": is it ``( [sign] NUM )``?"""
        j = 1
        tok = self.peek(j)
        if tok is not None and tok.kind == "OP" and tok.op in "+-":
            j += 1
        tok, close = self.peek(j), self.peek(j + 1)
        return tok is not None and tok.kind == "NUM" and close is not None and close.kind == "RP"

    def unary(self) -> Node:
        tok = self.peek()
        if tok is not None and tok.kind == "OP" and tok.op in "+-":
            self.take()
            self.enter()
            v = self.unary()
            self.leave()
            return Neg(v) if tok.op == "-" else v
        return self.power()

    def power(self) -> Node:
        base = self.postfix()
        tok = self.peek()
        if tok is not None and tok.kind == "OP" and tok.op == "^":
            self.take()
            self.enter()
            exp = self.unary()
            self.leave()
            base = Pow(base, exp)
            nxt = self.peek()
            if nxt is not None and nxt.kind in ("FACT", "PCT", "DEG"):
                raise ParseError("postfix after a power")  # "2^3!": which binds first
        return base

    def postfix(self) -> Node:
        v = self.atom()
        while (tok := self.peek()) is not None and tok.kind in ("PCT", "FACT", "DEG"):
            self.take()
            if tok.kind == "PCT":
                v = Pct(v)
            elif tok.kind == "FACT":
                v = Fact(v)
            else:
                v = Deg(v)
        return v

    def group(self) -> Node:
        """A braced argument ``{...}``, or a single digit or letter (``\\frac12``, ``\\sqrt2``, ``\\frac{1}x``)."""
        tok = self.peek()
        if tok is None:
            raise ParseError("missing argument")
        if tok.kind == "LB":
            self.take()
            self.enter()
            v = self.expr()
            self.expect("RB")
            self.leave()
            return v
        if tok.kind == "NUM" and tok.decimals == 0 and len(tok.text) == 1:
            self.take()
            return Num(tok.value, tok)
        raise ParseError("unbraced argument")

    def var(self, tok: Token) -> Node:
        if tok.ambiguous and tok.name not in self.bound:
            raise ParseError(f"{tok.name!r} may be a constant")
        if tok.name in self.closed and tok.name not in self.bound:
            raise ParseError("series index used after its series")
        return Var(tok.name)

    def atom(self) -> Node:
        tok = self.peek()
        if tok is None:
            raise ParseError("missing operand")
        k = tok.kind
        if k == "NUM":
            self.take()
            nxt = self.peek()
            if nxt is not None and nxt.kind in ("NUM", "FRAC"):
                raise ParseError("adjacent numbers (mixed number?)")
            return Num(tok.value, tok)
        if k == "VAR":
            self.take()
            nxt = self.peek()
            if nxt is not None and nxt.kind == "LP" and not nxt.space_before:
                raise ParseError("function application")
            return self.var(tok)
        if k == "PI":
            self.take()
            return Pi()
        if k in ("LP", "LB", "LFLOOR", "LCEIL", "LBAR"):
            self.take()
            self.enter()
            if k == "LBAR":
                self.in_bar += 1
            v = self.expr()
            self.expect(_CLOSERS[k])
            if k == "LBAR":
                self.in_bar -= 1
            self.leave()
            if k in ("LFLOOR", "LCEIL", "LBAR"):
                return Func({"LFLOOR": "floor", "LCEIL": "ceil", "LBAR": "abs"}[k], v)
            return v
        if k == "BAR":
            if self.in_bar:
                raise ParseError("nested bars")  # "|a|b|c|": which bars pair up
            self.take()
            self.enter()
            self.in_bar += 1
            v = self.expr()
            self.expect("BAR")
            self.in_bar -= 1
            self.leave()
            return Func("abs", v)
        if k == "FRAC":
            self.take()
            self.enter()
            num = self.group()
            den = self.group()
            self.leave()
            return Div(num, den)
        if k == "BINOM":
            self.take()
            self.enter()
            n, r = self.group(), self.group()
            self.leave()
            return Binom(n, r)
        if k == "SQRT":
            return self.sqrt()
        if k == "FUNC":
            return self.func()
        if k == "SERIES":
            return self.series()
        raise ParseError(f"unexpected {tok.text!r}")

    def sqrt(self) -> Node:
        tok = self.take()
        degree = 2
        if (t2 := self.peek()) is not None and t2.kind == "LSQ":
            self.take()
            d = self.expect("NUM")
            self.expect("RSQ")
            if d.decimals or not 2 <= d.value <= MAX_ROOT_DEGREE:
                raise ParseError("root degree out of range")
            degree = int(d.value)
        self.enter()
        nxt = self.peek()
        if nxt is not None and nxt.kind == "LP":  # unicode root: √(...)
            v = self.atom()
        elif nxt is not None and nxt.kind == "NUM" and tok.text == "\u221a":
            self.take()
            v = Num(nxt.value, nxt)
        else:
            v = self.group()
        self.leave()
        return Root(v, degree)

    def func(self) -> Node:
        tok = self.take()
        name = tok.name
        self.enter()
        base = None
        if name == "log":
            if (t2 := self.peek()) is None or t2.kind != "SUB":
                raise ParseError("logarithm without a base")
            self.take()
            base = self.group()
        power = None
        if (t2 := self.peek()) is not None and t2.kind == "OP" and t2.op == "^":
            # "\sin^2 x": the power applies to the value; "\sin^{-1}" is the inverse function: refuse
            self.take()
            power = self.group()
            if not (isinstance(power, Num) and power.value.denominator == 1 and power.value > 0):
                raise ParseError("function power other than a positive integer")
        nxt = self.peek()
        if nxt is not None and nxt.kind in ("LP", "LB", "LFLOOR", "LCEIL", "LBAR"):
            arg = self.atom()
            after = self.peek()
            if after is not None and after.kind == "OP" and after.op == "^" and power is None:
                raise ParseError("power after a function's argument")  # "\sin(x)^2": sin(x^2) or sin(x)^2
        else:
            arg = self.bare_argument()
        self.leave()
        node: Node = Func(name, arg, base)
        if power is not None:
            node = Pow(node, power)
        return node

    def bare_argument(self) -> Node:
        """``\\sin 2x``, ``\\cos 30^\\circ``, ``\\tan \\frac{\\pi}{4}``: juxtaposed simple atoms, and nothing after
        them that could still belong to the argument."""
        parts: list[Node] = []
        while (tok := self.peek()) is not None and tok.kind in _ARG_ATOMS:
            if parts and tok.kind == "NUM":
                raise ParseError("adjacent numbers in an argument")
            atom = self.atom()
            if (t2 := self.peek()) is not None and t2.kind == "DEG":
                self.take()
                atom = Deg(atom)
            parts.append(atom)
        if not parts:
            raise ParseError("missing function argument")
        nxt = self.peek()
        if nxt is not None and nxt.kind in ("LP", "LB", "FACT", "PCT", "BAR", "LBAR", "LFLOOR", "LCEIL", "SERIES",
                                             "BINOM") or (nxt is not None and nxt.kind == "OP" and nxt.op == "^"):
            raise ParseError("unparenthesised argument followed by more")  # "\cos 72^\circ(-\cos 36^\circ)"
        node = parts[0]
        for p in parts[1:]:
            node = Mul(node, p)
        return node

    def series(self) -> Node:
        tok = self.take()
        self.enter()
        self.expect("SUB")
        self.expect("LB")
        var_tok = self.expect("VAR")
        self.expect("BIND")
        lo = self._int_bound()
        self.expect("RB")
        op = self.expect("OP")
        if op.op != "^":
            raise ParseError("series without an upper bound")
        nxt = self.peek()
        if nxt is not None and nxt.kind == "LB":
            self.take()
            hi = self._int_bound()
            self.expect("RB")
        else:
            hi = self._int_bound()
        if not 0 <= hi - lo + 1 <= MAX_SERIES_TERMS:
            raise ParseError("series too long")
        self.bound.append(var_tok.name)
        body = self.term()  # the body is one term: "\sum_{k=1}^{5} k^2 + 1" sums k^2 only
        self.bound.pop()
        self.closed.add(var_tok.name)
        self.leave()
        return Series(tok.name, var_tok.name, lo, hi, body)

    def _int_bound(self) -> int:
        sign = 1
        tok = self.peek()
        if tok is not None and tok.kind == "OP" and tok.op == "-":
            self.take()
            sign = -1
        num = self.expect("NUM")
        if num.value.denominator != 1 or num.decimals or abs(num.value) > 10**6:
            raise ParseError("series bound not a small integer")
        return sign * int(num.value)


def parse(toks: list[Token]) -> Node:
    """Parse one expression's tokens into a tree. Raises :class:`ParseError`; work bounded by construction."""
    return _Parser(toks).parse()
