"""Whitelist tokenizer and bounded recursive-descent evaluator for the arithmetic that solution steps write.

Model text is never handed to ``eval``, ``exec``, ``sympify`` or ``parse_expr``. The tokenizer recognises only
numbers, a fixed set of operators and LaTeX commands, and words; everything else becomes an opaque token that no
expression accepts. Every size is bounded so that the work per call is bounded by construction: characters per
text, tokens per expression, nesting depth, digits per literal, bits per exact value, exponent size.

Values are exact :class:`fractions.Fraction` s; irrational results (``\\sqrt{2}``, ``\\pi``) become floats marked
inexact; a single unknown letter gives a linear form ``a*x + b`` so simple equations can be solved exactly.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from fractions import Fraction

MAX_TEXT_CHARS = 20_000  # longer texts are not checked at all
MAX_LITERAL_DIGITS = 60  # a longer digit string is opaque
MAX_EXPR_TOKENS = 160  # a longer expression is not evaluated
MAX_DEPTH = 40  # parentheses / braces / \frac nesting
MAX_BITS = 4096  # numerator and denominator of every exact intermediate value
MAX_EXPONENT = 4096  # |integer exponent|
MAX_ROOT_DEGREE = 12
MAX_FACTORIAL = 400
MAX_BINOM_N = 5000
MAX_FLOAT = 1e300
MAX_ROUNDED_LITERALS = 8  # literals probed when estimating how far rounded inputs can move a result


class EvalError(Exception):
    """The expression is malformed, ambiguous, too large, or uses something we do not evaluate."""


# ---------------------------------------------------------------------------------------------------------------
# Tokens


@dataclass
class Token:
    kind: str  # see _MATHY and the tokenizer for the kinds
    text: str
    start: int
    end: int
    space_before: bool = False
    value: Fraction | None = None  # NUM
    decimals: int = 0  # NUM: digits after the decimal point as written
    op: str = ""  # OP: one of + - * / ^
    words: list[str] = field(default_factory=list)  # WORD: lower-cased word(s)
    label: bool = False  # WORD: a parenthetical \\text{ (Alani)}
    unit: str = ""  # NUM: the unit words that followed it inside an expression ("minutes", "kg/portion")
    currency: bool = False  # NUM: written after a currency sign ("$4.20"): an exact amount, not a rounded value


# Kinds that can appear inside an expression. Everything else ends one.
MATHY = frozenset({"NUM", "OP", "PCT", "LP", "RP", "LB", "RB", "LSQ", "RSQ", "FRAC", "SQRT", "BINOM", "PI", "VAR",
                   "OPAQUE", "DEG", "FACT"})
# Separators: WORD, PUNCT, EQ, APPROX, REL, DELIM (math delimiters), BREAK (line break).

_NUMBER = re.compile(r"\d{1,3}(?:(?:,|\{,\})\d{3})+(?![\d])(?:\.\d+)?|\d+(?:\.\d+)?")
_LETTERS = re.compile(r"[A-Za-z]+")
_COMMAND = re.compile(r"\\([A-Za-z]+|.)", re.S)
_DEGREE_AFTER_CARET = re.compile(r"\^\s*(?:\{\s*\\circ\s*\}|\\circ)")
_SPACE = " \t\r\f\v\u00a0\u2009\u202f~"

_CMD_OPS = {"times": "*", "cdot": "*", "ast": "*", "div": "/"}
_CMD_TRANSPARENT = {"left", "right", "big", "Big", "bigg", "Bigg", "bigl", "bigr", "Bigl", "Bigr", "biggl", "biggr",
                    "Biggl", "Biggr", "boxed", "displaystyle", "textstyle", "limits", "middle"}
_CMD_SPACE = {"quad", "qquad", "enspace", "thinspace", "medspace", "thickspace", "hspace*"}
_CMD_FRAC = {"frac", "dfrac", "tfrac", "cfrac"}
_CMD_BINOM = {"binom", "dbinom", "tbinom"}
_CMD_TEXT = {"text", "textbf", "textit", "textrm", "textsf", "texttt", "mathrm", "mbox", "operatorname", "mathit",
             "textup", "textnormal", "emph"}
_CMD_APPROX = {"approx", "simeq", "sim", "thickapprox", "approxeq", "doteq"}
_CMD_REL = {"le", "leq", "ge", "geq", "lt", "gt", "ne", "neq", "equiv", "Rightarrow", "implies", "to", "rightarrow",
            "Longrightarrow", "longrightarrow", "iff", "Leftrightarrow", "therefore", "because", "leqslant",
            "geqslant", "ll", "gg", "mapsto", "land", "lor", "wedge", "vee", "quad"}
_DISPLAY_ENVS = {"align", "aligned", "equation", "gather", "gathered", "eqnarray", "split", "multline", "alignat",
                 "flalign", "displaymath", "math"}
_CHAR_OPS = {"+": "+", "-": "-", "\u2212": "-", "*": "*", "\u00d7": "*", "\u00b7": "*", "\u22c5": "*",
             "\u2219": "*", "/": "/", "\u00f7": "/", "^": "^"}
_CHAR_REL = {"<", ">", "\u2264", "\u2265", "\u2260", "\u21d2", "\u2192", "\u27f9", "\u2261", "\u2234"}
_CURRENCY = {"\u20ac", "\u00a3", "\u00a5"}  # a leading currency sign is not part of the number


def tokenize(text: str) -> list[Token]:
    """Split text into tokens. Linear in ``len(text)``; never raises."""
    toks: list[Token] = []
    n = len(text)
    i = 0
    space = True
    currency_next = False

    def add(kind: str, s: int, e: int, **kw) -> None:
        nonlocal space
        toks.append(Token(kind, text[s:e], s, e, space, **kw))
        space = False

    while i < n:
        c = text[i]
        if c in _SPACE:
            space = True
            i += 1
        elif c == "\n":
            add("BREAK", i, i + 1)
            space = True
            i += 1
        elif c.isdigit() and c.isascii():
            m = _NUMBER.match(text, i)
            digits = sum(ch.isdigit() for ch in m.group(0))
            if digits > MAX_LITERAL_DIGITS:
                j = i
                while j < n and (text[j].isdigit() or text[j] in ",."):
                    j += 1
                add("OPAQUE", i, j)
                i = j
                continue
            lit = m.group(0).replace("{,}", "").replace(",", "")
            dec = len(lit.split(".")[1]) if "." in lit else 0
            add("NUM", i, m.end(), value=Fraction(lit), decimals=dec, currency=currency_next)
            currency_next = False
            i = m.end()
        elif c == "." and i + 1 < n and text[i + 1].isdigit() and (i == 0 or not text[i - 1].isalnum()):
            m = re.compile(r"\.\d{1,60}").match(text, i)
            add("NUM", i, m.end(), value=Fraction("0" + m.group(0)), decimals=len(m.group(0)) - 1)
            i = m.end()
        elif c.isascii() and c.isalpha():
            m = _LETTERS.match(text, i)
            add("LETTERS", i, m.end(), words=[m.group(0)])
            i = m.end()
        elif c == "\\":
            i = _command(text, i, add, toks)
            if i < 0:  # "\$": currency
                i = -i
                currency_next = True
            if toks and toks[-1].kind == "SPACE":
                toks.pop()
                space = True
        elif c == "$":
            # "$18" after a space or an operator is currency; otherwise "$" delimits math.
            prev = text[i - 1] if i else " "
            nxt = text[i + 1] if i + 1 < n else " "
            if nxt.isdigit() and not (prev.isalnum() or prev in "}.)"):
                currency_next = True
                i += 1  # currency: transparent, keeps the spacing state
            else:
                add("DELIM", i, i + 1)
                space = True
                i += 1
        elif c in _CURRENCY:
            currency_next = True
            i += 1
        elif c == "^" and _DEGREE_AFTER_CARET.match(text, i):
            m = _DEGREE_AFTER_CARET.match(text, i)
            add("DEG", i, m.end())
            i = m.end()
        elif c == "*" and text.startswith("**", i):
            add("OP", i, i + 2, op="^")
            i += 2
        elif c in _CHAR_OPS:
            add("OP", i, i + 1, op=_CHAR_OPS[c])
            i += 1
        elif c == "\u00b2" or c == "\u00b3":
            add("OP", i, i, op="^")
            toks[-1].end = i + 1
            add("NUM", i, i + 1, value=Fraction(2 if c == "\u00b2" else 3))
            i += 1
        elif c == "\u221a":
            add("SQRT", i, i + 1)
            i += 1
        elif c == "=":
            add("EQ", i, i + 1)
            i += 1
        elif c == "\u2248":
            add("APPROX", i, i + 1)
            i += 1
        elif c in _CHAR_REL:
            add("REL", i, i + 1)
            i += 1
        elif c in "()":
            add("LP" if c == "(" else "RP", i, i + 1)
            i += 1
        elif c in "{}":
            add("LB" if c == "{" else "RB", i, i + 1)
            i += 1
        elif c in "[]":
            add("LSQ" if c == "[" else "RSQ", i, i + 1)
            i += 1
        elif c == "%":
            add("PCT", i, i + 1)
            i += 1
        elif c == "\u00b0":
            add("DEG", i, i + 1)
            i += 1
        elif c == "&":
            add("AMP", i, i + 1)  # alignment marker or matrix cell separator
            space = True
            i += 1
        elif c == "!":
            # factorial only when an expression continues ("5! = 120", "3!/2"); otherwise punctuation
            j = i + 1
            while j < n and text[j] in _SPACE:
                j += 1
            after_number = i and (text[i - 1].isdigit() or text[i - 1] in ")}")
            if after_number and (j < n and (text[j] in "=+-*/^)}$\\" or text[j].isdigit()) and j == i + 1
                                 or j < n and text[j] in "=+-*/^)\\"):
                add("FACT", i, i + 1)
            else:
                add("PUNCT", i, i + 1)
                space = True
            i += 1
        elif c == "'" and 0 < i < n - 1 and text[i - 1].isalpha() and text[i + 1].isalpha():
            add("PUNCT", i, i + 1)
            i += 1
        elif c in "|_'\u2032\u221e\u2026\u03c0":
            if c == "\u03c0":
                add("PI", i, i + 1)
            else:
                add("OPAQUE", i, i + 1)
            i += 1
        else:
            add("PUNCT", i, i + 1)
            space = True
            i += 1
    _classify_letters(toks)
    return toks


def _command(text: str, i: int, add, toks: list[Token]) -> int:
    """Tokenize one backslash command starting at ``text[i] == '\\'``; return the next index."""
    m = _COMMAND.match(text, i)
    if m is None:  # lone trailing backslash
        add("OPAQUE", i, i + 1)
        return i + 1
    name = m.group(1)
    e = m.end()
    if name == "\\":
        add("BREAK", i, e)
    elif name in "()[]":
        add("DELIM", i, e)
    elif name in ",;:! " or name in _CMD_SPACE:
        add("SPACE", i, e)
    elif name == "$":
        return -e  # escaped dollar: currency, transparent (the caller marks the next number)
    elif name == "%":
        add("PCT", i, e)
    elif name in _CMD_OPS:
        add("OP", i, e, op=_CMD_OPS[name])
    elif name in _CMD_TRANSPARENT:
        if name in ("left", "right", "middle") and e < len(text) and text[e] == ".":
            e += 1
    elif name in _CMD_FRAC:
        add("FRAC", i, e)
        # \frac12 : single-character arguments
        for _ in range(2):
            j = e
            while j < len(text) and text[j] in _SPACE:
                j += 1
            if j < len(text) and text[j].isdigit():
                add("NUM", j, j + 1, value=Fraction(int(text[j])))
                e = j + 1
            else:
                break
    elif name == "sqrt":
        add("SQRT", i, e)
    elif name in _CMD_BINOM:
        add("BINOM", i, e)
    elif name == "pi":
        add("PI", i, e)
    elif name == "circ":
        add("DEG", i, e)
    elif name in ("begin", "end"):
        # \begin{align*} ... \end{align*}: an environment boundary delimits math like "\[" does
        j = e
        env = ""
        if j < len(text) and text[j] == "{":
            k = text.find("}", j, j + 40)
            if k != -1:
                env, e = text[j + 1:k], k + 1
        # display environments delimit math; matrices, cases and arrays hold cells we do not read
        add("DELIM" if env.rstrip("*") in _DISPLAY_ENVS else "OPAQUE", i, e)
    elif name in _CMD_TEXT:
        j = e
        while j < len(text) and text[j] in _SPACE:
            j += 1
        if j < len(text) and text[j] == "{":
            depth, k = 0, j
            while k < len(text):
                if text[k] == "{":
                    depth += 1
                elif text[k] == "}":
                    depth -= 1
                    if depth == 0:
                        break
                k += 1
            inner = text[j + 1:k]
            e = min(k + 1, len(text))
            words = [w.lower() for w in re.findall(r"[A-Za-z]+", inner)]
            if words:
                add("WORD", i, e, words=words, label=inner.strip().startswith("("))
            else:
                # \text{ } or \text{\$}: spacing only; \text{,} etc.: punctuation
                if inner.strip(" \\$~"):
                    add("PUNCT", i, e)
                else:
                    add("SPACE", i, e)
        else:
            add("OPAQUE", i, e)
    elif name in _CMD_APPROX:
        add("APPROX", i, e)
    elif name in _CMD_REL:
        add("REL", i, e)
    elif name in ("{", "}"):
        add("OPAQUE", i, e)
    else:
        add("OPAQUE", i, e)
    return e


def _classify_letters(toks: list[Token]) -> None:
    """Decide for each run of letters: a word, a variable, 'x' meaning times, or something opaque (3rd, 2xy)."""
    for k, t in enumerate(toks):
        if t.kind != "LETTERS":
            continue
        prev = toks[k - 1] if k else None
        nxt = toks[k + 1] if k + 1 < len(toks) else None
        word = t.words[0]
        # "papers/inch", "kg/portion": a unit ratio, not arithmetic
        if prev is not None and prev.kind == "OP" and prev.op == "/" and k >= 2 and toks[k - 2].kind in ("LETTERS", "WORD"):
            prev = None
        if nxt is not None and nxt.kind == "OP" and nxt.op == "/" and k + 2 < len(toks) and toks[k + 2].kind == "LETTERS":
            nxt = None
        touch_prev = prev is not None and not t.space_before and prev.kind in ("NUM", "RP", "OP", "LB", "RB",
                                                                               "PCT", "FACT", "VAR")
        touch_next = nxt is not None and not nxt.space_before and nxt.kind in ("NUM", "LP", "OP", "LB", "FRAC",
                                                                              "SQRT", "FACT", "PCT")
        if len(word) > 1:
            lw = word.lower()
            per_unit = prev is not None and prev.kind == "OP" and prev.op == "/" and not touch_next  # "$6/plate"
            if (touch_prev and not per_unit) or touch_next:
                t.kind = "OPAQUE"
            elif lw == "percent" and prev is not None and prev.kind == "NUM":
                t.kind = "PCT"
            else:
                t.kind = "WORD"
                t.words = [lw]
            continue
        # single letter
        if word in "xX" and prev is not None and nxt is not None and nxt.kind in ("NUM", "LP") \
                and t.space_before == nxt.space_before and (
                    prev.kind in ("NUM", "RP", "PCT")
                    or (prev.kind in ("LETTERS", "WORD") and t.space_before and k >= 2 and toks[k - 2].kind == "NUM")):
            t.kind, t.op = "OP", "*"  # "3 x 4", "120 units x 3/4"
            continue
        mathy_prev = prev is not None and (
            (prev.kind in ("OP", "EQ", "LP", "LB", "APPROX", "REL", "FRAC", "SQRT"))
            or (prev.kind in ("NUM", "RP", "VAR") and not t.space_before))
        mathy_next = nxt is not None and (
            nxt.kind in ("OP", "EQ", "RP", "RB", "APPROX", "REL", "PCT")
            or (nxt.kind in ("LP", "NUM") and not nxt.space_before))
        if mathy_prev or mathy_next:
            t.kind = "VAR"
        else:
            t.kind = "WORD"
            t.words = [word.lower()]
    # "20% of 50", "3/4 of 20": "of" is multiplication
    for k, t in enumerate(toks):
        if t.kind == "WORD" and t.words == ["of"] and 0 < k < len(toks) - 1 and toks[k + 1].kind == "NUM":
            p = toks[k - 1]
            if p.kind == "PCT" or (p.kind == "NUM" and k >= 3 and toks[k - 2].kind == "OP" and toks[k - 2].op == "/"
                                   and toks[k - 3].kind == "NUM"):
                t.kind, t.op = "OP", "*"


# ---------------------------------------------------------------------------------------------------------------
# Values


class Lin:
    """``a*var + b`` with exact coefficients; ``a != 0``."""

    __slots__ = ("var", "a", "b")

    def __init__(self, var: str, a: Fraction, b: Fraction):
        self.var, self.a, self.b = var, a, b


Value = Fraction | float | Lin


def _check_exact(v: Fraction) -> Fraction:
    if v.numerator.bit_length() > MAX_BITS or v.denominator.bit_length() > MAX_BITS:
        raise EvalError("value too large")
    return v


def _check_float(v: float) -> float:
    if not math.isfinite(v) or abs(v) > MAX_FLOAT:
        raise EvalError("value out of float range")
    return v


def _as_lin(v: Value) -> Lin | None:
    return v if isinstance(v, Lin) else None


def _to_float(v: Value) -> float:
    if isinstance(v, Lin):
        raise EvalError("unknown in a non-linear position")
    try:
        return _check_float(float(v))
    except OverflowError as exc:
        raise EvalError("value out of float range") from exc


def _add(x: Value, y: Value, sign: int) -> Value:
    if isinstance(x, Lin) or isinstance(y, Lin):
        lx, ly = _as_lin(x), _as_lin(y)
        if lx and ly and lx.var != ly.var:
            raise EvalError("two unknowns")
        if any(isinstance(v, float) for v in (x, y)):
            raise EvalError("inexact linear form")
        var = (lx or ly).var
        ax, bx = (lx.a, lx.b) if lx else (Fraction(0), x)
        ay, by = (ly.a, ly.b) if ly else (Fraction(0), y)
        a, b = ax + sign * ay, bx + sign * by
        return Lin(var, _check_exact(a), _check_exact(b)) if a else _check_exact(b)
    if isinstance(x, float) or isinstance(y, float):
        return _check_float(_to_float(x) + sign * _to_float(y))
    return _check_exact(x + sign * y)


def _mul(x: Value, y: Value) -> Value:
    if isinstance(x, Lin) or isinstance(y, Lin):
        if isinstance(x, Lin) and isinstance(y, Lin):
            raise EvalError("non-linear")
        lin, k = (x, y) if isinstance(x, Lin) else (y, x)
        if isinstance(k, float):
            raise EvalError("inexact linear form")
        if k == 0:
            return Fraction(0)
        return Lin(lin.var, _check_exact(lin.a * k), _check_exact(lin.b * k))
    if isinstance(x, float) or isinstance(y, float):
        return _check_float(_to_float(x) * _to_float(y))
    if x.numerator.bit_length() + y.numerator.bit_length() > 2 * MAX_BITS + 2:
        raise EvalError("value too large")
    return _check_exact(x * y)


def _div(x: Value, y: Value) -> Value:
    if isinstance(y, Lin):
        raise EvalError("unknown in a denominator")
    if y == 0:
        raise EvalError("division by zero")
    if isinstance(x, Lin):
        if isinstance(y, float):
            raise EvalError("inexact linear form")
        return Lin(x.var, _check_exact(x.a / y), _check_exact(x.b / y))
    if isinstance(x, float) or isinstance(y, float):
        return _check_float(_to_float(x) / _to_float(y))
    return _check_exact(x / y)


def _iroot(n: int, k: int) -> int | None:
    """Exact integer k-th root of n >= 0, or None."""
    if n < 2:
        return n
    r = int(round(n ** (1.0 / k))) if n.bit_length() < 1000 else None
    if r is None:
        lo, hi = 0, 1 << (n.bit_length() // k + 1)
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if mid ** k <= n:
                lo = mid
            else:
                hi = mid - 1
        r = lo
    for cand in (r - 1, r, r + 1):
        if cand >= 0 and cand ** k == n:
            return cand
    return None


def _root(x: Value, k: int) -> Value:
    if isinstance(x, Lin):
        raise EvalError("non-linear")
    if not 1 <= k <= MAX_ROOT_DEGREE:
        raise EvalError("root degree out of range")
    if isinstance(x, Fraction):
        neg = x < 0
        if neg and k % 2 == 0:
            raise EvalError("even root of a negative number")
        a = abs(x)
        rn, rd = _iroot(a.numerator, k), _iroot(a.denominator, k)
        if rn is not None and rd is not None:
            return Fraction(-rn if neg else rn, rd)
    f = _to_float(x)
    if f < 0 and k % 2 == 0:
        raise EvalError("even root of a negative number")
    return _check_float(math.copysign(abs(f) ** (1.0 / k), f))


def _pow(x: Value, y: Value) -> Value:
    if isinstance(y, Lin):
        raise EvalError("unknown in an exponent")
    if isinstance(x, Lin):
        if y == 1:
            return x
        if y == 0:
            return Fraction(1)
        raise EvalError("non-linear")
    if isinstance(y, Fraction) and isinstance(x, Fraction):
        if y.denominator != 1:
            if y.denominator > MAX_ROOT_DEGREE or abs(y.numerator) > MAX_EXPONENT:
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
    fx, fy = _to_float(x), _to_float(y)
    if fx < 0:
        raise EvalError("power of a negative number with an inexact exponent")
    if fx == 0:
        return 0.0 if fy > 0 else _check_float(float("inf"))
    if fy * math.log10(fx) > 300:
        raise EvalError("power too large")
    return _check_float(fx ** fy)


# ---------------------------------------------------------------------------------------------------------------
# Parser


@dataclass
class Evaluated:
    value: Value
    bare_literal: Token | None  # the single NUM token when the expression is just one literal (maybe signed/%)
    has_percent: bool
    max_decimals: int  # most digits after a decimal point among its literals
    inexact: bool  # contains an irrational root or pi


class _Parser:
    def __init__(self, toks: list[Token], percent_scale: bool, overrides: dict[int, Fraction] | None = None):
        if len(toks) > MAX_EXPR_TOKENS:
            raise EvalError("expression too long")
        self.overrides = overrides or {}
        self.t = toks
        self.i = 0
        self.depth = 0
        self.percent_scale = percent_scale
        self.has_percent = False
        self.inexact = False
        self.max_decimals = 0

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
            raise EvalError(f"expected {kind}")
        return self.take()

    def enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise EvalError("nested too deeply")

    def parse(self) -> Value:
        if not self.t:
            raise EvalError("empty")
        v = self.expr()
        if self.i != len(self.t):
            raise EvalError(f"unexpected {self.t[self.i].text!r}")
        return v

    def expr(self) -> Value:
        v = self.term()
        while (tok := self.peek()) is not None and tok.kind == "OP" and tok.op in "+-":
            self.take()
            v = _add(v, self.term(), 1 if tok.op == "+" else -1)
        return v

    def _starts_implicit_factor(self, prev_kind: str) -> bool:
        tok = self.peek()
        if tok is None:
            return False
        if tok.kind in ("LP", "VAR", "PI", "SQRT"):
            # "2(3+4)", "6x", "2\pi", "2\sqrt{9}" ; but a letter right before "(" is a function call: refuse
            return prev_kind in ("NUM", "RP", "PI", "SQRT", "VAR", "RB")
        return False

    def term(self) -> Value:
        v = self.unary()
        last_op = ""
        while True:
            tok = self.peek()
            if tok is not None and tok.kind == "OP" and tok.op in "*/":
                if tok.op == "/" and last_op == "/":
                    raise EvalError("ambiguous division chain")  # "7.5 / 1/2": (7.5/1)/2 or 7.5/(1/2)?
                last_op = tok.op
                self.take()
                rhs = self.unary()
                v = _mul(v, rhs) if tok.op == "*" else _div(v, rhs)
            elif self._starts_implicit_factor(self.t[self.i - 1].kind):
                if last_op == "/":
                    raise EvalError("ambiguous implicit product after '/'")  # "4√3 / 6√3", "1/2x"
                prev = self.t[self.i - 1]
                if prev.kind == "VAR" and self.peek().kind == "LP":
                    raise EvalError("function application")
                v = _mul(v, self.power())
            else:
                return v

    def unary(self) -> Value:
        tok = self.peek()
        if tok is not None and tok.kind == "OP" and tok.op in "+-":
            self.take()
            self.enter()
            v = self.unary()
            self.depth -= 1
            return _mul(Fraction(-1), v) if tok.op == "-" else v
        return self.power()

    def power(self) -> Value:
        base = self.postfix()
        tok = self.peek()
        if tok is not None and tok.kind == "OP" and tok.op == "^":
            self.take()
            self.enter()
            exp = self.unary()
            self.depth -= 1
            return _pow(base, exp)
        return base

    def postfix(self) -> Value:
        v = self.atom()
        while (tok := self.peek()) is not None and tok.kind in ("PCT", "FACT", "DEG"):
            self.take()
            if tok.kind == "PCT":
                self.has_percent = True
                if self.percent_scale:
                    v = _div(v, Fraction(100))
            elif tok.kind == "FACT":
                if not isinstance(v, Fraction) or v.denominator != 1 or not 0 <= v <= MAX_FACTORIAL:
                    raise EvalError("factorial out of range")
                v = Fraction(math.factorial(int(v)))
        return v

    def group(self) -> Value:
        """A braced argument ``{...}``, or a single literal / letter (``\\frac12``, ``\\sqrt2``)."""
        tok = self.peek()
        if tok is None:
            raise EvalError("missing argument")
        if tok.kind == "LB":
            self.take()
            self.enter()
            v = self.expr()
            self.expect("RB")
            self.depth -= 1
            return v
        if tok.kind == "NUM" and tok.decimals == 0 and len(tok.text) == 1:
            self.take()
            return tok.value
        raise EvalError("unbraced argument")

    def atom(self) -> Value:
        tok = self.peek()
        if tok is None:
            raise EvalError("missing operand")
        k = tok.kind
        if k == "NUM":
            self.take()
            self.max_decimals = max(self.max_decimals, tok.decimals)
            nxt = self.peek()
            if nxt is not None and nxt.kind in ("NUM", "FRAC"):
                raise EvalError("adjacent numbers (mixed number?)")
            return self.overrides.get(id(tok), tok.value)
        if k == "VAR":
            self.take()
            nxt = self.peek()
            if nxt is not None and nxt.kind == "LP" and not nxt.space_before:
                raise EvalError("function application")
            return Lin(tok.text, Fraction(1), Fraction(0))
        if k == "PI":
            self.take()
            self.inexact = True
            return math.pi
        if k in ("LP", "LB"):
            self.take()
            self.enter()
            v = self.expr()
            self.expect("RP" if k == "LP" else "RB")
            self.depth -= 1
            return v
        if k == "FRAC":
            self.take()
            self.enter()
            num = self.group()
            den = self.group()
            self.depth -= 1
            return _div(num, den)
        if k == "BINOM":
            self.take()
            n, r = self.group(), self.group()
            if not all(isinstance(v, Fraction) and v.denominator == 1 for v in (n, r)):
                raise EvalError("binomial of non-integers")
            if not 0 <= n <= MAX_BINOM_N:
                raise EvalError("binomial out of range")
            return Fraction(math.comb(int(n), int(r)) if r >= 0 else 0)
        if k == "SQRT":
            self.take()
            degree = 2
            if (t2 := self.peek()) is not None and t2.kind == "LSQ":
                self.take()
                d = self.expect("NUM")
                self.expect("RSQ")
                if d.decimals or not 2 <= d.value <= MAX_ROOT_DEGREE:
                    raise EvalError("root degree out of range")
                degree = int(d.value)
            self.enter()
            nxt = self.peek()
            if nxt is not None and nxt.kind == "LP":  # unicode root: √(...)
                v = self.atom()
            elif nxt is not None and nxt.kind == "NUM" and tok.text == "\u221a":
                self.take()
                v = nxt.value
            else:
                v = self.group()
            self.depth -= 1
            r = _root(v, degree)
            if isinstance(r, float):
                self.inexact = True
            return r
        raise EvalError(f"unexpected {tok.text!r}")


def evaluate(toks: list[Token], percent_scale: bool = True, overrides: dict[int, Fraction] | None = None
             ) -> Evaluated:
    """Evaluate an expression's tokens. Raises :class:`EvalError`; bounded work by construction.

    ``overrides`` maps ``id(token)`` of NUM tokens to replacement values (used to probe rounding sensitivity)."""
    p = _Parser(toks, percent_scale, overrides)
    v = p.parse()
    bare = None
    core = [t for t in toks if not (t.kind == "OP" and t.op == "-") and t.kind not in ("PCT", "DEG")]
    if len(core) == 1 and core[0].kind == "NUM":
        bare = core[0]
    return Evaluated(v, bare, p.has_percent, p.max_decimals, p.inexact)


def possibly_rounded(tok: Token) -> bool:
    """A literal that may be a rounded or truncated value: two or more decimals, not a currency amount."""
    return tok.kind == "NUM" and tok.decimals >= 2 and not tok.currency


def rounding_error(toks: list[Token], percent_scale: bool = True) -> float:
    """How far the expression's value can move if each possibly-rounded literal is off by one unit in its last
    place (``0.33`` for 1/3, ``3.14`` for pi): the sum of the one-at-a-time changes. 0.0 when none is rounded."""
    rounded = [t for t in toks if possibly_rounded(t)][:MAX_ROUNDED_LITERALS]
    if not rounded:
        return 0.0
    try:
        base = evaluate(toks, percent_scale).value
        total = 0.0
        for t in rounded:
            bumped = evaluate(toks, percent_scale, {id(t): t.value + Fraction(1, 10 ** t.decimals)}).value
            total += abs(float(bumped - base) if isinstance(base, Fraction) and isinstance(bumped, Fraction)
                         else float(bumped) - float(base))
        return total
    except (EvalError, TypeError, OverflowError):
        return math.inf


def parse_plain_number(text: str) -> Fraction | None:
    """The exact value of a text that is nothing but an arithmetic expression of numbers (``"1,000"``,
    ``"\\frac{1}{2}"``, ``"-0.5"``, ``"\\$18"``), else None. Trailing words (units) are not accepted."""
    if len(text) > 200:
        return None
    toks = [t for t in tokenize(text) if t.kind not in ("DELIM",)]
    if not toks or any(t.kind not in MATHY or t.kind in ("VAR", "OPAQUE", "PCT", "DEG", "PI") for t in toks):
        return None
    try:
        ev = evaluate(toks)
    except EvalError:
        return None
    return ev.value if isinstance(ev.value, Fraction) else None


def format_value(v: Value) -> str:
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
    if isinstance(v, float):
        return f"{v:.10g}"
    return f"{format_value(v.a)}*{v.var} + {format_value(v.b)}"
